/**
 * The profile of bench/hop.ts (`--profile`): where a message's CPU time
 * goes, in a child process (the V8 CPU profile of its main thread, the CPU
 * of its other threads).
 *
 * @module
 */

/**
 * The rows of the profile table, as in issue 17. A sample of the V8 CPU
 * profile (main thread) goes to the first row that one of its frames
 * matches, from the innermost frame out; frames of generic code (builtins,
 * Deno's runtime, byte-list and iterator helpers) take their caller's row.
 */
export const ROWS: [string, (url: string, fn: string) => boolean][] = [
  [
    "Ed25519 sign (send), verify (receive)",
    (u, f) =>
      (u.includes("_ed25519_cache") || u.includes("@libp2p+crypto")) &&
      /^(sign|verify|hashAndSign|hashAndVerify)$/.test(f),
  ],
  [
    "protobuf, message id, key and peer-id coding",
    (u) =>
      /gossipsub\/dist\/src\/(message\/|utils\/(buildRawMessage|msgIdFn|messageIdToString))/
        .test(u) ||
      /(protons-runtime|@libp2p\+peer-id|@libp2p\+crypto|multiformats|uint8-varint|uint8arrays)@/
        .test(u),
  ],
  ["gossipsub bookkeeping", (u) => u.includes("@libp2p+gossipsub")],
  [
    "Noise (ChaCha20-Poly1305)",
    (u) =>
      u.startsWith("wasm://") ||
      /(@chainsafe\+libp2p-noise|@chainsafe\+as-chacha20poly1305|@noble\+ciphers)@/
        .test(u),
  ],
  ["Yamux", (u) => u.includes("@chainsafe+libp2p-yamux")],
  [
    "socket calls",
    (u) =>
      u.includes("@libp2p+tcp") || u.startsWith("ext:deno_net") ||
      /^(ext|node):deno_node\/(net|internal_binding\/(tcp_wrap|stream_wrap|connection_wrap))/
        .test(u),
  ],
  [
    "libp2p streams, framing, connection plumbing",
    (u) =>
      /(@libp2p\+utils|@libp2p\+interface|libp2p|it-[a-z-]+|main-event|p-queue|race-signal|progress-events)@/
        .test(u),
  ],
  ["our own layer", (u) => /\/(mesh|core|streams)\/[^/]+\.ts$/.test(u)],
  ["bench harness", (u) => /\/bench\/hop\.ts$/.test(u)],
];

export const OUTSIDE_JS = "main thread, not sampled as JS";

export interface CpuNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

/** µs per row (and the special V8 nodes) of a V8 CPU profile. */
export function classify(
  profile: { nodes: CpuNode[]; samples: number[]; timeDeltas: number[] },
): Map<string, number> {
  const parent = new Map<number, number>();
  const byId = new Map<number, CpuNode>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const rowOf = new Map<number, string>();
  const row = (id: number): string => {
    const known = rowOf.get(id);
    if (known !== undefined) return known;
    const { functionName: fn, url } = byId.get(id)!.callFrame;
    let r: string;
    if (fn === "(garbage collector)") r = "V8 GC on the main thread";
    else if (fn === "(program)") r = OUTSIDE_JS;
    else if (fn === "(idle)") r = "(idle)";
    else if (fn === "(root)") r = "other JS";
    else {
      const hit = ROWS.find(([, m]) => m(url, fn));
      const up = parent.get(id);
      r = hit ? hit[0] : up === undefined ? "other JS" : row(up);
    }
    rowOf.set(id, r);
    return r;
  };
  const counts = new Map<string, number>();
  // a sample stands for the time until the next one
  const { samples, timeDeltas } = profile;
  for (let i = 0; i + 1 < samples.length; i++) {
    const r = row(samples[i]);
    counts.set(r, (counts.get(r) ?? 0) + timeDeltas[i + 1]);
  }
  return counts;
}

/** CPU time (µs) of each thread of this process, by thread name. */
export function threadCpu(): Map<string, number> {
  const tick = 1e6 / 100; // USER_HZ
  const m = new Map<string, number>();
  for (const t of Deno.readDirSync("/proc/self/task")) {
    try {
      const stat = Deno.readTextFileSync(`/proc/self/task/${t.name}/stat`);
      const close = stat.lastIndexOf(")");
      const name = t.name === String(Deno.pid)
        ? "main"
        : stat.slice(stat.indexOf("(") + 1, close);
      const f = stat.slice(close + 2).split(" ");
      const us = (Number(f[11]) + Number(f[12])) * tick;
      m.set(name, (m.get(name) ?? 0) + us);
    } catch { /* thread gone */ }
  }
  return m;
}

/**
 * The V8 profiler's sampling interval: coarse, to cost little, and not a
 * divisor of the sender's 1 ms tick (1,000 µs sampled the same phase of
 * every tick and missed most of the work).
 */
export const SAMPLING_US = 733;

/** Profiles this process between `start()` and `stop(messages)`. */
export async function profiler() {
  const { Session } = await import("node:inspector");
  const s = new Session();
  s.connect();
  const post = (m: string, p: object = {}) =>
    new Promise<Record<string, unknown>>((ok, fail) =>
      // deno-lint-ignore no-explicit-any
      (s as any).post(m, p, (e: unknown, r: Record<string, unknown>) =>
        e ? fail(e) : ok(r))
    );
  await post("Profiler.enable");
  await post("Profiler.setSamplingInterval", { interval: SAMPLING_US });
  let t0 = new Map<string, number>();
  return {
    start() {
      t0 = threadCpu();
      void post("Profiler.start");
    },
    async stop(messages: number): Promise<Record<string, unknown>> {
      const t1 = threadCpu();
      const { profile } = await post("Profiler.stop") as {
        profile: { nodes: CpuNode[]; samples: number[]; timeDeltas: number[] };
      };
      const threads: Record<string, number> = {};
      for (const [name, us] of t1) {
        const d = (us - (t0.get(name) ?? 0)) / messages;
        if (d > 0) threads[name] = (threads[name] ?? 0) + d;
      }
      const dump = Deno.env.get("HOP_PROFILE_DUMP");
      if (dump) {
        Deno.writeTextFileSync(
          `${dump}/hop-${Deno.pid}.cpuprofile`,
          JSON.stringify({ ...profile, threads }),
        );
      }
      // JS time by row; the rest of the main thread's CPU time was not
      // sampled as JS: the Rust side of ops and of the event loop (which
      // V8 counts as idle), and what the sampler missed.
      // Sampled time is wall-clock time: if it exceeds the thread's CPU
      // time (the thread was preempted), it is scaled down to it.
      const us = classify(profile);
      us.delete("(idle)");
      const main = threads.main ?? 0;
      let js = 0;
      for (const [, t] of us) js += t / messages;
      const scale = js > main ? main / js : 1;
      const rows: Record<string, number> = {};
      for (const [r, t] of us) rows[r] = t / messages * scale;
      rows[OUTSIDE_JS] = Math.max(0, main - js);
      return { threads, rows, sampledJs: js };
    },
  };
}
