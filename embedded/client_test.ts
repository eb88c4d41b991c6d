// Unit tests of AviEmbedded's state machine with an in-memory gateway (built
// on protocol/), a fake clock and no timers: the device loop drives it with
// tick(). The real-UDP tests are in tests/embedded_client_test.ts.
import assert from "node:assert/strict";
import { AviEmbedded } from "./client.ts";
import { GatewayUnreachableError } from "./errors.ts";
import type { DatagramReceiver, DeviceSocket } from "./types.ts";
import {
  answerHello,
  decodeFrame,
  type Message,
  nobleCrypto,
  type SecureSession,
} from "../protocol/mod.ts";

const c = nobleCrypto({ random: (b) => void crypto.getRandomValues(b) });
const KEY = new Uint8Array(32).fill(0x42);

class Rig {
  t = 0;
  rx: DatagramReceiver | null = null;
  toGateway: Uint8Array[] = [];
  session: SecureSession | null = null;
  got: Message[] = [];
  answer = true;
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
        });
        if (o.action === "accept") this.session = o.session;
        reply = o.reply;
      } else if (f.kind === "sealed" && this.session) {
        const m = this.session.openMessage(f);
        if (typeof m === "number") continue;
        if (drop(m)) continue;
        this.got.push(m);
        if (m.type === "publish" && m.qos === 1) {
          reply = this.session.sealMessage({
            type: "ack",
            msgId: m.msgId,
            code: 0,
          }, new Uint8Array(1024)).slice();
        } else if (m.type === "ping") {
          reply = this.session.sealMessage(
            { type: "pong" },
            new Uint8Array(1024),
          ).slice();
        }
      }
      if (reply && this.answer) this.rx!(reply.slice(), "10.0.0.1", 8888);
    }
  }
  device(): AviEmbedded {
    return new AviEmbedded(this.socket, {
      deviceId: 1,
      key: KEY,
      crypto: c,
      gateway: { address: "10.0.0.1", port: 8888 },
      now: () => this.t,
      timers: null,
    }, () => {});
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
