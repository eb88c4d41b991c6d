/**
 * Pub/sub between two nodes on 127.0.0.1: messages per second and one-way
 * latency (p50/p99), through our handle and events (`AviP2p`) beside raw
 * js-libp2p + `@libp2p/gossipsub` with the same transport, encryption,
 * muxer and GossipSub settings, in the same run. Prints the ratio.
 *
 * Run alone: `deno run -P=node bench/pubsub.ts`.
 *
 * @module
 */

import { createLibp2p } from "libp2p";
import { tcp } from "@libp2p/tcp";
import { noise } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import { gossipsub } from "@libp2p/gossipsub";
import type { GossipSub } from "@libp2p/gossipsub";
import { identify } from "@libp2p/identify";
import type { Libp2p } from "@libp2p/interface";
import { AviP2p } from "../mesh/mod.ts";
import { patchBroadcastChannelUnref } from "../mesh/_libp2p.ts";

const TOPIC = "bench/pubsub";
const PAYLOAD = 256;
const BURST = 3000; // messages per throughput run
const PINGS = 400; // sequential messages per latency run
const ROUNDS = 3; // alternate ours/raw this many times (after a warm-up), keep the best

/** Two connected nodes and a way to publish on one and receive on the other. */
interface Pair {
  publish(data: Uint8Array): Promise<unknown>;
  /** Resolves with the receive time of each message, in order. */
  onMessage(fn: (data: Uint8Array) => void): void;
  ready(): Promise<void>;
  stop(): Promise<void>;
}

const until = async (cond: () => boolean | Promise<boolean>) => {
  const end = Date.now() + 20_000;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error("bench setup timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
};

async function oursPair(): Promise<Pair> {
  const common = {
    listenHost: "127.0.0.1",
    dataDir: null,
    enableMdns: false,
    enableKad: false,
    eventQueueSize: BURST * 2,
  };
  const a = await AviP2p.start({ ...common, nodeName: "bench-a" });
  const b = await AviP2p.start({
    ...common,
    nodeName: "bench-b",
    bootstrapPeers: [a.listenAddresses[0]],
  });
  await b.handle().subscribe(TOPIC);
  let handler: (d: Uint8Array) => void = () => {};
  const events = b.events();
  const reading = (async () => {
    for await (const ev of events) if (ev.type === "message") handler(ev.data);
  })();
  return {
    publish: (d) => a.handle().publish(TOPIC, d),
    onMessage: (fn) => (handler = fn),
    ready: () =>
      until(async () => (await a.handle().topicPeers(TOPIC)).length === 1),
    stop: async () => {
      await Promise.all([a.shutdown(), b.shutdown()]);
      await reading;
    },
  };
}

/** A js-libp2p node with GossipSub, default options (no adjustments of ours). */
export async function rawNode(): Promise<Libp2p<{ pubsub: GossipSub }>> {
  return await createLibp2p({
    addresses: { listen: ["/ip4/127.0.0.1/tcp/0"] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      pubsub: gossipsub({
        globalSignaturePolicy: "StrictSign",
        allowPublishToZeroTopicPeers: true,
        emitSelf: false,
        heartbeatInterval: 1000,
        fallbackToFloodsub: false,
      }),
    },
  }) as unknown as Libp2p<{ pubsub: GossipSub }>;
}

async function rawPair(): Promise<Pair> {
  const a = await rawNode();
  const b = await rawNode();
  await b.dial(a.getMultiaddrs()[0]);
  b.services.pubsub.subscribe(TOPIC);
  let handler: (d: Uint8Array) => void = () => {};
  b.services.pubsub.addEventListener("message", (ev) => {
    if (ev.detail.topic === TOPIC) handler(ev.detail.data);
  });
  return {
    publish: (d) => a.services.pubsub.publish(TOPIC, d),
    onMessage: (fn) => (handler = fn),
    ready: () =>
      until(() => a.services.pubsub.getSubscribers(TOPIC).length === 1),
    stop: async () => {
      await Promise.all([a.stop(), b.stop()]);
    },
  };
}

interface Figures {
  msgsPerSec: number;
  p50: number;
  p99: number;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

async function measure(make: () => Promise<Pair>): Promise<Figures> {
  const pair = await make();
  try {
    await pair.ready();
    // warm-up
    await roundTrip(pair, 50);
    // throughput: publish a burst back to back, time until the last arrives
    let got = 0;
    let done!: () => void;
    const all = new Promise<void>((r) => (done = r));
    pair.onMessage(() => {
      if (++got === BURST) done();
    });
    const t0 = performance.now();
    const payload = new Uint8Array(PAYLOAD);
    for (let i = 0; i < BURST; i++) {
      payload[0] = i & 0xff;
      await pair.publish(payload.slice());
    }
    await all;
    const msgsPerSec = BURST / ((performance.now() - t0) / 1000);
    // latency: one message in flight at a time
    const lat = await roundTrip(pair, PINGS);
    lat.sort((x, y) => x - y);
    return { msgsPerSec, p50: pct(lat, 0.5), p99: pct(lat, 0.99) };
  } finally {
    await pair.stop();
  }
}

async function roundTrip(pair: Pair, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const arrived = new Promise<void>((r) => pair.onMessage(() => r()));
    const d = new Uint8Array(PAYLOAD);
    new DataView(d.buffer).setUint32(0, i);
    await pair.publish(d);
    await arrived;
    out.push(performance.now() - t);
  }
  return out;
}

/** Runs the pub/sub benchmark and prints its figures. */
export async function bench(): Promise<void> {
  // the raw nodes need the same Deno fix as ours to let the process exit
  patchBroadcastChannelUnref();
  // warm-up round (JIT, module init), not counted
  await measure(rawPair);
  await measure(oursPair);
  let ours: Figures | undefined;
  let raw: Figures | undefined;
  const best = (x: Figures | undefined, y: Figures): Figures =>
    x === undefined ? y : {
      msgsPerSec: Math.max(x.msgsPerSec, y.msgsPerSec),
      p50: Math.min(x.p50, y.p50),
      p99: Math.min(x.p99, y.p99),
    };
  for (let r = 0; r < ROUNDS; r++) {
    raw = best(raw, await measure(rawPair));
    ours = best(ours, await measure(oursPair));
  }
  const f = (x: number) => x.toFixed(2);
  console.log(
    `pub/sub, 2 nodes on 127.0.0.1, ${PAYLOAD} B payload, burst ${BURST}, ${PINGS} pings, best of ${ROUNDS}`,
  );
  console.log(
    `  raw @libp2p/gossipsub : ${raw!.msgsPerSec.toFixed(0)} msg/s, p50 ${
      f(raw!.p50)
    } ms, p99 ${f(raw!.p99)} ms`,
  );
  console.log(
    `  @avi/p2p handle       : ${ours!.msgsPerSec.toFixed(0)} msg/s, p50 ${
      f(ours!.p50)
    } ms, p99 ${f(ours!.p99)} ms`,
  );
  const ratio = ours!.msgsPerSec / raw!.msgsPerSec;
  console.log(
    `  ratio ours/raw        : throughput ${f(ratio)} (layer cost ${
      ((1 - ratio) * 100).toFixed(1)
    }%; target < 10%), p50 latency ${f(ours!.p50 / raw!.p50)}x`,
  );
}

if (import.meta.main) await bench();
