/**
 * The mesh hop (issue 17): one gossip message between two processes on
 * 127.0.0.1, 100-byte payload.
 *
 * - Steady state, 1,000 messages a second: after a warm-up, each process
 *   measures its own CPU time (`process.cpuUsage()`, user + system, all
 *   threads) over the measured window, per message, for sending and for
 *   receiving; the receiver measures one-way latency p50/p99 (the sender
 *   stamps `performance.timeOrigin + performance.now()`, and both processes
 *   read the same clock).
 * - A burst of 30,000 messages published back to back: the sender's CPU per
 *   message and the burst's wall time.
 * - A house of three: one sender at 1,000 a second and two receivers that
 *   are also connected to each other, so each gets every message from the
 *   sender and a relayed copy from the other: their mean CPU per message.
 *
 * Variants, side by side and alternated round by round in the same run:
 * `@avi/p2p` (two `AviP2p` nodes through the public API, `publish` and
 * `events()`), raw js-libp2p + `@libp2p/gossipsub` with default options (as
 * bench/pubsub.ts builds it), and raw TCP between two Deno processes
 * (length-prefixed frames); and `@avi/p2p before`: the same nodes with the
 * dependencies' `Uint8ArrayList.consume` and GossipSub `emitGossip` and
 * `validateReceivedMessage` put back in that child after the node started
 * and without the fast message id of mesh/_msg_id.ts, the peer-score
 * records of mesh/_gossip_records.ts and the message-cache entries of
 * mesh/_message_cache.ts (the code before issue 17's adjustments
 * mesh/_consume.ts, mesh/_gossip_idle.ts, mesh/_gossip_validate.ts and
 * those; the library itself has no switch for it). With
 * `HOP_BEFORE=<dir>` (a git worktree of an older commit, with
 * `node_modules` and `.tools` linked to this checkout's), the same child
 * also runs against that checkout's mesh, in both parts, as a cross-check.
 *
 * `deno run -P=bench bench/hop.ts --profile` prints where a message's CPU
 * time goes instead (see {@linkcode profile}).
 *
 * `deno task bench hop`, or alone `deno run -P=bench bench/hop.ts`.
 * `HOP_ROUNDS` (default 3), `HOP_SECONDS` (measured seconds, default 4) and
 * `HOP_PARTS` (`steady,burst,house`) tune the run.
 *
 * @module
 */

import process from "node:process";
import { spawnPhased, stdinLines } from "./_child.ts";

// ---------------------------------------------------------------------------
// shared

const TOPIC = "bench/hop";
const PAYLOAD = 100;
const RATE = 1000;
const WARM_SECONDS = 2;
const TAIL = 200; // messages sent after the measured ones (steady to the end)
const BURST = 30_000;

type Kind = "avi" | "libp2p" | "tcp";

interface Job {
  role: "recv" | "send";
  kind: Kind;
  mode: "steady" | "burst";
  /** "before": the packages' own consume and emitGossip. */
  undo?: boolean;
  /** Sender: the receiver's address. */
  addr?: string;
  /** A house of three: more addresses to dial (the other receiver). */
  more?: string[];
  /** Sender: how many subscribers to wait for (default 1). */
  peers?: number;
  /** Steady: profile the measured window (see `profile()`). */
  profile?: boolean;
  /** Steady: messages in the warm-up and in the measured window. */
  warm: number;
  count: number;
}

const absNow = () => performance.timeOrigin + performance.now();
const cpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
const out = (o: unknown) => console.log(JSON.stringify(o));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

/** Message `seq` stamped now: [f64 time][u32 seq][zeros] (100 B). */
function frame(seq: number): Uint8Array {
  const b = new Uint8Array(PAYLOAD);
  const v = new DataView(b.buffer);
  v.setFloat64(0, absNow());
  v.setUint32(8, seq);
  return b;
}

// ---------------------------------------------------------------------------
// the profile: where a message's CPU time goes

/**
 * The rows of the profile table, as in issue 17. A sample of the V8 CPU
 * profile (main thread) goes to the first row that one of its frames
 * matches, from the innermost frame out; frames of generic code (builtins,
 * Deno's runtime, byte-list and iterator helpers) take their caller's row.
 */
const ROWS: [string, (url: string, fn: string) => boolean][] = [
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

const OUTSIDE_JS = "main thread, not sampled as JS";

interface CpuNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

/** µs per row (and the special V8 nodes) of a V8 CPU profile. */
function classify(
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
function threadCpu(): Map<string, number> {
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
const SAMPLING_US = 733;

/** Profiles this process between `start()` and `stop(messages)`. */
async function profiler() {
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

// ---------------------------------------------------------------------------
// child: one side of one variant

interface Side {
  /** Receiver: its address for the sender. */
  addr?: string;
  /** Sender: resolves once the receiver is reachable and subscribed. */
  ready(): Promise<void>;
  send(data: Uint8Array): Promise<unknown> | void;
  /** Receiver: calls `fn` for each message. */
  onMessage(fn: (data: Uint8Array) => void): void;
}

async function until(cond: () => boolean | Promise<boolean>): Promise<void> {
  const end = Date.now() + 30_000;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error("hop: setup timed out");
    await sleep(20);
  }
}

async function aviSide(job: Job): Promise<Side> {
  let restore = () => {};
  if (job.undo) restore = await undoAdjustments();
  const { AviP2p } = await import("../mesh/mod.ts");
  const { RUNTIME } = await import("../mesh/node.ts");
  const node = await AviP2p.start({
    nodeName: `hop-${job.role}`,
    listenHost: "127.0.0.1",
    dataDir: null,
    enableMdns: false,
    enableKad: false,
    eventQueueSize: 65_536,
    bootstrapPeers: [...(job.addr ? [job.addr] : []), ...(job.more ?? [])],
    onWarning: () => {},
  });
  restore();
  if (job.undo) {
    // and without the message-id options of mesh/_msg_id.ts that matter
    // here: a relayed copy is checked again before it is found in the cache
    const runtime = (node as unknown as Record<
      symbol,
      () => {
        libp2p: {
          services: {
            pubsub: {
              fastMsgIdFn?: unknown;
              score: Record<string, unknown>;
              mcache: Record<string, unknown>;
            };
          };
        };
      }
    >)[RUNTIME]();
    const pubsub = runtime.libp2p.services.pubsub;
    pubsub.fastMsgIdFn = undefined;
    // and the package's own peer-score records and message-cache entries
    // (mesh/_gossip_records.ts and mesh/_message_cache.ts set own methods
    // on the instances: without them, the classes' methods apply again)
    for (const m of SCORE_METHODS) delete pubsub.score[m];
    for (const m of CACHE_METHODS) delete pubsub.mcache[m];
  }
  let handler: (d: Uint8Array) => void = () => {};
  if (job.role === "recv") {
    await node.handle().subscribe(TOPIC);
    (async () => {
      for await (const ev of node.events()) {
        if (ev.type === "message") handler(ev.data);
      }
    })();
  }
  return {
    addr: node.listenAddresses[0],
    ready: () =>
      until(async () =>
        (await node.handle().topicPeers(TOPIC)).length === (job.peers ?? 1)
      ),
    send: (d) => node.handle().publish(TOPIC, d),
    onMessage: (fn) => (handler = fn),
  };
}

/** The peer-score methods mesh/_gossip_records.ts sets on the instance. */
const SCORE_METHODS = [
  "validateMessage",
  "deliverMessage",
  "duplicateMessage",
  "rejectMessage",
];
/** The message-cache methods mesh/_message_cache.ts sets on the instance. */
const CACHE_METHODS = [
  "put",
  "observeDuplicate",
  "getWithIWantCount",
  "validate",
  "remove",
];

/**
 * Puts back the packages' `Uint8ArrayList.consume` (both versions) and
 * GossipSub's `emitGossip` and `validateReceivedMessage` after the node has
 * installed mesh/_consume.ts, mesh/_gossip_idle.ts and
 * mesh/_gossip_validate.ts: the code as it ran before issue 17's
 * adjustments (of the message-id options of mesh/_msg_id.ts, `aviSide`
 * removes the fast id; the others make the same ids).
 * Returns the function to call once the node has started.
 */
async function undoAdjustments(): Promise<() => void> {
  const { Uint8ArrayList: V3 } = await import("uint8arraylist");
  const { Uint8ArrayList: V2 } = await import("uint8arraylist-v2");
  const gs = await import(
    new URL("gossipsub.js", import.meta.resolve("@libp2p/gossipsub")).href
  ) as { GossipSub: { prototype: Record<string, unknown> } };
  const saved = [
    [V3.prototype, "consume", V3.prototype.consume],
    [V2.prototype, "consume", V2.prototype.consume],
    [gs.GossipSub.prototype, "emitGossip", gs.GossipSub.prototype.emitGossip],
    [
      gs.GossipSub.prototype,
      "validateReceivedMessage",
      gs.GossipSub.prototype.validateReceivedMessage,
    ],
  ] as const;
  return () => {
    for (const [proto, name, fn] of saved) {
      if ((proto as Record<string, unknown>)[name] === fn) {
        throw new Error(`hop: ${name} was not adjusted: nothing to undo`);
      }
      (proto as Record<string, unknown>)[name] = fn;
    }
  };
}

async function libp2pSide(job: Job): Promise<Side> {
  // the same raw node as bench/pubsub.ts (default options)
  const { rawNode } = await import("./pubsub.ts");
  const { multiaddr } = await import("@multiformats/multiaddr");
  // deno-lint-ignore no-explicit-any
  const node: any = await rawNode();
  let handler: (d: Uint8Array) => void = () => {};
  if (job.role === "recv") {
    node.services.pubsub.subscribe(TOPIC);
    node.services.pubsub.addEventListener(
      "message",
      (ev: { detail: { topic: string; data: Uint8Array } }) => {
        if (ev.detail.topic === TOPIC) handler(ev.detail.data);
      },
    );
  } else {
    await node.dial(multiaddr(job.addr!));
  }
  return {
    addr: node.getMultiaddrs()[0]?.toString(),
    ready: () =>
      until(() => node.services.pubsub.getSubscribers(TOPIC).length === 1),
    send: (d) => node.services.pubsub.publish(TOPIC, d),
    onMessage: (fn) => (handler = fn),
  };
}

async function tcpSide(job: Job): Promise<Side> {
  let handler: (d: Uint8Array) => void = () => {};
  if (job.role === "recv") {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    (async () => {
      const conn = await listener.accept();
      conn.setNoDelay(true);
      let buf = new Uint8Array(0);
      for await (const chunk of conn.readable) {
        const all = new Uint8Array(buf.length + chunk.length);
        all.set(buf);
        all.set(chunk, buf.length);
        let at = 0;
        while (all.length - at >= 4) {
          const n = new DataView(all.buffer, at).getUint32(0);
          if (all.length - at - 4 < n) break;
          handler(all.subarray(at + 4, at + 4 + n));
          at += 4 + n;
        }
        buf = all.slice(at);
      }
    })();
    const a = listener.addr as Deno.NetAddr;
    return {
      addr: `${a.hostname}:${a.port}`,
      ready: () => Promise.resolve(),
      send: () => {},
      onMessage: (fn) => (handler = fn),
    };
  }
  const [hostname, port] = job.addr!.split(":");
  const conn = await Deno.connect({ hostname, port: Number(port) });
  conn.setNoDelay(true);
  return {
    ready: () => Promise.resolve(),
    send: async (d) => {
      const f = new Uint8Array(4 + d.length);
      new DataView(f.buffer).setUint32(0, d.length);
      f.set(d, 4);
      let at = 0;
      while (at < f.length) at += await conn.write(f.subarray(at));
    },
    onMessage: (fn) => (handler = fn),
  };
}

async function child(job: Job): Promise<void> {
  const make = { avi: aviSide, libp2p: libp2pSide, tcp: tcpSide }[job.kind];
  const side = await make(job);
  const lines = stdinLines();
  const prof = job.profile ? await profiler() : undefined;
  if (job.role === "recv") {
    const lat: number[] = [];
    let got = 0;
    let cpu0 = 0;
    let done = false;
    const report = () => {
      if (done) return;
      done = true;
      // (read once: process.cpuUsage() itself costs about 30 µs)
      const cpuEnd = cpuUs();
      lat.sort((a, b) => a - b);
      prof?.stop(got).then((p) => out({ phase: "recvProf", ...p }));
      out({
        phase: "recv",
        received: got,
        cpuUsPerMsg: (cpuEnd - cpu0) / Math.max(1, got - 1),
        p50: pct(lat, 0.5),
        p99: pct(lat, 0.99),
        max: lat[lat.length - 1] ?? NaN,
      });
    };
    const first = job.warm;
    const end = job.warm + job.count - 1;
    side.onMessage((d) => {
      const now = absNow();
      const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
      const seq = v.getUint32(8);
      if (seq < first || seq > end) {
        if (seq > end && !done && got > 0) report();
        return;
      }
      if (got === 0) {
        prof?.start();
        cpu0 = cpuUs();
      }
      got++;
      if (job.mode === "steady") lat.push(now - v.getFloat64(0));
      if (seq === end) report();
    });
    out({ phase: "ready", addr: side.addr });
    for await (const line of lines) {
      if (line === "report") report();
    }
    return;
  }
  // sender
  await side.ready();
  out({ phase: "ready" });
  if (job.mode === "steady") {
    const total = job.warm + job.count + TAIL;
    const start = performance.now();
    let i = 0;
    let cpu0 = 0;
    let cpu1 = 0;
    while (i < total) {
      const due = Math.min(
        total,
        Math.floor(((performance.now() - start) / 1000) * RATE),
      );
      while (i < due) {
        if (i === job.warm) {
          prof?.start();
          cpu0 = cpuUs();
        }
        await side.send(frame(i));
        if (i === job.warm + job.count - 1) {
          cpu1 = cpuUs();
          if (prof) out({ phase: "sendProf", ...await prof.stop(job.count) });
        }
        i++;
      }
      await sleep(1);
    }
    out({ phase: "send", cpuUsPerMsg: (cpu1 - cpu0) / job.count });
  } else {
    // warm-up at the steady rate, a pause, then the burst back to back
    const start = performance.now();
    let i = 0;
    while (i < job.warm) {
      const due = Math.min(
        job.warm,
        Math.floor(((performance.now() - start) / 1000) * RATE),
      );
      while (i < due) await side.send(frame(i++));
      await sleep(1);
    }
    await sleep(500);
    const cpu0 = cpuUs();
    const t0 = performance.now();
    for (let k = 0; k < job.count; k++) await side.send(frame(job.warm + k));
    const sendMs = performance.now() - t0;
    out({ phase: "sent", sendMs });
    for await (const line of lines) {
      if (line === "stop") {
        out({ phase: "send", cpuUsPerMsg: (cpuUs() - cpu0) / job.count });
        break;
      }
    }
  }
  for await (const _ of lines) { /* until the parent closes stdin */ }
}

// ---------------------------------------------------------------------------
// parent

interface Proc {
  phase(name: string, ms?: number): Promise<Record<string, number> | undefined>;
  tell(line: string): Promise<void>;
  close(): Promise<void>;
}

function spawn(root: URL, job: Job): Proc {
  const child = spawnPhased([
    "run",
    // the profile reads /proc/self/task, which Deno grants only with -A
    ...(job.profile
      ? ["--allow-all"]
      : ["--allow-net", "--allow-env", "--allow-read", "--allow-sys"]),
    `--config=${new URL("deno.json", root).pathname}`,
    new URL("bench/hop.ts", root).pathname,
    JSON.stringify(job),
  ], {
    cwd: new URL(".", root).pathname,
    killAfterMs: 5_000,
    signal: "SIGKILL",
  });
  return {
    phase: (name, ms = 120_000) => child.phaseWithin(name, ms),
    tell: (line) => child.tell(line),
    close: () => child.close(),
  };
}

/**
 * The receiver's figures once it has every message (within `ms`), or what
 * it has by then (asked with `report`).
 */
async function receiverFigures(
  recv: Proc,
  ms: number,
): Promise<Record<string, number> | undefined> {
  const r = await recv.phase("recv", ms);
  if (r) return r;
  await recv.tell("report");
  return recv.phase("recv", 5_000);
}

interface Variant {
  label: string;
  kind: Kind;
  root: URL;
  undo?: boolean;
}

interface SteadyRun {
  send: number;
  recv: number;
  p50: number;
  p99: number;
  max: number;
  received: number;
}

interface BurstRun {
  send: number;
  recv: number;
  sendMs: number;
  wallMs: number;
}

interface Prof {
  threads: Record<string, number>;
  rows: Record<string, number>;
}

async function steadyRun(
  v: Variant,
  count: number,
  profile = false,
): Promise<SteadyRun & { sendProf?: Prof; recvProf?: Prof }> {
  const warm = RATE * WARM_SECONDS;
  const base = { kind: v.kind, mode: "steady" as const, warm, count, profile };
  const recv = spawn(v.root, { ...base, role: "recv", undo: v.undo });
  let send: Proc | undefined;
  try {
    const r = await recv.phase("ready", 60_000);
    if (!r) throw new Error(`${v.label}: receiver not ready`);
    send = spawn(v.root, {
      ...base,
      role: "send",
      undo: v.undo,
      addr: r.addr as unknown as string,
    });
    const s = await send.phase("send");
    const rr = await receiverFigures(recv, 5_000);
    if (!s || !rr) throw new Error(`${v.label}: no figures`);
    const profs = profile
      ? {
        sendProf: await send.phase("sendProf", 10_000) as unknown as Prof,
        recvProf: await recv.phase("recvProf", 10_000) as unknown as Prof,
      }
      : {};
    return {
      ...profs,
      send: s.cpuUsPerMsg,
      recv: rr.cpuUsPerMsg,
      p50: rr.p50,
      p99: rr.p99,
      max: rr.max,
      received: rr.received,
    };
  } finally {
    await send?.close();
    await recv.close();
  }
}

/** A house of three, per round: the sender and the receivers' mean. */
interface HouseRun {
  send: number;
  recv: number;
  p99: number;
  received: number;
}

/**
 * A house of three: one sender at {@linkcode RATE} a second, two receivers
 * connected to it and to each other, so that each receives every message
 * from the sender and a relayed copy from the other receiver.
 */
async function houseRun(v: Variant, count: number): Promise<HouseRun> {
  const warm = RATE * WARM_SECONDS;
  const base = { kind: v.kind, mode: "steady" as const, warm, count };
  const procs: Proc[] = [];
  try {
    const r1 = spawn(v.root, { ...base, role: "recv", undo: v.undo });
    procs.push(r1);
    const a1 = (await r1.phase("ready", 60_000))?.addr as unknown as string;
    const r2 = spawn(v.root, {
      ...base,
      role: "recv",
      undo: v.undo,
      addr: a1,
    });
    procs.push(r2);
    const a2 = (await r2.phase("ready", 60_000))?.addr as unknown as string;
    if (!a1 || !a2) throw new Error(`${v.label}: receivers not ready`);
    const send = spawn(v.root, {
      ...base,
      role: "send",
      undo: v.undo,
      addr: a1,
      more: [a2],
      peers: 2,
    });
    procs.push(send);
    const s = await send.phase("send");
    const rr: Record<string, number>[] = [];
    for (const r of [r1, r2]) {
      const x = await receiverFigures(r, 5_000);
      if (!x) throw new Error(`${v.label}: no receiver figures`);
      rr.push(x);
    }
    if (!s) throw new Error(`${v.label}: no sender figures`);
    return {
      send: s.cpuUsPerMsg,
      recv: (rr[0].cpuUsPerMsg + rr[1].cpuUsPerMsg) / 2,
      p99: Math.max(rr[0].p99, rr[1].p99),
      received: Math.min(rr[0].received, rr[1].received),
    };
  } finally {
    for (const p of procs.reverse()) await p.close();
  }
}

async function burstRun(v: Variant): Promise<BurstRun> {
  const base = {
    kind: v.kind,
    mode: "burst" as const,
    warm: RATE,
    count: BURST,
  };
  const recv = spawn(v.root, { ...base, role: "recv", undo: v.undo });
  let send: Proc | undefined;
  try {
    const r = await recv.phase("ready", 60_000);
    if (!r) throw new Error(`${v.label}: receiver not ready`);
    send = spawn(v.root, {
      ...base,
      role: "send",
      undo: v.undo,
      addr: r.addr as unknown as string,
    });
    const sent = await send.phase("sent");
    const t0 = performance.now();
    const rr = await receiverFigures(recv, 60_000);
    await send.tell("stop");
    const s = await send.phase("send");
    if (!s || !rr || !sent) throw new Error(`${v.label}: no figures`);
    if (rr.received !== BURST) {
      console.log(`  (${v.label}: ${rr.received}/${BURST} burst messages in)`);
    }
    return {
      send: s.cpuUsPerMsg,
      recv: rr.cpuUsPerMsg,
      sendMs: sent.sendMs,
      wallMs: sent.sendMs + (performance.now() - t0),
    };
  } finally {
    await send?.close();
    await recv.close();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
const f0 = (x: number) => x.toFixed(0);
const f2 = (x: number) => x.toFixed(2);
/** "median (min–max)" of one figure over the rounds. */
function spread(xs: number[], f: (x: number) => string): string {
  const s = [...xs].sort((a, b) => a - b);
  return `${f(median(s))} (${f(s[0])}–${f(s[s.length - 1])})`;
}

/** Runs the hop benchmark and prints its figures. */
export async function bench(): Promise<void> {
  const rounds = Number(Deno.env.get("HOP_ROUNDS") ?? 3);
  const seconds = Number(Deno.env.get("HOP_SECONDS") ?? 4);
  const count = RATE * seconds;
  const here = new URL("../", import.meta.url);
  const steady: Variant[] = [
    { label: "@avi/p2p", kind: "avi", root: here },
    { label: "@avi/p2p before", kind: "avi", root: here, undo: true },
    { label: "raw libp2p+gossipsub", kind: "libp2p", root: here },
    { label: "raw TCP", kind: "tcp", root: here },
  ];
  const burst: Variant[] = [
    { label: "@avi/p2p", kind: "avi", root: here },
    { label: "@avi/p2p before", kind: "avi", root: here, undo: true },
  ];
  const house: Variant[] = [
    { label: "@avi/p2p", kind: "avi", root: here },
    { label: "@avi/p2p before", kind: "avi", root: here, undo: true },
  ];
  const beforeDir = Deno.env.get("HOP_BEFORE");
  if (beforeDir) {
    const root = new URL(`file://${beforeDir.replace(/\/?$/, "/")}`);
    // the same child, run against the mesh of that checkout
    await Deno.copyFile(
      new URL(import.meta.url).pathname,
      new URL("bench/hop.ts", root).pathname,
    );
    const label = `@avi/p2p at ${beforeDir}`;
    steady.splice(2, 0, { label, kind: "avi", root });
    burst.push({ label, kind: "avi", root });
  }
  const sr = new Map<string, SteadyRun[]>(steady.map((v) => [v.label, []]));
  const br = new Map<string, BurstRun[]>(burst.map((v) => [v.label, []]));
  const hr = new Map<string, HouseRun[]>(house.map((v) => [v.label, []]));
  console.log(
    `hop: 2 processes on 127.0.0.1, ${PAYLOAD} B payload; steady ${RATE}/s, ` +
      `${WARM_SECONDS} s warm-up + ${seconds} s measured; burst ${BURST}; ` +
      `${rounds} rounds, variants alternated; ${navigator.hardwareConcurrency} cores`,
  );
  const parts = (Deno.env.get("HOP_PARTS") ?? "steady,burst,house").split(
    ",",
  );
  if (!parts.includes("steady")) steady.length = 0;
  if (!parts.includes("burst")) burst.length = 0;
  if (!parts.includes("house")) house.length = 0;
  for (let r = 0; r < rounds; r++) {
    for (const v of steady) {
      try {
        sr.get(v.label)!.push(await steadyRun(v, count));
      } catch (e) {
        console.log(`  ${v.label} steady failed: ${e}`);
      }
    }
    for (const v of burst) {
      try {
        br.get(v.label)!.push(await burstRun(v));
      } catch (e) {
        console.log(`  ${v.label} burst failed: ${e}`);
      }
    }
    for (const v of house) {
      try {
        hr.get(v.label)!.push(await houseRun(v, count));
      } catch (e) {
        console.log(`  ${v.label} house of three failed: ${e}`);
      }
    }
  }
  if (steady.length > 0) {
    console.log(
      `steady ${RATE}/s, CPU µs per message (median (min–max) of ${rounds}):`,
    );
  }
  const pad = (s: string) =>
    s.padEnd(Math.max(...[...steady, ...burst].map((v) => v.label.length)) + 1);
  for (const v of steady) {
    const xs = sr.get(v.label)!;
    if (xs.length === 0) continue;
    console.log(
      `  ${pad(v.label)}: send ${spread(xs.map((x) => x.send), f0)}, ` +
        `receive ${spread(xs.map((x) => x.recv), f0)}, ` +
        `sum ${spread(xs.map((x) => x.send + x.recv), f0)}; ` +
        `p50 ${spread(xs.map((x) => x.p50), f2)} ms, ` +
        `p99 ${spread(xs.map((x) => x.p99), f2)} ms, ` +
        `max ${spread(xs.map((x) => x.max), f2)} ms` +
        (xs.some((x) => x.received !== count)
          ? `, received ${xs.map((x) => x.received).join("/")} of ${count}`
          : ""),
    );
  }
  if (steady.length > 0) printSteadyRatios(sr);
  if (burst.length > 0) printBurst(br, burst, rounds, pad);
  if (house.length > 0) printHouse(hr, house, rounds, count, pad);
}

function printHouse(
  hr: Map<string, HouseRun[]>,
  house: Variant[],
  rounds: number,
  count: number,
  pad: (s: string) => string,
): void {
  console.log(
    `a house of three (one sender at ${RATE}/s, two receivers that relay ` +
      `to each other), CPU µs per message (median (min–max) of ${rounds}):`,
  );
  for (const v of house) {
    const xs = hr.get(v.label)!;
    if (xs.length === 0) continue;
    console.log(
      `  ${pad(v.label)}: send ${spread(xs.map((x) => x.send), f0)}, ` +
        `receive (mean of the two) ${spread(xs.map((x) => x.recv), f0)}; ` +
        `p99 ${spread(xs.map((x) => x.p99), f2)} ms` +
        (xs.some((x) => x.received !== count)
          ? `, received ${xs.map((x) => x.received).join("/")} of ${count}`
          : ""),
    );
  }
  const after = median((hr.get("@avi/p2p") ?? []).map((x) => x.recv));
  const before = median((hr.get("@avi/p2p before") ?? []).map((x) => x.recv));
  console.log(`  receive CPU, after / before: ${f2(after / before)}`);
}

function printSteadyRatios(sr: Map<string, SteadyRun[]>): void {
  const sum = (label: string) =>
    median((sr.get(label) ?? []).map((x) => x.send + x.recv));
  const ours = sum("@avi/p2p");
  const tcp = sum("raw TCP");
  const raw = sum("raw libp2p+gossipsub");
  const old = sum("@avi/p2p before");
  const p99 = median((sr.get("@avi/p2p") ?? []).map((x) => x.p99));
  console.log(
    `  CPU per message (send + receive) vs raw TCP: @avi/p2p ${
      f2(ours / tcp)
    }x ` +
      `(target <= 3.5x), raw libp2p ${f2(raw / tcp)}x; @avi/p2p vs raw libp2p ${
        f2(ours / raw)
      }x`,
  );
  console.log(
    `  @avi/p2p send + receive, after / before: ${f2(ours / old)}; ` +
      `p99 ${f2(p99)} ms (target < 1.5 ms)`,
  );
}

function printBurst(
  br: Map<string, BurstRun[]>,
  burst: Variant[],
  rounds: number,
  pad: (s: string) => string,
): void {
  console.log(
    `burst of ${BURST}, back to back (median (min–max) of ${rounds}):`,
  );
  for (const v of burst) {
    const xs = br.get(v.label)!;
    if (xs.length === 0) continue;
    console.log(
      `  ${pad(v.label)}: sender ${
        spread(xs.map((x) => x.send), f0)
      } µs/msg, ` +
        `receiver ${spread(xs.map((x) => x.recv), f0)} µs/msg, ` +
        `all in after ${spread(xs.map((x) => x.wallMs / 1000), f2)} s`,
    );
  }
  const after = median(br.get("@avi/p2p")!.map((x) => x.send));
  const before = median(br.get("@avi/p2p before")!.map((x) => x.send));
  console.log(
    `  burst sender CPU, after / before: ${
      f2(after / before)
    } (target <= 0.60)`,
  );
}

/** Thread rows of the profile table, from the threads' names. */
function threadRow(name: string): string {
  if (name === "main") return "main";
  if (name === "v8:ProfEvntProc") return "the profiler's own thread";
  if (/^V8 |DefaultWorke/.test(name)) return "V8 GC and compiler threads";
  return `other threads (Deno runtime, I/O)`;
}

/**
 * `deno run -P=bench bench/hop.ts --profile`: where one message's CPU time
 * goes, steady at 1,000/s, send | receive, per variant (µs per message,
 * medians over the rounds): the main thread split by a V8 CPU profile
 * (node:inspector, 200 µs sampling, which costs some CPU of its own: the
 * totals run above an unprofiled run's), the other threads by
 * /proc/self/task.
 */
export async function profile(): Promise<void> {
  const rounds = Number(Deno.env.get("HOP_ROUNDS") ?? 3);
  const seconds = Number(Deno.env.get("HOP_SECONDS") ?? 4);
  const here = new URL("../", import.meta.url);
  const variants: Variant[] = [
    { label: "@avi/p2p", kind: "avi", root: here },
    { label: "before", kind: "avi", root: here, undo: true },
  ];
  const beforeDir = Deno.env.get("HOP_BEFORE");
  if (beforeDir) {
    const root = new URL(`file://${beforeDir.replace(/\/?$/, "/")}`);
    await Deno.copyFile(
      new URL(import.meta.url).pathname,
      new URL("bench/hop.ts", root).pathname,
    );
    variants.push({ label: `at ${beforeDir}`, kind: "avi", root });
  }
  variants.push({ label: "raw libp2p", kind: "libp2p", root: here });
  // label -> side -> row -> values over rounds
  const cells = new Map<string, Map<string, number[]>>();
  const put = (label: string, row: string, x: number) => {
    let m = cells.get(label);
    if (!m) cells.set(label, m = new Map());
    const xs = m.get(row) ?? [];
    xs.push(x);
    m.set(row, xs);
  };
  const rowNames = new Set<string>();
  for (let r = 0; r < rounds; r++) {
    for (const v of variants) {
      let run;
      try {
        const plain = await steadyRun(v, RATE * seconds);
        put(v.label, "send:total, unprofiled run", plain.send);
        put(v.label, "recv:total, unprofiled run", plain.recv);
        run = await steadyRun(v, RATE * seconds, true);
      } catch (e) {
        console.log(`  ${v.label} failed: ${e}`);
        continue;
      }
      for (const side of ["send", "recv"] as const) {
        const p = run[`${side}Prof`]!;
        const rows = new Map<string, number>(Object.entries(p.rows));
        for (const [name, us] of Object.entries(p.threads)) {
          const t = threadRow(name);
          if (t !== "main") rows.set(t, (rows.get(t) ?? 0) + us);
        }
        let total = 0;
        for (const [row, us] of rows) {
          rowNames.add(row);
          put(v.label, `${side}:${row}`, us);
          if (row !== "the profiler's own thread") total += us;
        }
        put(v.label, `${side}:total (profiled run)`, total);
      }
    }
  }
  const order = [
    ...ROWS.map(([r]) => r),
    "other JS",
    "V8 GC on the main thread",
    OUTSIDE_JS,
    "V8 GC and compiler threads",
    "other threads (Deno runtime, I/O)",
  ].filter((r) => rowNames.has(r));
  for (const r of rowNames) if (!order.includes(r)) order.push(r);
  order.push("total (profiled run)", "total, unprofiled run");
  const cell = (label: string, side: string, row: string) => {
    const xs = cells.get(label)?.get(`${side}:${row}`);
    return xs && xs.length ? f0(median(xs)) : "-";
  };
  console.log(
    `profile, steady ${RATE}/s, ${seconds} s, µs of CPU per message, ` +
      `send | receive (median of ${rounds}; V8 sampling every ${SAMPLING_US} µs)`,
  );
  console.log(
    `| row | ${variants.map((v) => v.label).join(" | ")} |\n|---|${
      variants.map(() => "---:").join("|")
    }|`,
  );
  for (const row of order) {
    console.log(
      `| ${row} | ${
        variants.map((v) =>
          `${cell(v.label, "send", row)} \\| ${cell(v.label, "recv", row)}`
        ).join(" | ")
      } |`,
    );
  }
}

if (import.meta.main) {
  if (Deno.args[0]?.startsWith("{")) {
    await child(JSON.parse(Deno.args[0]) as Job);
  } else if (Deno.args[0] === "--profile") {
    await profile();
  } else {
    await bench();
  }
  Deno.exit(0);
}
