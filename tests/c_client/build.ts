/**
 * Builds C programs against the shipped C client (clients/c) for the tests
 * and the benchmark: one crypto back end each, with gcc or clang, plain or
 * under AddressSanitizer + UndefinedBehaviorSanitizer, always with
 * `-std=c11 -Wall -Wextra -Werror`. Binaries go to one temporary directory
 * per process (removed at exit) and are built once per set of options.
 *
 * @module
 */

/** The C client's directory. */
export const C_ROOT = new URL("../../clients/c/", import.meta.url).pathname;
/** Its sources. */
export const C_SRC = `${C_ROOT}src/`;
/** The test program (worked examples, real UDP modes). */
export const TEST_PROGRAM = new URL("./avi_client.c", import.meta.url).pathname;

/** A crypto back end. */
export type Crypto = "openssl" | "mbedtls" | "builtin";

/** The warnings every build uses (the bar). */
export const WARNINGS = ["-std=c11", "-Wall", "-Wextra", "-Werror"];

/** Sanitizer flags: every report aborts the program. */
export const SANITIZE = [
  "-fsanitize=address,undefined",
  "-fno-sanitize-recover=all",
  "-fno-omit-frame-pointer",
];

/** Environment for sanitized programs (leaks checked, reports fatal). */
export const SAN_ENV: Record<string, string> = {
  ASAN_OPTIONS: "detect_leaks=1:abort_on_error=0:exitcode=86",
  UBSAN_OPTIONS: "print_stacktrace=1:halt_on_error=1:exitcode=87",
};

/** A report of either sanitizer in a program's stderr. */
export const SAN_REPORT =
  /ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: UndefinedBehaviorSanitizer/;

/** Sources, define and libraries of a crypto back end. */
export function cryptoParts(
  crypto: Crypto,
): { sources: string[]; define: string; libs: string[] } {
  switch (crypto) {
    case "openssl":
      return {
        sources: [`${C_SRC}avi_crypto_openssl.c`],
        define: "-DAVI_TEST_OPENSSL",
        libs: ["-lcrypto"],
      };
    case "mbedtls":
      return {
        sources: [`${C_SRC}avi_crypto_mbedtls.c`],
        define: "-DAVI_TEST_MBEDTLS",
        libs: ["-lmbedcrypto"],
      };
    default:
      return {
        sources: [`${C_SRC}avi_crypto_builtin.c`],
        define: "-DAVI_TEST_BUILTIN",
        libs: [],
      };
  }
}

/** Options of {@linkcode buildC}. */
export interface BuildOptions {
  /** The compiler. @default "gcc" */
  cc?: "gcc" | "clang";
  /** Under ASan + UBSan. @default false */
  sanitize?: boolean;
  /** More flags (optimisation, defines). @default ["-O1", "-g"] */
  flags?: string[];
  /** Libraries, after the sources. */
  libs?: string[];
}

let dir: string | undefined;
const built = new Map<string, Promise<string>>();

async function tmpDir(): Promise<string> {
  if (dir) return dir;
  dir = await Deno.makeTempDir({ prefix: "avi_c_" });
  const d = dir;
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(d, { recursive: true });
    } catch { /* already gone */ }
  });
  return d;
}

/** Runs a command; throws with its output unless it succeeds. */
export async function run(
  cmd: string,
  args: string[],
  what: string,
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, {
      args,
      cwd: options.cwd,
      env: options.env,
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (e) {
    throw new Error(`cannot run ${cmd} (${what}): ${e}`);
  }
  const text = new TextDecoder().decode(out.stdout) +
    new TextDecoder().decode(out.stderr);
  if (!out.success) {
    throw new Error(`${what} failed (${cmd} ${args.join(" ")}):\n${text}`);
  }
  return text;
}

/**
 * Compiles and links `sources` into a program; returns its path. The same
 * options build once per process.
 */
export function buildC(
  name: string,
  sources: string[],
  options: BuildOptions = {},
): Promise<string> {
  const cc = options.cc ?? "gcc";
  const args = [
    ...WARNINGS,
    ...(options.flags ?? ["-O1", "-g"]),
    ...(options.sanitize ? SANITIZE : []),
    `-I${C_SRC}`,
    ...sources,
  ];
  const libs = options.libs ?? [];
  const key = `${cc} ${args.join(" ")} ${libs.join(" ")}`;
  let p = built.get(key);
  if (!p) {
    p = (async () => {
      const out = `${await tmpDir()}/${name}`;
      await run(
        cc,
        [...args, "-o", out, ...libs],
        `building ${name} with ${cc} (a C compiler, libssl-dev, libmbedtls-dev ` +
          `and libclang-rt-14-dev are needed)`,
      );
      return out;
    })();
    built.set(key, p);
  }
  return p;
}

/** One build of the test program. */
export interface Variant {
  /** Its name in test output. */
  name: string;
  /** The compiler. */
  cc: "gcc" | "clang";
  /** The crypto back end. */
  crypto: Crypto;
  /** Under ASan + UBSan. */
  sanitize: boolean;
}

/**
 * The builds the interop tests run: both shipped back ends of the issue
 * (OpenSSL 3, mbedTLS) plain and under sanitizers, and the built-in one
 * (Arduino) under sanitizers.
 */
export const VARIANTS: Variant[] = [
  { name: "openssl", cc: "gcc", crypto: "openssl", sanitize: false },
  { name: "mbedtls", cc: "gcc", crypto: "mbedtls", sanitize: false },
  {
    name: "openssl+asan+ubsan",
    cc: "clang",
    crypto: "openssl",
    sanitize: true,
  },
  {
    name: "mbedtls+asan+ubsan",
    cc: "clang",
    crypto: "mbedtls",
    sanitize: true,
  },
  {
    name: "builtin+asan+ubsan",
    cc: "clang",
    crypto: "builtin",
    sanitize: true,
  },
];

/** Builds the test program for a variant; returns its path. */
export function buildTestProgram(v: Variant): Promise<string> {
  const c = cryptoParts(v.crypto);
  return buildC(
    `avi_client_${v.crypto}${v.sanitize ? "_san" : ""}_${v.cc}`,
    [
      TEST_PROGRAM,
      `${C_SRC}avi_client.c`,
      `${C_SRC}avi_port_posix.c`,
      ...c.sources,
    ],
    {
      cc: v.cc,
      sanitize: v.sanitize,
      flags: ["-O1", "-g", c.define],
      libs: c.libs,
    },
  );
}
