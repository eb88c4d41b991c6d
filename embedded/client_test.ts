// Unit tests of AviEmbedded's state machine with an in-memory gateway (built
// on protocol/), a fake clock and no timers: the device loop drives it with
// tick(). The real-UDP tests are in tests/embedded_client_test.ts.
import assert from "node:assert/strict";
import { AviEmbedded } from "./client.ts";
import { ClientClosedError, GatewayUnreachableError } from "./errors.ts";
import type { DatagramReceiver, DeviceSocket } from "./types.ts";
import {
  answerHello,
  decodeFrame,
  encodeReject,
  ErrorCode,
  type Message,
  nobleCrypto,
  type SecureSession,
} from "../protocol/mod.ts";

const c = nobleCrypto({ random: (b) => void crypto.getRandomValues(b) });
const KEY = new Uint8Array(32).fill(0x42);
/** Lets the current job end: the client sends what became due in it. */
const jobEnd = () => new Promise((r) => setTimeout(r, 0));

class Rig {
  t = 0;
  rx: DatagramReceiver | null = null;
  toGateway: Uint8Array[] = [];
  session: SecureSession | null = null;
  got: Message[] = [];
  /** What the device's handler received, as "topic:bytes". */
  inbox: string[] = [];
  /** Messages in each sealed frame the gateway received. */
  frames: number[] = [];
  answer = true;
  /** The gateway's max frame (the session takes the smaller of both). */
  gwMaxFrame = 1024;
  socket: DeviceSocket = {
    send: (d) => this.toGateway.push(d.slice()),
    setReceiver: (fn) => this.rx = fn,
    close: () => {},
  };
  /** Delivers queued datagrams to the in-memory gateway and its answers back. */
  pump(drop: (m: Message | null) => boolean = () => false): void {
    while (this.toGateway.length > 0) {
      const raw = this.toGateway.shift()!;
      const f = decodeFrame(raw);
      let reply: Uint8Array | null = null;
      if (f.kind === "hello") {
        const o = answerHello(c, f, raw, {
          cookieSecret: new Uint8Array(32),
          now: 1000 + Math.floor(this.t / 1000),
          source: "10.0.0.2:1234",
          lookupKey: () => KEY,
          sessionId: 77,
          keepAliveSeconds: 5,
          maxFrame: this.gwMaxFrame,
        });
        if (o.action === "accept") this.session = o.session;
        reply = o.reply;
      } else if (f.kind === "sealed" && this.session) {
        const ms = this.session.openMessages(f);
        if (typeof ms === "number") continue;
        this.frames.push(ms.length);
        const answers: Message[] = [];
        for (const m of ms) {
          if (drop(m)) continue;
          this.got.push(m);
          if (m.type === "register") {
            answers.push({
              type: "regAck",
              msgId: m.msgId,
              alias: m.alias,
              code: 0,
            });
          } else if (m.type === "subscribe") {
            answers.push({ type: "subscribeAck", msgId: m.msgId, code: 0 });
          } else if (
            m.type === "buttonPress" || m.type === "sensorUpdate" ||
            (m.type === "publish" && m.qos === 1)
          ) answers.push({ type: "ack", msgId: m.msgId, code: 0 });
          else if (m.type === "ping") answers.push({ type: "pong" });
        }
        // The answers to one frame, bundled (as the bridge does).
        if (answers.length > 0) reply = this.seal(answers);
      }
      if (reply && this.answer) this.rx!(reply.slice(), "10.0.0.1", 8888);
    }
  }
  seal(ms: Message[]): Uint8Array {
    const { frame, count } = this.session!.sealMessages(
      ms,
      new Uint8Array(1024),
    );
    assert.equal(count, ms.length, "the bundle fits one frame");
    return frame.slice();
  }
  /** Sends a frame from the gateway to the device. */
  down(frame: Uint8Array): void {
    this.rx!(frame, "10.0.0.1", 8888);
  }
  device(): AviEmbedded {
    return new AviEmbedded(this.socket, {
      deviceId: 1,
      key: KEY,
      crypto: c,
      gateway: { address: "10.0.0.1", port: 8888 },
      now: () => this.t,
      timers: null,
    }, (topic, data) => this.inbox.push(`${topic}:${data}`));
  }
}

Deno.test("AviEmbedded without timers: tick() drives the handshake, retransmission and keep-alive", async () => {
  const r = new Rig();
  const avi = r.device();
  const connected = avi.connect();
  r.pump(); // Hello -> Cookie -> Hello -> Welcome
  await connected;
  assert.equal(avi.isConnected(), true);

  // A QoS 1 publish whose first transmission is lost is sent again after
  // the initial retry delay (1 s), and resolves on the ack.
  let first = true;
  const p = avi.publish("a/b", new Uint8Array([1]), { qos: 1 });
  await jobEnd();
  r.pump((m) => {
    if (m?.type === "publish" && first) {
      first = false;
      return true;
    }
    return false;
  });
  assert.equal(r.got.length, 0);
  r.t += 999;
  avi.tick();
  assert.equal(r.toGateway.length, 0, "not yet due");
  r.t += 1;
  avi.tick();
  r.pump();
  await p;
  assert.equal(r.got.filter((m) => m.type === "publish").length, 1);
  assert.equal(avi.stats.retransmissions, 1);

  // Keep-alive: silent for keepAliveSeconds (5 s) -> Ping.
  r.t += 5000;
  avi.tick();
  r.pump();
  assert.ok(r.got.some((m) => m.type === "ping"));
  await avi.close();
});

Deno.test("AviEmbedded without timers: connect() gives up at the deadline after backed-off Hellos", async () => {
  const r = new Rig();
  r.answer = false;
  const avi = r.device();
  const connected = avi.connect();
  const hellos: number[] = [];
  for (let t = 0; t <= 10_000; t += 100) {
    r.t = t;
    avi.tick();
    while (r.toGateway.length) {
      r.toGateway.shift();
      hellos.push(t);
    }
  }
  await assert.rejects(connected, GatewayUnreachableError);
  // 1 s, 2 s, 4 s, then capped at 8 s: sent at 0, 1, 3, 7 s.
  assert.deepStrictEqual(hellos, [0, 1000, 3000, 7000]);
  await avi.close();
});

Deno.test("AviEmbedded keeps reconnecting after a connect() that timed out, then delivers its queue", async () => {
  const r = new Rig();
  const avi = r.device();
  const connected = avi.connect();
  r.pump();
  await connected;
  r.answer = false; // the gateway goes silent
  let done = false;
  const p = avi.publish("a", new Uint8Array([1]), { qos: 1 }).then(() =>
    done = true
  );
  for (let i = 0; i < 400 && avi.state !== "reconnecting"; i++) {
    r.t += 100;
    avi.tick();
    r.toGateway.length = 0;
  }
  assert.equal(
    avi.state,
    "reconnecting",
    "the silent gateway was presumed lost",
  );
  const again = avi.connect();
  for (let i = 0; i < 110; i++) {
    r.t += 100;
    avi.tick();
    r.toGateway.length = 0;
  }
  await assert.rejects(again, GatewayUnreachableError);
  assert.equal(avi.state, "reconnecting", "still trying by itself");
  assert.equal(done, false);
  r.answer = true;
  for (let i = 0; i < 200 && !done; i++) {
    r.t += 100;
    avi.tick();
    r.pump();
    await Promise.resolve();
  }
  await p;
  assert.equal(avi.isConnected(), true);
  assert.equal(r.got.filter((m) => m.type === "publish").length >= 1, true);
  await avi.close();
});

// Bundles (docs/PROTOCOL.md 4.6): what becomes due in one job leaves in as
// few frames as fit, at the end of that job.

async function connected(r: Rig): Promise<AviEmbedded> {
  const avi = r.device();
  const p = avi.connect();
  r.pump();
  await p;
  return avi;
}

Deno.test("AviEmbedded sends what becomes due in one job in one frame, in call order", async () => {
  const r = new Rig();
  const avi = await connected(r);
  const sent0 = avi.stats.framesSent;
  const done = [
    ...Array.from(
      { length: 14 },
      (_, i) => avi.updateSensor(`s${i}`, { kind: "humidity", value: i }),
    ),
    avi.publish("q0", new Uint8Array([1])),
    avi.buttonPressed(3, "long"),
  ];
  assert.equal(r.toGateway.length, 0, "nothing before the job ends");
  await jobEnd();
  assert.equal(r.toGateway.length, 1, "one datagram");
  assert.equal(avi.stats.framesSent - sent0, 1);
  assert.equal(avi.stats.messagesSent, 16);
  r.pump();
  assert.deepStrictEqual(r.frames, [16]);
  assert.deepStrictEqual(
    r.got.map((m) => "name" in m ? m.name : m.type),
    [
      ...Array.from({ length: 14 }, (_, i) => `s${i}`),
      "publish",
      "buttonPress",
    ],
  );
  // The gateway answered with one frame of 15 acks: all settle.
  await Promise.all(done);
  assert.equal(avi.pendingCount(), 0);
  assert.equal(
    avi.stats.framesReceived,
    3,
    "Cookie, Welcome, one frame of acks",
  );
  await avi.close();
});

Deno.test("AviEmbedded handles every message of a bundle in order and answers in one frame", async () => {
  const r = new Rig();
  const avi = await connected(r);
  const sub = avi.subscribe("t/#");
  await jobEnd();
  r.pump();
  await sub;
  r.got.length = r.frames.length = 0;
  const m = (msgId: number, topic: string): Message => ({
    type: "message",
    msgId,
    qos: 1,
    topic,
    data: new Uint8Array([msgId]),
  });
  r.down(r.seal([m(5, "t/a"), { type: "ping" }, m(6, "t/b"), m(5, "t/a")]));
  assert.deepStrictEqual(r.inbox, ["t/a:5", "t/b:6"]);
  assert.equal(avi.stats.duplicates, 1, "msgId 5 twice in one bundle");
  await jobEnd();
  r.pump();
  assert.deepStrictEqual(r.frames, [4], "one frame of answers");
  assert.deepStrictEqual(r.got, [
    { type: "ack", msgId: 5, code: 0 },
    { type: "pong" },
    { type: "ack", msgId: 6, code: 0 },
    { type: "ack", msgId: 5, code: 0 },
  ]);
  await avi.close();
});

Deno.test("AviEmbedded: a QoS 0 publish resolves once sent, and its bytes may be reused at once", async () => {
  const r = new Rig();
  const avi = await connected(r);
  const buf = new Uint8Array([1, 2, 3]);
  let sent = false;
  const p = avi.publish("q", buf).then(() => sent = true);
  buf.fill(9);
  assert.equal(sent, false);
  await p;
  assert.equal(r.toGateway.length, 1, "sent when it resolved");
  r.pump();
  const [pub] = r.got;
  assert.ok(pub.type === "publish");
  assert.deepStrictEqual(pub.data, new Uint8Array([1, 2, 3]));
  // Many at once: at most 32 messages a frame, each frame sent when full.
  const all = Array.from(
    { length: 40 },
    (_, i) => avi.publish("q", new Uint8Array([i])),
  );
  assert.equal(r.toGateway.length, 1, "the first 32, before the 33rd");
  await Promise.all(all);
  r.pump();
  assert.deepStrictEqual(r.frames.slice(1), [32, 8]);
  await avi.close();
});

Deno.test("AviEmbedded retransmits messages due at once in one frame", async () => {
  const r = new Rig();
  const avi = await connected(r);
  const done = [
    avi.buttonPressed(1, "single"),
    avi.updateSensor("t", { kind: "temperature", value: 1 }),
  ];
  await jobEnd();
  r.pump(() => true); // both lost
  r.t += 1000;
  avi.tick(); // due: sent at once, not at the end of the job
  assert.equal(r.toGateway.length, 1);
  r.pump();
  await Promise.all(done);
  assert.equal(avi.stats.retransmissions, 2);
  assert.deepStrictEqual(r.frames, [2, 2]);
  await avi.close();
});

Deno.test("AviEmbedded refuses a queued message too large for the frame agreed at a re-handshake, and sends the rest", async () => {
  const r = new Rig();
  const avi = await connected(r);
  r.down(encodeReject(ErrorCode.UNKNOWN_SESSION, 77)); // gateway restarted
  assert.equal(avi.state, "reconnecting");
  const big = avi.publish("big", new Uint8Array(700), { qos: 1 });
  const small = avi.updateSensor("t", { kind: "temperature", value: 1 });
  r.gwMaxFrame = 512;
  r.pump(); // the re-handshake, at 512 bytes
  assert.equal(avi.isConnected(), true);
  await assert.rejects(big, { name: "FrameEncodeError" });
  await jobEnd();
  r.pump();
  await small;
  assert.deepStrictEqual(r.got.map((m) => m.type), ["sensorUpdate"]);
  assert.equal(avi.pendingCount(), 0);
  await avi.close();
});

Deno.test("AviEmbedded.sleep() and close() send what is queued first, the Disconnect last, at once", async () => {
  const r = new Rig();
  const avi = await connected(r);
  void avi.publish("a", new Uint8Array([1]));
  const ev = avi.buttonPressed(1, "double");
  avi.sleep(60);
  assert.equal(r.toGateway.length, 1, "sent by sleep() itself");
  r.pump();
  await ev;
  assert.deepStrictEqual(r.got.map((m) => m.type), [
    "publish",
    "buttonPress",
    "disconnect",
  ]);
  r.got.length = 0;
  void avi.publish("b", new Uint8Array([2]));
  const lost = avi.updateSensor("t", { kind: "temperature", value: 1 });
  const closing = assert.rejects(lost, ClientClosedError);
  await avi.close();
  await closing;
  assert.equal(r.toGateway.length, 1);
  r.pump();
  assert.deepStrictEqual(
    r.got.map((m) => m.type === "disconnect" ? m.sleepSeconds : m.type),
    ["publish", "sensorUpdate", 0],
  );
});
