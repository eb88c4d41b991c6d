// The device client (embedded/) against the test gateway over real UDP on 127.0.0.1.
import assert from "node:assert/strict";
import {
  AviEmbedded,
  type AviEmbeddedConfig,
  ClientClosedError,
  createDenoUdpSocket,
  denoCrypto,
  GatewayUnreachableError,
  HandshakeRejectedError,
  NotConnectedError,
  QueueFullError,
  RequestRefusedError,
} from "../embedded/mod.ts";
import {
  decodeMessages,
  encodeMessage,
  ErrorCode,
  FrameDecodeError,
  type Message,
  Writer,
} from "../protocol/mod.ts";
import { TestGateway } from "./support/test_gateway.ts";
import { until } from "./support/wait.ts";

const KEY = crypto.getRandomValues(new Uint8Array(32));
const DEVICE = 4242;

function gateway(extra: Partial<Parameters<typeof TestGateway.start>[0]> = {}) {
  return TestGateway.start({ devices: new Map([[DEVICE, KEY]]), ...extra });
}

async function device(
  gw: { port: number } | null,
  over: Partial<AviEmbeddedConfig> = {},
) {
  const socket = await createDenoUdpSocket({ hostname: "127.0.0.1" });
  const inbox: { topic: string; data: Uint8Array }[] = [];
  const avi = new AviEmbedded(socket, {
    deviceId: DEVICE,
    key: KEY,
    crypto: denoCrypto(),
    gateway: gw ? { address: "127.0.0.1", port: gw.port } : undefined,
    retryInitialMs: 100,
    retryMaxMs: 800,
    connectTimeoutMs: 8000,
    ...over,
  }, (topic, data) => inbox.push({ topic, data: data.slice() }));
  return { avi, inbox };
}

/** Runs `body` with a test gateway and a device on it, then closes both. */
async function withDevice(
  body: (t: {
    gw: ReturnType<typeof gateway>;
    avi: AviEmbedded;
    inbox: { topic: string; data: Uint8Array }[];
  }) => Promise<void>,
  over: Partial<AviEmbeddedConfig> = {},
): Promise<void> {
  const gw = gateway();
  const { avi, inbox } = await device(gw, over);
  try {
    await body({ gw, avi, inbox });
  } finally {
    await avi.close();
    await gw.close();
  }
}

/** Rejects if `p` has not settled within `ms` (so a lost ack fails, not hangs). */
function within<T>(p: Promise<T>, what: string, ms = 5000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Messages encoded back to back: a bundle's plaintext. */
function plaintext(...ms: Message[]): Uint8Array {
  const w = new Writer(new Uint8Array(1024));
  for (const m of ms) encodeMessage(w, m);
  return w.buf.slice(0, w.pos);
}

Deno.test("AviEmbedded connects, subscribes, receives, publishes and reports events", async () => {
  await withDevice(async ({ gw, avi, inbox }) => {
    assert.equal(avi.isConnected(), false);
    await avi.connect();
    assert.equal(avi.isConnected(), true);
    await avi.subscribe("home/+/light");
    assert.equal(
      gw.publish("home/kitchen/light", new Uint8Array([1, 2, 3])),
      1,
    );
    assert.equal(gw.publish("home/other", new Uint8Array([9])), 0);
    await until(() => inbox.length === 1, 15_000, "a message");
    assert.equal(inbox[0].topic, "home/kitchen/light");
    assert.deepStrictEqual(inbox[0].data, new Uint8Array([1, 2, 3]));

    await avi.publish("dev/out", new Uint8Array([7]), { qos: 1 });
    await avi.publish("dev/out0", new Uint8Array([8]));
    await avi.buttonPressed(2, "long", new Uint8Array([0xaa]));
    await avi.updateSensor("temp", { kind: "temperature", value: 21.5 });
    await avi.updateSensor("door", { kind: "status", value: true });
    await gw.waitFor(
      () => gw.messages("publish").length === 2,
      5000,
      "publishes",
    );
    const pubs = gw.messages("publish");
    assert.deepStrictEqual(pubs.map((p) => [p.topic, p.qos, [...p.data]]), [
      ["dev/out", 1, [7]],
      ["dev/out0", 0, [8]],
    ]);
    const [button] = gw.messages("buttonPress");
    assert.equal(button.buttonId, 2);
    assert.equal(button.pressType, "long");
    assert.deepStrictEqual(button.customData, new Uint8Array([0xaa]));
    const sensors = gw.messages("sensorUpdate");
    assert.deepStrictEqual(sensors.map((s) => [s.name, s.value]), [
      ["temp", { kind: "temperature", value: 21.5 }],
      ["door", { kind: "status", value: true }],
    ]);
    assert.equal(avi.pendingCount(), 0);
  });
});

Deno.test("AviEmbedded.connect() fails with GatewayUnreachableError when no gateway answers", async () => {
  // A bound socket that never answers.
  const silent = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const { avi } = await device({ port: (silent.addr as Deno.NetAddr).port }, {
    connectTimeoutMs: 1500,
  });
  try {
    await assert.rejects(() => avi.connect(), GatewayUnreachableError);
    assert.equal(avi.isConnected(), false);
    assert.equal(avi.state, "idle");
    assert.ok(avi.stats.retransmissions >= 2, "the Hello was retransmitted");
    await assert.rejects(
      () => avi.publish("t", new Uint8Array(1)),
      NotConnectedError,
    );
  } finally {
    await avi.close();
    silent.close();
  }
});

Deno.test("AviEmbedded.connect() with a wrong key fails with HandshakeRejectedError(not authorised)", async () => {
  await withDevice(async ({ gw, avi }) => {
    await assert.rejects(
      () => avi.connect(),
      (e) =>
        e instanceof HandshakeRejectedError &&
        e.code === ErrorCode.NOT_AUTHORISED,
    );
    assert.equal(gw.sessions.size, 0, "no session was created");
    assert.deepStrictEqual(gw.rejects, [ErrorCode.NOT_AUTHORISED]);
  }, { key: new Uint8Array(32).fill(1) });
});

Deno.test("AviEmbedded discovers the gateway with SearchGw when none is configured", async () => {
  const gw = gateway();
  const { avi } = await device(null, {
    discovery: { address: "127.0.0.1", port: gw.port },
  });
  try {
    await avi.connect();
    assert.deepStrictEqual(avi.gateway, {
      address: "127.0.0.1",
      port: gw.port,
    });
    await avi.buttonPressed(1, "single");
    assert.equal(gw.messages("buttonPress").length, 1);
  } finally {
    await avi.close();
    await gw.close();
  }
});

Deno.test("AviEmbedded re-handshakes and re-subscribes by itself after a gateway restart", async () => {
  const gw = gateway();
  const { avi, inbox } = await device(gw);
  const states: string[] = [];
  try {
    await avi.connect();
    await avi.subscribe("alerts/#");
    const firstSession = [...gw.sessions.keys()][0];
    gw.restart();
    // The next message meets "unknown session", the device handshakes again,
    // re-subscribes, and the message is retransmitted in the new session.
    await avi.publish("dev/after", new Uint8Array([1]), { qos: 1 });
    assert.equal(gw.handshakes, 2);
    assert.ok(gw.rejects.includes(ErrorCode.UNKNOWN_SESSION));
    await gw.waitFor(
      () => [...gw.sessions.values()].some((s) => s.subs.has("alerts/#")),
      5000,
      "re-subscribe",
    );
    assert.notEqual([...gw.sessions.keys()][0], firstSession);
    assert.equal(gw.publish("alerts/fire", new Uint8Array([5])), 1);
    await until(() => inbox.length === 1, 15_000, "message after restart");
    assert.equal(avi.stats.handshakes, 2);
    void states;
  } finally {
    await avi.close();
    await gw.close();
  }
});

Deno.test("AviEmbedded QoS 1 publishes all arrive exactly once through 30% loss each way", async () => {
  const gw = gateway();
  const { avi } = await device(gw, { maxPending: 8 });
  try {
    await avi.connect();
    let seed = 12345;
    const rand =
      () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    gw.dropIncoming = (b) => b[1] === 0x10 && rand() < 0.3;
    gw.dropOutgoing = (b) => b[1] === 0x10 && rand() < 0.3;
    const total = 120;
    let next = 0;
    const worker = async () => {
      while (next < total) {
        const i = next++;
        await avi.publish("load", new Uint8Array([i]), { qos: 1 });
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    const got = gw.messages("publish").map((p) => p.data[0]).sort((a, b) =>
      a - b
    );
    assert.deepStrictEqual(got, Array.from({ length: total }, (_, i) => i));
    assert.ok(avi.stats.retransmissions > 0);
  } finally {
    gw.dropIncoming = gw.dropOutgoing = null;
    await avi.close();
    await gw.close();
  }
});

Deno.test("AviEmbedded bounds its QoS 1 queue and close() rejects what is pending", async () => {
  await withDevice(async ({ gw, avi }) => {
    await avi.connect();
    gw.dropIncoming = () => true; // the gateway goes deaf
    const a = avi.publish("q", new Uint8Array([1]), { qos: 1 });
    const b = avi.buttonPressed(1, "single");
    await assert.rejects(
      () => avi.publish("q", new Uint8Array([3]), { qos: 1 }),
      QueueFullError,
    );
    assert.equal(avi.pendingCount(), 2);
    const ra = assert.rejects(() => a, ClientClosedError);
    const rb = assert.rejects(() => b, ClientClosedError);
    await avi.close();
    await ra;
    await rb;
  }, { maxPending: 2 });
});

Deno.test("AviEmbedded keeps alive with Ping, presumes a silent gateway lost and recovers", async () => {
  const gw = gateway({ keepAliveSeconds: 1 });
  const states: string[] = [];
  const { avi } = await device(gw, {
    onStateChange: (s) => states.push(s),
    maxTransmissions: 2,
  });
  try {
    await avi.connect();
    const sid = [...gw.sessions.keys()][0];
    const heard = gw.sessions.get(sid)!.lastHeard;
    await gw.waitFor(
      () => gw.sessions.get(sid)!.lastHeard > heard + 500,
      5000,
      "a keep-alive ping",
    );
    gw.dropIncoming = () => true;
    await until(
      () => avi.state === "reconnecting",
      15000,
      "gateway presumed lost",
    );
    gw.dropIncoming = null;
    await until(() => avi.isConnected(), 15000, "reconnected");
    assert.ok(gw.handshakes >= 2);
    assert.deepStrictEqual(states.slice(0, 3), [
      "handshaking",
      "connected",
      "reconnecting",
    ]);
  } finally {
    await avi.close();
    await gw.close();
  }
});

Deno.test("AviEmbedded registers an alias for a long topic and the gateway resolves it", async () => {
  await withDevice(async ({ gw, avi }) => {
    await avi.connect();
    const topic = "device/4242/telemetry/energy/meter-1";
    for (let i = 0; i < 5; i++) {
      await avi.publish(topic, new Uint8Array([i]));
      await gw.waitFor(
        () => gw.messages("publish").length === i + 1,
        5000,
        "publishes",
      );
    }
    assert.deepStrictEqual(
      gw.messages("publish").map((p) => p.topic),
      Array(5).fill(topic),
    );
    const s = [...gw.sessions.values()][0];
    assert.equal(s.aliases.get(1), topic, "alias 1 was registered");
    assert.ok(
      gw.aliasHits >= 3,
      `later publishes used the alias (${gw.aliasHits})`,
    );
    // A QoS 1 publish carries its topic: its retransmissions, in this
    // session or a later one, repeat its bytes (tests/embedded_retransmit_test.ts).
    const hits = gw.aliasHits;
    await avi.publish(topic, new Uint8Array([5]), { qos: 1 });
    assert.equal(gw.aliasHits, hits);
    assert.equal(gw.messages("publish").at(-1)?.topic, topic);
  });
});

Deno.test("AviEmbedded delivers a retransmitted downlink QoS 1 message once and acks both", async () => {
  await withDevice(async ({ gw, avi, inbox }) => {
    await avi.connect();
    await avi.subscribe("x");
    const m = {
      type: "message" as const,
      msgId: 77,
      qos: 1 as const,
      topic: "x",
      data: new Uint8Array([1]),
    };
    gw.sendTo(DEVICE, m);
    gw.sendTo(DEVICE, m);
    await gw.waitFor(() => gw.messages("ack").length === 2, 5000, "two acks");
    assert.equal(inbox.length, 1);
    assert.equal(avi.stats.duplicates, 1);
  });
});

Deno.test("AviEmbedded streams: start (acked), audio frames with sequence numbers, close", async () => {
  await withDevice(async ({ gw, avi }) => {
    await avi.connect();
    await avi.startStream(3, "12D3KooWPeer", "voice");
    const pcm = new Uint8Array(640).fill(0x11);
    avi.sendAudio(3, pcm);
    avi.sendAudio(3, pcm);
    avi.closeStream(3);
    await gw.waitFor(
      () => gw.messages("streamClose").length === 1,
      5000,
      "stream close",
    );
    assert.deepStrictEqual(
      gw.messages("streamStart").map((
        s,
      ) => [s.streamId, s.targetPeer, s.reason]),
      [[3, "12D3KooWPeer", "voice"]],
    );
    const data = gw.messages("streamData");
    assert.deepStrictEqual(
      data.map((d) => [d.streamId, d.seq, d.data.length]),
      [[3, 0, 640], [3, 1, 640]],
    );
  });
});

Deno.test("AviEmbedded rejects a refused publish with RequestRefusedError and oversize data at once", async () => {
  await withDevice(async ({ gw, avi }) => {
    await avi.connect();
    gw.publishAckCode = ErrorCode.NOT_PERMITTED;
    await assert.rejects(
      () => avi.publish("forbidden", new Uint8Array([1]), { qos: 1 }),
      (e) =>
        e instanceof RequestRefusedError && e.code === ErrorCode.NOT_PERMITTED,
    );
    await assert.rejects(
      () => avi.publish("big", new Uint8Array(1020), { qos: 1 }),
      { name: "FrameEncodeError" },
    );
    await assert.rejects(() => avi.publish("big", new Uint8Array(1020)), {
      name: "FrameEncodeError",
    });
    assert.equal(avi.pendingCount(), 0);
  });
});

// Bundles (docs/PROTOCOL.md 4.6). A long first retry delay keeps
// retransmissions out of the datagram counts.

Deno.test("AviEmbedded sends 16 sensor readings made in one job in one or two datagrams, all acknowledged", async () => {
  await withDevice(async ({ gw, avi }) => {
    await avi.connect();
    const frames0 = gw.frameSizes.length;
    const sent0 = avi.stats.framesSent;
    const msgs0 = avi.stats.messagesSent;
    const received0 = avi.stats.framesReceived;
    const names = Array.from({ length: 16 }, (_, i) => `sensor_${i}`);
    const done = names.map((name, i) =>
      avi.updateSensor(name, { kind: "temperature", value: 20 + i / 10 })
    );
    await within(Promise.all(done), "16 acks");
    const frames = gw.frameSizes.slice(frames0);
    assert.ok(frames.length <= 2, `${frames.length} datagrams: ${frames}`);
    assert.equal(frames.reduce((a, b) => a + b, 0), 16);
    assert.equal(avi.stats.framesSent - sent0, frames.length);
    assert.equal(avi.stats.messagesSent - msgs0, 16);
    assert.deepStrictEqual(
      gw.messages("sensorUpdate").map((m) => m.name),
      names,
    );
    // The gateway answers each frame with one frame of acks.
    assert.equal(avi.stats.framesReceived - received0, frames.length);
    assert.equal(avi.stats.retransmissions, 0);
    assert.equal(gw.duplicates, 0);
    assert.equal(avi.pendingCount(), 0);
  }, { retryInitialMs: 5000, retryMaxMs: 5000 });
});

Deno.test("AviEmbedded handles every message of a bundled frame from the gateway, in order, and answers in one frame", async () => {
  await withDevice(async ({ gw, avi, inbox }) => {
    await avi.connect();
    await avi.subscribe("x/#");
    gw.autoAck = false;
    const acked: string[] = [];
    const a = avi.updateSensor("t", { kind: "temperature", value: 1 })
      .then(() => acked.push("sensor"));
    const b = avi.buttonPressed(1, "single").then(() => acked.push("button"));
    await gw.waitFor(
      () => gw.messages("buttonPress").length === 1,
      5000,
      "the two messages at the gateway",
    );
    const [sensor] = gw.messages("sensorUpdate");
    const [button] = gw.messages("buttonPress");
    const received0 = avi.stats.framesReceived;
    const frames0 = gw.frameSizes.length;
    assert.equal(
      gw.sendBundle(DEVICE, [
        { type: "ack", msgId: button.msgId, code: 0 },
        {
          type: "message",
          msgId: 900,
          qos: 1,
          topic: "x/1",
          data: new Uint8Array([1]),
        },
        { type: "ack", msgId: sensor.msgId, code: 0 },
        {
          type: "message",
          msgId: 0,
          qos: 0,
          topic: "x/2",
          data: new Uint8Array([2]),
        },
        { type: "ping" },
      ]),
      1,
      "one frame",
    );
    await within(Promise.all([a, b]), "both acks of the bundle");
    assert.deepStrictEqual(acked, ["button", "sensor"], "in order");
    await gw.waitFor(
      () => gw.messages("pong").length === 1,
      5000,
      "the pong",
    );
    assert.deepStrictEqual(
      inbox.map((m) => [m.topic, [...m.data]]),
      [["x/1", [1]], ["x/2", [2]]],
    );
    assert.equal(avi.stats.framesReceived - received0, 1);
    assert.equal(avi.stats.framesDropped, 0);
    // Its answers (the Ack of the QoS 1 Message, the Pong) share one frame.
    const ack = gw.received.find((r) =>
      r.message.type === "ack" && r.message.msgId === 900
    );
    const pong = gw.received.find((r) => r.message.type === "pong");
    assert.ok(ack && pong);
    assert.equal(ack.frame, pong.frame);
    assert.deepStrictEqual(gw.frameSizes.slice(frames0), [2]);
  }, { retryInitialMs: 5000, retryMaxMs: 5000 });
});

Deno.test("AviEmbedded drops a bundled frame with one malformed message whole", async () => {
  await withDevice(async ({ gw, avi, inbox }) => {
    await avi.connect();
    await avi.subscribe("x/#");
    gw.autoAck = false;
    let acked = 0;
    const done = avi.updateSensor("t", { kind: "temperature", value: 1 })
      .then(() => acked++);
    await gw.waitFor(
      () => gw.messages("sensorUpdate").length === 1,
      5000,
      "the reading at the gateway",
    );
    const [sensor] = gw.messages("sensorUpdate");
    const good = plaintext(
      { type: "ack", msgId: sensor.msgId, code: 0 },
      {
        type: "message",
        msgId: 0,
        qos: 0,
        topic: "x/1",
        data: new Uint8Array([1]),
      },
    );
    // The valid messages first, then one of an unknown type (0x7f).
    const bad = new Uint8Array([...good, 0x91, 0x7f]);
    assert.equal(decodeMessages(good).length, 2);
    assert.throws(() => decodeMessages(bad), FrameDecodeError);
    const dropped0 = avi.stats.framesDropped;
    gw.sendPlaintext(DEVICE, bad);
    await until(
      () => avi.stats.framesDropped === dropped0 + 1,
      5000,
      "the frame dropped",
    );
    assert.equal(acked, 0, "the ack before the bad message was not handled");
    assert.equal(avi.pendingCount(), 1);
    assert.equal(inbox.length, 0, "nor the message");
    // The session is fine: the same messages without the bad one are handled.
    gw.sendPlaintext(DEVICE, good);
    await within(done, "the ack of the good frame");
    await until(
      () => inbox.length === 1,
      15_000,
      "the message of the good frame",
    );
    assert.equal(avi.pendingCount(), 0);
    assert.equal(avi.stats.framesDropped, dropped0 + 1);
  }, { retryInitialMs: 5000, retryMaxMs: 5000 });
});
