/**
 * A fake ESP32 on your PC: it connects to a gateway with the device
 * protocol, presses a button, reports a temperature every few seconds,
 * subscribes to a topic and prints what arrives.
 *
 * Run (beside a gateway, e.g. examples/gateway.ts):
 *
 *   deno run --allow-net --unstable-net examples/simulated_mcu.ts \
 *     --host 127.0.0.1 --port 8888 --device-id 42 --key <64 hex chars>
 *
 * Without --host it looks for a gateway with SearchGw (multicast
 * 239.255.97.118:8888, or --discovery <address>). Flags: --interval
 * <seconds> (default 5), --topic <filter> (default "home/#"), --count <n>
 * (readings to send, then exit; default forever).
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  AviEmbedded,
  createDenoUdpSocket,
  denoCrypto,
} from "../embedded/mod.ts";

function hexKey(s: string): Uint8Array {
  if (!/^[0-9a-fA-F]{64}$/.test(s)) {
    throw new TypeError("--key must be 64 hex characters (32 bytes)");
  }
  const k = new Uint8Array(32);
  for (let i = 0; i < 32; i++) k[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return k;
}

const { values } = parseArgs({
  args: Deno.args,
  options: {
    host: { type: "string" },
    port: { type: "string", default: "8888" },
    discovery: { type: "string", default: "239.255.97.118" },
    "device-id": { type: "string", default: "42" },
    key: { type: "string" },
    interval: { type: "string", default: "5" },
    topic: { type: "string", default: "home/#" },
    count: { type: "string" },
  },
});

if (!values.key) {
  console.error(
    "usage: simulated_mcu.ts --key <64 hex chars> [--host H] [--port P] [--device-id N]",
  );
  Deno.exit(2);
}
const port = Number(values.port);
const deviceId = Number(values["device-id"]);
const intervalMs = Number(values.interval) * 1000;
const count = values.count === undefined ? Infinity : Number(values.count);

const socket = await createDenoUdpSocket();
const decoder = new TextDecoder();
const avi = new AviEmbedded(socket, {
  deviceId,
  key: hexKey(values.key),
  crypto: denoCrypto(),
  gateway: values.host ? { address: values.host, port } : undefined,
  discovery: { address: values.discovery!, port },
  onStateChange: (s) => console.log(`[mcu ${deviceId}] state: ${s}`),
  onError: (code, detail) =>
    console.log(`[mcu ${deviceId}] gateway error ${code}: ${detail}`),
}, (topic, data) => {
  console.log(`[mcu ${deviceId}] ${topic}: ${decoder.decode(data)}`);
});

const stop = async () => {
  await avi.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", stop);

await avi.connect();
console.log(
  `[mcu ${deviceId}] connected to ${avi.gateway!.address}:${avi.gateway!.port}`,
);
await avi.subscribe(values.topic!);
console.log(`[mcu ${deviceId}] subscribed to ${values.topic}`);
await avi.buttonPressed(1, "single");
console.log(`[mcu ${deviceId}] button 1 pressed (single)`);

let sent = 0;
let temperature = 21;
while (sent < count) {
  temperature += (Math.random() - 0.5) * 0.4;
  const value = Math.round(temperature * 10) / 10;
  try {
    await avi.updateSensor("temperature", { kind: "temperature", value });
    console.log(`[mcu ${deviceId}] temperature ${value} °C acknowledged`);
  } catch (e) {
    console.log(
      `[mcu ${deviceId}] temperature not sent: ${(e as Error).message}`,
    );
  }
  sent++;
  if (sent < count) await new Promise((r) => setTimeout(r, intervalMs));
}
Deno.removeSignalListener("SIGINT", stop);
await avi.close();
