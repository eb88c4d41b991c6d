/**
 * The subscriber of bench/bridge.ts in its own process, for either path:
 * a mesh node bootstrapped to the gateway (`mesh`), or an `mqtt` client of
 * the broker (`mqtt`). Like the devices, the subscriber is another machine
 * in real life; in its own process it does not share the gateway's (or the
 * broker's) thread, on both paths alike.
 *
 * Args (JSON in argv[0]): see `SinkJob`. Output: one JSON line per phase on
 * stdout: `ready` (subscribed; `peerId` for a mesh node), `throughput` (all
 * untimed events in, with the absolute time), `latency` (all timed events
 * in, with p50/p99); a line `report` on stdin asks for the counts so far.
 *
 * @module
 */

import process from "node:process";
import { AviP2p } from "../mesh/mod.ts";
import { mqttClient } from "./_bridge_mqtt.ts";
import { stdinLines } from "./_child.ts";

interface SinkJob {
  mode: "mesh" | "mqtt";
  /** Mesh: the gateway's address. */
  bootstrap?: string;
  /** MQTT: the broker's port. */
  port?: number;
  /** MQTT: the filter to subscribe to. @default "device/+/sensor/#" */
  filter?: string;
  /** MQTT: the subscription's QoS. @default 1 */
  qos?: 0 | 1;
  topics: string[];
  throughputEvents: number;
  latencyEvents: number;
}

const job = JSON.parse(Deno.args[0]) as SinkJob;
const td = new TextDecoder();
const absNow = () => performance.timeOrigin + performance.now();
const out = (o: unknown) => console.log(JSON.stringify(o));

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

let received = 0;
/** CPU at the first throughput event (the phase's CPU is counted from there). */
let cpu0: { user: number; system: number } | undefined;
const lat: number[] = [];
const summary = () => ({
  received,
  latencyReceived: lat.length,
  p50: pct(lat, 50),
  p99: pct(lat, 99),
});

/** Counts an event; timed ones (custom.t > 0) give a latency. */
function add(payload: Uint8Array): void {
  const now = absNow();
  const t = JSON.parse(td.decode(payload)).data?.custom?.t ?? 0;
  if (t > 0) {
    lat.push(now - t);
    if (lat.length === job.latencyEvents) {
      out({ phase: "latency", ...summary() });
    }
  } else {
    cpu0 ??= process.cpuUsage();
    if (++received === job.throughputEvents) {
      const c = process.cpuUsage(cpu0);
      out({ phase: "throughput", at: now, cpuUs: c.user + c.system });
    }
  }
}

let close: () => Promise<void>;
if (job.mode === "mesh") {
  const node = await AviP2p.start({
    nodeName: "bench-sub",
    listenHost: "127.0.0.1",
    dataDir: null,
    enableMdns: false,
    // Envelopes arrive unpacked: a burst of them is many events at once.
    eventQueueSize: 65_536,
    bootstrapPeers: [job.bootstrap!],
    onWarning: () => {},
  });
  const ev = node.events();
  const loop = (async () => {
    for await (const e of ev) if (e.type === "message") add(e.data);
  })();
  for (const t of job.topics) await node.handle().subscribe(t);
  out({ phase: "ready", peerId: node.peerId });
  close = async () => {
    await ev.return?.();
    await loop;
    await node.shutdown();
  };
} else {
  const c = await mqttClient(job.port!, `bench-sub-${Deno.pid}`);
  c.on("message", (_t, p) => add(p));
  await c.subscribeAsync(job.filter ?? "device/+/sensor/#", {
    qos: job.qos ?? 1,
  });
  out({ phase: "ready" });
  close = () => c.endAsync(true);
}

// Until the parent closes stdin: answer `report`.
for await (const line of stdinLines()) {
  if (line === "report") out({ phase: "report", ...summary() });
}
await close();
Deno.exit(0);
