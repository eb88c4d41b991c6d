/**
 * The device client (embedded/) against the real gateway: AviEmbedded over
 * real UDP on 127.0.0.1 ↔ EmbeddedBridge on a real mesh node ↔ a second
 * real mesh node.
 */
import assert from "node:assert/strict";
import type { AviEvent, MessageEvent } from "../core/events.ts";
import {
  AviEmbedded,
  createDenoUdpSocket,
  denoCrypto,
  RequestRefusedError,
} from "../embedded/mod.ts";
import { ErrorCode } from "../protocol/mod.ts";
import { shutdownAll, untilTopicPeer } from "./support/mesh_fixture.ts";
import { until } from "./support/wait.ts";
import { startGatewayAndPeer, startLocalBridge } from "./support/bridge_rig.ts";

const te = new TextEncoder();
const td = new TextDecoder();
const KEY = crypto.getRandomValues(new Uint8Array(32));

Deno.test("AviEmbedded with the real bridge: publish both ways, events, and recovery after a gateway restart", async () => {
  const { gw, peer } = await startGatewayAndPeer();
  const start = (udpPort: number) =>
    startLocalBridge(gw.handle(), { "5": KEY }, { udpPort });
  let bridge = await start(0);
  const port = bridge.port;
  const peerMsgs: MessageEvent[] = [];
  const ev = peer.events();
  const peerLoop = (async () => {
    for await (const e of ev as AsyncIterable<AviEvent>) {
      if (e.type === "message") peerMsgs.push(e);
    }
  })();
  const inbox: { topic: string; data: string }[] = [];
  const avi = new AviEmbedded(
    await createDenoUdpSocket({ hostname: "127.0.0.1" }),
    {
      deviceId: 5,
      key: KEY,
      crypto: denoCrypto(),
      gateway: { address: "127.0.0.1", port },
      retryInitialMs: 200,
      retryMaxMs: 1000,
    },
    (topic, data) => inbox.push({ topic, data: td.decode(data) }),
  );
  try {
    await avi.connect();
    for (
      const t of ["device/5/out", "device/5/button", "device/5/sensor/temp"]
    ) {
      await peer.handle().subscribe(t);
      await untilTopicPeer(gw, peer, t, `gateway to see the peer on ${t}`);
    }
    // device -> mesh
    await avi.publish("device/5/out", te.encode("hello"), { qos: 1 });
    await until(() => peerMsgs.some((m) => m.topic === "device/5/out"));
    assert.equal(
      td.decode(peerMsgs.find((m) => m.topic === "device/5/out")!.data),
      "hello",
    );
    await avi.buttonPressed(2, "double");
    await avi.updateSensor("temp", { kind: "temperature", value: 22.5 });
    await until(() => peerMsgs.some((m) => m.topic === "device/5/sensor/temp"));
    const b = JSON.parse(
      td.decode(peerMsgs.find((m) => m.topic === "device/5/button")!.data),
    );
    assert.deepEqual([b.button_id, b.type], [2, "double"]);
    const s = JSON.parse(
      td.decode(peerMsgs.find((m) => m.topic === "device/5/sensor/temp")!.data),
    );
    assert.deepEqual([s.name, s.data.value, s.data.unit], ["temp", 22.5, "C"]);
    // A topic the device may not write is refused with the documented code.
    await assert.rejects(
      () => avi.publish("device/6/out", te.encode("x"), { qos: 1 }),
      (e) =>
        e instanceof RequestRefusedError && e.code === ErrorCode.NOT_PERMITTED,
    );

    // mesh -> device
    await avi.subscribe("home/cmd");
    await untilTopicPeer(
      peer,
      gw,
      "home/cmd",
      "peer to see the gateway on home/cmd",
    );
    await peer.handle().publish("home/cmd", te.encode("on"));
    await until(() => inbox.length >= 1);
    assert.deepEqual(inbox[0], { topic: "home/cmd", data: "on" });

    // The gateway restarts (new process state, same port): the device
    // notices by itself, handshakes again and re-subscribes.
    await bridge.close();
    bridge = await start(port);
    await avi.publish("device/5/out", te.encode("after restart"), { qos: 1 });
    await until(() =>
      peerMsgs.some((m) => td.decode(m.data) === "after restart")
    );
    assert.ok(avi.stats.handshakes >= 2);
    await until(
      () => bridge.devices().length === 1,
      10_000,
      "device back at the bridge",
    );
    await until(
      async () => {
        await peer.handle().publish("home/cmd", te.encode("again"));
        await new Promise((r) => setTimeout(r, 200));
        return inbox.some((m) => m.data === "again");
      },
      20_000,
      "message after restart",
    );
  } finally {
    await avi.close();
    await bridge.close();
    await ev.return?.();
    await peerLoop;
    await shutdownAll(peer, gw);
  }
});

Deno.test("AviEmbedded.sleep(): the bridge keeps messages for the sleeping device and delivers them when it wakes", async () => {
  const { gw, peer } = await startGatewayAndPeer();
  const bridge = await startLocalBridge(gw.handle(), { "5": KEY });
  const inbox: string[] = [];
  const avi = new AviEmbedded(
    await createDenoUdpSocket({ hostname: "127.0.0.1" }),
    {
      deviceId: 5,
      key: KEY,
      crypto: denoCrypto(),
      gateway: { address: "127.0.0.1", port: bridge.port },
    },
    (_topic, data) => inbox.push(td.decode(data)),
  );
  try {
    await avi.connect();
    await avi.subscribe("home/night");
    await untilTopicPeer(
      peer,
      gw,
      "home/night",
      "peer to see the gateway on home/night",
    );
    avi.sleep(2);
    await until(
      () => bridge.devices().some((d) => d.sleeping),
      10_000,
      "device asleep",
    );
    await peer.handle().publish("home/night", te.encode("while asleep"));
    await until(
      () => bridge.devices().some((d) => d.queued > 0),
      10_000,
      "message kept",
    );
    assert.equal(inbox.length, 0, "nothing is sent to a sleeping device");
    await until(
      () => inbox.includes("while asleep"),
      15_000,
      "delivery on wake",
    );
  } finally {
    await avi.close();
    await bridge.close();
    await shutdownAll(peer, gw);
  }
});
