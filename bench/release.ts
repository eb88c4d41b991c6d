/**
 * Benchmark `release` (issue 15): the release artifact of `deno task
 * release`, per architecture.
 *
 * - sizes: the tarball, the unpacked folder, the runtime, the bundle; the
 *   gateway's npm dependencies (release/node_modules) beside every
 *   dependency of the project (node_modules); what `deno compile` would
 *   embed (measured with the x86_64 Deno standing in for denort through
 *   `DENORT_BIN`: the binary's size less the stand-in's);
 * - start-up: spawn of the launcher to "listening on" (the mesh is up) and
 *   to the control endpoint (bridge and endpoint up), from the shipped
 *   sample config; the first start with an empty Deno cache, then with
 *   its code cache;
 * - resident memory of the gateway (VmRSS, VmHWM) on a warm start, when
 *   started, then with 100 devices connected (RawDevice clients in a
 *   separate process, bench/_bridge_fleet.ts). The first start costs more
 *   once: it compiles the whole bundle to fill Deno's code cache.
 *
 * x86_64 runs natively; aarch64 runs under qemu-aarch64-static, whose
 * figures are functional only: an emulated CPU on this machine, not a
 * Raspberry Pi's speed, and qemu's own memory in the resident size.
 *
 * @module
 */

import { type Arch, ARCHES, build, DIST, ROOT } from "../release/build.ts";
import {
  denoDir,
  gatewayEndpoints,
  runEnv,
  sampleConfig,
  startGateway,
  unpack,
} from "../tests/release_fixture.ts";

const DEVICES = 100;
const KEY_SEED = 77;
const WARM_STARTS: Record<Arch, number> = { x86_64: 5, aarch64: 2 };

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The key bench/_bridge_fleet.ts gives device `id`. */
function keyHex(id: number, seed: number): string {
  const k = new Uint8Array(32);
  const v = new DataView(k.buffer);
  v.setUint32(0, id);
  v.setUint32(4, seed);
  k[31] = 0xa5;
  return Array.from(k, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Bytes of the files under `dir` (symbolic links not followed). */
async function bytesUnder(dir: string): Promise<number> {
  let n = 0;
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isSymlink) continue;
    n += e.isDirectory ? await bytesUnder(p) : (await Deno.lstat(p)).size;
  }
  return n;
}

/** VmRSS and VmHWM of `pid`, bytes. */
async function memory(pid: number): Promise<{ rss: number; hwm: number }> {
  // Through cat: Deno lets only --allow-all read /proc/<pid>/ itself.
  const out = await new Deno.Command("cat", {
    args: [`/proc/${pid}/status`],
    stdout: "piped",
  }).output();
  const status = new TextDecoder().decode(out.stdout);
  const kb = (k: string) =>
    Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0) *
    1024;
  return { rss: kb("VmRSS"), hwm: kb("VmHWM") };
}

/** What `deno compile` embeds beyond the runtime, bytes. */
async function compilePayload(
  standIn: string,
  args: string[],
): Promise<number> {
  const out = `${DIST}/.bench-compile`;
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["compile", "--unstable-net", "--output", out, ...args],
    cwd: ROOT,
    env: { DENORT_BIN: standIn, NO_COLOR: "1" },
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!r.success) throw new Error(new TextDecoder().decode(r.stderr));
  const size = (await Deno.stat(out)).size - (await Deno.stat(standIn)).size;
  await Deno.remove(out);
  return size;
}

async function sizes(): Promise<void> {
  const arts = await build();
  console.log(
    "artifact (deno task release)      tarball   unpacked   runtime   bundle",
  );
  for (const a of arts) {
    console.log(
      `${a.name.padEnd(34)}${mb(a.bytes.tarball).padStart(8)}${
        mb(a.bytes.folder).padStart(11)
      }${mb(a.bytes.runtime).padStart(10)}${mb(a.bytes.bundle).padStart(9)}`,
    );
  }
  console.log(
    `npm dependencies: the gateway's (release/node_modules) ${
      mb(await bytesUnder(`${ROOT}release/node_modules`))
    }, the whole project's (node_modules) ${
      mb(await bytesUnder(`${ROOT}node_modules`))
    }`,
  );
  const standIn = `${DIST}/.cache/deno-2.9.6-x86_64/deno`;
  const x86 = arts.find((a) => a.arch === "x86_64")!;
  const perms = ["--allow-all"];
  const fromBundle = await compilePayload(standIn, [
    "--no-config",
    ...perms,
    `${DIST}/avi.js`,
  ]);
  const fromLean = await compilePayload(standIn, [
    "--config",
    "release/runtime.json",
    ...perms,
    "cli/main.ts",
  ]);
  const fromRoot = await compilePayload(standIn, [...perms, "cli/main.ts"]);
  console.log(
    `deno compile payload (beyond denort): the bundle (compile:gateway-* tasks) ${
      mb(fromBundle)
    }; cli/main.ts with release/runtime.json ${
      mb(fromLean)
    }; cli/main.ts with deno.json ${mb(fromRoot)}`,
  );
  console.log(
    `expected compiled binary: denort for the target + ${
      mb(fromBundle)
    } (at most ${mb(x86.bytes.runtime + fromBundle)} on x86_64, ${
      mb(arts.find((a) => a.arch === "aarch64")!.bytes.runtime + fromBundle)
    } on aarch64: denort is smaller than the full deno counted here)`,
  );
}

async function startAndMeasure(
  arch: Arch,
  folder: string,
  dir: string,
  env: Record<string, string>,
  withDevices: boolean,
): Promise<
  {
    listening: number;
    ready: number;
    idle?: number;
    loaded?: { rss: number; hwm: number };
  }
> {
  const run = await Deno.makeTempDir({ dir, prefix: "run-" });
  const devices: Record<string, string> = {};
  for (let id = 1; id <= DEVICES; id++) devices[id] = keyHex(id, KEY_SEED);
  const config = await sampleConfig(folder, run, devices);
  const gw = startGateway(folder, arch, config, env);
  const bound = arch === "aarch64" ? 300_000 : 60_000;
  let fleet: Deno.ChildProcess | undefined;
  try {
    const listening =
      (await gw.line(/listening on /, bound),
        performance.now() -
        gw.started);
    const { udpPort, url } = await gatewayEndpoints(gw, bound);
    const ready = performance.now() - gw.started;
    if (!withDevices) return { listening, ready };
    await sleep(1000);
    const idle = (await memory(gw.pid)).rss;
    fleet = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--unstable-net",
        `${ROOT}bench/_bridge_fleet.ts`,
        JSON.stringify({
          mode: "hold",
          port: udpPort,
          devices: DEVICES,
          keySeed: KEY_SEED,
          events: 0,
          window: 0,
          rate: 0,
          seconds: 0,
        }),
      ],
      stdin: "piped",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const end = Date.now() + bound;
    while (true) {
      const list = await (await fetch(`${url}/api/devices`))
        .json() as unknown[];
      if (list.length >= DEVICES) break;
      if (Date.now() > end) {
        throw new Error(
          `${arch}: ${list.length} of ${DEVICES} devices connected`,
        );
      }
      await sleep(200);
    }
    await sleep(1000);
    return { listening, ready, idle, loaded: await memory(gw.pid) };
  } finally {
    await fleet?.stdin.close().catch(() => {});
    await fleet?.status;
    await gw.stop("SIGTERM");
  }
}

async function startUp(arch: Arch): Promise<void> {
  const env = await runEnv(arch);
  const [a] = await build({ arches: [arch] });
  const dir = await Deno.makeTempDir({ prefix: `avi-bench-release-${arch}-` });
  try {
    const folder = await unpack(a, dir);
    await Deno.remove(denoDir(arch), { recursive: true }).catch(() => {});
    // The first start fills Deno's code cache (compiling the whole bundle,
    // which costs memory once); the service's later starts use it.
    const cold = await startAndMeasure(arch, folder, dir, env, false);
    const loaded = await startAndMeasure(arch, folder, dir, env, true);
    const warm: number[][] = [[loaded.listening, loaded.ready]];
    for (let i = 1; i < WARM_STARTS[arch]; i++) {
      const r = await startAndMeasure(arch, folder, dir, env, false);
      warm.push([r.listening, r.ready]);
    }
    const median = (k: number) =>
      warm.map((w) => w[k]).sort((x, y) => x - y)[warm.length >> 1];
    const how = arch === "aarch64"
      ? "qemu-aarch64-static, functional only"
      : "native";
    console.log(
      `${arch} (${how}): start to "listening on": ${s(cold.listening)} cold, ${
        s(median(0))
      } warm (median of ${warm.length}); to the control endpoint: ${
        s(cold.ready)
      } cold, ${s(median(1))} warm`,
    );
    console.log(
      `${arch} (${how}): resident memory (warm start) ${
        mb(loaded.idle!)
      } started, ${
        mb(loaded.loaded!.rss)
      } with ${DEVICES} devices connected (peak ${mb(loaded.loaded!.hwm)})`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Run every figure and print it. */
export async function bench(): Promise<void> {
  await sizes();
  for (const arch of ARCHES) await startUp(arch);
}

if (import.meta.main) await bench();
