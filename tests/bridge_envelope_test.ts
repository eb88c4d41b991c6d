/**
 * Device events batched across topics: envelopes from the gateway arrive at
 * subscribers as ordinary message events, one JSON event object each.
 */
import assert from "node:assert/strict";
import type { AviEvent, MessageEvent } from "../core/events.ts";
import { EmbeddedBridge } from "../bridge/mod.ts";
import { RawDevice } from "./support/bridge_device.ts";
import { shutdownAll, untilTopicPeer } from "./support/mesh_fixture.ts";
import { until } from "./support/wait.ts";
import {
  fakeMesh,
  idleEvents,
  startGatewayAndPeer,
  startLocalBridge,
} from "./support/bridge_rig.ts";

const te = new TextEncoder();
const td = new TextDecoder();
const KEY1 = new Uint8Array(32).fill(1);
const KEY2 = new Uint8Array(32).fill(2);

function sensor(d: RawDevice, value: number): Promise<number> {
  return d.request((msgId) => ({
    type: "sensorUpdate",
    msgId,
    name: "temp",
    value: { kind: "temperature", value },
    customData: te.encode(`{"n":${value}}`),
  }));
}

/** Devices 1 (KEY1) and 2 (KEY2), speaking to `port`. */
function devicesOneAndTwo(port: number): [RawDevice, RawDevice] {
  return [
    new RawDevice({ deviceId: 1, key: KEY1, gatewayPort: port }),
    new RawDevice({ deviceId: 2, key: KEY2, gatewayPort: port }),
  ];
}

type Entry = { topic: string; data: Uint8Array };

/**
 * A bridge on 127.0.0.1 whose mesh holds the first plain publish until
 * `release()`, so that later events pile up behind it; it records the plain
 * publishes and the envelopes.
 */
async function gatedBridge(
  opts: Omit<Parameters<typeof EmbeddedBridge.start>[1], "udpPort">,
): Promise<{
  bridge: EmbeddedBridge;
  plain: Entry[];
  batches: Entry[][];
  release: () => void;
}> {
  const plain: Entry[] = [];
  const batches: Entry[][] = [];
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => (release = r));
  const bridge = await EmbeddedBridge.start({
    subscribe: async () => {},
    unsubscribe: async () => {},
    publish: async (topic, data) => {
      plain.push({ topic, data });
      await gate;
    },
    publishBatch: (messages) => {
      batches.push(messages);
      return Promise.resolve(1);
    },
    events: idleEvents,
  }, { udpPort: 0, hostname: "127.0.0.1", ...opts });
  return { bridge, plain, batches, release: () => release() };
}

Deno.test("bridge: events that pile up on several topics leave as one publishBatch of single event objects", async () => {
  const { bridge, plain, batches, release } = await gatedBridge({
    devices: { "1": KEY1, "2": KEY2 },
  });
  const [d1, d2] = devicesOneAndTwo(bridge.port);
  try {
    await d1.connect();
    await d2.connect();
    const base = bridge.stats().datagrams;
    const first = sensor(d1, 0);
    await until(() => plain.length === 1);
    const rest = [1, 2, 3].flatMap((v) => [sensor(d1, v), sensor(d2, v)]);
    // all six are in (and queued behind the hanging publish)
    await until(() => bridge.stats().datagrams >= base + 7);
    release();
    assert.deepEqual(await Promise.all([first, ...rest]), [
      0,
      0,
      0,
      0,
      0,
      0,
      0,
    ]);
    assert.equal(plain.length, 1);
    assert.equal(plain[0].topic, "device/1/sensor/temp");
    const entries = batches.flat();
    assert.equal(entries.length, 6);
    assert.ok(batches.length >= 1 && batches.length <= 6);
    assert.deepEqual(
      new Set(entries.map((e) => e.topic)),
      new Set(["device/1/sensor/temp", "device/2/sensor/temp"]),
    );
    for (const e of entries) {
      const v = JSON.parse(td.decode(e.data));
      assert.equal(Array.isArray(v), false);
      assert.equal(v.name, "temp");
    }
    assert.equal(bridge.stats().batches, batches.length);
  } finally {
    release();
    await d1.close();
    await d2.close();
    await bridge.close();
  }
});

Deno.test("bridge: a burst from two devices reaches a mesh subscriber as one message event per device event", async () => {
  const { gw, peer } = await startGatewayAndPeer();
  const bridge = await startLocalBridge(gw.handle(), { "1": KEY1, "2": KEY2 });
  const msgs: MessageEvent[] = [];
  const ev = peer.events();
  const loop = (async () => {
    for await (const e of ev as AsyncIterable<AviEvent>) {
      if (e.type === "message") msgs.push(e);
    }
  })();
  const [d1, d2] = devicesOneAndTwo(bridge.port);
  try {
    // only device 1's topic: device 2's events must not show up here
    await peer.handle().subscribe("device/1/sensor/temp");
    await untilTopicPeer(
      gw,
      peer,
      "device/1/sensor/temp",
      "the gateway to see the peer",
    );
    await untilTopicPeer(
      peer,
      gw,
      "_avi/envelope/1",
      "the gateway's stream to the peer",
    );
    await d1.connect();
    await d2.connect();
    const N = 30;
    const codes = await Promise.all(
      Array.from({ length: N }, (_, i) => [sensor(d1, i), sensor(d2, i)])
        .flat(),
    );
    assert.ok(codes.every((c) => c === 0));
    await until(() => msgs.length >= N, 20_000, "every device-1 event");
    // a marker after the burst: nothing else arrives before it
    await d1.publish("device/1/sensor/temp", te.encode('{"end":true}'));
    await until(() => msgs.length >= N + 1, 20_000, "the marker");
    assert.equal(msgs.length, N + 1);
    const seen = new Set<number>();
    for (const m of msgs.slice(0, N)) {
      assert.equal(m.topic, "device/1/sensor/temp");
      assert.equal(m.from, gw.peerId);
      const v = JSON.parse(td.decode(m.data));
      assert.equal(Array.isArray(v), false);
      seen.add(v.data.custom.n);
    }
    assert.equal(seen.size, N);
    assert.equal(peer.stats().messagesDropped, 0);
  } finally {
    await d1.close();
    await d2.close();
    await bridge.close();
    await ev.return?.();
    await loop;
    await shutdownAll(peer, gw);
  }
});

Deno.test("bridge: an envelope holds at most maxEventBatch events", async () => {
  const batches = await pileUp(100);
  assert.ok(batches.length >= 3, `${batches.map((b) => b.length)}`);
  assert.ok(batches.every((b) => b.length <= 100));
});

Deno.test("bridge: an envelope stops before 256 KiB of payloads", async () => {
  const batches = await pileUp(1024);
  const sizes = batches.map((b) =>
    b.reduce((n, e) => n + e.topic.length + e.data.length, 0)
  );
  // ~285 KiB piled up: without the bound it would be one envelope
  assert.ok(batches.length >= 2, `${sizes}`);
  assert.ok(sizes.every((n) => n <= 256 * 1024), `${sizes}`);
});

/**
 * 300 readings of ~1 KiB pile up behind a hanging publish, then leave in
 * envelopes of at most `maxEventBatch`: returns the envelopes.
 */
async function pileUp(
  maxEventBatch: number,
): Promise<Entry[][]> {
  const { bridge, plain, batches, release } = await gatedBridge({
    devices: { "1": KEY1 },
    maxEventBatch,
    maxInflightPerDevice: 512,
  });
  const d = new RawDevice({
    deviceId: 1,
    key: KEY1,
    gatewayPort: bridge.port,
    rtoMs: 1000,
  });
  try {
    await d.connect();
    const first = sensor(d, 0);
    await until(() => bridge.stats().datagrams >= 3);
    // 300 readings of ~1 KiB of custom data each: ~300 KiB in all
    const big = "x".repeat(900);
    const rest: Promise<number>[] = [];
    // in waves, so that the socket's receive buffer never overflows
    for (let i = 0; i < 300; i++) {
      rest.push(d.request((msgId) => ({
        type: "sensorUpdate",
        msgId,
        name: "temp",
        value: { kind: "temperature", value: i },
        customData: te.encode(`{"pad":"${big}"}`),
      })));
      if (i % 50 === 49) {
        await until(() => bridge.stats().datagrams >= 3 + i + 1, 20_000);
      }
    }
    release();
    const codes = await Promise.all([first, ...rest]);
    assert.ok(codes.every((c) => c === 0));
    // the first went alone; so may a last straggler
    assert.equal(batches.flat().length + plain.length - 1, 300);
    assert.ok(plain.length <= 2);
    return batches;
  } finally {
    release();
    await d.close();
    await bridge.close();
  }
}

Deno.test("bridge: maxEventBatch outside 1..1024 is refused", async () => {
  for (const maxEventBatch of [0, 1025, 1.5]) {
    await assert.rejects(
      EmbeddedBridge.start(fakeMesh(idleEvents), {
        udpPort: 0,
        hostname: "127.0.0.1",
        devices: { "1": KEY1 },
        maxEventBatch,
      }),
      { name: "ConfigError" },
    );
  }
});
