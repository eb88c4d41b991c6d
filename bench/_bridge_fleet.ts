/**
 * A fleet of simulated devices in its own process, for bench/bridge.ts:
 * devices are separate hardware in real life, so their work should not
 * share the gateway's thread. The same fleet drives either path:
 *
 * - `udp`: RawDevice clients speaking the device protocol to a gateway;
 * - `mqtt`: `mqtt` clients (TCP no-delay) publishing to a broker;
 * - `hold`: connect N protocol devices, subscribe each, and stay connected.
 *
 * Args (JSON in argv[0]): see `FleetJob`. Output: one JSON line per phase on
 * stdout. Timestamps are absolute (`performance.timeOrigin + now()`), so the
 * subscriber in the parent process can compute latency.
 *
 * @module
 */

import process from "node:process";
import type mqtt from "mqtt";
import { RawDevice } from "../tests/support/bridge_device.ts";
import { nodeProtocolCrypto } from "../bridge/_node_crypto.ts";
import { mqttClient } from "./_bridge_mqtt.ts";
import { atRate } from "./_pace.ts";
import { keyOf } from "./_keys.ts";

interface FleetJob {
  mode: "udp" | "mqtt" | "hold";
  port: number;
  devices: number;
  firstId?: number;
  keySeed: number;
  events: number;
  window: number;
  rate: number;
  seconds: number;
  topic?: string;
}

const job = JSON.parse(Deno.args[0]) as FleetJob;
const te = new TextEncoder();
const now = () => performance.timeOrigin + performance.now();
const out = (o: unknown) => console.log(JSON.stringify(o));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Send = (device: number, value: number, t: number) => Promise<unknown>;

async function run(send: Send, devices: number): Promise<void> {
  // Throughput: every device keeps `window` events in flight.
  const per = Math.ceil(job.events / devices);
  const t0 = now();
  const cpu0 = process.cpuUsage();
  out({ phase: "throughput", start: t0 });
  await Promise.all(Array.from({ length: devices }, async (_, d) => {
    let n = 0;
    const worker = async () => {
      while (n < per) {
        n++;
        await send(d, 20 + (n % 10) / 10, 0);
      }
    };
    await Promise.all(Array.from({ length: job.window }, worker));
  }));
  const cpu1 = process.cpuUsage(cpu0);
  out({
    phase: "throughputSent",
    ms: now() - t0,
    // µs of CPU (user + system) this process spent on the whole phase
    cpuUs: cpu1.user + cpu1.system,
  });
  await sleep(500);
  // Latency: a fixed rate, round robin over the devices.
  const total = job.rate * job.seconds;
  out({ phase: "latency", events: total });
  await atRate(job.rate, total, (i) => send(i % devices, 21, now()));
  out({ phase: "latencySent" });
}

if (job.mode === "udp" || job.mode === "hold") {
  const first = job.firstId ?? 1;
  const devs = Array.from(
    { length: job.devices },
    (_, i) =>
      new RawDevice({
        deviceId: first + i,
        key: keyOf(first + i, job.keySeed),
        gatewayPort: job.port,
        rtoMs: 1000,
        // As the device client does: what is due at once leaves in one frame.
        bundle: true,
        // Devices are other hardware: their crypto should cost this
        // machine's cores as little as it can.
        crypto: nodeProtocolCrypto(),
      }),
  );
  for (let i = 0; i < devs.length; i += 100) {
    await Promise.all(devs.slice(i, i + 100).map((d) => d.connect()));
  }
  if (job.topic) await Promise.all(devs.map((d) => d.subscribe(job.topic!)));
  out({ phase: "ready" });
  if (job.mode === "hold") {
    // Stay until the parent closes stdin.
    for await (const _ of Deno.stdin.readable) { /* wait */ }
  } else {
    await run(
      (d, value, t) =>
        devs[d].request((msgId) => ({
          type: "sensorUpdate",
          msgId,
          name: "temp",
          value: { kind: "temperature", value },
          customData: te.encode(`{"t":${t}}`),
        })),
      devs.length,
    );
    await sleep(500);
  }
  await Promise.all(devs.map((d) => d.close()));
} else {
  const clients: mqtt.MqttClient[] = [];
  for (let i = 0; i < job.devices; i++) {
    clients.push(await mqttClient(job.port, `fleet-${i}`));
  }
  out({ phase: "ready" });
  await run(
    (d, value, t) =>
      clients[d].publishAsync(
        `device/${d + 1}/sensor/temp`,
        JSON.stringify({
          name: "temp",
          data: { value, unit: "C", custom: { t } },
          ts: Date.now(),
        }),
        { qos: 1 },
      ),
    clients.length,
  );
  await sleep(500);
  await Promise.all(clients.map((c) => c.endAsync(true)));
}
out({ phase: "exit" });
Deno.exit(0);
