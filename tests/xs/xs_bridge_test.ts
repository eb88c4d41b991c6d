// The device client (embedded/, unmodified) inside real Moddable XS against
// the real gateway: XS ↔ issueCommand ↔ real UDP on 127.0.0.1 ↔
// EmbeddedBridge on a real mesh node ↔ a second real mesh node.
// The XS counterpart of tests/embedded_bridge_test.ts.
import assert from "node:assert/strict";
import type { AviEvent, MessageEvent } from "../../core/events.ts";
import { toHex } from "../../core/hex.ts";
import { EmbeddedBridge } from "../../bridge/mod.ts";
import { ErrorCode } from "../../protocol/mod.ts";
import { shutdownAll, startNode } from "../support/mesh_fixture.ts";
import { XsHost } from "./xs_host.ts";

const ENTRY = new URL("./xs_client_entry.ts", import.meta.url);
const KEY = crypto.getRandomValues(new Uint8Array(32));
const te = new TextEncoder();
const td = new TextDecoder();

Deno.test("XS: AviEmbedded with the real bridge: publish both ways, button, sensor, refusal", async () => {
  const gw = await startNode({ nodeName: "xs-gateway" });
  const peer = await startNode({
    nodeName: "xs-peer",
    bootstrapPeers: [gw.listenAddresses[0]],
  });
  const bridge = await EmbeddedBridge.start(gw.handle(), {
    udpPort: 0,
    hostname: "127.0.0.1",
    devices: { "7": KEY },
  });
  const peerMsgs: MessageEvent[] = [];
  const ev = peer.events();
  const peerLoop = (async () => {
    for await (const e of ev as AsyncIterable<AviEvent>) {
      if (e.type === "message") peerMsgs.push(e);
    }
  })();
  const host = await XsHost.start({ name: "xs-bridge" });
  try {
    await host.load(ENTRY);
    await host.call("setup", [{
      deviceId: 7,
      keyHex: toHex(KEY),
      gatewayPort: bridge.port,
      retryInitialMs: 200,
      retryMaxMs: 1000,
    }]);
    await host.call("connect");
    await host.runUntil(() => bridge.devices().length === 1, {
      what: "the device at the bridge",
    });
    for (
      const t of ["device/7/out", "device/7/button", "device/7/sensor/temp"]
    ) {
      await peer.handle().subscribe(t);
      await host.runUntil(
        async () => (await gw.handle().topicPeers(t)).includes(peer.peerId),
        { timeoutMs: 20_000, what: `gateway to see the peer on ${t}` },
      );
    }
    // device (XS) -> mesh
    await host.call("publish", [
      "device/7/out",
      toHex(te.encode("hello from XS")),
      1,
    ]);
    await host.runUntil(
      () => peerMsgs.some((m) => m.topic === "device/7/out"),
      {
        what: "the publish at the peer",
      },
    );
    assert.equal(
      td.decode(peerMsgs.find((m) => m.topic === "device/7/out")!.data),
      "hello from XS",
    );
    await host.call("button", [2, "double", null]);
    await host.call("sensor", [
      "temp",
      { kind: "temperature", value: 22.5 },
      null,
    ]);
    await host.runUntil(
      () => peerMsgs.some((m) => m.topic === "device/7/sensor/temp"),
      { what: "the sensor update at the peer" },
    );
    await host.runUntil(
      () => peerMsgs.some((m) => m.topic === "device/7/button"),
      { what: "the button press at the peer" },
    );
    const b = JSON.parse(
      td.decode(peerMsgs.find((m) => m.topic === "device/7/button")!.data),
    );
    assert.deepEqual([b.button_id, b.type], [2, "double"]);
    const s = JSON.parse(
      td.decode(peerMsgs.find((m) => m.topic === "device/7/sensor/temp")!.data),
    );
    assert.deepEqual([s.name, s.data.value, s.data.unit], ["temp", 22.5, "C"]);
    // A topic the device may not write is refused with the documented code.
    await assert.rejects(host.call("publish", ["device/8/out", "78", 1]), {
      name: "RequestRefusedError",
      code: ErrorCode.NOT_PERMITTED,
    });

    // mesh -> device (XS)
    await host.call("subscribe", ["home/cmd"]);
    await host.runUntil(
      async () =>
        (await peer.handle().topicPeers("home/cmd")).includes(gw.peerId),
      { timeoutMs: 20_000, what: "peer to see the gateway on home/cmd" },
    );
    await peer.handle().publish("home/cmd", te.encode("on"));
    await host.runUntil(
      async () =>
        (await host.call<{ inbox: unknown[] }>("status")).inbox.length >= 1,
      { what: "the mesh message in XS" },
    );
    const st = await host.call<{ inbox: { topic: string; data: string }[] }>(
      "status",
    );
    assert.deepEqual(st.inbox[0], {
      topic: "home/cmd",
      data: toHex(te.encode("on")),
    });
    assert.deepEqual(host.xsErrors, []);
  } finally {
    try {
      await host.call("close");
    } finally {
      await host.close();
      await bridge.close();
      await ev.return?.();
      await peerLoop;
      await shutdownAll(peer, gw);
    }
  }
});
