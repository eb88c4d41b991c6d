/**
 * Diagnostic (not part of `deno task bench`): the gateway path of
 * bench/bridge.ts with a timeline. Prints p50/p99, every event slower than
 * 4 ms as `<ms since the first timed event>:<latency>`, and the main
 * process's event-loop lags over 3 ms, so that periodic stalls (a 100 ms
 * context flush, a 1 s heartbeat) would show as a period.
 *
 * `deno run -P=node --allow-run bench/_bridge_probe.ts`; env: EVENTS
 * (throughput events first, default 2000), NOCTX=1 (no context writes),
 * NOMON=1 (no lag monitor). Add `--cpu-prof` for a profile of both nodes.
 *
 * @module
 */
import type { AviEvent } from "../core/events.ts";
import { EmbeddedBridge } from "../bridge/mod.ts";
import { AviP2p } from "../mesh/mod.ts";

const td = new TextDecoder();
const DEVICES = 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const absNow = () => performance.timeOrigin + performance.now();
function keyOf(id: number, seed = 0): Uint8Array {
  const k = new Uint8Array(32);
  const v = new DataView(k.buffer);
  v.setUint32(0, id);
  v.setUint32(4, seed);
  k[31] = 0xa5;
  return k;
}
const gw = await AviP2p.start({
  nodeName: "gw",
  listenHost: "127.0.0.1",
  dataDir: null,
  enableMdns: false,
  onWarning: () => {},
});
const sub = await AviP2p.start({
  nodeName: "sub",
  listenHost: "127.0.0.1",
  dataDir: null,
  enableMdns: false,
  bootstrapPeers: [gw.listenAddresses[0]],
  eventQueueSize: 65536,
  onWarning: () => {},
});
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
  ...(Deno.env.get("NOCTX") ? { contextFlushMs: 1e9 } : {}),
});
const rows: [number, number][] = [];
let received = 0;
const ev = sub.events();
const loop = (async () => {
  for await (const e of ev as AsyncIterable<AviEvent>) {
    if (e.type !== "message") continue;
    const now = absNow();
    const x = JSON.parse(td.decode(e.data));
    const t = x.data?.custom?.t ?? 0;
    if (t > 0) rows.push([t, now - t]);
    else received++;
  }
})();
// event-loop lag monitor in the main process
const lags: [number, number][] = [];
let last = performance.now();
const mon = Deno.env.get("NOMON") ? 0 : setInterval(() => {
  const n = performance.now();
  if (n - last > 3) lags.push([absNow(), n - last]);
  last = n;
}, 1);
const topics = Array.from(
  { length: DEVICES },
  (_, i) => `device/${i + 1}/sensor/temp`,
);
for (const t of topics) await sub.handle().subscribe(t);
for (const t of topics) {
  while (!(await gw.handle().topicPeers(t)).includes(sub.peerId)) {
    await sleep(20);
  }
}
const events = Number(Deno.env.get("EVENTS") ?? 2000);
const child = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "-P=node",
    `--config=${new URL("../deno.json", import.meta.url).pathname}`,
    new URL("./_bridge_fleet.ts", import.meta.url).pathname,
    JSON.stringify({
      mode: "udp",
      port: bridge.port,
      devices: DEVICES,
      keySeed: 1,
      events,
      window: 16,
      rate: 1000,
      seconds: 4,
    }),
  ],
  stdin: "piped",
  stdout: "piped",
  stderr: "inherit",
}).spawn();
const out = (async () => {
  let s = "";
  for await (const c of child.stdout.pipeThrough(new TextDecoderStream())) {
    s += c;
  }
  return s;
})();
while (rows.length < 4000) await sleep(50);
console.log("received", received);
const t0Throughput = Date.now();
await child.stdin.close();
await child.status;
console.log((await out).trim());
if (mon) clearInterval(mon);
const start = rows[0][0];
const lat = rows.map((r) => r[1]).sort((a, b) => a - b);
console.log(
  "p50",
  lat[2000].toFixed(2),
  "p99",
  lat[3960].toFixed(2),
  "max",
  lat[3999].toFixed(2),
  t0Throughput > 0 ? "" : "",
);
const slow = rows.filter((r) => r[1] > 4);
console.log("slow (>4ms):", slow.length);
console.log(
  slow.map((r) => `${(r[0] - start).toFixed(0)}:${r[1].toFixed(1)}`).join(" "),
);
console.log(
  "loop lags >3ms in window:",
  lags.filter(([t]) => t > start).map(([t, l]) =>
    `${(t - start).toFixed(0)}:${l.toFixed(1)}`
  ).join(" "),
);
console.log("mesh stats", JSON.stringify(bridge.stats()));
await bridge.close();
await ev.return?.();
await loop;
await sub.shutdown();
await gw.shutdown();
