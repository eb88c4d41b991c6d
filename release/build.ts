/**
 * `deno task release`: the gateway for Linux boards, as one self-contained
 * folder per architecture (x86_64, aarch64), packed as a `.tar.gz` with its
 * SHA-256:
 *
 * | file | what |
 * | --- | --- |
 * | `avi` | the launcher: runs `lib/avi.js` on `lib/deno` with the avi command's permissions |
 * | `lib/avi.js` | the whole `avi` command bundled into one file (`deno bundle`, runtime dependencies only: `release/runtime.json`) |
 * | `lib/deno` | the Deno runtime for that architecture, from the npm registry (`@deno/linux-*-glibc`, the version pinned in `.tools/`) |
 * | `avi-gateway.toml` | a sample config |
 * | `avi-gateway.service` | the hardened systemd unit |
 * | `README.md`, `LICENSE`, `THIRD_PARTY.txt`, `SHA256SUMS` | docs/RASPBERRY_PI.md, the licenses, every file's SHA-256 |
 *
 * The runtime's npm tarball is checked against the integrity that
 * `.tools/package-lock.json` pins and cached in `dist/.cache/`, so a second
 * build is offline. A build whose folder would be identical to the last one
 * keeps its tarball.
 *
 * ```sh
 * deno task release                       # both architectures, into dist/
 * deno task release --arch aarch64        # one
 * deno task compile:gateway-aarch64       # deno compile of the same bundle (downloads denort)
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";

/** A target architecture. */
export type Arch = "x86_64" | "aarch64";

/** Every target. */
export const ARCHES: readonly Arch[] = ["x86_64", "aarch64"];

/** The npm package holding each architecture's Deno. */
export const RUNTIME_PACKAGES: Readonly<Record<Arch, string>> = {
  x86_64: "@deno/linux-x64-glibc",
  aarch64: "@deno/linux-arm64-glibc",
};

/** The repository's root (ends with `/`). */
export const ROOT = new URL("..", import.meta.url).pathname;

/** Where `deno task release` writes. */
export const DIST = `${ROOT}dist`;

/** A built artifact. */
export interface Artifact {
  arch: Arch;
  /** `avi-gateway-<version>-linux-<arch>`, the folder's name in the tarball. */
  name: string;
  /** The unpacked folder, in `dist/`. */
  folder: string;
  /** The `.tar.gz`. */
  tarball: string;
  /** Its SHA-256 (hex), also in `<tarball>.sha256`. */
  sha256: string;
  /** True when the last build's tarball was kept (same content). */
  reused: boolean;
  /** Sizes in bytes. */
  bytes: { tarball: number; folder: number; bundle: number; runtime: number };
}

/** Options of {@linkcode build}. */
export interface BuildOptions {
  /** The architectures (default: both). */
  arches?: readonly Arch[];
  /** The output folder (default `dist/`); the download cache is `<out>/.cache`. */
  out?: string;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

const te = new TextEncoder();
const td = new TextDecoder();

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Runs a command; throws with its output when it fails. */
async function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, {
      args,
      cwd: opts.cwd,
      env: opts.env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (e) {
    throw new Error(`cannot run ${cmd}: ${(e as Error).message}`);
  }
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed (${out.code}):\n${
        td.decode(out.stderr).trim()
      }`,
    );
  }
  return td.decode(out.stdout);
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(path));
}

function hex(bytes: ArrayBuffer): string {
  return Array.from(
    new Uint8Array(bytes),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

async function sha256File(path: string): Promise<string> {
  return hex(await crypto.subtle.digest("SHA-256", await Deno.readFile(path)));
}

/** The version of @avi/p2p (deno.json). */
export async function version(): Promise<string> {
  return (await readJson(`${ROOT}deno.json`)).version as string;
}

/**
 * The `deno run` permission flags of the `avi` command: the `cli` set of
 * deno.json, which `cli/main.ts` checks before it loads anything. The
 * launcher (`release/avi`) and the compile tasks grant exactly these.
 */
export async function permissionFlags(): Promise<string[]> {
  const perms = (await readJson(`${ROOT}deno.json`)).permissions as Record<
    string,
    Record<string, boolean | string[]>
  >;
  return Object.entries(perms.cli).map(([name, v]) =>
    v === true
      ? `--allow-${name}`
      : `--allow-${name}=${(v as string[]).join(",")}`
  );
}

/** The pinned Deno runtime of `arch`: name, version, integrity (from `.tools/`). */
export async function pinnedRuntime(
  arch: Arch,
): Promise<{ name: string; version: string; integrity: string }> {
  const name = RUNTIME_PACKAGES[arch];
  const lock = await readJson(`${ROOT}.tools/package-lock.json`);
  const entry = (lock.packages as Record<string, Record<string, string>>)[
    `node_modules/${name}`
  ];
  if (!entry?.version || !entry.integrity) {
    throw new Error(`.tools/package-lock.json pins no ${name}`);
  }
  return { name, version: entry.version, integrity: entry.integrity };
}

async function integrityOf(path: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-512",
    await Deno.readFile(path),
  );
  let s = "";
  for (const b of new Uint8Array(digest)) s += String.fromCharCode(b);
  return `sha512-${btoa(s)}`;
}

/**
 * The Deno runtime binary for `arch`: the pinned npm package, fetched with
 * `npm pack` (the user's registry and proxy settings apply) into `cache`
 * once, checked against the pinned integrity, unpacked once.
 * @returns The path of the `deno` binary in the cache.
 */
export async function runtime(
  arch: Arch,
  cache = `${DIST}/.cache`,
  log: (line: string) => void = () => {},
): Promise<string> {
  const { name, version, integrity } = await pinnedRuntime(arch);
  await Deno.mkdir(cache, { recursive: true });
  const tgz = `${cache}/${name.slice(1).replace("/", "-")}-${version}.tgz`;
  const bin = `${cache}/deno-${version}-${arch}/deno`;
  if (await exists(bin)) return bin;
  if (!(await exists(tgz)) || (await integrityOf(tgz)) !== integrity) {
    log(`downloading ${name}@${version} (npm pack)`);
    await run("npm", [
      "pack",
      `${name}@${version}`,
      "--pack-destination",
      cache,
      "--loglevel=error",
      "--json",
    ], { cwd: cache });
    const got = await integrityOf(tgz);
    if (got !== integrity) {
      await Deno.remove(tgz);
      throw new Error(
        `${name}@${version}: integrity ${got} is not the pinned ${integrity}`,
      );
    }
  }
  const tmp = await Deno.makeTempDir({ dir: cache, prefix: ".unpack-" });
  try {
    await run("tar", ["-xzf", tgz, "-C", tmp, "package/deno"]);
    await Deno.mkdir(`${cache}/deno-${version}-${arch}`, { recursive: true });
    await Deno.rename(`${tmp}/package/deno`, bin);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
  return bin;
}

/**
 * Bundles the `avi` command (cli/main.ts) into one JavaScript file with the
 * runtime dependencies of `release/runtime.json` only (its lockfile frozen).
 */
export async function bundle(out: string): Promise<void> {
  await run(Deno.execPath(), [
    "bundle",
    "--config",
    `${ROOT}release/runtime.json`,
    "--frozen-lockfile",
    "--platform",
    "deno",
    "--output",
    out,
    `${ROOT}cli/main.ts`,
  ], { env: { NO_COLOR: "1" } });
}

/**
 * The import-map keys of deno.json that `entry`'s module graph uses (its
 * bare imports; an import deno.json does not map is named as such).
 */
export async function importKeys(entry: string): Promise<string[]> {
  const keys = Object.keys(
    (await readJson(`${ROOT}deno.json`)).imports as Record<string, string>,
  );
  const info = JSON.parse(
    await run(Deno.execPath(), [
      "info",
      "--json",
      "--config",
      `${ROOT}deno.json`,
      entry,
    ], { cwd: ROOT, env: { NO_COLOR: "1" } }),
  ) as {
    modules: { specifier: string; dependencies?: { specifier: string }[] }[];
  };
  const used = new Set<string>();
  for (const m of info.modules) {
    if (!m.specifier.startsWith("file:")) continue;
    for (const d of m.dependencies ?? []) {
      const s = d.specifier;
      if (/^(\.|\/|node:|npm:|jsr:|https?:|file:)/.test(s)) continue;
      const key = keys.find((k) => s === k || s.startsWith(`${k}/`));
      used.add(key ?? `${s} (not in deno.json)`);
    }
  }
  return [...used].sort();
}

/**
 * Rewrites `release/runtime.json`'s imports to those the avi command
 * (cli/main.ts) uses, as deno.json maps them, and updates its lockfile.
 * @returns The imports.
 */
export async function syncRuntimeImports(): Promise<string[]> {
  const root = (await readJson(`${ROOT}deno.json`)).imports as Record<
    string,
    string
  >;
  const used = await importKeys("cli/main.ts");
  const missing = used.filter((k) => !(k in root));
  if (missing.length > 0) throw new Error(`unmapped: ${missing.join(", ")}`);
  const path = `${ROOT}release/runtime.json`;
  const config = await readJson(path);
  config.imports = Object.fromEntries(used.map((k) => [k, root[k]]));
  await Deno.writeTextFile(path, JSON.stringify(config, null, 2) + "\n");
  // Start from deno.lock, so that every package keeps the version the
  // project tests with; install drops what the gateway does not use.
  await Deno.copyFile(`${ROOT}deno.lock`, `${ROOT}release/runtime.lock`);
  await run(Deno.execPath(), ["install", "--config", path], {
    env: { NO_COLOR: "1" },
  });
  return used;
}

/** `name version license` of each npm package of the runtime lockfile. */
async function thirdParty(runtimeVersion: string, arch: Arch): Promise<string> {
  const lock = await readJson(`${ROOT}release/runtime.lock`);
  const lines = [
    "The Deno runtime in lib/deno, and the npm packages bundled into lib/avi.js.",
    "",
    `${
      RUNTIME_PACKAGES[arch]
    } ${runtimeVersion} MIT (Copyright the Deno authors)`,
  ];
  for (const key of Object.keys(lock.npm as Record<string, unknown>).sort()) {
    const at = key.lastIndexOf("@");
    const [name, ver] = [key.slice(0, at), key.slice(at + 1).split("_")[0]];
    if (name.startsWith("@types/")) continue; // types only, nothing bundled
    const pkg = `${ROOT}release/node_modules/.deno/${
      name.replace("/", "+")
    }@${ver}/node_modules/${name}/package.json`;
    let license = "see the package";
    try {
      const l = (await readJson(pkg)).license;
      if (typeof l === "string") license = l;
    } catch { /* not installed: keep the pointer */ }
    lines.push(`${name} ${ver} ${license}`);
  }
  return lines.join("\n") + "\n";
}

/** The time stamp of the tarball's files: SOURCE_DATE_EPOCH, else the last commit's. */
async function sourceDate(): Promise<number> {
  const env = Deno.env.get("SOURCE_DATE_EPOCH");
  if (env && /^\d+$/.test(env)) return Number(env);
  try {
    return Number(
      (await run("git", ["-C", ROOT, "log", "-1", "--format=%ct"])).trim(),
    ) || 0;
  } catch {
    return 0;
  }
}

async function folderBytes(dir: string): Promise<number> {
  let n = 0;
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    n += e.isDirectory ? await folderBytes(p) : (await Deno.stat(p)).size;
  }
  return n;
}

/** Packs `dir/name` into `tarball` (sorted, owner root, fixed times, gzip -n). */
async function pack(dir: string, name: string, tarball: string): Promise<void> {
  const mtime = await sourceDate();
  const tar = new Deno.Command("tar", {
    args: [
      "--sort=name",
      "--owner=0",
      "--group=0",
      "--numeric-owner",
      `--mtime=@${mtime}`,
      "-cf",
      "-",
      "-C",
      dir,
      name,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const gzip = new Deno.Command("gzip", {
    args: ["-n", "-6"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const file = await Deno.open(tarball, {
    write: true,
    create: true,
    truncate: true,
  });
  const [t, g] = await Promise.all([
    tar.stdout.pipeTo(gzip.stdin).then(() => tar.output()),
    gzip.stdout.pipeTo(file.writable).then(() => gzip.output()),
  ]);
  if (!t.success || !g.success) {
    throw new Error(
      `packing ${name} failed: ${td.decode(t.stderr)}${td.decode(g.stderr)}`,
    );
  }
}

/** Assembles, checks and packs one architecture's folder. */
async function buildArch(
  arch: Arch,
  out: string,
  bundled: string,
  log: (line: string) => void,
): Promise<Artifact> {
  const ver = await version();
  const name = `avi-gateway-${ver}-linux-${arch}`;
  const folder = `${out}/${name}`;
  const tarball = `${folder}.tar.gz`;
  const deno = await runtime(arch, `${out}/.cache`, log);
  const { version: denoVersion } = await pinnedRuntime(arch);

  // Assemble in a staging folder.
  const stage = `${out}/.${name}.stage`;
  await Deno.remove(stage, { recursive: true }).catch(() => {});
  await Deno.mkdir(`${stage}/lib`, { recursive: true });
  const files: [string, string | Uint8Array, number][] = [
    ["avi", `${ROOT}release/avi`, 0o755],
    ["avi-gateway.service", `${ROOT}release/avi-gateway.service`, 0o644],
    ["avi-gateway.toml", `${ROOT}release/avi-gateway.toml`, 0o644],
    ["lib/avi.js", bundled, 0o644],
    ["lib/deno", deno, 0o755],
    ["LICENSE", `${ROOT}LICENSE`, 0o644],
    ["README.md", `${ROOT}docs/RASPBERRY_PI.md`, 0o644],
    ["THIRD_PARTY.txt", te.encode(await thirdParty(denoVersion, arch)), 0o644],
  ];
  const sums: string[] = [];
  for (const [rel, from, mode] of files.sort((a, b) => a[0] < b[0] ? -1 : 1)) {
    const to = `${stage}/${rel}`;
    if (typeof from === "string") await Deno.copyFile(from, to);
    else await Deno.writeFile(to, from);
    await Deno.chmod(to, mode);
    sums.push(`${await sha256File(to)}  ${rel}`);
  }
  const manifest = sums.join("\n") + "\n";
  await Deno.writeTextFile(`${stage}/SHA256SUMS`, manifest);

  // The same content as the last build: keep its tarball.
  const previous = await Deno.readTextFile(`${folder}/SHA256SUMS`).catch(() =>
    ""
  );
  const shaFile = `${tarball}.sha256`;
  const reused = previous === manifest && await exists(tarball) &&
    await exists(shaFile);
  await Deno.remove(folder, { recursive: true }).catch(() => {});
  if (!reused) {
    await Deno.remove(tarball).catch(() => {});
    await Deno.remove(shaFile).catch(() => {});
  }
  await Deno.rename(stage, folder);
  if (!reused) {
    log(`packing ${name}.tar.gz`);
    await pack(out, name, tarball);
    const sum = await sha256File(tarball);
    await Deno.writeTextFile(shaFile, `${sum}  ${name}.tar.gz\n`);
  }
  const sha256 = (await Deno.readTextFile(shaFile)).split(" ")[0];
  return {
    arch,
    name,
    folder,
    tarball,
    sha256,
    reused,
    bytes: {
      tarball: (await Deno.stat(tarball)).size,
      folder: await folderBytes(folder),
      bundle: (await Deno.stat(bundled)).size,
      runtime: (await Deno.stat(deno)).size,
    },
  };
}

/**
 * Builds the release folders and tarballs.
 *
 * @example
 * ```ts ignore
 * const [arm] = await build({ arches: ["aarch64"] });
 * console.log(arm.tarball, arm.sha256);
 * ```
 */
export async function build(opts: BuildOptions = {}): Promise<Artifact[]> {
  const out = opts.out ?? DIST;
  const log = opts.log ?? (() => {});
  await Deno.mkdir(out, { recursive: true });
  const bundled = `${out}/avi.js`;
  log("bundling cli/main.ts");
  await bundle(bundled);
  const artifacts: Artifact[] = [];
  for (const arch of opts.arches ?? ARCHES) {
    artifacts.push(await buildArch(arch, out, bundled, log));
  }
  return artifacts;
}

/** The `deno compile` target triple of `arch`. */
export function targetTriple(arch: Arch): string {
  return `${arch}-unknown-linux-gnu`;
}

/**
 * `deno compile` of the same bundle, with the same permissions, into
 * `dist/avi-<arch>-linux` (downloads denort for the target: needs a
 * machine that can reach Deno's download host).
 */
export async function compile(arch: Arch, out = DIST): Promise<string> {
  await Deno.mkdir(out, { recursive: true });
  const bundled = `${out}/avi.js`;
  await bundle(bundled);
  const binary = `${out}/avi-${arch}-linux`;
  await run(Deno.execPath(), [
    "compile",
    "--no-config",
    "--unstable-net",
    ...(await permissionFlags()),
    "--target",
    targetTriple(arch),
    "--output",
    binary,
    bundled,
  ], { env: { NO_COLOR: "1" } });
  return binary;
}

function mb(n: number): string {
  return `${(n / 1e6).toFixed(1)} MB`;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      arch: { type: "string", multiple: true },
      compile: { type: "string" },
      "sync-imports": { type: "boolean" },
      out: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(
      "usage: deno task release [--arch x86_64|aarch64]... [--out DIR]\n" +
        "       deno task release --compile x86_64|aarch64   (deno compile; downloads denort)\n" +
        "       deno task release --sync-imports   (release/runtime.json := what cli/main.ts imports)",
    );
    Deno.exit(0);
  }
  const pick = (a: string): Arch => {
    if (!(ARCHES as string[]).includes(a)) {
      console.error(`release: unknown arch "${a}" (${ARCHES.join(", ")})`);
      Deno.exit(2);
    }
    return a as Arch;
  };
  try {
    if (values["sync-imports"]) {
      const used = await syncRuntimeImports();
      console.log(`release/runtime.json: ${used.join(" ")}`);
    } else if (values.compile) {
      const binary = await compile(pick(values.compile), values.out);
      console.log(`${binary} (${mb((await Deno.stat(binary)).size)})`);
    } else {
      const arts = await build({
        arches: values.arch?.map(pick),
        out: values.out,
        log: (l) => console.error(`release: ${l}`),
      });
      for (const a of arts) {
        console.log(
          `${a.tarball} ${mb(a.bytes.tarball)} (unpacked ${
            mb(a.bytes.folder)
          }: runtime ${mb(a.bytes.runtime)}, bundle ${mb(a.bytes.bundle)})${
            a.reused ? ", unchanged" : ""
          }\n  sha256 ${a.sha256}`,
        );
      }
    }
  } catch (e) {
    console.error(`release: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
