/**
 * End to end: simulated devices (real UDP on 127.0.0.1) ↔ EmbeddedBridge on a
 * real mesh node ↔ a second real mesh node.
 */
import assert from "node:assert/strict";
import type { AviEvent, MessageEvent } from "../core/events.ts";
import { toHex } from "../core/hex.ts";
import type { PeerId } from "../core/peer_id.ts";
import { EmbeddedBridge } from "../bridge/mod.ts";
import type { BridgeEvent, BridgeOptions } from "../bridge/mod.ts";
import {
  createHello,
  decodeFrame,
  encodeSearchGw,
  ErrorCode,
  type Message,
  nobleCrypto,
} from "../protocol/mod.ts";
import { RawDevice } from "./support/bridge_device.ts";
import { shutdownAll, untilTopicPeer } from "./support/mesh_fixture.ts";
import { until } from "./support/wait.ts";
import {
  fakeMesh,
  idleEvents,
  startGatewayAndPeer,
  startLocalBridge,
} from "./support/bridge_rig.ts";
import type { AviP2p } from "../mesh/mod.ts";

const te = new TextEncoder();
const td = new TextDecoder();
const KEY1 = new Uint8Array(32).fill(1);
const KEY2 = new Uint8Array(32).fill(2);

interface Rig {
  gw: AviP2p;
  peer: AviP2p;
  bridge: EmbeddedBridge;
  peerMsgs: MessageEvent[];
  bridgeEvents: BridgeEvent[];
  stop: () => Promise<void>;
}

async function rig(opts: Partial<BridgeOptions> = {}): Promise<Rig> {
  const { gw, peer } = await startGatewayAndPeer();
  const bridge = await startLocalBridge(
    gw.handle(),
    { "1": toHex(KEY1), "2": KEY2 },
    opts,
  );
  const peerMsgs: MessageEvent[] = [];
  const ev = peer.events();
  const peerLoop = (async () => {
    for await (const e of ev as AsyncIterable<AviEvent>) {
      if (e.type === "message") peerMsgs.push(e);
    }
  })();
  const bridgeEvents: BridgeEvent[] = [];
  const bev = bridge.events();
  const bridgeLoop = (async () => {
    for await (const e of bev) bridgeEvents.push(e);
  })();
  return {
    gw,
    peer,
    bridge,
    peerMsgs,
    bridgeEvents,
    stop: async () => {
      await bridge.close();
      await bridgeLoop;
      await ev.return?.();
      await peerLoop;
      await shutdownAll(peer, gw);
    },
  };
}

async function meshReady(r: Rig, topic: string): Promise<void> {
  await r.peer.handle().subscribe(topic);
  await untilTopicPeer(
    r.gw,
    r.peer,
    topic,
    `gateway to see the peer on ${topic}`,
  );
}

/** Device `deviceId` with `key`, speaking to the rig's bridge. */
function device(r: Rig, deviceId: number, key = KEY1): RawDevice {
  return new RawDevice({ deviceId, key, gatewayPort: r.bridge.port });
}

/**
 * Runs `body` with a fresh rig and device 1 on it, then closes the device
 * and stops the rig.
 */
async function withDevice1(
  body: (r: Rig, d1: RawDevice) => Promise<void>,
  opts: Partial<BridgeOptions> = {},
): Promise<void> {
  const r = await rig(opts);
  const d1 = device(r, 1);
  try {
    await body(r, d1);
  } finally {
    await d1.close();
    await r.stop();
  }
}

/** Waits until the peer sees the gateway subscribed to `topic`. */
function peerSeesGateway(r: Rig, topic: string): Promise<void> {
  return untilTopicPeer(r.peer, r.gw, topic);
}

/** Waits until the gateway is connected to at least one peer. */
function gatewayConnected(r: Rig): Promise<void> {
  return until(async () => (await r.gw.handle().connectedPeers()).length > 0);
}

Deno.test("bridge: devices publish to and receive from a second mesh node, with button and sensor events", async () => {
  const r = await rig();
  const d1 = device(r, 1);
  const d2 = device(r, 2, KEY2);
  try {
    await Promise.all([d1.connect(), d2.connect()]);
    await until(() => r.bridge.devices().length === 2, 10_000, "2 devices");
    assert.deepEqual(
      r.bridgeEvents.filter((e) => e.type === "deviceConnected").map((e) =>
        (e as { deviceId: string }).deviceId
      ).sort(),
      ["1", "2"],
    );

    // device -> mesh
    for (
      const t of ["device/1/data", "device/1/button", "device/1/sensor/temp"]
    ) {
      await meshReady(r, t);
    }
    assert.equal(await d1.publish("device/1/data", te.encode("hello")), 0);
    await until(() => r.peerMsgs.some((m) => m.topic === "device/1/data"));
    const m = r.peerMsgs.find((m) => m.topic === "device/1/data")!;
    assert.equal(td.decode(m.data), "hello");
    assert.equal(m.from, r.gw.peerId);

    const ack = await d1.request((msgId) => ({
      type: "buttonPress",
      msgId,
      buttonId: 3,
      pressType: "double",
      customData: te.encode('{"room":"hall"}'),
    }));
    assert.equal(ack, 0);
    await until(() => r.peerMsgs.some((m) => m.topic === "device/1/button"));
    const b = JSON.parse(
      td.decode(r.peerMsgs.find((m) => m.topic === "device/1/button")!.data),
    );
    assert.equal(b.button_id, 3);
    assert.equal(b.type, "double");
    assert.deepEqual(b.data, { room: "hall" });
    assert.equal(typeof b.ts, "number");

    const sack = await d1.request((msgId) => ({
      type: "sensorUpdate",
      msgId,
      name: "temp",
      value: { kind: "temperature", value: 21.5 },
      customData: null,
    }));
    assert.equal(sack, 0);
    await until(() =>
      r.peerMsgs.some((m) => m.topic === "device/1/sensor/temp")
    );
    const s = JSON.parse(
      td.decode(
        r.peerMsgs.find((m) => m.topic === "device/1/sensor/temp")!.data,
      ),
    );
    assert.deepEqual([s.name, s.data.value, s.data.unit, s.data.custom], [
      "temp",
      21.5,
      "C",
      null,
    ]);

    // mesh -> devices, reference-counted subscriptions
    assert.equal(await d1.subscribe("home/cmd"), 0);
    assert.equal(await d2.subscribe("home/cmd"), 0);
    assert.equal(await d2.subscribe("home/+/light"), 0); // a pattern
    await until(
      async () =>
        (await r.peer.handle().topicPeers("home/cmd")).includes(r.gw.peerId),
      20_000,
      "peer to see the gateway on home/cmd",
    );
    await r.peer.handle().publish("home/cmd", te.encode("on"));
    await until(() => d1.inbox.length >= 1 && d2.inbox.length >= 1);
    assert.equal(td.decode(d1.inbox[0].data), "on");
    assert.equal(d2.inbox[0].topic, "home/cmd");

    assert.equal(await d1.unsubscribe("home/cmd"), 0);
    await r.peer.handle().publish("home/cmd", te.encode("off"));
    await until(() => d2.inbox.length >= 2);
    assert.equal(td.decode(d2.inbox[1].data), "off");
    assert.equal(d1.inbox.length, 1, "d1 unsubscribed");

    // A device's publish also reaches another device on the same gateway.
    await d2.subscribe("device/1/data");
    await d1.publish("device/1/data", te.encode("local"));
    await until(() => d2.inbox.some((m) => td.decode(m.data) === "local"));
  } finally {
    await d1.close();
    await d2.close();
    await r.stop();
  }
});

Deno.test("bridge: permissions refuse other devices' topics and the context topic", async () => {
  await withDevice1(async (r, d1) => {
    await d1.connect();
    assert.equal(
      await d1.publish("device/2/x", te.encode("x")),
      ErrorCode.NOT_PERMITTED,
    );
    assert.equal(
      await d1.publish("avi-context/1", te.encode("x")),
      ErrorCode.NOT_PERMITTED,
    );
    assert.equal(
      await d1.publish("home/lights", te.encode("x")),
      ErrorCode.NOT_PERMITTED,
    );
    assert.equal(await d1.subscribe("avi-context/1"), ErrorCode.NOT_PERMITTED);
    assert.equal(await d1.subscribe("a/#/b"), ErrorCode.MALFORMED);
    assert.ok(r.bridge.stats().notPermitted >= 4);
  });
});

Deno.test("bridge: unknown device and wrong key are refused with no session; discovery is answered", async () => {
  const r = await rig();
  const stranger = device(r, 99);
  const liar = device(r, 2);
  const probe = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  try {
    stranger.connect();
    liar.connect();
    await until(
      () =>
        stranger.rejects.includes(ErrorCode.NOT_AUTHORISED) &&
        liar.rejects.includes(ErrorCode.NOT_AUTHORISED),
      10_000,
      "two rejects",
    );
    assert.equal(r.bridge.devices().length, 0);
    assert.equal(r.bridge.stats().sessions, 0);

    const nonce = crypto.getRandomValues(new Uint8Array(8));
    await probe.send(encodeSearchGw(nonce), {
      transport: "udp",
      hostname: "127.0.0.1",
      port: r.bridge.port,
    });
    const [answer] = await probe.receive();
    const f = decodeFrame(answer);
    assert.equal(f.kind, "gwInfo");
    if (f.kind === "gwInfo") {
      assert.deepEqual(f.nonce, nonce);
      assert.equal(f.port, r.bridge.port);
      assert.equal(f.gatewayId, r.bridge.gatewayId);
    }
  } finally {
    probe.close();
    await stranger.close();
    await liar.close();
    await r.stop();
  }
});

Deno.test("bridge: replayed and forged frames are refused; the session follows a new address", async () => {
  const r = await rig();
  const d1 = device(r, 1);
  const other = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.2",
    port: 0,
  });
  try {
    await d1.connect();
    await meshReady(r, "device/1/r");
    const frame = d1.sendMessage({
      type: "publish",
      msgId: 0,
      qos: 0,
      topic: "device/1/r",
      data: te.encode("once"),
    })!;
    await until(() => r.peerMsgs.length === 1);
    // Replay the same frame three times: refused.
    for (let i = 0; i < 3; i++) await d1.sendRaw(frame);
    // Forge: flip a ciphertext bit.
    const forged = frame.slice();
    forged[12] ^= 1;
    forged[6] = 0x7f; // a fresh sequence number, so only the tag can fail
    await d1.sendRaw(forged);
    await until(() =>
      r.bridge.stats().replayed >= 3 && r.bridge.stats().forged >= 1
    );
    await new Promise((res) => setTimeout(res, 300));
    assert.equal(r.peerMsgs.length, 1, "published once");

    // Send a Ping from another address with the device's session: the
    // session moves there and the Pong goes there.
    const ping = d1.session!.sealMessage(
      { type: "ping" } as Message,
      new Uint8Array(1024),
    ).slice();
    await other.send(ping, {
      transport: "udp",
      hostname: "127.0.0.1",
      port: r.bridge.port,
    });
    const [pong] = await other.receive();
    assert.equal(decodeFrame(pong).kind, "sealed");
    assert.equal(r.bridge.devices()[0].address.startsWith("127.0.0.2:"), true);
  } finally {
    other.close();
    await d1.close();
    await r.stop();
  }
});

Deno.test("bridge: silent sessions expire and release their subscriptions; unknown session makes the device re-handshake", async () => {
  await withDevice1(async (r, d1) => {
    await d1.connect();
    assert.equal(await d1.subscribe("home/x"), 0);
    assert.ok((await r.gw.handle().subscriptions()).includes("home/x"));
    await until(
      () =>
        r.bridgeEvents.some((e) =>
          e.type === "deviceGone" && e.reason === "timeout"
        ),
      15_000,
      "expiry",
    );
    assert.equal(r.bridge.devices().length, 0);
    await until(async () =>
      !(await r.gw.handle().subscriptions()).includes("home/x")
    );
    // The device speaks again: unknown session -> it re-handshakes and resubscribes.
    d1.sendMessage({ type: "ping" });
    await until(() => d1.handshakes === 2, 10_000, "re-handshake");
    await until(async () =>
      (await r.gw.handle().subscriptions()).includes("home/x")
    );
    assert.ok(d1.rejects.includes(ErrorCode.UNKNOWN_SESSION));
  }, { keepAliveSeconds: 1 });
});

Deno.test("bridge: a sleeping device gets its queued messages (bounded) when it wakes", async () => {
  await withDevice1(async (r, d1) => {
    await d1.connect();
    assert.equal(await d1.subscribe("home/s"), 0);
    await peerSeesGateway(r, "home/s");
    d1.sendMessage({ type: "disconnect", sleepSeconds: 60 });
    await until(() => r.bridge.devices()[0]?.sleeping === true);
    for (const m of ["a", "b", "c"]) {
      await r.peer.handle().publish("home/s", te.encode(m));
    }
    await until(() => r.bridge.devices()[0].queued === 2, 10_000, "2 queued");
    assert.equal(d1.inbox.length, 0, "nothing sent while asleep");
    assert.equal(r.bridge.stats().sleepDropped, 1);
    d1.sendMessage({ type: "ping" });
    await until(() => d1.inbox.length === 2, 10_000, "delivery on wake");
    assert.deepEqual(d1.inbox.map((m) => td.decode(m.data)), ["b", "c"]);
    assert.ok(
      r.bridgeEvents.some((e) => e.type === "deviceAwake" && e.delivered === 2),
    );
    assert.equal(r.bridge.devices()[0].sleeping, false);
  }, { maxQueuedPerSleepingDevice: 2 });
});

Deno.test("bridge: a mesh message too large for a device is counted and reported to it", async () => {
  await withDevice1(async (r, d1) => {
    await d1.connect();
    assert.equal(await d1.subscribe("home/big"), 0);
    await peerSeesGateway(r, "home/big");
    await r.peer.handle().publish("home/big", new Uint8Array(2000));
    await r.peer.handle().publish("home/big", te.encode("small"));
    await until(() => d1.inbox.length === 1, 10_000, "the small one");
    const err = d1.received.find((m) => m.type === "error");
    assert.ok(err && err.type === "error");
    assert.equal(err.code, ErrorCode.TOO_LARGE);
    assert.equal(err.detail, "home/big");
    assert.equal(r.bridge.stats().tooLarge, 1);
  });
});

Deno.test("bridge: limits refuse extra subscriptions and sessions, and bad options throw ConfigError", async () => {
  const r = await rig({ maxSubscriptionsPerDevice: 2, maxSessions: 1 });
  const d1 = device(r, 1);
  const d2 = device(r, 2, KEY2);
  try {
    await d1.connect();
    assert.equal(await d1.subscribe("a/1"), 0);
    assert.equal(await d1.subscribe("a/+"), 0);
    assert.equal(await d1.subscribe("a/3"), ErrorCode.LIMIT_REACHED);
    d2.connect();
    await until(() => d2.rejects.includes(ErrorCode.LIMIT_REACHED));
    assert.equal(r.bridge.devices().length, 1);
    await assert.rejects(
      EmbeddedBridge.start(r.gw.handle(), { devices: { "x": KEY1 } }),
      { name: "ConfigError" },
    );
    await assert.rejects(
      EmbeddedBridge.start(r.gw.handle(), { devices: { "1": "abc" } }),
      { name: "ConfigError" },
    );
    await assert.rejects(
      EmbeddedBridge.start(r.gw.handle(), { devices: {}, maxSessions: 0 }),
      { name: "ConfigError" },
    );
  } finally {
    await d1.close();
    await d2.close();
    await r.stop();
  }
});

Deno.test("bridge: sensor values reach the other node's context at avi.sensors.<id>.<name>", async () => {
  await withDevice1(async (r, d1) => {
    await d1.connect();
    await gatewayConnected(r);
    for (const v of [20, 21.5]) {
      const code = await d1.request((msgId) => ({
        type: "sensorUpdate",
        msgId,
        name: "temp",
        value: { kind: "temperature", value: v },
        customData: null,
      }));
      assert.equal(code, 0);
    }
    await until(
      async () => {
        const v = await r.peer.handle().getContext("avi.sensors.1.temp");
        return (v as { data?: { value?: number } } | undefined)?.data?.value ===
          21.5;
      },
      20_000,
      "the sensor in the peer's context",
    );
    const v = await r.peer.handle().getContext("avi.sensors.1.temp") as {
      name: string;
      data: { unit: string };
    };
    assert.equal(v.name, "temp");
    assert.equal(v.data.unit, "C");
  }, { contextFlushMs: 20 });
});

Deno.test("bridge: a device stream reaches a mesh peer and back; loss is counted; closing ends it", async () => {
  const r = await rig();
  const d1 = device(r, 1);
  const ev = r.peer.events();
  const seen: AviEvent[] = [];
  const loop = (async () => {
    for await (const e of ev as AsyncIterable<AviEvent>) {
      if (e.type === "streamRequested") {
        await r.peer.handle().acceptStream(e.streamId);
      }
      seen.push(e);
    }
  })();
  try {
    await d1.connect();
    await gatewayConnected(r);
    const code = await d1.request((msgId) => ({
      type: "streamStart",
      msgId,
      streamId: 3,
      targetPeer: r.peer.peerId,
      reason: "voice",
    }));
    assert.equal(code, 0);
    const req = seen.find((e) => e.type === "streamRequested");
    assert.ok(req && req.type === "streamRequested" && req.reason === "voice");
    for (const seq of [0, 1, 2, 5]) {
      d1.sendMessage({
        type: "streamData",
        streamId: 3,
        seq,
        data: new Uint8Array(320).fill(seq),
      });
    }
    await until(
      () => seen.filter((e) => e.type === "streamData").length === 4,
      10_000,
      "4 frames at the peer",
    );
    assert.deepEqual(r.bridge.streamStats("1", 3), { lost: 2, reordered: 0 });
    // Peer -> device.
    await r.peer.handle().sendStreamData(req.streamId, te.encode("back"));
    await until(() =>
      d1.received.some((m) =>
        m.type === "streamData" && m.streamId === 3 &&
        td.decode(m.data) === "back"
      )
    );
    d1.sendMessage({ type: "streamClose", streamId: 3, code: 0 });
    await until(() => seen.some((e) => e.type === "streamClosed"));
    assert.equal(r.bridge.streamStats("1", 3), undefined);
    // Data on a closed stream is answered with StreamClose(unknown stream).
    d1.sendMessage({
      type: "streamData",
      streamId: 3,
      seq: 6,
      data: new Uint8Array(1),
    });
    await until(() =>
      d1.received.some((m) =>
        m.type === "streamClose" && m.code === ErrorCode.UNKNOWN_STREAM
      )
    );
  } finally {
    await ev.return?.();
    await loop;
    await d1.close();
    await r.stop();
  }
});

Deno.test("EmbeddedBridge.start() without --unstable-net rejects with UnstableApiError", async () => {
  // deno-lint-ignore no-explicit-any
  const d = Deno as any;
  const orig = d.listenDatagram;
  d.listenDatagram = undefined; // what Deno looks like without the flag
  try {
    await assert.rejects(
      EmbeddedBridge.start(
        fakeMesh(() => {
          throw new Error("not reached");
        }),
        { devices: {} },
      ),
      (e: Error) =>
        e.name === "UnstableApiError" && /--unstable-net/.test(e.message),
    );
  } finally {
    d.listenDatagram = orig;
  }
});

Deno.test("bridge: a mesh that stops accepting publishes does not block the devices", async () => {
  // A stuck mesh (a fake is enough here: this is the bridge's own behaviour).
  const stuck: Promise<void>[] = [];
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => (release = r));
  const bridge = await startLocalBridge(
    fakeMesh(
      () => {
        const it: AsyncIterableIterator<AviEvent> = {
          [Symbol.asyncIterator]: () => it,
          next: () => gate.then(() => ({ done: true, value: undefined })),
          return: () => Promise.resolve({ done: true, value: undefined }),
        };
        return it;
      },
      () => {
        const p = gate;
        stuck.push(p);
        return p;
      },
    ),
    { "1": KEY1 },
    { maxInflightPerDevice: 8 },
  );
  const d1 = new RawDevice({
    deviceId: 1,
    key: KEY1,
    gatewayPort: bridge.port,
    rtoMs: 5000,
  });
  try {
    await d1.connect();
    const pending = Array.from(
      { length: 20 },
      (_, i) => d1.publish("device/1/x", te.encode(String(i))),
    );
    await until(() => stuck.length === 8 && bridge.stats().rateLimited >= 12);
    // The device is still served: pings answered, subscriptions acked.
    const pongs = d1.received.filter((m) => m.type === "pong").length;
    d1.sendMessage({ type: "ping" });
    await until(() =>
      d1.received.filter((m) => m.type === "pong").length > pongs
    );
    assert.equal(await d1.subscribe("home/y"), 0);
    // The mesh recovers: the 8 in flight are acked.
    release();
    await until(() =>
      d1.received.filter((m) => m.type === "ack" && m.code === 0).length >= 8
    );
    void pending;
  } finally {
    release();
    await d1.close();
    await bridge.close();
  }
});

Deno.test("bridge: a burst for a device is bounded by its outbound queue; the mesh side never waits", async () => {
  let push: (e: AviEvent) => void = () => {};
  const queue: AviEvent[] = [];
  let waiter: ((r: IteratorResult<AviEvent>) => void) | undefined;
  let done = false;
  push = (e) => {
    if (waiter) {
      const w = waiter;
      waiter = undefined;
      w({ done: false, value: e });
    } else queue.push(e);
  };
  const it: AsyncIterableIterator<AviEvent> = {
    [Symbol.asyncIterator]: () => it,
    next: () => {
      const e = queue.shift();
      if (e) return Promise.resolve({ done: false, value: e });
      if (done) return Promise.resolve({ done: true, value: undefined });
      return new Promise((r) => (waiter = r));
    },
    return: () => {
      done = true;
      waiter?.({ done: true, value: undefined });
      return Promise.resolve({ done: true, value: undefined });
    },
  };
  const bridge = await startLocalBridge(fakeMesh(() => it), { "1": KEY1 }, {
    maxOutboundPerDevice: 4,
  });
  const d1 = new RawDevice({
    deviceId: 1,
    key: KEY1,
    gatewayPort: bridge.port,
  });
  try {
    await d1.connect();
    assert.equal(await d1.subscribe("home/burst"), 0);
    for (let i = 0; i < 500; i++) {
      push({
        type: "message",
        from: "peer" as PeerId,
        topic: "home/burst",
        data: te.encode(String(i)),
      });
    }
    await until(() => queue.length === 0, 10_000, "the mesh events consumed");
    assert.ok(bridge.tableSizes().queuedFrames <= 4);
    await until(() => d1.inbox.some((m) => td.decode(m.data) === "499"));
    const st = bridge.stats();
    assert.ok(st.outboundDropped > 0, "the oldest were dropped, counted");
    assert.ok(d1.inbox.length < 500);
  } finally {
    await d1.close();
    await bridge.close();
  }
});

Deno.test("bridge: a replayed Hello of an older handshake is refused with 'replayed' and makes no session", async () => {
  const bridge = await startLocalBridge(fakeMesh(idleEvents), { "1": KEY1 });
  const sock = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const to: Deno.NetAddr = {
    transport: "udp",
    hostname: "127.0.0.1",
    port: bridge.port,
  };
  const c = nobleCrypto({ random: (b) => crypto.getRandomValues(b) });
  const ask = async (b: Uint8Array) => {
    await sock.send(b, to);
    const [answer] = await sock.receive();
    return decodeFrame(answer);
  };
  const handshake = async (nonce: Uint8Array) => {
    const first = await ask(
      createHello(c, { deviceId: 1, key: KEY1, clientNonce: nonce }),
    );
    assert.equal(first.kind, "cookie");
    const second = createHello(c, {
      deviceId: 1,
      key: KEY1,
      clientNonce: nonce,
      cookie: first.kind === "cookie" ? first.cookie : undefined,
    });
    assert.equal((await ask(second)).kind, "welcome");
    return second;
  };
  try {
    const oldHello = await handshake(new Uint8Array(16).fill(1));
    await handshake(new Uint8Array(16).fill(2));
    assert.equal(bridge.stats().sessions, 2);
    const answer = await ask(oldHello);
    assert.equal(answer.kind, "reject");
    if (answer.kind === "reject") assert.equal(answer.code, ErrorCode.REPLAYED);
    assert.equal(bridge.stats().sessions, 2);
    assert.equal(bridge.devices().length, 1);
  } finally {
    sock.close();
    await bridge.close();
  }
});

Deno.test("bridge: a topic the application subscribed to itself stays subscribed when devices leave it", async () => {
  await withDevice1(async (r, d1) => {
    await r.gw.handle().subscribe("home/app");
    await d1.connect();
    assert.equal(await d1.subscribe("home/app"), 0);
    assert.equal(await d1.subscribe("home/dev"), 0);
    assert.equal(await d1.unsubscribe("home/app"), 0);
    assert.equal(await d1.unsubscribe("home/dev"), 0);
    await until(async () =>
      !(await r.gw.handle().subscriptions()).includes("home/dev")
    );
    assert.ok((await r.gw.handle().subscriptions()).includes("home/app"));
  });
});
