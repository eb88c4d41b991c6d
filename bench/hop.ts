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
 * - The heap a message leaves alive while GossipSub remembers it (sender and
 *   receiver in this process, bench/_hop_heap.ts), beside the same nodes
 *   with the package's own message cache, peer score and seen caches.
 *
 * Variants, side by side and alternated round by round in the same run:
 * `@avi/p2p` (two `AviP2p` nodes through the public API, `publish` and
 * `events()`), raw js-libp2p + `@libp2p/gossipsub` with default options (as
 * bench/pubsub.ts builds it), and raw TCP between two Deno processes
 * (length-prefixed frames); and `@avi/p2p before`: the same nodes with the
 * dependencies' `Uint8ArrayList.consume`, `LengthPrefixedDecoder.decode`
 * and GossipSub `emitGossip` and `validateReceivedMessage` put back in that
 * child after the node started, and without the fast message id of
 * mesh/_msg_id.ts, the peer-score records of mesh/_gossip_records.ts, the
 * message-cache entries of mesh/_message_cache.ts and the one socket write
 * of mesh/_tcp_write.ts (the code before issue 17's adjustments
 * mesh/_consume.ts, mesh/_lp_decoder.ts, mesh/_gossip_idle.ts,
 * mesh/_gossip_validate.ts and those; the library itself has no switch for
 * it). With
 * `HOP_BEFORE=<dir>` (a git worktree of an older commit, with
 * `node_modules` and `.tools` linked to this checkout's), the same child
 * also runs against that checkout's mesh, in both parts, as a cross-check.
 *
 * `deno run -P=bench bench/hop.ts --profile` prints where a message's CPU
 * time goes instead (see {@linkcode profile}).
 *
 * This file is the parent (it spawns itself as each child); a child's side
 * is bench/_hop_child.ts, the profile bench/_hop_profile.ts, what both share
 * bench/_hop_common.ts.
 *
 * `deno task bench hop`, or alone `deno run -P=bench bench/hop.ts`.
 * `HOP_ROUNDS` (default 3), `HOP_SECONDS` (measured seconds, default 4) and
 * `HOP_PARTS` (`steady,burst,house,heap`) tune the run.
 *
 * @module
 */

import { spawnPhased } from "./_child.ts";
import {
  BURST,
  type Job,
  type Kind,
  PAYLOAD,
  RATE,
  WARM_SECONDS,
} from "./_hop_common.ts";
import { OUTSIDE_JS, ROWS, SAMPLING_US } from "./_hop_profile.ts";
import { child } from "./_hop_child.ts";
import { retainedPerMessage } from "./_hop_heap.ts";

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
  const parts = (Deno.env.get("HOP_PARTS") ?? "steady,burst,house,heap")
    .split(",");
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
  if (parts.includes("heap")) await printHeap(rounds);
}

/** The heap part: bytes left alive per message, as run and as packaged. */
async function printHeap(rounds: number): Promise<void> {
  const n = 3000;
  const ours: number[] = [];
  const theirs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    ours.push(await retainedPerMessage(n, false));
    theirs.push(await retainedPerMessage(n, true));
  }
  console.log(
    `heap left alive per message while GossipSub remembers it (sender + ` +
      `receiver in one process, ${n} messages, median (min–max) of ${rounds}): ` +
      `@avi/p2p ${
        spread(ours, f0)
      } B, with the package's own message cache, seen caches ` +
      `and peer score ${spread(theirs, f0)} B, ratio ${
        f2(median(ours) / median(theirs))
      }`,
  );
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
