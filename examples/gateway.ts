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
 * Flags (`--help` lists them with their defaults): `--keys <file>`
 * (required); `--port <udp port>` (default 8888); `--host <address>` to bind
 * for devices (default 0.0.0.0); `--mesh-port <tcp port>` (default 0: any);
 * `--bootstrap <multiaddr>` (repeatable); `--topic <topic>` (repeatable)
 * topics to carry for devices' wildcard subscriptions; `--name <node name>`
 * (default "gateway"); `--no-mdns`; `--data-dir <dir>` to keep the mesh peer
 * id across restarts (then add `--allow-read`/`--allow-write` on it). A bad
 * flag or a missing permission flag prints one line (exit status 2).
 *
 * @module
 */

import {
  parseFlags,
  portFlag,
  program,
  requirePermissions,
  startFailed,
  usageError,
} from "./_args.ts";

const PROGRAM = program({
  name: "gateway.ts",
  summary: "a mesh node with the UDP bridge for microcontrollers",
  usage: [
    "deno run -P=gateway examples/gateway.ts --keys devices.json [flags]",
    "deno run --allow-net --allow-env --allow-sys=networkInterfaces --allow-read=devices.json --unstable-net examples/gateway.ts --keys devices.json [flags]",
  ],
  permissionSet: "gateway",
  flags: {
    keys: {
      type: "string",
      arg: "FILE",
      help: "the device key file, JSON: device id -> 64 hex (required)",
    },
    port: {
      type: "string",
      arg: "PORT",
      default: "8888",
      help: "UDP port for devices",
    },
    host: {
      type: "string",
      arg: "IP",
      default: "0.0.0.0",
      help: "address to bind for devices",
    },
    "mesh-port": {
      type: "string",
      arg: "PORT",
      default: "0",
      help: "TCP port of the mesh node, 0 for any",
    },
    bootstrap: {
      type: "string",
      arg: "MULTIADDR",
      multiple: true,
      help: "a mesh peer to dial at start",
    },
    topic: {
      type: "string",
      arg: "TOPIC",
      multiple: true,
      help: "a topic to carry for devices' wildcard subscriptions",
    },
    name: {
      type: "string",
      arg: "NAME",
      default: "gateway",
      help: "mesh node name",
    },
    "no-mdns": { type: "boolean", help: "no mDNS discovery" },
    "data-dir": {
      type: "string",
      arg: "DIR",
      shown: "none, a new peer id each run",
      help: "keep the mesh peer id there across restarts",
    },
  },
  notes: `Permissions: --allow-net; --allow-env (js-libp2p reads the environment
as it is imported); --allow-sys=networkInterfaces; --allow-read on the key
file; --unstable-net (Deno.listenDatagram); --allow-read and --allow-write
on --data-dir when one is given.`,
});

const values = parseFlags(PROGRAM);
if (!values.keys) usageError(PROGRAM, "--keys <file> is required");
const keys = values.keys;
const udpPort = portFlag(PROGRAM, "port", values.port);
const meshPort = portFlag(PROGRAM, "mesh-port", values["mesh-port"]);
requirePermissions(PROGRAM, [
  { name: "env" },
  { name: "net" },
  { name: "sys", kind: "networkInterfaces" },
  { name: "read", path: keys },
  "unstable-net",
]);

// The library, once the permissions are known to be there (js-libp2p reads
// the environment as it is imported).
const { AviP2p } = await import("../mod.ts");
const { EmbeddedBridge, loadDeviceKeys } = await import("../bridge/mod.ts");

const devices = await loadDeviceKeys(keys).catch((e) =>
  startFailed(PROGRAM, e)
);
const node = await AviP2p.start({
  nodeName: values.name,
  listenPort: meshPort,
  bootstrapPeers: values.bootstrap,
  enableMdns: !values["no-mdns"],
  dataDir: values["data-dir"] ?? null,
}).catch((e) => startFailed(PROGRAM, e));
const bridge = await EmbeddedBridge.start(node.handle(), {
  udpPort,
  hostname: values.host,
  devices,
  meshTopics: values.topic,
}).catch(async (e) => {
  await node.shutdown();
  return startFailed(PROGRAM, e);
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
