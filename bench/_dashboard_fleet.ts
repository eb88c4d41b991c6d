/**
 * Simulated devices in their own process, for bench/dashboard.ts: `devices`
 * protocol devices (RawDevice, native crypto) connect to a gateway, then
 * send events at `rate` a second in all, round robin: each device's every
 * tenth event is a button press, the others sensor readings (QoS 1). A
 * device with 8 events unacknowledged skips its turn (counted), so a slow
 * gateway is not flooded with retransmissions.
 *
 * Args (JSON in argv[0]): `{port, devices, keySeed, rate, total?}`; it stops
 * after `total` events, or when stdin closes. Output: one JSON line when
 * ready, then four a second `{t, sent, acked, skipped}`, then `{done}`.
 *
 * @module
 */

import { RawDevice } from "../tests/support/bridge_device.ts";
import { nodeProtocolCrypto } from "../bridge/_node_crypto.ts";
import { keyOf } from "./_keys.ts";

interface Job {
  port: number;
  devices: number;
  keySeed: number;
  rate: number;
  total?: number;
}

const job = JSON.parse(Deno.args[0]) as Job;
const out = (o: unknown) => console.log(JSON.stringify(o));
/** Events a device keeps unacknowledged (a device's small window). */
const MAX_PENDING = 8;
const devs = Array.from(
  { length: job.devices },
  (_, i) =>
    new RawDevice({
      deviceId: i + 1,
      key: keyOf(i + 1, job.keySeed),
      gatewayPort: job.port,
      rtoMs: 2000,
      bundle: true,
      crypto: nodeProtocolCrypto(),
    }),
);
for (let i = 0; i < devs.length; i += 50) {
  await Promise.all(devs.slice(i, i + 50).map((d) => d.connect()));
}
out({ phase: "ready" });

let stop = false;
(async () => {
  for await (const _ of Deno.stdin.readable) { /* until closed */ }
  stop = true;
})();

let sent = 0, acked = 0, skipped = 0;
const pending = new Array(devs.length).fill(0);
const counts = new Array(devs.length).fill(0);
const start = performance.now();
let lastReport = start;
const total = job.total ?? Infinity;
let i = 0;
while (!stop && sent < total) {
  const due = Math.floor(((performance.now() - start) / 1000) * job.rate);
  while (i < due && sent < total) {
    const d = i++ % devs.length;
    if (pending[d] >= MAX_PENDING) {
      skipped++;
      continue;
    }
    const n = counts[d]++;
    pending[d]++;
    sent++;
    const p = n % 10 === 9
      ? devs[d].request((msgId) => ({
        type: "buttonPress",
        msgId,
        buttonId: 1,
        pressType: "single",
        customData: null,
      }))
      : devs[d].request((msgId) => ({
        type: "sensorUpdate",
        msgId,
        name: "temp",
        value: { kind: "temperature", value: 18 + (n % 50) / 10 },
        customData: null,
      }));
    p.then(() => {
      pending[d]--;
      acked++;
    });
  }
  const now = performance.now();
  if (now - lastReport >= 250) {
    lastReport = now;
    // RawDevice keeps what it received, for tests: not for a million events.
    for (const d of devs) {
      d.received.length = 0;
      d.inbox.length = 0;
      d.rejects.length = 0;
    }
    const m = Deno.memoryUsage();
    out({
      t: Math.round(now - start),
      sent,
      acked,
      skipped,
      heapMiB: Math.round(m.heapUsed / 2 ** 20),
      rssMiB: Math.round(m.rss / 2 ** 20),
    });
  }
  await new Promise((r) => setTimeout(r, 2));
}
const end = Date.now() + 5000;
while (acked < sent && Date.now() < end) {
  await new Promise((r) => setTimeout(r, 20));
}
out({
  done: true,
  t: Math.round(performance.now() - start),
  sent,
  acked,
  skipped,
});
await Promise.all(devs.map((d) => d.close()));
Deno.exit(0);
