/**
 * A gateway: a mesh node with the embedded bridge, so that microcontrollers
 * speaking the device protocol (docs/PROTOCOL.md) join the mesh. It prints
 * devices as they come and go.
 *
 * ```sh
 * deno run --allow-net --allow-env --allow-sys=networkInterfaces \
 *   --allow-read=devices.json --unstable-net \
 *   examples/gateway.ts --keys devices.json --port 8888
 * ```
 *
 * Permissions: `--allow-net` (UDP for devices, TCP and mDNS for the mesh),
 * `--allow-env` (js-libp2p's logger reads the environment at import),
 * `--allow-sys=networkInterfaces` (mDNS and listen addresses),
 * `--allow-read` on the key file, and `--unstable-net` for
 * `Deno.listenDatagram` (deno.json already lists it under "unstable", so
 * inside this project `deno run -P=node examples/gateway.ts ...` works too).
 *
 * The key file is JSON: device id (decimal) → 64 hex characters, or
 * `{ "key": "<hex>", "publish": [...], "subscribe": [...] }`:
 *
 * ```json
 * { "42": "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff" }
 * ```
 *
 * Flags: `--keys <file>` (required); `--port <udp port>` (default 8888);
 * `--host <address>` to bind for devices (default 0.0.0.0); `--mesh-port
 * <tcp port>` (default 0: any); `--bootstrap <multiaddr>` (repeatable);
 * `--topic <topic>` (repeatable) topics to carry for devices' wildcard
 * subscriptions; `--name <node name>` (default "gateway"); `--no-mdns`;
 * `--data-dir <dir>` to keep the mesh peer id across restarts (then add
 * `--allow-read`/`--allow-write` on it).
 *
 * @module
 */

import { parseArgs } from "node:util";
import { AviP2p } from "../mod.ts";
import { EmbeddedBridge, loadDeviceKeys } from "../bridge/mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    keys: { type: "string" },
    port: { type: "string", default: "8888" },
    host: { type: "string", default: "0.0.0.0" },
    "mesh-port": { type: "string", default: "0" },
    bootstrap: { type: "string", multiple: true, default: [] },
    topic: { type: "string", multiple: true, default: [] },
    name: { type: "string", default: "gateway" },
    "no-mdns": { type: "boolean", default: false },
    "data-dir": { type: "string" },
  },
});

if (!values.keys) {
  console.error(
    "usage: examples/gateway.ts --keys <devices.json> [--port 8888] [--topic t]...",
  );
  Deno.exit(2);
}

const devices = await loadDeviceKeys(values.keys);
const node = await AviP2p.start({
  nodeName: values.name,
  listenPort: Number(values["mesh-port"]),
  bootstrapPeers: values.bootstrap,
  enableMdns: !values["no-mdns"],
  dataDir: values["data-dir"] ?? null,
});
const bridge = await EmbeddedBridge.start(node.handle(), {
  udpPort: Number(values.port),
  hostname: values.host,
  devices,
  meshTopics: values.topic,
});
console.log(`mesh node ${node.peerId}`);
for (const a of node.listenAddresses) console.log(`  listening on ${a}`);
console.log(
  `gateway on udp ${values.host}:${bridge.port} for ${
    Object.keys(devices).length
  } device(s)`,
);

const stop = async () => {
  console.log("stopping");
  await bridge.close();
  await node.shutdown();
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", stop);
if (Deno.build.os !== "windows") Deno.addSignalListener("SIGTERM", stop);

for await (const ev of bridge.events()) {
  const time = new Date().toISOString().slice(11, 19);
  switch (ev.type) {
    case "deviceConnected":
      console.log(`${time} + device ${ev.deviceId} from ${ev.address}`);
      break;
    case "deviceGone":
      console.log(`${time} - device ${ev.deviceId} (${ev.reason})`);
      break;
    case "deviceSleeping":
      console.log(`${time} z device ${ev.deviceId} sleeps ${ev.seconds} s`);
      break;
    case "deviceAwake":
      console.log(
        `${time} ^ device ${ev.deviceId} woke, ${ev.delivered} queued message(s) sent`,
      );
      break;
    case "lagged":
      console.log(`${time} (${ev.dropped} events skipped)`);
      break;
  }
}
