/**
 * What both processes of bench/hop.ts share: the workload's constants, the
 * job a child process is given, the clocks, and the stamped message.
 *
 * @module
 */

import process from "node:process";

export const TOPIC = "bench/hop";
export const PAYLOAD = 100;
export const RATE = 1000;
export const WARM_SECONDS = 2;
export const TAIL = 200; // messages sent after the measured ones (steady to the end)
export const BURST = 30_000;

export type Kind = "avi" | "libp2p" | "tcp";

export interface Job {
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

export const absNow = () => performance.timeOrigin + performance.now();
export const cpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
export const out = (o: unknown) => console.log(JSON.stringify(o));
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

/** Message `seq` stamped now: [f64 time][u32 seq][zeros] (100 B). */
export function frame(seq: number): Uint8Array {
  const b = new Uint8Array(PAYLOAD);
  const v = new DataView(b.buffer);
  v.setFloat64(0, absNow());
  v.setUint32(8, seq);
  return b;
}
