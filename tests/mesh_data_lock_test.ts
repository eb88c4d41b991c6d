import assert from "node:assert/strict";
import { ConfigError } from "../core/errors.ts";
import { startNode } from "./support/mesh_fixture.ts";

const ROOT = new URL("..", import.meta.url).pathname;

Deno.test("a second node on the same dataDir (same process) is refused with ConfigError; the dir is free again after shutdown", async () => {
  const dir = await Deno.makeTempDir();
  const a = await startNode({ dataDir: `${dir}/node` });
  try {
    assert.equal(a.identityPersisted, true);
    const e = await startNode({ dataDir: `${dir}/node` }).then(
      (n) => n.shutdown().then(() => assert.fail("a second node started")),
      (e: unknown) => e,
    );
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.field, "dataDir");
    assert.match(e.message, /in use by another running node/);
    assert.match(e.message, new RegExp(`pid ${Deno.pid}`));
    // a different dataDir is fine meanwhile
    const other = await startNode({ dataDir: `${dir}/other` });
    await other.shutdown();
  } finally {
    await a.shutdown();
  }
  try {
    const again = await startNode({ dataDir: `${dir}/node` });
    try {
      assert.equal(again.peerId, a.peerId);
      assert.equal(again.identityPersisted, true);
    } finally {
      await again.shutdown();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a failed start releases the dataDir lock", async () => {
  const dir = await Deno.makeTempDir();
  const a = await startNode({ dataDir: `${dir}/node` });
  const port = Number(a.listenAddresses[0].split("/")[4]);
  try {
    // same port: libp2p cannot listen, so this start fails after the lock
    await assert.rejects(
      startNode({ dataDir: `${dir}/b`, listenPort: port }),
    );
    const b = await startNode({ dataDir: `${dir}/b` });
    await b.shutdown();
  } finally {
    await a.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a dataDir held by another process (documented permissions) is refused; its lock is freed by the OS when that process dies", async () => {
  const dir = await Deno.makeTempDir();
  const dataDir = `${dir}/node`;
  const script = `${dir}/holder.ts`;
  await Deno.writeTextFile(
    script,
    `import { AviP2p } from ${JSON.stringify(`${ROOT}mesh/mod.ts`)};
const node = await AviP2p.start({
  listenHost: "127.0.0.1", enableMdns: false, dataDir: ${
      JSON.stringify(dataDir)
    },
});
console.log(node.identityPersisted ? "persisted" : "ephemeral");
await new Promise(() => {}); // hold until killed
`,
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      `--config=${ROOT}deno.json`,
      "--allow-net",
      "--allow-env",
      `--allow-read=${dataDir}`,
      `--allow-write=${dataDir}`,
      script,
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "null",
    stdin: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let killed = false;
  try {
    let out = "";
    while (!out.includes("\n")) {
      const r = await reader.read();
      if (r.done) break;
      out += r.value;
    }
    assert.equal(out.trim(), "persisted");
    await assert.rejects(
      startNode({ dataDir }),
      (e: unknown) =>
        e instanceof ConfigError && e.field === "dataDir" &&
        /in use by another running node/.test(e.message),
    );
    // the holder dies without shutting down: the OS drops its lock
    child.kill("SIGKILL");
    killed = true;
    await child.status;
    const node = await startNode({ dataDir });
    try {
      assert.equal(node.identityPersisted, true);
    } finally {
      await node.shutdown();
    }
  } finally {
    if (!killed) child.kill("SIGKILL");
    await reader.cancel().catch(() => {});
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
});
