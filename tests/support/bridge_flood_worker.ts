/**
 * A Web Worker that floods a gateway from many source addresses (sockets
 * bound to 127.x.y.z), on its own thread, as an attacker on another machine
 * would. Used by tests/bridge_hostile_test.ts and bench/bridge.ts.
 *
 * Message in: {@linkcode FloodJob}; message out: {@linkcode FloodResult}.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { createHello, nobleCrypto } from "../../protocol/mod.ts";
import { mulberry32 } from "./chaos_proxy.ts";

/** What to send. */
export interface FloodJob {
  /** Gateway port on 127.0.0.1. */
  port: number;
  /** "garbage": random or mutated datagrams; "hellos": spoofed Hellos. */
  kind: "garbage" | "hellos";
  /** Datagrams to send in all. */
  total: number;
  /** Source sockets. */
  sockets: number;
  /** Second byte of the source addresses (127.<base>.x.y). */
  base: number;
  /** PRNG seed. */
  seed: number;
  /** Valid frames to mutate and replay ("garbage"). */
  templates?: Uint8Array[];
  /** A key that is wrong for device `echoDevice` ("hellos"). */
  wrongKey?: Uint8Array;
  /** Device id that every tenth socket claims and completes the cookie for. */
  echoDevice?: number;
}

/** What happened. */
export interface FloodResult {
  sent: number;
  answers: number;
  answerBytes: number;
  largestAnswer: number;
  ms: number;
}

const cryptoImpl = nobleCrypto({ random: (b) => crypto.getRandomValues(b) });

function pool(job: FloodJob): Uint8Array[] {
  const rand = mulberry32(job.seed);
  const out: Uint8Array[] = [];
  const templates = job.templates ?? [];
  for (let i = 0; i < 20_000; i++) {
    let b: Uint8Array;
    if (templates.length === 0 || rand() < 0.3) {
      b = new Uint8Array(1 + Math.floor(rand() * 1100));
      for (let j = 0; j < b.length; j++) b[j] = rand() * 256;
      if (rand() < 0.5) b[0] = 1;
    } else {
      b = templates[Math.floor(rand() * templates.length)].slice();
      const m = rand();
      if (m < 0.5) {
        const flips = 1 + Math.floor(rand() * 3);
        for (let f = 0; f < flips; f++) {
          b[Math.floor(rand() * b.length)] ^= 1 << Math.floor(rand() * 8);
        }
      } else if (m < 0.7) b = b.slice(0, Math.floor(rand() * b.length));
      else if (m < 0.85) {
        const ext = new Uint8Array(b.length + 1 + Math.floor(rand() * 40));
        ext.set(b);
        b = ext;
      } // else an exact replay
    }
    out.push(b);
  }
  return out;
}

async function run(job: FloodJob): Promise<FloodResult> {
  const to: Deno.NetAddr = {
    transport: "udp",
    hostname: "127.0.0.1",
    port: job.port,
  };
  const socks = Array.from(
    { length: job.sockets },
    (_, i) =>
      Deno.listenDatagram({
        transport: "udp",
        hostname: `127.${job.base}.${Math.floor(i / 250)}.${(i % 250) + 1}`,
        port: 0,
      }),
  );
  const echoNonce = new Uint8Array(16).fill(9);
  const wrongKey = job.wrongKey ?? new Uint8Array(32);
  const echoHello = (cookie?: Uint8Array) =>
    createHello(cryptoImpl, {
      deviceId: job.echoDevice ?? 1,
      key: wrongKey,
      clientNonce: echoNonce,
      cookie,
    });
  let answers = 0, answerBytes = 0, largest = 0;
  const echoed = new Set<number>();
  const readers = socks.map(async (s, i) => {
    try {
      for await (const [d] of s) {
        answers++;
        answerBytes += d.length;
        if (d.length > largest) largest = d.length;
        if (
          job.kind === "hellos" && i % 10 === 0 && d[1] === 0x02 &&
          !echoed.has(i)
        ) {
          echoed.add(i);
          s.send(echoHello(d.subarray(2, 18)), to).catch(() => {});
        }
      }
    } catch { /* closed */ }
  });
  const data = job.kind === "garbage" ? pool(job) : [];
  const t0 = performance.now();
  let sent = 0;
  await Promise.all(socks.map(async (s, i) => {
    for (let k = i; k < job.total; k += socks.length) {
      let b: Uint8Array;
      if (job.kind === "garbage") b = data[k % data.length];
      else if (i % 10 === 0) b = echoHello();
      else {
        b = createHello(cryptoImpl, {
          deviceId: k % 3 === 0 ? 1 : 1000 + k,
          key: wrongKey,
          clientNonce: crypto.getRandomValues(new Uint8Array(16)),
          cookie: k % 5 === 0
            ? crypto.getRandomValues(new Uint8Array(16))
            : undefined,
        });
      }
      try {
        await s.send(b, to);
        sent++;
      } catch { /* dropped by the kernel */ }
    }
  }));
  const ms = performance.now() - t0;
  // Let the last answers (and cookie echoes) come back.
  await new Promise((r) => setTimeout(r, 1000));
  for (const s of socks) s.close();
  await Promise.all(readers);
  return { sent, answers, answerBytes, largestAnswer: largest, ms };
}

self.onmessage = async (e: MessageEvent<FloodJob>) => {
  const r = await run(e.data);
  self.postMessage(r);
};
