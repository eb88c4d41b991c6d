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
 * 239.255.97.118:8888, or --discovery <address>). Flags (`--help` lists
 * them with their defaults): --interval <seconds> (default 5), --topic
 * <filter> (default "home/#"), --count <n> (readings to send, then exit;
 * default forever). A bad flag or a missing permission flag prints one line
 * (exit status 2).
 *
 * @module
 */

import {
  numberFlag,
  parseFlags,
  portFlag,
  program,
  requirePermissions,
  usageError,
} from "./_args.ts";

const PROGRAM = program({
  name: "simulated_mcu.ts",
  summary: "a fake ESP32: connects to a gateway, presses, reports, subscribes",
  usage: [
    "deno run --allow-net --unstable-net examples/simulated_mcu.ts --key HEX [--host H] [--port P] [--device-id N]",
  ],
  flags: {
    host: {
      type: "string",
      arg: "IP",
      shown: "none, search with SearchGw",
      help: "the gateway's address",
    },
    port: {
      type: "string",
      arg: "PORT",
      default: "8888",
      help: "the gateway's UDP port",
    },
    discovery: {
      type: "string",
      arg: "IP",
      default: "239.255.97.118",
      help: "where to send SearchGw without --host",
    },
    "device-id": {
      type: "string",
      arg: "N",
      default: "42",
      help: "this device's id",
    },
    key: {
      type: "string",
      arg: "HEX",
      help: "the device key: 64 hex characters, 32 bytes (required)",
    },
    interval: {
      type: "string",
      arg: "SECONDS",
      default: "5",
      help: "time between temperature readings",
    },
    topic: {
      type: "string",
      arg: "FILTER",
      default: "home/#",
      help: "the topic filter to subscribe to",
    },
    count: {
      type: "string",
      arg: "N",
      shown: "forever",
      help: "readings to send, then exit",
    },
  },
  notes:
    `Permissions: --allow-net; --unstable-net (Deno.listenDatagram). Ctrl-C stops it.`,
});

const values = parseFlags(PROGRAM);
if (values.key === undefined) usageError(PROGRAM, "--key <hex> is required");
if (!/^[0-9a-fA-F]{64}$/.test(values.key)) {
  usageError(PROGRAM, "--key must be 64 hex characters (32 bytes)");
}
const port = portFlag(PROGRAM, "port", values.port);
const deviceId = numberFlag(PROGRAM, "device-id", values["device-id"], {
  integer: true,
  min: 0,
});
const intervalMs = numberFlag(PROGRAM, "interval", values.interval, {
  min: 0,
}) * 1000;
const count = numberFlag(PROGRAM, "count", values.count, {
  integer: true,
  min: 0,
}) ?? Infinity;
requirePermissions(PROGRAM, [{ name: "net" }, "unstable-net"]);

const { AviEmbedded, createDenoUdpSocket, denoCrypto } = await import(
  "../embedded/mod.ts"
);

function hexKey(s: string): Uint8Array {
  const k = new Uint8Array(32);
  for (let i = 0; i < 32; i++) k[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return k;
}

const socket = await createDenoUdpSocket();
const decoder = new TextDecoder();
const avi = new AviEmbedded(socket, {
  deviceId,
  key: hexKey(values.key),
  crypto: denoCrypto(),
  gateway: values.host ? { address: values.host, port } : undefined,
  discovery: { address: values.discovery, port },
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
await avi.subscribe(values.topic);
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
