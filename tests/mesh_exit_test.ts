import assert from "node:assert/strict";
import { startNode } from "./support/mesh_fixture.ts";

const ROOT = new URL("..", import.meta.url).pathname;

// With libp2p's defaults, a served ping or Kademlia request leaves a 10 s
// timer that keeps the process alive after shutdown; the mesh bounds these
// requests (INBOUND_REQUEST_TIMEOUT_MS) so the process exits well before.
Deno.test("a process whose node (Kademlia on) served requests exits soon after shutdown", async () => {
  const dir = await Deno.makeTempDir();
  const script = `${dir}/serve.ts`;
  await Deno.writeTextFile(
    script,
    `import { AviP2p } from ${JSON.stringify(`${ROOT}mesh/mod.ts`)};
const node = await AviP2p.start({
  listenHost: "127.0.0.1", enableMdns: false, enableKad: true, dataDir: null,
  onWarning: () => {},
});
console.log(node.listenAddresses[0]);
await Deno.stdin.read(new Uint8Array(8)); // wait for "stop"
await node.shutdown();
console.log("stopped");
`,
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      `--config=${ROOT}deno.json`,
      "--allow-net",
      "--allow-env",
      script,
    ],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const stdin = child.stdin.getWriter();
  const node = await startNode({ nodeName: "asker", enableKad: true });
  let exited = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    let out = "";
    while (!out.includes("\n")) {
      const r = await reader.read();
      if (r.done) throw new Error(`child ended early: ${out}`);
      out += r.value;
    }
    const address = out.trim();
    // make the child serve Kademlia requests (and Identify, ping, ...)
    await node.handle().dial(address);
    for (let i = 0; i < 3; i++) await node.handle().discoverPeers();
    await node.shutdown();
    await stdin.write(new TextEncoder().encode("stop\n"));
    const status = child.status.then((s) => {
      exited = true;
      return s;
    });
    // generous: libp2p's default would keep it alive about 10 s
    const deadline = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), 8_000);
    });
    const first = await Promise.race([status, deadline]);
    assert.notEqual(
      first,
      "late",
      "the process was still alive 8 s after stop",
    );
    assert.equal((await status).code, 0);
    let rest = "";
    while (true) {
      const r = await reader.read();
      if (r.done) break;
      rest += r.value;
    }
    assert.match(rest, /stopped/);
  } finally {
    clearTimeout(timer);
    await node.shutdown();
    if (!exited) child.kill("SIGKILL");
    await stdin.close().catch(() => {});
    await reader.cancel().catch(() => {});
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
});
