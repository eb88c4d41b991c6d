/**
 * Stream benchmark: one reliable stream's throughput beside a raw libp2p
 * stream on the same connection, 50 concurrent voice streams (latency and
 * loss), and the bytes on the wire per 640-byte audio frame.
 *
 * Run on its own: `deno run -P=node bench/streams.ts`.
 *
 * @module
 */

import type { Stream } from "@libp2p/interface";
import { multiaddr } from "@multiformats/multiaddr";
import process from "node:process";
import type { PeerId } from "../core/peer_id.ts";
import { StreamService } from "../streams/service.ts";
import { applyStackAdjustments } from "../mesh/_libp2p.ts";
import { patchTcpWrites } from "../mesh/_tcp_write.ts";
import { spawnChild } from "./_child.ts";
import {
  connect,
  startTestNode,
  type TestNode,
} from "../tests/support/streams_fixture.ts";

const RAW_PROTOCOL = "/avi/bench/raw/1.0.0";
const CHUNK = 64 * 1024;
const TOTAL = 96 * 1024 * 1024;
const ROUNDS = 8;

const now = () => performance.timeOrigin + performance.now();

/** CPU time of this process (user + system), in ms. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** One throughput run: MB per wall-clock second and per CPU second. */
interface Rate {
  wall: number;
  cpu: number;
}

function rate(startWall: number, startCpu: number): Rate {
  return {
    wall: TOTAL / 1e6 / ((performance.now() - startWall) / 1000),
    cpu: TOTAL / 1e6 / ((cpuMs() - startCpu) / 1000),
  };
}

interface Side {
  node: TestNode;
  service: StreamService;
  onData:
    | ((e: { streamId: string; data: Uint8Array; timestamp: number }) => void)
    | undefined;
  onRequested: ((id: string) => void) | undefined;
}

async function side(maxStreams: number): Promise<Side> {
  // the stack every AviP2p node runs (raw and avi streams alike)
  await applyStackAdjustments();
  const node = await startTestNode();
  patchTcpWrites(node.libp2p);
  const s: Side = {
    node,
    service: undefined!,
    onData: undefined,
    onRequested: undefined,
  };
  s.service = new StreamService({
    libp2p: node.libp2p,
    maxStreams,
    // one peer opens every stream of the bench: give it all of them
    maxStreamsPerPeer: maxStreams,
    emit: (e) => {
      if (e.type === "streamData") s.onData?.(e);
      else if (e.type === "streamRequested") {
        s.onRequested?.(e.streamId);
        void s.service.accept(e.streamId);
      }
    },
  });
  await s.service.start();
  return s;
}

function waitDrain(raw: Stream): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      raw.removeEventListener("drain", done);
      raw.removeEventListener("close", fail);
      resolve();
    };
    const fail = () => {
      raw.removeEventListener("drain", done);
      raw.removeEventListener("close", fail);
      reject(new Error("closed"));
    };
    raw.addEventListener("drain", done);
    raw.addEventListener("close", fail);
  });
}

/** MB/s of `TOTAL` bytes over a raw libp2p stream (send + drain event). */
async function rawThroughput(a: Side, b: Side): Promise<Rate> {
  let received = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => done = r);
  await b.node.libp2p.handle(RAW_PROTOCOL, (stream) => {
    stream.addEventListener("message", (e) => {
      received += e.data.byteLength;
      if (received >= TOTAL) done();
    });
  }, { force: true });
  const raw = await a.node.libp2p.dialProtocol(
    b.node.libp2p.peerId,
    RAW_PROTOCOL,
  );
  const buf = new Uint8Array(CHUNK).fill(7);
  const start = performance.now();
  const startCpu = cpuMs();
  for (let sent = 0; sent < TOTAL; sent += CHUNK) {
    if (!raw.send(buf)) await waitDrain(raw);
  }
  await finished;
  const r = rate(start, startCpu);
  raw.abort(new Error("done"));
  await b.node.libp2p.unhandle(RAW_PROTOCOL);
  return r;
}

/** MB/s of `TOTAL` payload bytes over one reliable stream. */
async function streamThroughput(a: Side, b: Side): Promise<Rate> {
  let received = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => done = r);
  b.onData = (e) => {
    received += e.data.length;
    if (received >= TOTAL) done();
  };
  const id = await a.service.request(b.node.id as PeerId, "bench");
  const buf = new Uint8Array(CHUNK).fill(7);
  const start = performance.now();
  const startCpu = cpuMs();
  for (let sent = 0; sent < TOTAL; sent += CHUNK) await a.service.send(id, buf);
  await finished;
  const r = rate(start, startCpu);
  b.onData = undefined;
  await a.service.close(id);
  return r;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

/** 50 realtime streams, 640 bytes every 20 ms each, for `seconds`. */
/** What a voice run delivered, and its latency (ms). */
interface VoiceResult {
  offered: number;
  received: number;
  lost: number;
  dropped: number;
  p50: number;
  p99: number;
}

/**
 * `streams` realtime streams from `a` to `to`, each sending a 640-byte frame
 * every 20 ms for `seconds` (all due at the same instant, sent one after the
 * other), stamped with the capture time.
 */
async function sendVoice(
  a: Side,
  to: string,
  streams: number,
  seconds: number,
): Promise<{ offered: number; ids: string[] }> {
  const ids: string[] = [];
  for (let i = 0; i < streams; i++) {
    ids.push(
      await a.service.request(to as PeerId, "voice", { mode: "realtime" }),
    );
  }
  const frame = new Uint8Array(640);
  const ticks = Math.round(seconds * 1000 / 20);
  const start = performance.now();
  for (let t = 0; t < ticks; t++) {
    const due = start + t * 20;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    for (const id of ids) await a.service.send(id, frame, { timestamp: now() });
  }
  await new Promise((r) => setTimeout(r, 500));
  return { offered: ticks * streams, ids };
}

/** Voice from `a` to `b`, both in this process (one event loop does both sides). */
async function voice(
  a: Side,
  b: Side,
  streams: number,
  seconds: number,
): Promise<VoiceResult> {
  const latencies: number[] = [];
  b.onData = (e) => latencies.push(now() - e.timestamp);
  const { offered, ids } = await sendVoice(a, b.node.id, streams, seconds);
  let lost = 0;
  let dropped = 0;
  let received = 0;
  for (const id of ids) {
    const sent = a.service.stats(id);
    const got = b.service.stats(id);
    dropped += sent.dropped + got.dropped;
    lost += got.lost + (sent.framesSent - got.framesReceived - got.lost);
    received += got.framesReceived;
  }
  for (const id of ids) await a.service.close(id);
  b.onData = undefined;
  latencies.sort((x, y) => x - y);
  return {
    offered,
    received,
    lost,
    dropped,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
  };
}

/**
 * Voice from `a` to a receiver in another process (bench/_voice_sink.ts),
 * as from one device to another: the receiving work does not wait for the
 * sender's loop.
 */
async function voiceToProcess(
  a: Side,
  streams: number,
  seconds: number,
): Promise<VoiceResult> {
  const frames = streams * Math.round(seconds * 1000 / 20);
  const sink = spawnChild("_voice_sink.ts", { frames });
  try {
    const ready = await sink.phase("ready") as unknown as {
      addr: string;
      peerId: string;
    };
    await a.node.libp2p.dial(multiaddr(ready.addr));
    const { offered, ids } = await sendVoice(a, ready.peerId, streams, seconds);
    let dropped = 0;
    let notSent = 0;
    for (const id of ids) {
      const st = a.service.stats(id);
      dropped += st.dropped;
      notSent += offered / ids.length - st.framesSent - st.dropped;
    }
    let r = await sink.phaseWithin("voice", 5_000);
    if (r === undefined) {
      await sink.tell("report");
      r = await sink.phase("voice");
    }
    for (const id of ids) await a.service.close(id);
    return {
      offered,
      received: r.received,
      lost: offered - dropped - notSent - r.received,
      dropped: dropped + r.dropped,
      p50: r.p50,
      p99: r.p99,
    };
  } finally {
    await sink.close();
  }
}

/** A TCP relay that counts the bytes each way. */
function countingProxy(targetPort: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const counts = { up: 0, down: 0 };
  const conns: Deno.Conn[] = [];
  const pump = async (from: Deno.Conn, to: Deno.Conn, key: "up" | "down") => {
    const buf = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const n = await from.read(buf);
        if (n === null) break;
        counts[key] += n;
        let off = 0;
        while (off < n) off += await to.write(buf.subarray(off, n));
      }
    } catch {
      // closed
    }
    try {
      to.close();
    } catch {
      // already closed
    }
  };
  const accepting = (async () => {
    for await (const conn of listener) {
      const target = await Deno.connect({
        hostname: "127.0.0.1",
        port: targetPort,
      });
      conns.push(conn, target);
      void pump(conn, target, "up");
      void pump(target, conn, "down");
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    counts,
    async close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // already closed
        }
      }
      await accepting.catch(() => {});
    },
  };
}

/** Bytes through the TCP connection per 640-byte frame on a realtime stream. */
async function wireBytes(
  frames: number,
): Promise<{ up: number; both: number }> {
  const a = await side(4);
  const b = await side(4);
  const bPort = Number(
    b.node.libp2p.getMultiaddrs()[0].toString().split("/")[4],
  );
  const proxy = countingProxy(bPort);
  try {
    await a.node.libp2p.dial(
      multiaddr(`/ip4/127.0.0.1/tcp/${proxy.port}/p2p/${b.node.id}`),
    );
    let got = 0;
    b.onData = () => got++;
    const id = await a.service.request(b.node.id as PeerId, "voice", {
      mode: "realtime",
    });
    await new Promise((r) => setTimeout(r, 200));
    const before = { ...proxy.counts };
    const frame = new Uint8Array(640);
    for (let i = 0; i < frames; i++) {
      await a.service.send(id, frame);
      await new Promise((r) => setTimeout(r, 2));
    }
    while (got < frames) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200));
    const up = proxy.counts.up - before.up;
    const down = proxy.counts.down - before.down;
    await a.service.close(id);
    return { up: up / frames, both: (up + down) / frames };
  } finally {
    await a.service.stop();
    await b.service.stop();
    await a.node.stop();
    await b.node.stop();
    await proxy.close();
  }
}

/** Print the stream figures. */
export async function bench(): Promise<void> {
  const a = await side(64);
  const b = await side(64);
  try {
    await connect(a.node, b.node);
    const raw: Rate[] = [];
    const ours: Rate[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      // alternate which goes first, so neither profits from a warmer state
      if (i % 2 === 0) {
        raw.push(await rawThroughput(a, b));
        ours.push(await streamThroughput(a, b));
      } else {
        ours.push(await streamThroughput(a, b));
        raw.push(await rawThroughput(a, b));
      }
    }
    const median = (xs: number[]) =>
      [...xs].sort((x, y) => x - y)[xs.length >> 1];
    for (const k of ["wall", "cpu"] as const) {
      const r = median(raw.map((x) => x[k]));
      const o = median(ours.map((x) => x[k]));
      const paired = median(ours.map((x, i) => x[k] / raw[i][k]));
      console.log(
        `throughput ${
          k === "wall" ? "per wall-clock second" : "per CPU second"
        }, ` +
          `${
            TOTAL / 1024 / 1024
          } MiB in 64 KiB frames, median of ${ROUNDS} paired runs: ` +
          `raw libp2p stream ${r.toFixed(0)} MB/s, avi stream (reliable) ${
            o.toFixed(0)
          } MB/s, ` +
          `ratio ${paired.toFixed(2)} (target >= 0.90)`,
      );
    }
    console.log(
      `  runs (raw/avi wall MB/s): ${
        raw.map((x, i) => `${x.wall.toFixed(0)}/${ours[i].wall.toFixed(0)}`)
          .join(", ")
      }`,
    );

    const line = (where: string, v: VoiceResult) =>
      console.log(
        `50 realtime voice streams (640 B every 20 ms = 32 kB/s each) for 10 s, ${where}: ` +
          `${v.received}/${v.offered} frames delivered, lost ${v.lost}, dropped ${v.dropped}, ` +
          `latency p50 ${v.p50.toFixed(2)} ms, p99 ${
            v.p99.toFixed(2)
          } ms (target p99 < 2 ms)`,
      );
    line(
      "sender and receiver in one process (each burst of 50 is sent before any is received)",
      await voice(a, b, 50, 10),
    );
    line(
      "receiver in another process (as between two devices)",
      await voiceToProcess(a, 50, 10),
    );
  } finally {
    await a.service.stop();
    await b.service.stop();
    await a.node.stop();
    await b.node.stop();
  }

  const w = await wireBytes(500);
  console.log(
    `bytes on the wire per 640-byte audio frame (TCP payload, Noise + Yamux + our 18-byte header): ` +
      `${w.up.toFixed(0)} sender->receiver, ${
        w.both.toFixed(0)
      } both directions ` +
      `(original: ~2,300; ratio ${(w.both / 2300).toFixed(2)})`,
  );
}

if (import.meta.main) {
  await bench();
  Deno.exit(0);
}
