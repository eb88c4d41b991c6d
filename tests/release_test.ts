// The release's parts without building it (issue 15): the runtime-only
// dependency set, the launcher's permissions, the systemd unit (accepted by
// systemd-analyze verify, hardened), and the sample config.
import assert from "node:assert/strict";
import { importKeys, permissionFlags, ROOT } from "../release/build.ts";
import { loadGatewayConfig } from "../cli/_gateway_config.ts";

const td = new TextDecoder();
const readJson = async (p: string) =>
  JSON.parse(await Deno.readTextFile(`${ROOT}${p}`));

/** Packages only tests and benchmarks use: no package entry may import one. */
const DEV_ONLY = [
  "fast-check",
  "@agoric/xsnap",
  "@endo/init",
  "aedes",
  "@automerge/automerge",
  "yjs",
  "puppeteer-core",
  "@msgpack/msgpack",
  "@noble/curves",
];

Deno.test("release: release/runtime.json maps exactly the avi command's npm imports, as deno.json does, and its lockfile pins deno.lock's versions", async () => {
  const root = await readJson("deno.json");
  const runtime = await readJson("release/runtime.json");
  const used = await importKeys("cli/main.ts");
  assert.deepEqual(
    Object.keys(runtime.imports).sort(),
    used,
    "release/runtime.json must map the imports that cli/main.ts's graph uses " +
      "as deno.json does: run `deno task release --sync-imports`",
  );
  for (const [k, v] of Object.entries(runtime.imports)) {
    assert.equal(v, root.imports[k], `${k}: release/runtime.json vs deno.json`);
  }
  for (const k of DEV_ONLY) assert.ok(!used.includes(k), k);
  const rootLock = await readJson("deno.lock");
  const lock = await readJson("release/runtime.lock");
  for (const pkg of Object.keys(lock.npm)) {
    if (pkg.startsWith("@types/")) continue;
    assert.ok(
      pkg in rootLock.npm,
      `release/runtime.lock has ${pkg}, deno.lock has not: run \`deno task release --sync-imports\``,
    );
  }
});

Deno.test("release: no package entry imports a test or benchmark package", async () => {
  const root = await readJson("deno.json");
  for (const entry of Object.values(root.exports) as string[]) {
    const used = await importKeys(entry);
    for (const k of DEV_ONLY) {
      assert.ok(
        !used.includes(k),
        `${entry} imports ${k}, a development package`,
      );
    }
  }
});

Deno.test("release: the launcher grants exactly the avi command's permissions (deno.json `cli`, cli/main.ts)", async () => {
  const launcher = await Deno.readTextFile(`${ROOT}release/avi`);
  const run = launcher.slice(launcher.indexOf("exec "));
  const granted = run.match(/--allow-[a-z]+(=\S+)?/g)?.sort();
  const expected = (await permissionFlags()).sort();
  assert.deepEqual(granted, expected);
  assert.deepEqual(
    expected,
    [
      "--allow-env",
      "--allow-net",
      "--allow-read",
      "--allow-sys=networkInterfaces",
      "--allow-write",
    ],
  );
  for (const f of ["-A", "--allow-all", "--allow-run", "--allow-ffi"]) {
    assert.ok(!run.includes(` ${f}`), f);
  }
  for (
    const f of [
      "--no-config",
      "--no-remote",
      "--no-npm",
      "--no-prompt",
      "--cached-only",
      "--unstable-net",
    ]
  ) {
    assert.ok(run.includes(f), f);
  }
  // The program's own statement of what it needs says the same.
  const shebang =
    (await Deno.readTextFile(`${ROOT}cli/main.ts`)).split("\n")[0];
  assert.deepEqual(shebang.match(/--allow-[a-z]+(=\S+)?/g)?.sort(), expected);
});

Deno.test("release: the systemd unit passes systemd-analyze verify and is hardened", async () => {
  const unit = await Deno.readTextFile(`${ROOT}release/avi-gateway.service`);
  const has = (line: string) =>
    assert.ok(unit.split("\n").includes(line), `the unit has ${line}`);
  has(
    "ExecStart=/opt/avi-gateway/avi gateway --config /etc/avi-gateway/avi-gateway.toml",
  );
  has("User=avi-gateway");
  has("ProtectSystem=strict");
  has("StateDirectory=avi-gateway");
  has("Restart=on-failure");
  has("NoNewPrivileges=yes");
  has("CapabilityBoundingSet=");
  const dir = await Deno.makeTempDir();
  try {
    // verify checks that ExecStart's program exists: point it at a stand-in.
    await Deno.writeTextFile(`${dir}/avi`, "#!/bin/sh\n", { mode: 0o755 });
    await Deno.writeTextFile(
      `${dir}/avi-gateway.service`,
      unit.replace("ExecStart=/opt/avi-gateway/avi", `ExecStart=${dir}/avi`),
    );
    const verify = await new Deno.Command("systemd-analyze", {
      args: ["verify", `${dir}/avi-gateway.service`],
      stdout: "piped",
      stderr: "piped",
    }).output().catch((e) => {
      throw new Error(`systemd-analyze (Debian's systemd): ${e.message}`);
    });
    const said = (td.decode(verify.stdout) + td.decode(verify.stderr)).trim();
    assert.ok(verify.success, said);
    // It only warns (status 0) about an unknown key or a bad value.
    assert.equal(said, "", "systemd-analyze verify has nothing to say");
    const security = await new Deno.Command("systemd-analyze", {
      args: ["security", "--offline=true", `${dir}/avi-gateway.service`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const report = td.decode(security.stdout) + td.decode(security.stderr);
    const m = /Overall exposure level for avi-gateway\.service: ([\d.]+)/.exec(
      report,
    );
    assert.ok(m, report);
    assert.ok(Number(m[1]) <= 2, `exposure ${m[1]} (0 safest, 10 none)`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("release: the sample config loads, and keeps state where the unit lets the service write", async () => {
  const unit = await Deno.readTextFile(`${ROOT}release/avi-gateway.service`);
  const state = `/var/lib/${/^StateDirectory=(\S+)$/m.exec(unit)![1]}`;
  const c = await loadGatewayConfig(`${ROOT}release/avi-gateway.toml`);
  assert.ok(String(c.node.dataDir).startsWith(`${state}/`), c.node.dataDir!);
  assert.ok(c.devicesFile?.startsWith(`${state}/`), c.devicesFile!);
  assert.equal(c.control?.listen, "127.0.0.1:7357");
  assert.equal(c.bridge.udpPort, 8888);
  assert.match(unit, new RegExp(`^WorkingDirectory=${state}$`, "m"));
});
