/**
 * Benchmark of the embedded bridge, in one run:
 *
 * - sensor events per second, simulated devices → gateway (real UDP) → a
 *   subscriber on another mesh node, beside the same workload through an
 *   MQTT broker (`aedes` + `mqtt` clients, TCP no-delay on every hop), as a
 *   ratio;
 * - p50/p99 latency of the same paths at 1,000 events a second;
 * - what one device alone gets acknowledged a second, QoS 1 with its send
 *   window in flight, on both paths;
 * - raw UDP loopback datagrams per second on this machine (the ceiling);
 * - gateway heap per connected device, with 1,000 simulated devices held in
 *   a worker (their own heap is not counted).
 *
 * Everything runs on 127.0.0.1 in three processes on both paths alike: the
 * devices (bench/_bridge_fleet.ts), the gateway or the broker (this one),
 * and the subscriber, a mesh node or an MQTT client (bench/_bridge_sink.ts),
 * sharing the machine's two cores.
 *
 * `deno run -P=bench bench/bridge.ts`.
 *
 * @module
 */

import process from "node:process";
import type { PeerId } from "../core/peer_id.ts";
import { EmbeddedBridge } from "../bridge/mod.ts";
import { AviP2p } from "../mesh/mod.ts";
import { startMqttBroker } from "./_bridge_mqtt.ts";
import { atRate } from "./_pace.ts";
import { forceGc } from "./_gc.ts";
import { type Child, spawnChild } from "./_child.ts";
import { keyOf } from "./_keys.ts";

const DEVICES = 20;
const THROUGHPUT_EVENTS = 20_000;
const WINDOW = 16;
const LATENCY_RATE = 1000; // events per second
const LATENCY_SECONDS = 4;
/** Untimed messages before the mesh-alone reference is timed (2 s). */
const MESH_WARM_EVENTS = 2 * LATENCY_RATE;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(5);
  }
  return true;
}

/** µs of CPU per event in the throughput phase, by process. */
interface CpuPerEvent {
  devices: number;
  middle: number;
  subscriber: number;
}

interface PathResult {
  cpu: CpuPerEvent;
  meshMessages: number;
  /** Datagrams the gateway received (both phases, handshakes included). */
  datagramsIn: number;
  eventsPerSecond: number;
  received: number;
  p50: number;
  p99: number;
  latencyReceived: number;
}

// ---- the device fleet and the subscriber (subprocesses) --------------------------

const LATENCY_EVENTS = LATENCY_RATE * LATENCY_SECONDS;
const TOPICS = Array.from(
  { length: DEVICES },
  (_, i) => `device/${i + 1}/sensor/temp`,
);

/** The same sensor workload for both compared paths (gateway and MQTT). */
function spawnWorkload(mode: "udp" | "mqtt", port: number): Child {
  return spawnChild("_bridge_fleet.ts", {
    mode,
    port,
    devices: DEVICES,
    keySeed: 1,
    events: THROUGHPUT_EVENTS,
    window: WINDOW,
    rate: LATENCY_RATE,
    seconds: LATENCY_SECONDS,
  });
}

/** The subscriber of either path. */
function spawnSink(
  target: { mode: "mesh"; bootstrap: string } | { mode: "mqtt"; port: number },
): Child {
  return spawnChild("_bridge_sink.ts", {
    ...target,
    topics: TOPICS,
    throughputEvents: THROUGHPUT_EVENTS,
    latencyEvents: LATENCY_EVENTS,
  });
}

/** Runs the workload and reads the figures off the subscriber. */
async function measure(
  fleet: Child,
  sink: Child,
): Promise<Omit<PathResult, "meshMessages" | "datagramsIn">> {
  const start = (await fleet.phase("throughput")).start;
  const cpu0 = process.cpuUsage();
  const done = await sink.phaseWithin("throughput", 120_000);
  const mid = process.cpuUsage(cpu0);
  const sent = await fleet.phase("throughputSent");
  await fleet.phase("latencySent");
  const r = await latencyAt(sink);
  return {
    eventsPerSecond: done
      ? THROUGHPUT_EVENTS / ((done.at - start) / 1000)
      : NaN,
    received: done ? THROUGHPUT_EVENTS : r.received,
    cpu: {
      devices: sent.cpuUs / THROUGHPUT_EVENTS,
      middle: (mid.user + mid.system) / THROUGHPUT_EVENTS,
      subscriber: (done?.cpuUs ?? NaN) / THROUGHPUT_EVENTS,
    },
    p50: r.p50,
    p99: r.p99,
    latencyReceived: r.latencyReceived,
  };
}

/** The sink's latency figures, once every timed event is in (or 20 s). */
async function latencyAt(sink: Child): Promise<Record<string, number>> {
  const r = await sink.phaseWithin("latency", 20_000);
  if (r !== undefined) return r;
  // Not all came: the figures of what did.
  await sink.tell("report");
  return sink.phase("report");
}

/** A mesh node on 127.0.0.1 for the benchmark. */
function benchNode(nodeName: string): Promise<AviP2p> {
  return AviP2p.start({
    nodeName,
    listenHost: "127.0.0.1",
    dataDir: null,
    enableMdns: false,
    onWarning: () => {},
  });
}

/** The mesh subscriber, once `gw` sees it on every topic. */
async function meshSink(gw: AviP2p): Promise<Child> {
  const sink = spawnSink({ mode: "mesh", bootstrap: gw.listenAddresses[0] });
  const peer = (await sink.phase("ready")).peerId as unknown as PeerId;
  for (const t of TOPICS) {
    const end = Date.now() + 20_000;
    while (
      !(await gw.handle().topicPeers(t)).includes(peer) && Date.now() < end
    ) await sleep(20);
  }
  return sink;
}

// ---- the gateway path -------------------------------------------------------

async function gatewayPath(): Promise<PathResult> {
  const gw = await benchNode("bench-gw");
  const devices: Record<string, Uint8Array> = {};
  for (let i = 1; i <= DEVICES; i++) devices[String(i)] = keyOf(i, 1);
  const bridge = await EmbeddedBridge.start(gw.handle(), {
    udpPort: 0,
    hostname: "127.0.0.1",
    devices,
    ratePerDevice: 100_000,
    burstPerDevice: 10_000,
    ratePerAddress: 100_000,
    burstPerAddress: 10_000,
    maxInflightPerDevice: 256,
  });
  const sink = await meshSink(gw);
  let fleet: Child | undefined;
  try {
    fleet = spawnWorkload("udp", bridge.port);
    await fleet.phase("ready");
    const r = await measure(fleet, sink);
    const st = bridge.stats();
    return { ...r, meshMessages: st.published, datagramsIn: st.datagrams };
  } finally {
    await fleet?.close();
    await sink.close();
    await bridge.close();
    await gw.shutdown();
  }
}

// ---- the mesh alone -----------------------------------------------------------

/**
 * The floor under the gateway path: the same timed events published by the
 * gateway's node itself (no devices, no UDP, no bridge) at the same rate, to
 * the same subscriber process, after 2 s of untimed ones (warm, as the
 * gateway path is when its latency is timed).
 */
async function meshAlone(): Promise<PathResult> {
  const gw = await benchNode("bench-mesh");
  const sink = await meshSink(gw);
  try {
    const te = new TextEncoder();
    const h = gw.handle();
    // Warm-up first, untimed (the sink counts it apart), as the gateway
    // path's latency phase comes after its throughput phase: measured
    // cold, the first messages paid for compiling the path (p99 4.1-4.2
    // ms against 2.1-2.4 warm in paired runs).
    await atRate(LATENCY_RATE, MESH_WARM_EVENTS, (i) => {
      h.publish(
        TOPICS[i % DEVICES],
        te.encode(JSON.stringify({ data: { custom: { t: 0 } } })),
      ).catch(() => {});
    });
    await atRate(LATENCY_RATE, LATENCY_EVENTS, (i) => {
      const t = performance.timeOrigin + performance.now();
      h.publish(
        TOPICS[i % DEVICES],
        te.encode(JSON.stringify({ data: { custom: { t } } })),
      ).catch(() => {});
    });
    const r = await latencyAt(sink);
    return {
      cpu: { devices: NaN, middle: NaN, subscriber: NaN },
      eventsPerSecond: NaN,
      received: 0,
      p50: r.p50,
      p99: r.p99,
      latencyReceived: r.latencyReceived,
      meshMessages: LATENCY_EVENTS,
      datagramsIn: 0,
    };
  } finally {
    await sink.close();
    await gw.shutdown();
  }
}

// ---- the MQTT path ------------------------------------------------------------

async function mqttPath(): Promise<PathResult> {
  const broker = await startMqttBroker();
  const sink = spawnSink({ mode: "mqtt", port: broker.port });
  let fleet: Child | undefined;
  try {
    await sink.phase("ready");
    fleet = spawnWorkload("mqtt", broker.port);
    await fleet.phase("ready");
    const r = await measure(fleet, sink);
    return { ...r, meshMessages: 0, datagramsIn: 0 };
  } finally {
    await fleet?.close();
    await sink.close();
    await broker.close();
  }
}

// ---- one device, sending fast --------------------------------------------------

const ONE_DEVICE_EVENTS = 4000;

/**
 * Readings a second that one device gets acknowledged with its whole send
 * window (16) in flight, QoS 1, on either path (nobody subscribed): the
 * gateway acknowledges a reading once it is in the context, aedes once it
 * has the PUBLISH. The gateway's per-device rate limits are raised as in
 * the fleet run (the pipeline is measured, not the limiter).
 */
async function oneDevice(): Promise<{ gateway: number; mqtt: number }> {
  const run = async (mode: "udp" | "mqtt", port: number) => {
    const fleet = spawnChild("_bridge_fleet.ts", {
      mode,
      port,
      devices: 1,
      keySeed: 1,
      events: ONE_DEVICE_EVENTS,
      window: WINDOW,
      rate: LATENCY_RATE,
      seconds: 0,
    });
    try {
      await fleet.phase("ready");
      const sent = await fleet.phase("throughputSent");
      return ONE_DEVICE_EVENTS / (sent.ms / 1000);
    } finally {
      await fleet.close();
    }
  };
  const gw = await benchNode("bench-one");
  const bridge = await EmbeddedBridge.start(gw.handle(), {
    udpPort: 0,
    hostname: "127.0.0.1",
    devices: { "1": keyOf(1, 1) },
    ratePerDevice: 100_000,
    burstPerDevice: 10_000,
    ratePerAddress: 100_000,
    burstPerAddress: 10_000,
  });
  let gateway: number;
  try {
    gateway = await run("udp", bridge.port);
  } finally {
    await bridge.close();
    await gw.shutdown();
  }
  const broker = await startMqttBroker();
  try {
    return { gateway, mqtt: await run("mqtt", broker.port) };
  } finally {
    await broker.close();
  }
}

// ---- raw UDP ceiling ------------------------------------------------------------

async function udpCeiling(): Promise<number> {
  const rx = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const tx = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const to = rx.addr as Deno.NetAddr;
  const N = 200_000;
  let got = 0;
  const loop = (async () => {
    try {
      for await (const _ of rx) got++;
    } catch { /* closed */ }
  })();
  const payload = new Uint8Array(60);
  const t0 = performance.now();
  // Windowed so the receiver keeps up (no kernel drops inflating the figure).
  for (let i = 0; i < N; i += 32) {
    const ps = [];
    for (let j = 0; j < 32; j++) ps.push(tx.send(payload, to));
    await Promise.all(ps);
    while (i - got > 2000) await sleep(0);
  }
  await waitFor(() => got >= N, 5_000);
  const rate = got / ((performance.now() - t0) / 1000);
  rx.close();
  tx.close();
  await loop;
  return rate;
}

// ---- memory per device --------------------------------------------------------

async function memoryPerDevice(): Promise<{ perDevice: number; n: number }> {
  const N = 1000;
  const gc = forceGc();
  const gw = await benchNode("bench-mem");
  const devices: Record<string, Uint8Array> = {};
  for (let i = 1; i <= N; i++) devices[String(i)] = keyOf(i, 77);
  const bridge = await EmbeddedBridge.start(gw.handle(), {
    udpPort: 0,
    hostname: "127.0.0.1",
    devices,
    maxSessions: N,
  });
  let fleet: Child | undefined;
  try {
    gc?.();
    await sleep(200);
    gc?.();
    const before = Deno.memoryUsage().heapUsed;
    fleet = spawnChild("_bridge_fleet.ts", {
      mode: "hold",
      port: bridge.port,
      devices: N,
      keySeed: 77,
      topic: "home/all",
    });
    await fleet.phase("ready");
    await waitFor(() => bridge.devices().length === N, 30_000);
    gc?.();
    await sleep(200);
    gc?.();
    const after = Deno.memoryUsage().heapUsed;
    return {
      perDevice: (after - before) / bridge.devices().length,
      n: bridge.devices().length,
    };
  } finally {
    await fleet?.close();
    await bridge.close();
    await gw.shutdown();
  }
}

/** Run every figure and print it. */
export async function bench(): Promise<void> {
  if (Deno.env.get("BRIDGE_BENCH_PART") === "gateway") {
    console.log(await gatewayPath());
    return;
  }
  const udp = await udpCeiling();
  console.log(
    `raw UDP loopback in Deno (60-byte datagrams, one socket pair): ${
      Math.round(udp).toLocaleString("en")
    } datagrams/s: the ceiling; a QoS 1 event sent alone costs the gateway ` +
      `two (publish in, ack out), so at most ~${
        Math.round(udp / 2).toLocaleString("en")
      } events/s unbundled (devices and gateway pack what is due at once ` +
      `into one frame)`,
  );
  const g = await gatewayPath();
  const m = await mqttPath();
  console.log(
    `sensor events/s, ${DEVICES} devices, QoS 1, window ${WINDOW}: ` +
      `gateway→mesh ${Math.round(g.eventsPerSecond).toLocaleString("en")}, ` +
      `MQTT (aedes) ${Math.round(m.eventsPerSecond).toLocaleString("en")}, ` +
      `ratio ${(g.eventsPerSecond / m.eventsPerSecond).toFixed(2)} ` +
      `(${THROUGHPUT_EVENTS} + ${LATENCY_RATE * LATENCY_SECONDS} events ` +
      `in ${g.datagramsIn} datagrams to the gateway and ${g.meshMessages} ` +
      `signed mesh messages)`,
  );
  const cpu = (c: CpuPerEvent) =>
    `devices ${c.devices.toFixed(0)} + ${c.middle.toFixed(0)} + subscriber ` +
    `${c.subscriber.toFixed(0)} = ${
      (c.devices + c.middle + c.subscriber).toFixed(0)
    }`;
  console.log(
    `  CPU µs per event in that phase (each process's user + system): ` +
      `gateway path ${cpu(g.cpu)} (gateway in the middle); ` +
      `MQTT ${cpu(m.cpu)} (broker in the middle)`,
  );
  console.log(
    `latency at ${LATENCY_RATE} events/s (device → subscriber on another node): ` +
      `gateway p50 ${g.p50.toFixed(2)} ms p99 ${g.p99.toFixed(2)} ms ` +
      `(${g.latencyReceived} events); MQTT p50 ${m.p50.toFixed(2)} ms ` +
      `p99 ${m.p99.toFixed(2)} ms (${m.latencyReceived}); ` +
      `p99 ratio ${(g.p99 / m.p99).toFixed(2)}`,
  );
  const one = await oneDevice();
  console.log(
    `one device alone, QoS 1, its window of ${WINDOW} in flight, nobody ` +
      `subscribed: gateway ${
        Math.round(one.gateway).toLocaleString("en")
      } readings/s acked (each in the context), MQTT (aedes) ${
        Math.round(one.mqtt).toLocaleString("en")
      } publishes/s acked, ratio ${(one.gateway / one.mqtt).toFixed(2)}`,
  );
  const mem = await memoryPerDevice();
  console.log(
    `gateway heap per connected device (${mem.n} devices, each subscribed): ` +
      `${(mem.perDevice / 1024).toFixed(1)} KiB`,
  );
  const floor = await meshAlone();
  console.log(
    `the mesh alone at ${LATENCY_RATE} messages/s (one node publishing to a ` +
      `node in another process, no devices or bridge; after 2 s untimed): p50 ` +
      `${floor.p50.toFixed(2)} ms p99 ${floor.p99.toFixed(2)} ms ` +
      `(${floor.latencyReceived}): the floor under the gateway path`,
  );
}

if (import.meta.main) await bench();
