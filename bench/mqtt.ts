/**
 * Benchmark of the MQTT bridge (`deno task bench mqtt`): sensor events per
 * second and p50/p99 latency from simulated devices through the gateway to
 * an MQTT subscriber (through a real `mosquitto` on 127.0.0.1), beside the
 * same events through the same gateway to a subscriber on another mesh
 * node, in the same run; and the mesh path once more with no MQTT bridge
 * on the gateway, so that what the bridge costs the mesh path shows.
 *
 * Processes, as in bench/bridge.ts: the devices (bench/_bridge_fleet.ts),
 * the gateway (this one), mosquitto, the MQTT subscriber
 * (bench/_bridge_sink.ts in MQTT mode) and the mesh subscriber (bench/_bridge_sink.ts),
 * sharing the machine's cores. Figures are printed, not checked.
 *
 * @module
 */

import { AviP2p } from "../mod.ts";
import { EmbeddedBridge } from "../bridge/mod.ts";
import { MqttBridge } from "../mqtt/mod.ts";
import { Mosquitto } from "../tests/support/mosquitto.ts";
import { atRate } from "./_pace.ts";
import { type Child, spawnChild } from "./_child.ts";
import { keyOf } from "./_keys.ts";

const DEVICES = 20;
const THROUGHPUT_EVENTS = 20_000;
const WINDOW = 16;
const LATENCY_RATE = 1000;
const LATENCY_SECONDS = 4;
const LATENCY_EVENTS = LATENCY_RATE * LATENCY_SECONDS;
const TOPICS = Array.from(
  { length: DEVICES },
  (_, i) => `device/${i + 1}/sensor/temp`,
);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Leg {
  eventsPerSecond: number;
  p50: number;
  p99: number;
  latencyReceived: number;
}

/** A subscriber's figures for the run that started at `start`. */
async function legOf(sink: Child, start: number): Promise<Leg> {
  const done = await sink.phaseWithin("throughput", 120_000);
  let r = await sink.phaseWithin("latency", 20_000);
  if (r === undefined) {
    await sink.tell("report");
    r = await sink.phase("report");
  }
  return {
    eventsPerSecond: done
      ? THROUGHPUT_EVENTS / ((done.at - start) / 1000)
      : NaN,
    p50: r.p50,
    p99: r.p99,
    latencyReceived: r.latencyReceived,
  };
}

/** One run: the gateway, with or without the MQTT bridge, and its subscribers. */
async function run(withMqtt: boolean): Promise<{ mesh: Leg; mqtt?: Leg }> {
  const broker = withMqtt ? await Mosquitto.start() : undefined;
  const node = await AviP2p.start({
    nodeName: "bench-gw",
    listenHost: "127.0.0.1",
    dataDir: null,
    enableMdns: false,
    onWarning: () => {},
  });
  const devices: Record<string, Uint8Array> = {};
  for (let i = 1; i <= DEVICES; i++) devices[String(i)] = keyOf(i, 3);
  const mqtt = broker
    ? await MqttBridge.start(node.handle(), {
      url: broker.url,
      nodeId: "bench",
      devices: Object.keys(devices),
    })
    : undefined;
  const bridge = await EmbeddedBridge.start(mqtt?.mesh ?? node.handle(), {
    udpPort: 0,
    hostname: "127.0.0.1",
    devices,
    ratePerDevice: 100_000,
    burstPerDevice: 10_000,
    ratePerAddress: 100_000,
    burstPerAddress: 10_000,
    maxInflightPerDevice: 256,
  });
  mqtt?.attachGateway(bridge);
  const children: Child[] = [];
  try {
    const meshSink = spawnChild("_bridge_sink.ts", {
      mode: "mesh",
      bootstrap: node.listenAddresses[0],
      topics: TOPICS,
      throughputEvents: THROUGHPUT_EVENTS,
      latencyEvents: LATENCY_EVENTS,
    });
    children.push(meshSink);
    const peer = (await meshSink.phase("ready")).peerId as unknown as string;
    for (const t of TOPICS) {
      const end = Date.now() + 20_000;
      while (
        !(await node.handle().topicPeers(t)).includes(peer as never) &&
        Date.now() < end
      ) await sleep(20);
    }
    let mqttSink: Child | undefined;
    if (broker && mqtt) {
      const end = Date.now() + 20_000;
      while (!mqtt.connected && Date.now() < end) await sleep(20);
      mqttSink = spawnChild("_bridge_sink.ts", {
        mode: "mqtt",
        port: broker.port,
        filter: `${mqtt.baseTopic}/device/+/sensor/#`,
        qos: 0,
        topics: [],
        throughputEvents: THROUGHPUT_EVENTS,
        latencyEvents: LATENCY_EVENTS,
      });
      children.push(mqttSink);
      await mqttSink.phase("ready");
    }
    const fleet = spawnChild("_bridge_fleet.ts", {
      mode: "udp",
      port: bridge.port,
      devices: DEVICES,
      keySeed: 3,
      events: THROUGHPUT_EVENTS,
      window: WINDOW,
      rate: LATENCY_RATE,
      seconds: LATENCY_SECONDS,
    });
    children.push(fleet);
    await fleet.phase("ready");
    const start = (await fleet.phase("throughput")).start;
    const [mesh, mq] = await Promise.all([
      legOf(meshSink, start),
      mqttSink ? legOf(mqttSink, start) : Promise.resolve(undefined),
    ]);
    await fleet.phase("latencySent");
    return { mesh, mqtt: mq };
  } finally {
    for (const c of children.reverse()) await c.close();
    await bridge.close();
    await mqtt?.close();
    await node.shutdown();
    await broker?.close();
  }
}

const LEG_EVENTS = 50_000;
const LEG_LATENCY_EVENTS = 2_000;

/**
 * The MQTT leg alone: readings handed to the MQTT bridge as the UDP bridge
 * hands them (through the handle it wraps, here around a mesh that accepts
 * every publish at once: no devices, no UDP, no signing), to the MQTT
 * subscriber: how many it carries a second, and its latency at the same
 * 1,000 a second.
 */
async function mqttLegAlone(): Promise<Leg> {
  const broker = await Mosquitto.start();
  const node = await AviP2p.start({
    nodeName: "bench-leg",
    listenHost: "127.0.0.1",
    dataDir: null,
    enableMdns: false,
    onWarning: () => {},
  });
  const ids = Array.from({ length: DEVICES }, (_, i) => String(i + 1));
  const mqtt = await MqttBridge.start(node.handle(), {
    url: broker.url,
    nodeId: "leg",
    devices: ids,
  });
  const tap = mqtt.wrap({
    subscribe: async () => {},
    unsubscribe: async () => {},
    publish: async () => {},
    events: () => node.handle().events(),
  });
  const sink = spawnChild("_bridge_sink.ts", {
    mode: "mqtt",
    port: broker.port,
    filter: `${mqtt.baseTopic}/device/+/sensor/#`,
    qos: 0,
    topics: [],
    throughputEvents: LEG_EVENTS,
    latencyEvents: LEG_LATENCY_EVENTS,
  });
  const te = new TextEncoder();
  const reading = (i: number, t: number) =>
    te.encode(JSON.stringify({
      name: "temp",
      data: { value: 20 + (i % 10) / 10, unit: "C", custom: { t } },
      ts: Date.now(),
    }));
  try {
    const end = Date.now() + 20_000;
    while (!mqtt.connected && Date.now() < end) await sleep(20);
    await sink.phase("ready");
    const start = performance.timeOrigin + performance.now();
    for (let i = 0; i < LEG_EVENTS; i++) {
      tap.publish(TOPICS[i % DEVICES], reading(i, 0));
      if (i % 256 === 255) await sleep(0);
    }
    const done = await sink.phaseWithin("throughput", 120_000);
    await sleep(500);
    await atRate(LATENCY_RATE, LEG_LATENCY_EVENTS, (i) => {
      tap.publish(
        TOPICS[i % DEVICES],
        reading(i, performance.timeOrigin + performance.now()),
      );
    });
    let r = await sink.phaseWithin("latency", 20_000);
    if (r === undefined) {
      await sink.tell("report");
      r = await sink.phase("report");
    }
    return {
      eventsPerSecond: done ? LEG_EVENTS / ((done.at - start) / 1000) : NaN,
      p50: r.p50,
      p99: r.p99,
      latencyReceived: r.latencyReceived,
    };
  } finally {
    await sink.close();
    await mqtt.close();
    await node.shutdown();
    await broker.close();
  }
}

const f = (n: number) => Number.isFinite(n) ? n.toFixed(2) : "n/a";
const r = (n: number) =>
  Number.isFinite(n) ? Math.round(n).toLocaleString("en") : "n/a";

/** Run the figures and print them. */
export async function bench(): Promise<void> {
  const leg = await mqttLegAlone();
  console.log(
    `the MQTT leg alone (readings handed to the MQTT bridge → mosquitto → ` +
      `an MQTT subscriber in another process): ${r(leg.eventsPerSecond)} ` +
      `events/s (${LEG_EVENTS} events); at 1,000 a second p50 ` +
      `${f(leg.p50)} ms p99 ${f(leg.p99)} ms (${leg.latencyReceived})`,
  );
  const both = await run(true);
  const alone = await run(false);
  const m = both.mqtt!;
  console.log(
    `sensor events/s, ${DEVICES} devices, QoS 1, window ${WINDOW} ` +
      `(${THROUGHPUT_EVENTS} events; both subscribers in the same run): ` +
      `gateway→MQTT subscriber ${r(m.eventsPerSecond)}, ` +
      `gateway→mesh subscriber ${r(both.mesh.eventsPerSecond)}, ` +
      `ratio MQTT/mesh ${
        (m.eventsPerSecond / both.mesh.eventsPerSecond)
          .toFixed(2)
      }`,
  );
  console.log(
    `latency at ${LATENCY_RATE} events/s (device → subscriber): ` +
      `MQTT p50 ${f(m.p50)} ms p99 ${f(m.p99)} ms (${m.latencyReceived}); ` +
      `mesh p50 ${f(both.mesh.p50)} ms p99 ${f(both.mesh.p99)} ms ` +
      `(${both.mesh.latencyReceived}); the MQTT leg adds ` +
      `${f(m.p50 - both.mesh.p50)} ms at p50 over the mesh leg ` +
      `(p99 ratio MQTT/mesh ${(m.p99 / both.mesh.p99).toFixed(2)})`,
  );
  console.log(
    `the mesh leg without the MQTT bridge on the gateway: ` +
      `${r(alone.mesh.eventsPerSecond)} events/s, p50 ${
        f(alone.mesh.p50)
      } ms ` +
      `p99 ${f(alone.mesh.p99)} ms (${alone.mesh.latencyReceived}); ` +
      `difference at p50 with it: ${f(both.mesh.p50 - alone.mesh.p50)} ms`,
  );
}

if (import.meta.main) {
  await bench();
  Deno.exit(0);
}
