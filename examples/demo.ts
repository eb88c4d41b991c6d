/**
 * The local demo mesh: three nodes, one of them a gateway with the UDP
 * bridge, and a simulated ESP32 speaking the device protocol, all on
 * 127.0.0.1 in one process. It shows, in order: discovery over mDNS, pub/sub
 * both ways between the device and the mesh, button and sensor events, the
 * shared context converging, and a real-time audio stream between two nodes.
 * It stops by itself (about 15 s) and exits 0 when every step worked.
 *
 * Run: `deno task demo` (permissions: see the README, or `--help`). Flag:
 * `--udp-port N` (the bridge's UDP port, default 0: any). A bad flag or a
 * missing permission flag prints one line (exit status 2).
 *
 * @module
 */

import type { AviEvent, AviP2pHandle, JsonValue, PeerId } from "../mod.ts";
import { parseFlags, portFlag, program, requirePermissions } from "./_args.ts";

const PROGRAM = program({
  name: "demo.ts",
  summary:
    "the local demo mesh: three nodes, a gateway and a simulated ESP32 on 127.0.0.1",
  usage: [
    "deno task demo",
    "deno run -P=node examples/demo.ts [--udp-port N]",
    "deno run --allow-net --allow-env --allow-sys=networkInterfaces --unstable-net examples/demo.ts [flags]",
  ],
  permissionSet: "node",
  flags: {
    "udp-port": {
      type: "string",
      arg: "N",
      default: "0",
      help: "the bridge's UDP port, 0 for any",
    },
  },
  notes: `Permissions: --allow-net; --allow-env (js-libp2p reads the environment
as it is imported); --allow-sys=networkInterfaces (mDNS); --unstable-net
(Deno.listenDatagram). It stops by itself and exits 0 when every step worked.`,
});

const values = parseFlags(PROGRAM);
const udpPort = portFlag(PROGRAM, "udp-port", values["udp-port"]);
requirePermissions(PROGRAM, [
  { name: "env" },
  { name: "net" },
  { name: "sys", kind: "networkInterfaces" },
  "unstable-net",
]);

// The library, once the permissions are known to be there (js-libp2p reads
// the environment as it is imported).
const { AviP2p } = await import("../mod.ts");
const { EmbeddedBridge } = await import("../bridge/mod.ts");
const { AviEmbedded, createDenoUdpSocket, denoCrypto } = await import(
  "../embedded/mod.ts"
);
type EmbeddedBridge = Awaited<ReturnType<typeof EmbeddedBridge.start>>;
type AviEmbedded = InstanceType<typeof AviEmbedded>;

const text = new TextDecoder();
const bytes = (s: string) => new TextEncoder().encode(s);
const log = (who: string, what: string) =>
  console.log(`${who.padEnd(16)} ${what}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `check` holds, polling, or fails with `what` after `ms`. */
async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  ms = 15_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`demo step timed out: ${what}`);
    await sleep(50);
  }
}

/** Prints one node's interesting events as they come. */
async function watch(name: string, events: AsyncIterable<AviEvent>) {
  for await (const ev of events) {
    switch (ev.type) {
      case "peerConnected":
        log(name, `connected to ${ev.peerId.slice(-8)}`);
        break;
      case "message":
        log(name, `message on ${ev.topic}: ${text.decode(ev.data)}`);
        break;
      case "contextUpdated":
        log(
          name,
          `context changed by ${ev.peerId.slice(-8)}: ${
            ev.changedPaths.join(", ")
          }`,
        );
        break;
      case "streamRequested":
        log(name, `stream requested (${ev.reason}, ${ev.mode})`);
        break;
      case "streamClosed":
        log(name, `stream closed (${ev.reason})`);
        break;
    }
  }
}

// Every run gets its own discovery tag, so two demos on one LAN stay apart.
const discoveryTag = `avi-demo-${crypto.randomUUID().slice(0, 8)}`;
const common = {
  listenHost: "127.0.0.1",
  discoveryTag,
  dataDir: null,
  enableKad: false,
  mdnsIntervalMs: 500,
};

console.log(
  "Starting three nodes on 127.0.0.1 (mDNS tag " + discoveryTag + ")",
);
const gateway = await AviP2p.start({ ...common, nodeName: "gateway" });
const kitchen = await AviP2p.start({ ...common, nodeName: "kitchen-speaker" });
const living = await AviP2p.start({ ...common, nodeName: "living-room" });
const nodes = [gateway, kitchen, living];
for (const n of nodes) {
  log(n.nodeName, `peer id ${n.peerId}`);
  watch(n.nodeName, n.events());
}

let exitCode = 0;
let device: AviEmbedded | undefined;
let bridge: EmbeddedBridge | undefined;
try {
  await until(
    "every node sees the two others",
    async () => {
      for (const n of nodes) {
        if ((await n.handle().connectedPeers()).length < 2) return false;
      }
      return true;
    },
  );
  console.log(
    "\n1. Mesh formed by mDNS: every node is connected to the others.",
  );

  // The gateway and a simulated ESP32 with its 32-byte pre-shared key.
  const key = crypto.getRandomValues(new Uint8Array(32));
  bridge = await EmbeddedBridge.start(gateway.handle(), {
    udpPort,
    hostname: "127.0.0.1",
    devices: { "42": key },
    meshTopics: ["home/lights"],
  });
  log("gateway", `UDP bridge on 127.0.0.1:${bridge.port}`);
  const received: string[] = [];
  device = new AviEmbedded(
    await createDenoUdpSocket(),
    {
      deviceId: 42,
      key,
      crypto: denoCrypto(),
      gateway: { address: "127.0.0.1", port: bridge.port },
    },
    (topic, data) => {
      received.push(text.decode(data));
      log("esp32 #42", `got ${topic}: ${text.decode(data)}`);
    },
  );
  await device.connect();
  await device.subscribe("home/lights");
  log("esp32 #42", "connected (handshake done) and subscribed to home/lights");

  const living_ = living.handle();
  await living_.subscribe("device/42/button");
  await living_.subscribe("device/42/sensor/temperature");
  await until(
    "the living room reaches the gateway on the device topics",
    async () => (await living_.publish("home/lights", bytes("warm white"))) > 0,
  );
  await until("the device receives home/lights", () => received.length > 0);
  console.log("\n2. Mesh → device: living-room published home/lights.");

  await device.buttonPressed(1, "double");
  await device.updateSensor("temperature", {
    kind: "temperature",
    value: 21.5,
  });
  await device.publish("device/42/status", bytes("ok"), { qos: 1 });
  await until(
    "the sensor value reaches the living room's context",
    async () =>
      (await living_.getContext("avi.sensors.42.temperature")) !== undefined,
  );
  const reading = await living_.getContext("avi.sensors.42.temperature");
  console.log(
    "\n3. Device → mesh: button and sensor events published (QoS 1, acked);",
    `living-room's context has avi.sensors.42.temperature = ${
      JSON.stringify(reading)
    }`,
  );

  await kitchen.handle().updateContext({
    avi: { device: { audio: { volume: 75 } } },
  });
  await until(
    "the volume converges everywhere",
    async () => {
      for (const n of nodes) {
        const v: JsonValue | undefined = await n.handle().getContext(
          "avi.device.audio.volume",
        );
        if (v !== 75) return false;
      }
      return true;
    },
  );
  console.log(
    "\n4. Shared context: kitchen set the volume to 75; all three nodes agree.",
  );

  await audioCall(kitchen.handle(), living.handle(), living.peerId);
  console.log("\n5. Audio: one second of 16 kHz PCM streamed in 20 ms frames.");
  console.log("\nDemo complete: every step worked.");
} catch (error) {
  console.error("\nDemo failed:", error);
  exitCode = 1;
} finally {
  await device?.close();
  await bridge?.close();
  await Promise.all(nodes.map((n) => n.shutdown()));
}
Deno.exit(exitCode);

/** Streams 50 frames of 640 bytes (1 s of voice) from `from` to `to`. */
async function audioCall(
  from: AviP2pHandle,
  to: AviP2pHandle,
  toPeer: PeerId,
): Promise<void> {
  // One iterator for the whole call: leaving a `for await` would end it.
  const toEvents = to.events()[Symbol.asyncIterator]();
  const next = async (type: AviEvent["type"]): Promise<AviEvent> => {
    for (;;) {
      const r = await toEvents.next();
      if (r.done) throw new Error(`no ${type} event arrived`);
      if (r.value.type === type) return r.value;
    }
  };
  const answering = (async () => {
    const ev = await next("streamRequested");
    if (ev.type !== "streamRequested") throw new Error("unreachable");
    await to.acceptStream(ev.streamId);
    return ev.streamId;
  })();
  const id = await from.requestStream(toPeer, "voice", { mode: "realtime" });
  const inbound = await answering;
  const frame = new Uint8Array(640);
  for (let i = 0; i < 50; i++) {
    for (let s = 0; s < 320; s++) {
      const v = Math.round(
        8000 * Math.sin((2 * Math.PI * 440 * (i * 320 + s)) / 16000),
      );
      frame[2 * s] = v & 0xff;
      frame[2 * s + 1] = (v >> 8) & 0xff;
    }
    await from.sendStreamData(id, frame);
    await sleep(20);
  }
  await until("the 50 frames arrive", async () => {
    const s = await to.streamStats(inbound);
    return s.framesReceived + s.lost + s.dropped >= 50;
  });
  const s = await to.streamStats(inbound);
  log(
    "living-room",
    `received ${s.framesReceived} frames, ${s.bytesReceived} bytes, lost ${s.lost}, jitter ${
      s.jitterMs.toFixed(2)
    } ms`,
  );
  await from.closeStream(id);
  const closed = await next("streamClosed");
  if (closed.type === "streamClosed" && closed.reason !== "remote") {
    throw new Error(`the receiver saw the stream close as ${closed.reason}`);
  }
  await toEvents.return?.();
}
