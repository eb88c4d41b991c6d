/**
 * Benchmark `c`: the C device client (clients/c).
 *
 * - code size: `size` of each object file built with `-Os`, for x86_64
 *   (gcc; with and without the unwind tables firmware builds drop) and, when
 *   `arm-none-eabi-gcc` is installed (Debian's gcc-arm-none-eabi), for a
 *   32-bit Cortex-M4 (Thumb-2); the target is under 24 KiB;
 * - RAM: the caller's buffers (AVI_MEM_DEFAULT: two 1024-byte frames, the
 *   pending and topic stores) plus `sizeof(avi_client_t)`, and the deepest
 *   stack of a call into the client (GCC's -fcallgraph-info, crypto
 *   included, the application's callback excluded); the target is under
 *   8 KiB with a 1024-byte frame;
 * - QoS 1 publishes per second (8 unanswered at most) against the real
 *   gateway (EmbeddedBridge on a mesh node) and the test gateway, C (each
 *   crypto back end) beside the Deno client (`AviEmbedded`);
 * - fuzzing throughput: the seeded driver under ASan+UBSan, and a libFuzzer
 *   run (AVI_BENCH_LIBFUZZER_RUNS, default 1,000,000) with its coverage.
 *
 * Needs gcc, clang (with libclang-rt for the sanitizers and libFuzzer),
 * libssl-dev and libmbedtls-dev.
 *
 * @module
 */

import {
  buildC,
  C_ROOT,
  C_SRC,
  type Crypto,
  cryptoParts,
  run,
  TEST_PROGRAM,
} from "../tests/c_client/build.ts";

const KEY_HEX = "0f".repeat(32);
const KIB = 24 * 1024;
const RAM_TARGET = 8 * 1024;
const td = new TextDecoder();

async function has(cmd: string): Promise<boolean> {
  try {
    const o = await new Deno.Command(cmd, {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return o.success;
  } catch {
    return false;
  }
}

/** text, data, bss of an object file. */
async function sizeOf(
  tool: string,
  obj: string,
): Promise<{ text: number; data: number; bss: number }> {
  const out = await run(tool, [obj], "size");
  const [text, data, bss] = out.trim().split("\n")[1].trim().split(/\s+/)
    .map(Number);
  return { text, data, bss };
}

const pad = (s: string | number, n: number) => String(s).padStart(n);

async function codeSize(dir: string): Promise<void> {
  const files = [
    ["avi_client.c", "the client (protocol, state machine, MessagePack)"],
    ["avi_crypto_builtin.c", "built-in ChaCha20-Poly1305, SHA-256, HMAC"],
    ["avi_crypto_mbedtls.c", "mbedTLS back end (glue only)"],
    ["avi_crypto_openssl.c", "OpenSSL back end (glue only)"],
    ["avi_port_posix.c", "POSIX socket, clock, random port"],
  ];
  console.log("code size, -Os (bytes of text + rodata as `size` counts them):");
  console.log(
    `  ${"file".padEnd(24)} ${pad("x86_64", 8)} ${pad("no unwind", 10)} ${
      pad("Cortex-M4", 10)
    }`,
  );
  const arm = await has("arm-none-eabi-gcc");
  // A declarations-only string.h: the object needs no C library headers.
  await Deno.mkdir(`${dir}/armstub`, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/armstub/string.h`,
    "#include <stddef.h>\nvoid *memcpy(void *, const void *, size_t);\n" +
      "void *memmove(void *, const void *, size_t);\nvoid *memset(void *, int, size_t);\n" +
      "int memcmp(const void *, const void *, size_t);\nvoid *memchr(const void *, int, size_t);\n" +
      "size_t strlen(const char *);\n",
  );
  const totals = { x86: 0, bare: 0, arm: 0 };
  for (const [f, what] of files) {
    const base = [
      "-std=c11",
      "-Wall",
      "-Wextra",
      "-Werror",
      "-Os",
      `-I${C_SRC}`,
    ];
    await run("gcc", [...base, "-c", `${C_SRC}${f}`, "-o", `${dir}/x.o`], f);
    const x = await sizeOf("size", `${dir}/x.o`);
    await run("gcc", [
      ...base,
      "-fno-asynchronous-unwind-tables",
      "-fno-unwind-tables",
      "-c",
      `${C_SRC}${f}`,
      "-o",
      `${dir}/b.o`,
    ], f);
    const b = await sizeOf("size", `${dir}/b.o`);
    let a: { text: number; data: number; bss: number } | undefined;
    if (arm && (f === "avi_client.c" || f === "avi_crypto_builtin.c")) {
      await run("arm-none-eabi-gcc", [
        ...base,
        "-mcpu=cortex-m4",
        "-mthumb",
        "-ffreestanding",
        `-I${dir}/armstub`,
        "-c",
        `${C_SRC}${f}`,
        "-o",
        `${dir}/a.o`,
      ], f);
      a = await sizeOf("arm-none-eabi-size", `${dir}/a.o`);
    }
    const sum = (s?: { text: number; data: number }) => s ? s.text + s.data : 0;
    if (f === "avi_client.c" || f === "avi_crypto_builtin.c") {
      totals.x86 += sum(x);
      totals.bare += sum(b);
      totals.arm += sum(a);
    }
    console.log(
      `  ${f.padEnd(24)} ${pad(sum(x), 8)} ${pad(sum(b), 10)} ${
        pad(a ? sum(a) : "-", 10)
      }   ${what}`,
    );
  }
  console.log(
    `  client + built-in crypto: x86_64 ${totals.x86} B (${totals.bare} B without unwind tables)` +
      (arm
        ? `, Cortex-M4 ${totals.arm} B (${(totals.arm / 1024).toFixed(1)} KiB)`
        : ", Cortex-M4: arm-none-eabi-gcc not installed") +
      `; target < ${KIB} B: ${
        (arm ? totals.arm : totals.bare) < KIB ? "met" : "NOT met"
      }`,
  );
}

/** The deepest stack from the API into the client, per GCC's call graph. */
async function deepestStack(dir: string, cc: string, flags: string[]) {
  const ci: string[] = [];
  for (const f of ["avi_client.c", "avi_crypto_builtin.c"]) {
    const base = `${dir}/cg_${f.replace(".c", "")}`;
    await run(cc, [
      "-std=c11",
      "-Os",
      ...flags,
      `-I${C_SRC}`,
      "-fcallgraph-info=su",
      "-c",
      `${C_SRC}${f}`,
      "-o",
      `${base}.o`,
      "-dumpbase",
      base,
    ], "call graph");
    ci.push(await Deno.readTextFile(`${base}.ci`));
  }
  const own = new Map<string, number>();
  const edges = new Map<string, Set<string>>();
  const name = (t: string) => t.slice(t.lastIndexOf(":") + 1);
  for (const text of ci) {
    for (
      const m of text.matchAll(
        /node: \{ title: "([^"]+)" label: "[^"]*\\n(\d+) bytes/g,
      )
    ) {
      own.set(name(m[1]), Number(m[2]));
    }
    for (
      const m of text.matchAll(
        /edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"/g,
      )
    ) {
      const s = name(m[1]);
      if (!edges.has(s)) edges.set(s, new Set());
      edges.get(s)!.add(
        m[2] === "__indirect_call" ? "__indirect_call" : name(m[2]),
      );
    }
  }
  // An indirect call is a port or crypto call (the built-in back end) or the
  // application's callback (its own stack, not counted).
  const crypto = ["hmac", "hkdf", "seal", "open_"];
  const depth = (f: string, path: Set<string>): number => {
    if (path.has(f)) return 0;
    path.add(f);
    const next = f === "__indirect_call" ? crypto : [...(edges.get(f) ?? [])];
    let d = 0;
    for (const g of next) d = Math.max(d, depth(g, path));
    path.delete(f);
    return (own.get(f) ?? 0) + d;
  };
  const entries = [
    "avi_client_poll",
    "avi_client_input",
    "avi_client_tick",
    "avi_client_connect",
    "avi_client_publish",
    "avi_client_sensor",
    "avi_client_subscribe",
    "avi_client_sleep",
    "avi_client_close",
  ];
  let best = { f: "", d: 0 };
  for (const f of entries) {
    const d = depth(f, new Set());
    if (d > best.d) best = { f, d };
  }
  return best;
}

async function ram(dir: string): Promise<void> {
  const prog = `${dir}/sz.c`;
  await Deno.writeTextFile(
    prog,
    '#include <stdio.h>\n#include "avi_client.h"\n' +
      'int main(void) { printf("%u %u\\n", (unsigned)sizeof(avi_client_t), (unsigned)AVI_MEM_DEFAULT); return 0; }\n',
  );
  await run("gcc", ["-std=c11", `-I${C_SRC}`, prog, "-o", `${dir}/sz`], "sz");
  const [struct64, mem] = (await run(`${dir}/sz`, [], "sz")).trim().split(" ")
    .map(Number);
  let struct32: number | undefined;
  const arm = await has("arm-none-eabi-gcc");
  if (arm) {
    await Deno.writeTextFile(
      `${dir}/sz32.c`,
      '#include "avi_client.h"\nchar size_is[sizeof(avi_client_t)];\n',
    );
    await run("arm-none-eabi-gcc", [
      "-mcpu=cortex-m4",
      "-mthumb",
      "-ffreestanding",
      `-I${C_SRC}`,
      "-c",
      `${dir}/sz32.c`,
      "-o",
      `${dir}/sz32.o`,
    ], "sz32");
    const nm = await run("arm-none-eabi-nm", ["-S", `${dir}/sz32.o`], "nm");
    struct32 = parseInt(/^\S+ (\S+) [CBD] size_is$/m.exec(nm)![1], 16);
  }
  const stack = arm
    ? await deepestStack(dir, "arm-none-eabi-gcc", [
      "-mcpu=cortex-m4",
      "-mthumb",
      "-ffreestanding",
      `-I${dir}/armstub`,
    ])
    : await deepestStack(dir, "gcc", []);
  console.log("RAM, 1024-byte frame (the defaults):");
  console.log(
    `  caller's buffer AVI_MEM_DEFAULT: ${mem} B (receive 1024 + send 1024 + pending store 2048 + topic store 512)`,
  );
  console.log(
    `  sizeof(avi_client_t): ${struct64} B on x86_64` +
      (struct32 !== undefined ? `, ${struct32} B on Cortex-M4` : ""),
  );
  const total = mem + (struct32 ?? struct64);
  console.log(
    `  total: ${total} B (${
      (total / 1024).toFixed(2)
    } KiB); target < ${RAM_TARGET} B: ${
      total < RAM_TARGET ? "met" : "NOT met"
    }`,
  );
  console.log(
    `  deepest stack (${
      arm ? "Cortex-M4" : "x86_64"
    }, built-in crypto, callback excluded): ${stack.d} B from ${stack.f}()`,
  );
}

async function publishRate(): Promise<void> {
  const { TestGateway } = await import("../tests/support/test_gateway.ts");
  const { EmbeddedBridge } = await import("../bridge/mod.ts");
  const { startNode, shutdownAll } = await import(
    "../tests/support/mesh_fixture.ts"
  );
  const { AviEmbedded, createDenoUdpSocket, denoCrypto } = await import(
    "../embedded/mod.ts"
  );
  const N = 5000, W = 8, REPS = 3;
  const key = new Uint8Array(32).fill(0x0f);
  const bins = new Map<Crypto, string>();
  for (const crypto of ["openssl", "mbedtls", "builtin"] as Crypto[]) {
    const c = cryptoParts(crypto);
    bins.set(
      crypto,
      await buildC(`avi_bench_${crypto}`, [
        TEST_PROGRAM,
        `${C_SRC}avi_client.c`,
        `${C_SRC}avi_port_posix.c`,
        ...c.sources,
      ], { flags: ["-O2", c.define], libs: c.libs }),
    );
  }
  const cRate = async (bin: string, port: number, id: number) => {
    const o = await new Deno.Command(bin, {
      args: [
        "127.0.0.1",
        String(port),
        String(id),
        KEY_HEX,
        "bench",
        String(N),
        String(W),
        `device/${id}/bench`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const m = /BENCH messages=(\d+) window=\d+ ms=(\d+)/.exec(
      td.decode(o.stdout),
    );
    if (!o.success || !m) {
      throw new Error(`C bench failed: ${td.decode(o.stderr)}`);
    }
    return Number(m[1]) / (Math.max(1, Number(m[2])) / 1000);
  };
  const denoRate = async (port: number, id: number) => {
    const socket = await createDenoUdpSocket({ hostname: "127.0.0.1" });
    const avi = new AviEmbedded(socket, {
      deviceId: id,
      key,
      crypto: denoCrypto(),
      gateway: { address: "127.0.0.1", port },
    }, () => {});
    try {
      await avi.connect();
      const t0 = performance.now();
      const inflight: Promise<void>[] = [];
      for (let i = 0; i < N; i++) {
        inflight.push(
          avi.publish(`device/${id}/bench`, new Uint8Array([i & 0xff]), {
            qos: 1,
          }),
        );
        if (inflight.length === W) await Promise.all(inflight.splice(0));
      }
      await Promise.all(inflight);
      return N / ((performance.now() - t0) / 1000);
    } finally {
      await avi.close();
    }
  };
  const ids = [1, 2, 3, 4];
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1];
  const row = (what: string, r: number[]) =>
    console.log(
      `  ${what.padEnd(31)} C openssl ${pad(r[0].toFixed(0), 6)}  mbedtls ${
        pad(r[1].toFixed(0), 6)
      }  built-in ${pad(r[2].toFixed(0), 6)}   Deno ${
        pad(r[3].toFixed(0), 6)
      } msg/s   C/Deno ${(Math.max(r[0], r[1], r[2]) / r[3]).toFixed(1)}`,
    );
  // Each client REPS times, interleaved, after a warm-up of the gateway;
  // the median of each.
  const measure = async (port: number) => {
    const cryptos: Crypto[] = ["openssl", "mbedtls", "builtin"];
    await cRate(bins.get("builtin")!, port, ids[2]);
    await denoRate(port, ids[3]);
    const runs: number[][] = [[], [], [], []];
    for (let k = 0; k < REPS; k++) {
      for (const [i, c] of cryptos.entries()) {
        runs[i].push(await cRate(bins.get(c)!, port, ids[i]));
      }
      runs[3].push(await denoRate(port, ids[3]));
    }
    return runs.map(median);
  };
  console.log(
    `QoS 1 publishes acknowledged per second (${N} messages, ${W} unanswered at most, each client bundling what its window allows; median of ${REPS}, 127.0.0.1):`,
  );
  // The real gateway, its rate limits raised above what is measured.
  const gw = await startNode({ nodeName: "bench-gateway" });
  const bridge = await EmbeddedBridge.start(gw.handle(), {
    udpPort: 0,
    hostname: "127.0.0.1",
    devices: Object.fromEntries(ids.map((i) => [String(i), KEY_HEX])),
    ratePerDevice: 1_000_000,
    burstPerDevice: 100_000,
    ratePerAddress: 1_000_000,
    burstPerAddress: 100_000,
  });
  try {
    row("real gateway (EmbeddedBridge):", await measure(bridge.port));
  } finally {
    await bridge.close();
    await shutdownAll(gw);
  }
  const tg = TestGateway.start({
    devices: new Map(ids.map((i) => [i, key] as [number, Uint8Array])),
  });
  try {
    row("test gateway (as bench xs):", await measure(tg.port));
  } finally {
    await tg.close();
  }
}

async function fuzzing(dir: string): Promise<void> {
  const sources = [
    `${C_ROOT}fuzz/avi_fuzz.c`,
    `${C_SRC}avi_client.c`,
    `${C_SRC}avi_crypto_openssl.c`,
  ];
  const flags = ["-O1", "-g", "-DAVI_FUZZ_OPENSSL"];
  const driver = await buildC("avi_fuzz", sources, {
    cc: "clang",
    sanitize: true,
    flags,
    libs: ["-lcrypto"],
  });
  const o = await run(driver, ["run", "1000000", "7"], "the seeded driver");
  const m = /inputs=(\d+).*valid_plaintexts=(\d+).*seconds=([\d.]+)/.exec(o)!;
  console.log("fuzzing (ASan + UBSan):");
  console.log(
    `  seeded driver: ${m[1]} inputs x 6 targets in ${m[3]} s (${
      (Number(m[1]) / Number(m[3])).toFixed(0)
    } inputs/s), ${m[2]} valid plaintexts; no crash`,
  );
  const runs = Deno.env.get("AVI_BENCH_LIBFUZZER_RUNS") ?? "1000000";
  const lf = await buildC("avi_fuzz_libfuzzer", sources, {
    cc: "clang",
    sanitize: true,
    flags: [...flags, "-DAVI_LIBFUZZER", "-fsanitize=fuzzer"],
    libs: ["-lcrypto"],
  });
  await Deno.mkdir(`${dir}/corpus`, { recursive: true });
  await run(driver, ["seeds", `${dir}/corpus`], "seeds");
  const t0 = performance.now();
  const out = await run(
    lf,
    [
      `-runs=${runs}`,
      "-max_len=1500",
      `-artifact_prefix=${dir}/`,
      `${dir}/corpus`,
    ],
    "libFuzzer",
    { cwd: dir },
  );
  const last =
    out.trim().split("\n").filter((l) => /cov: \d+/.test(l)).at(-1) ??
      "";
  const cov = /cov: (\d+) ft: (\d+) corp: (\d+)/.exec(last);
  console.log(
    `  libFuzzer: ${runs} runs in ${
      ((performance.now() - t0) / 1000).toFixed(0)
    } s, ` +
      (cov
        ? `${cov[1]} edges covered, ${cov[2]} features, corpus ${cov[3]} inputs`
        : "done") +
      "; no crash",
  );
}

/** Runs the C client benchmark and prints its figures. */
export async function bench(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "avi_bench_c_" });
  try {
    await codeSize(dir);
    await ram(dir);
    await publishRate();
    await fuzzing(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await bench();
