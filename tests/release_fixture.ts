/**
 * The release artifact in tests and benchmarks (tests/release_e2e_test.ts,
 * bench/release.ts): build it (or keep the last build), unpack its tarball
 * after checking the checksum, and run its launcher natively or, for
 * aarch64 on another machine, under qemu-aarch64-static.
 *
 * @module
 */

import { type Arch, type Artifact, build, DIST } from "../release/build.ts";
import { textChunks } from "./support/text.ts";

/** The arm64 C library that qemu-user loads the aarch64 runtime against. */
export const QEMU_LD_PREFIX = "/usr/aarch64-linux-gnu";

const HOST: Arch = Deno.build.arch === "aarch64" ? "aarch64" : "x86_64";

/** The environment that runs `arch`'s launcher on this machine. */
export async function runEnv(arch: Arch): Promise<Record<string, string>> {
  if (arch === HOST) return {};
  const missing: string[] = [];
  const has = async (p: string) =>
    await Deno.stat(p).then(() => true, () => false);
  if (!(await has("/usr/bin/qemu-aarch64-static"))) {
    missing.push("qemu-user-static");
  }
  if (!(await has(`${QEMU_LD_PREFIX}/lib/ld-linux-aarch64.so.1`))) {
    missing.push("libc6-arm64-cross");
  }
  if (!(await has(`${QEMU_LD_PREFIX}/lib/libgcc_s.so.1`))) {
    missing.push("libgcc-s1-arm64-cross");
  }
  if (missing.length > 0) {
    throw new Error(
      `running the ${arch} release needs Debian's ${missing.join(", ")}`,
    );
  }
  return {
    AVI_EMULATOR: "/usr/bin/qemu-aarch64-static",
    QEMU_LD_PREFIX,
  };
}

/** Builds `arch`'s artifact, or keeps the last build when nothing changed. */
export async function artifact(arch: Arch): Promise<Artifact> {
  const [a] = await build({ arches: [arch] });
  return a;
}

/**
 * Unpacks `a`'s tarball into `dir` after checking it against its `.sha256`.
 * @returns The unpacked folder.
 */
export async function unpack(a: Artifact, dir: string): Promise<string> {
  const sum = new Uint8Array(
    await crypto.subtle.digest("SHA-256", await Deno.readFile(a.tarball)),
  );
  const hex = Array.from(sum, (b) => b.toString(16).padStart(2, "0")).join("");
  const recorded = await Deno.readTextFile(`${a.tarball}.sha256`);
  if (recorded !== `${hex}  ${a.name}.tar.gz\n`) {
    throw new Error(`${a.tarball}: checksum ${hex} does not match ${recorded}`);
  }
  const out = await new Deno.Command("tar", {
    args: ["-xzf", a.tarball, "-C", dir],
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`tar: ${new TextDecoder().decode(out.stderr)}`);
  }
  return `${dir}/${a.name}`;
}

/**
 * The shipped sample config, made to run in `dir`: its state directory
 * (`/var/lib/avi-gateway`) moved to `dir`, any free mesh and UDP ports, the
 * bridge on 127.0.0.1, and `devices` in the key file.
 * @returns The config's path.
 */
export async function sampleConfig(
  folder: string,
  dir: string,
  devices: Record<string, string>,
): Promise<string> {
  const sample = await Deno.readTextFile(`${folder}/avi-gateway.toml`);
  const text = sample.replaceAll("/var/lib/avi-gateway", dir)
    .replace(/^port = 4001\b/m, "port = 0")
    .replace(/^udpPort = 8888$/m, 'udpPort = 0\nhostname = "127.0.0.1"');
  if (text === sample || !text.includes("udpPort = 0")) {
    throw new Error("the sample config no longer has the expected keys");
  }
  const path = `${dir}/avi-gateway.toml`;
  await Deno.writeTextFile(path, text);
  await Deno.writeTextFile(`${dir}/devices.json`, JSON.stringify(devices), {
    mode: 0o600,
  });
  return path;
}

/** The per-architecture Deno cache of launched artifacts (code cache). */
export function denoDir(arch: Arch): string {
  return `${DIST}/.cache/deno-dir-${arch}`;
}

/** A running release launcher (`<folder>/avi ARGS`), its lines collected. */
export class ReleaseProcess {
  readonly child: Deno.ChildProcess;
  readonly lines: string[] = [];
  readonly started = performance.now();
  #done: Promise<Deno.CommandStatus>;

  constructor(
    folder: string,
    args: string[],
    env: Record<string, string>,
    readonly arch: Arch,
  ) {
    this.child = new Deno.Command(`${folder}/avi`, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", DENO_DIR: denoDir(arch), ...env },
    }).spawn();
    const read = async (s: ReadableStream<Uint8Array>) => {
      let buf = "";
      for await (const chunk of textChunks(s)) {
        buf += chunk;
        let at: number;
        while ((at = buf.indexOf("\n")) >= 0) {
          this.lines.push(buf.slice(0, at));
          buf = buf.slice(at + 1);
        }
      }
      if (buf) this.lines.push(buf);
    };
    this.#done = Promise.all([read(this.child.stdout), read(this.child.stderr)])
      .then(() => this.child.status);
  }

  /** Its pid (the runtime's, or qemu's: the launcher execs it). */
  get pid(): number {
    return this.child.pid;
  }

  /** Waits (`ms` at most) for a line matching `re`; returns its match. */
  async line(re: RegExp, ms: number): Promise<RegExpMatchArray> {
    const end = Date.now() + ms;
    let exited = false;
    this.#done.then(() => exited = true);
    while (true) {
      for (const l of this.lines) {
        const m = l.match(re);
        if (m) return m;
      }
      if (exited || Date.now() > end) {
        throw new Error(
          `${this.arch}: no line matching ${re} ${
            exited ? "before it exited" : `within ${ms} ms`
          }; output:\n${this.lines.join("\n")}`,
        );
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Sends `signal` and waits for the exit. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<Deno.CommandStatus> {
    try {
      this.child.kill(signal);
    } catch { /* already gone */ }
    return await this.#done;
  }
}

/**
 * Starts `avi gateway` from an unpacked release with `config`, on
 * 127.0.0.1, no mDNS, the control endpoint on any free port.
 */
export function startGateway(
  folder: string,
  arch: Arch,
  config: string,
  env: Record<string, string>,
): ReleaseProcess {
  return new ReleaseProcess(
    folder,
    [
      "gateway",
      "--config",
      config,
      "--no-mdns",
      "--host=127.0.0.1",
      "--control=127.0.0.1:0",
    ],
    env,
    arch,
  );
}

/** What a started gateway printed: its mesh address, bridge port, control URL. */
export async function gatewayEndpoints(
  gw: ReleaseProcess,
  ms: number,
): Promise<
  { peerId: string; meshAddress: string; udpPort: number; url: string }
> {
  const mesh = await gw.line(
    /listening on (\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/([A-Za-z0-9]+))/,
    ms,
  );
  const udp = await gw.line(/bridge on udp \S+:(\d+)/, ms);
  const url = await gw.line(/control endpoint on (http:\/\/\S+)/, ms);
  return {
    meshAddress: mesh[1],
    peerId: mesh[2],
    udpPort: Number(udp[1]),
    url: url[1],
  };
}
