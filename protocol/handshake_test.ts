import assert from "node:assert/strict";
import {
  answerHello,
  type AnswerHelloOptions,
  createHello,
  openWelcome,
} from "./handshake.ts";
import { decodeFrame, encodeReject, type SealedFrame } from "./frames.ts";
import { nobleCrypto } from "./noble_crypto.ts";
import { ErrorCode } from "./constants.ts";
import { FrameDecodeError } from "./errors.ts";
import type { SecureSession } from "./session.ts";

const c = nobleCrypto({ random: (b) => crypto.getRandomValues(b) });
const KEY = crypto.getRandomValues(new Uint8Array(32));
const DEVICE = 1234;

function gwOptions(over: Partial<AnswerHelloOptions> = {}): AnswerHelloOptions {
  return {
    cookieSecret: new Uint8Array(32).fill(7),
    now: 5000,
    source: "127.0.0.1:4000",
    lookupKey: (id) => (id === DEVICE ? KEY : undefined),
    sessionId: 99,
    ...over,
  };
}

function hello(
  key: Uint8Array,
  nonce: Uint8Array,
  cookie?: Uint8Array,
  deviceId = DEVICE,
) {
  const raw = createHello(c, { deviceId, key, clientNonce: nonce, cookie });
  const f = decodeFrame(raw);
  if (f.kind !== "hello") throw new Error("not a hello");
  return { raw, f };
}

function cookieFor(
  key: Uint8Array,
  nonce: Uint8Array,
  opts: AnswerHelloOptions,
  deviceId = DEVICE,
) {
  const h = hello(key, nonce, undefined, deviceId);
  const o = answerHello(c, h.f, h.raw, opts);
  assert.equal(o.action, "cookie");
  assert.ok(
    o.reply.length < h.raw.length,
    "a cookie answer is smaller than the Hello",
  );
  const cf = decodeFrame(o.reply);
  if (cf.kind !== "cookie") throw new Error("not a cookie");
  return cf.cookie.slice();
}

function handshake(): { dev: SecureSession; gw: SecureSession } {
  const nonce = crypto.getRandomValues(new Uint8Array(16));
  const opts = gwOptions();
  const cookie = cookieFor(KEY, nonce, opts);
  const h = hello(KEY, nonce, cookie);
  const o = answerHello(c, h.f, h.raw, opts);
  if (o.action !== "accept") throw new Error(`not accepted: ${o.action}`);
  const wf = decodeFrame(o.reply);
  if (wf.kind !== "welcome") throw new Error("not a welcome");
  const w = openWelcome(
    c,
    { deviceId: DEVICE, key: KEY, clientNonce: nonce },
    wf,
    o.reply,
  );
  assert.ok(w);
  assert.equal(w.keepAliveSeconds, 30);
  assert.equal(w.maxFrame, 1024);
  return { dev: w.session, gw: o.session };
}

function sealed(bytes: Uint8Array): SealedFrame {
  const f = decodeFrame(bytes);
  if (f.kind !== "sealed") throw new Error("not sealed");
  return f;
}

Deno.test("handshake: cookie, then a session both sides can use, both ways", () => {
  const { dev, gw } = handshake();
  const buf = new Uint8Array(1024);
  const m = gw.openMessage(
    sealed(
      dev.sealMessage({ type: "subscribe", msgId: 1, topic: "a/b" }, buf)
        .slice(),
    ),
  );
  assert.deepStrictEqual(m, { type: "subscribe", msgId: 1, topic: "a/b" });
  const back = dev.openMessage(
    sealed(
      gw.sealMessage({ type: "subscribeAck", msgId: 1, code: 0 }, buf).slice(),
    ),
  );
  assert.deepStrictEqual(back, { type: "subscribeAck", msgId: 1, code: 0 });
});

Deno.test("handshake: a wrong key is refused with NOT_AUTHORISED and no session", () => {
  const nonce = crypto.getRandomValues(new Uint8Array(16));
  const opts = gwOptions();
  const wrong = crypto.getRandomValues(new Uint8Array(32));
  const cookie = cookieFor(wrong, nonce, opts);
  const h = hello(wrong, nonce, cookie);
  const o = answerHello(c, h.f, h.raw, opts);
  assert.equal(o.action, "reject");
  if (o.action !== "reject") return;
  assert.equal(o.code, ErrorCode.NOT_AUTHORISED);
  assert.deepStrictEqual(decodeFrame(o.reply), {
    kind: "reject",
    code: ErrorCode.NOT_AUTHORISED,
    sessionId: 0,
  });
  // An unknown device gets the same answer.
  const c2 = cookieFor(KEY, nonce, opts, 77);
  const h2 = hello(KEY, nonce, c2, 77);
  const o2 = answerHello(c, h2.f, h2.raw, opts);
  assert.equal(o2.action, "reject");
});

Deno.test("handshake: a cookie from another source, an old one, or another secret gets a fresh Cookie", () => {
  const nonce = crypto.getRandomValues(new Uint8Array(16));
  const opts = gwOptions();
  const cookie = cookieFor(KEY, nonce, opts);
  const h = hello(KEY, nonce, cookie);
  for (
    const o of [
      gwOptions({ source: "127.0.0.1:4001" }),
      gwOptions({ now: 5031 }),
      gwOptions({ now: 4999 }),
      gwOptions({ cookieSecret: new Uint8Array(32).fill(8) }),
    ]
  ) assert.equal(answerHello(c, h.f, h.raw, o).action, "cookie");
  assert.equal(
    answerHello(c, h.f, h.raw, gwOptions({ now: 5030 })).action,
    "accept",
  );
});

Deno.test("handshake: a replayed Hello nonce is refused with REPLAYED", () => {
  const nonce = crypto.getRandomValues(new Uint8Array(16));
  const used: string[] = [];
  const opts = gwOptions({
    isReplay: (id, n) => used.includes(`${id}:${n.join()}`),
  });
  const h = hello(KEY, nonce, cookieFor(KEY, nonce, opts));
  const o = answerHello(c, h.f, h.raw, opts);
  assert.equal(o.action, "accept");
  used.push(`${DEVICE}:${nonce.join()}`);
  const again = answerHello(c, h.f, h.raw, opts);
  assert.equal(again.action, "reject");
  if (again.action === "reject") assert.equal(again.code, ErrorCode.REPLAYED);
});

Deno.test("handshake: a Welcome made with another key does not open", () => {
  const nonce = crypto.getRandomValues(new Uint8Array(16));
  const other = crypto.getRandomValues(new Uint8Array(32));
  const opts = gwOptions({ lookupKey: () => other });
  const h = hello(other, nonce, cookieFor(other, nonce, opts));
  const o = answerHello(c, h.f, h.raw, opts);
  if (o.action !== "accept") throw new Error("expected accept");
  const wf = decodeFrame(o.reply);
  if (wf.kind !== "welcome") throw new Error("welcome");
  assert.equal(
    openWelcome(
      c,
      { deviceId: DEVICE, key: KEY, clientNonce: nonce },
      wf,
      o.reply,
    ),
    null,
  );
  // Nor does a Welcome for another Hello (other client nonce).
  const wf2 = decodeFrame(o.reply);
  if (wf2.kind !== "welcome") throw new Error("welcome");
  assert.equal(
    openWelcome(
      c,
      { deviceId: DEVICE, key: other, clientNonce: new Uint8Array(16) },
      wf2,
      o.reply,
    ),
    null,
  );
});

Deno.test("session: a replayed frame is refused with REPLAYED, an old one too", () => {
  const { dev, gw } = handshake();
  const buf = new Uint8Array(1024);
  const first = dev.sealMessage({ type: "ping" }, buf).slice();
  assert.deepStrictEqual(gw.openMessage(sealed(first.slice())), {
    type: "ping",
  });
  assert.equal(gw.openMessage(sealed(first.slice())), ErrorCode.REPLAYED);
  for (let i = 0; i < 70; i++) {
    gw.openMessage(sealed(dev.sealMessage({ type: "ping" }, buf).slice()));
  }
  const late = new Uint8Array(first);
  late[9] = 2; // seq 2 was used; now it is also outside the window
  assert.equal(gw.openMessage(sealed(late)), ErrorCode.REPLAYED);
});

Deno.test("session: a forged or altered frame is refused with NOT_AUTHORISED and does not burn its seq", () => {
  const { dev, gw } = handshake();
  const buf = new Uint8Array(1024);
  const good = dev.sealMessage({
    type: "publish",
    msgId: 1,
    qos: 1,
    topic: "t",
    data: new Uint8Array([1, 2, 3]),
  }, buf).slice();
  for (const i of [3, 8, 12, good.length - 1]) {
    const bad = good.slice();
    bad[i] ^= 0x01;
    const f = sealed(bad);
    const r = gw.openMessage(f);
    assert.ok(
      r === ErrorCode.NOT_AUTHORISED || r === ErrorCode.UNKNOWN_SESSION,
      `byte ${i}: ${r}`,
    );
  }
  const forged = good.slice();
  forged.fill(0x42, 10);
  assert.equal(gw.openMessage(sealed(forged)), ErrorCode.NOT_AUTHORISED);
  assert.equal(typeof gw.openMessage(sealed(good.slice())), "object");
});

Deno.test("session: a truncated frame is refused by the decoder (MALFORMED) or the tag", () => {
  const { dev, gw } = handshake();
  const good = dev.sealMessage({ type: "ping" }, new Uint8Array(1024)).slice();
  for (let n = 0; n < good.length; n++) {
    const cut = good.slice(0, n);
    try {
      const f = decodeFrame(cut);
      assert.equal(f.kind, "sealed");
      assert.equal(gw.openMessage(f as SealedFrame), ErrorCode.NOT_AUTHORISED);
    } catch (e) {
      assert.ok(e instanceof FrameDecodeError);
      assert.equal(e.code, ErrorCode.MALFORMED);
    }
  }
});

Deno.test("handshake: a frame of an old protocol version is refused with UNSUPPORTED_VERSION", () => {
  const raw = createHello(c, {
    deviceId: DEVICE,
    key: KEY,
    clientNonce: new Uint8Array(16),
  });
  raw[0] = 0;
  assert.throws(
    () => decodeFrame(raw),
    (e) =>
      e instanceof FrameDecodeError && e.code === ErrorCode.UNSUPPORTED_VERSION,
  );
  // The documented answer is a 7-byte Reject, never larger than the question.
  assert.ok(
    encodeReject(ErrorCode.UNSUPPORTED_VERSION, 0).length <= raw.length,
  );
});

Deno.test("session: a frame larger than the agreed size cannot be sealed", () => {
  const { dev } = handshake();
  assert.throws(
    () =>
      dev.sealMessage({
        type: "publish",
        msgId: 0,
        qos: 0,
        topic: "t",
        data: new Uint8Array(1000),
      }, new Uint8Array(2048)),
    { name: "FrameEncodeError" },
  );
});
