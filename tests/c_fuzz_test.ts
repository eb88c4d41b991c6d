/**
 * Fuzzing of the C device client (clients/c/fuzz/avi_fuzz.c): every parser
 * of received bytes (a sealed frame's plaintext of 1..32 MessagePack
 * messages, the Welcome body, raw datagrams in each client state, and
 * plaintexts sealed with the session key so that they reach every message
 * handler) under AddressSanitizer + UndefinedBehaviorSanitizer:
 *
 * - the regression corpus (clients/c/fuzz/regressions: every crash the
 *   fuzzer found, replayed);
 * - 1,000,000 inputs of the seeded mutating driver, seeded from the worked
 *   examples of docs/PROTOCOL.md 8 and a message of each type (seed 1, or
 *   AVI_FUZZ_SEED): no crash, no sanitizer report, no broken invariant;
 * - the C reader against the TypeScript decoder (protocol/), input by
 *   input: the same verdict (and message count) on 40,000 inputs;
 * - the libFuzzer build of the same target, briefly (the long libFuzzer
 *   runs are in `deno task bench c`).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decodeMessages,
  encodeMessage,
  FrameDecodeError,
  type Message,
  Writer,
} from "../protocol/mod.ts";
import { anyMessage } from "../protocol/_arbitraries_test.ts";
import {
  buildC,
  C_ROOT,
  C_SRC,
  SAN_ENV,
  SAN_REPORT,
} from "./c_client/build.ts";

const FUZZ = `${C_ROOT}fuzz/avi_fuzz.c`;
const REGRESSIONS = `${C_ROOT}fuzz/regressions`;
const td = new TextDecoder();

function buildFuzz(libfuzzer = false): Promise<string> {
  return buildC(
    libfuzzer ? "avi_fuzz_libfuzzer" : "avi_fuzz",
    [FUZZ, `${C_SRC}avi_client.c`, `${C_SRC}avi_crypto_openssl.c`],
    {
      cc: "clang",
      sanitize: true,
      flags: [
        "-O1",
        "-g",
        "-DAVI_FUZZ_OPENSSL",
        ...(libfuzzer ? ["-DAVI_LIBFUZZER", "-fsanitize=fuzzer"] : []),
      ],
      libs: ["-lcrypto"],
    },
  );
}

async function exec(
  bin: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; stdin?: Uint8Array } =
    {},
): Promise<{ code: number; out: string; err: string }> {
  const child = new Deno.Command(bin, {
    args,
    cwd: options.cwd,
    env: { ...SAN_ENV, ...options.env },
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Read while writing: a large input would otherwise fill both pipes.
  const output = child.output();
  if (options.stdin) {
    const w = child.stdin.getWriter();
    await w.write(options.stdin);
    await w.close();
  }
  const o = await output;
  return { code: o.code, out: td.decode(o.stdout), err: td.decode(o.stderr) };
}

Deno.test("c client fuzzing: the regression corpus, then 1,000,000 mutated inputs over every parser under ASan+UBSan: no crash, no report", async () => {
  const bin = await buildFuzz();
  const files = [...Deno.readDirSync(REGRESSIONS)]
    .filter((e) => e.isFile && e.name.endsWith(".bin"))
    .map((e) => `${REGRESSIONS}/${e.name}`)
    .sort();
  assert.ok(files.length >= 2, "the regression corpus is there");
  const rep = await exec(bin, ["replay", ...files]);
  assert.equal(rep.code, 0, rep.out + rep.err);
  assert.doesNotMatch(rep.err, SAN_REPORT, rep.err);
  assert.equal(rep.out.match(/^REPLAY ok /gm)?.length, files.length);

  const crashDir = await Deno.makeTempDir({ prefix: "avi_fuzz_crash_" });
  try {
    const seed = Deno.env.get("AVI_FUZZ_SEED") ?? "1";
    const r = await exec(bin, ["run", "1000000", seed], {
      env: { AVI_FUZZ_CRASH_DIR: crashDir },
    });
    const saved = [...Deno.readDirSync(crashDir)].map((e) => e.name);
    assert.equal(
      r.code,
      0,
      `the fuzzer failed (seed ${seed}); crashing input: ${
        saved.join(", ")
      } (copy it to clients/c/fuzz/regressions):\n${r.err.slice(-4000)}`,
    );
    assert.doesNotMatch(r.err, SAN_REPORT, r.err);
    assert.match(r.out, /^FUZZ inputs=1000000 targets=6 valid_plaintexts=\d+/m);
    // A good share of the inputs are valid plaintexts (they reach the
    // message handlers), the rest exercise the refusals.
    const valid = Number(/valid_plaintexts=(\d+)/.exec(r.out)![1]);
    assert.ok(valid > 50_000, r.out);
    assert.deepEqual(saved, []);
  } finally {
    await Deno.remove(crashDir, { recursive: true });
  }
});

// xorshift32, seeded: the inputs are the same on every run.
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

const INTERESTING = [
  0x00,
  0x01,
  0x0e,
  0x12,
  0x13,
  0x7f,
  0x80,
  0x90,
  0x91,
  0x9f,
  0xa0,
  0xbf,
  0xc0,
  0xc1,
  0xc2,
  0xc3,
  0xc4,
  0xc5,
  0xc6,
  0xca,
  0xcb,
  0xcc,
  0xcd,
  0xce,
  0xcf,
  0xd0,
  0xd1,
  0xd2,
  0xd3,
  0xd9,
  0xda,
  0xdb,
  0xdc,
  0xdd,
  0xe0,
  0xed,
  0xf4,
  0xf5,
  0xff,
];

Deno.test("c client fuzzing: the C message reader gives the TypeScript decoder's verdict on 40,000 inputs", async () => {
  const bin = await buildFuzz();
  const dir = await Deno.makeTempDir({ prefix: "avi_fuzz_seeds_" });
  let seeds: Uint8Array[];
  try {
    const s = await exec(bin, ["seeds", dir]);
    assert.equal(s.code, 0, s.err);
    seeds = [...Deno.readDirSync(dir)].map((e) =>
      Deno.readFileSync(`${dir}/${e.name}`)
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  // Valid messages of every type over their whole ranges, alone and bundled.
  const enc = (ms: Message[]) => {
    const w = new Writer(new Uint8Array(16384));
    for (const m of ms) encodeMessage(w, m);
    return w.bytes().slice();
  };
  const sample = fc.sample(anyMessage, { numRuns: 2000, seed: 7 });
  for (let i = 0; i < sample.length; i += 1 + (i % 4)) {
    seeds.push(enc(sample.slice(i, i + 1 + (i % 4))));
  }
  const r = rng(0x5eed);
  const inputs: Uint8Array[] = [...seeds];
  while (inputs.length < 40_000) {
    const b = [...seeds[r() % seeds.length]];
    for (let k = r() % 3; k >= 0; k--) {
      const pos = b.length ? r() % b.length : 0;
      switch (r() % 6) {
        case 0:
          if (b.length) b[pos] ^= 1 << (r() % 8);
          break;
        case 1:
          if (b.length) b[pos] = INTERESTING[r() % INTERESTING.length];
          break;
        case 2:
          b.splice(pos, 0, r() & 0xff);
          break;
        case 3:
          b.splice(pos, 1 + (r() % 3));
          break;
        case 4:
          b.length = pos;
          break;
        default:
          b.push(...seeds[r() % seeds.length]);
      }
    }
    if (b.length <= 0xffff) inputs.push(new Uint8Array(b));
  }
  const framed = new Uint8Array(
    inputs.reduce((n, b) => n + 2 + b.length, 0),
  );
  let o = 0;
  for (const b of inputs) {
    framed[o] = b.length >> 8;
    framed[o + 1] = b.length & 0xff;
    framed.set(b, o + 2);
    o += 2 + b.length;
  }
  const c = await exec(bin, ["check"], { stdin: framed });
  assert.equal(c.code, 0, c.err);
  const verdicts = c.out.trim().split("\n").map(Number);
  assert.equal(verdicts.length, inputs.length);
  let valid = 0;
  for (const [i, b] of inputs.entries()) {
    let want: number;
    try {
      want = decodeMessages(b).length;
    } catch (e) {
      if (!(e instanceof FrameDecodeError)) throw e;
      want = -1;
    }
    if (want > 0) valid++;
    assert.equal(
      verdicts[i],
      want,
      `input ${i}: ${
        Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ")
      }`,
    );
  }
  assert.ok(valid > 5_000 && valid < inputs.length - 5_000, `${valid} valid`);
});

Deno.test("c client fuzzing: the libFuzzer build of the same target runs (20,000 runs from the seeds)", async () => {
  const bin = await buildFuzz(true);
  const plain = await buildFuzz();
  const dir = await Deno.makeTempDir({ prefix: "avi_libfuzzer_" });
  try {
    await Deno.mkdir(`${dir}/corpus`);
    const s = await exec(plain, ["seeds", `${dir}/corpus`]);
    assert.equal(s.code, 0, s.err);
    const r = await exec(bin, [
      "-runs=20000",
      "-max_len=1500",
      "-seed=1",
      `-artifact_prefix=${dir}/`,
      `${dir}/corpus`,
    ], { cwd: dir });
    assert.equal(r.code, 0, r.err.slice(-4000));
    assert.match(r.err, /Done 20000 runs/);
    assert.doesNotMatch(r.err, SAN_REPORT);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
