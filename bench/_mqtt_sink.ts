/**
 * The MQTT subscriber of bench/mqtt.ts in its own process (Home Assistant,
 * or a `mosquitto_sub`, is another program in real life): an `mqtt` client
 * (TCP no-delay) subscribed to the gateway's sensor state topics. It counts
 * and times readings as bench/_bridge_sink.ts does (a reading with
 * `data.custom.t` > 0 is timed), with the same phase lines on stdout:
 * `ready`, `throughput`, `latency`; `report` on stdin asks for the counts.
 *
 * Args (JSON in argv[0]): `{port, topic, throughputEvents, latencyEvents}`.
 *
 * @module
 */

import { mqttClient } from "./_bridge_mqtt.ts";

interface SinkJob {
  port: number;
  topic: string;
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
const lat: number[] = [];
const summary = () => ({
  received,
  latencyReceived: lat.length,
  p50: pct(lat, 50),
  p99: pct(lat, 99),
});

const c = await mqttClient(job.port, `bench-mqtt-sink-${Deno.pid}`);
c.on("message", (_t, payload) => {
  const now = absNow();
  const t = JSON.parse(td.decode(payload)).data?.custom?.t ?? 0;
  if (t > 0) {
    lat.push(now - t);
    if (lat.length === job.latencyEvents) {
      out({ phase: "latency", ...summary() });
    }
  } else if (++received === job.throughputEvents) {
    out({ phase: "throughput", at: now });
  }
});
await c.subscribeAsync(job.topic, { qos: 0 });
out({ phase: "ready" });

let buf = "";
for await (
  const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())
) {
  buf += chunk;
  let i;
  while ((i = buf.indexOf("\n")) >= 0) {
    if (buf.slice(0, i) === "report") out({ phase: "report", ...summary() });
    buf = buf.slice(i + 1);
  }
}
await c.endAsync(true);
Deno.exit(0);
