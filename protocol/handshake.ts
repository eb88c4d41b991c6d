/**
 * The handshake, as pure functions: the device builds Hellos and opens the
 * Welcome; the gateway answers Hellos statelessly (cookie) and derives the
 * session. docs/PROTOCOL.md, "Handshake", is the specification.
 *
 * @module
 */

import type { ProtocolCrypto } from "./crypto.ts";
import { constantTimeEqual } from "./crypto.ts";
import { ErrorCode, Limits, Sizes } from "./constants.ts";
import {
  encodeCookie,
  encodeHello,
  encodeReject,
  type HelloFrame,
  type WelcomeFrame,
  writeWelcomeHeader,
} from "./frames.ts";
import { Reader, Writer } from "./msgpack.ts";
import { SecureSession } from "./session.ts";
import { utf8Encode } from "./utf8.ts";

const HELLO_LABEL = utf8Encode("avi-p2p/1 hello");
const COOKIE_LABEL = utf8Encode("avi-p2p/1 cookie");
const KEYS_LABEL = utf8Encode("avi-p2p/1 keys");
const ZERO16 = new Uint8Array(16);

function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function u32be(v: number): Uint8Array {
  return new Uint8Array([
    v >>> 24,
    (v >>> 16) & 0xff,
    (v >>> 8) & 0xff,
    v & 0xff,
  ]);
}

function u64be(v: number): Uint8Array {
  const b = new Uint8Array(8);
  b.set(u32be(Math.floor(v / 0x100000000)), 0);
  b.set(u32be(v >>> 0), 4);
  return b;
}

function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== Sizes.KEY) {
    throw new TypeError("A device key must be a 32-byte Uint8Array");
  }
}

/**
 * The Hello's auth field: the first 16 bytes of
 * HMAC-SHA256(key, "avi-p2p/1 hello" || hello[0..44]).
 *
 * @param crypto Crypto implementation.
 * @param key The device's 32-byte key.
 * @param hello The Hello frame bytes (at least the first 44).
 * @returns 16 bytes.
 * @example
 * ```ts
 * import { helloAuth, nobleCrypto } from "@avi/p2p/protocol";
 * const c = nobleCrypto({ random: (b) => crypto.getRandomValues(b) });
 * console.log(helloAuth(c, new Uint8Array(32), new Uint8Array(60)).length); // 16
 * ```
 */
export function helloAuth(
  crypto: ProtocolCrypto,
  key: Uint8Array,
  hello: Uint8Array,
): Uint8Array {
  return crypto.hmacSha256(key, concat([HELLO_LABEL, hello.subarray(0, 44)]))
    .subarray(0, Sizes.AUTH);
}

/** Input of {@linkcode createHello}. */
export interface HelloInput {
  /** Device id, 0..2^53-1. */
  deviceId: number;
  /** The device's 32-byte pre-shared key. */
  key: Uint8Array;
  /** 16 fresh random bytes (keep them: `openWelcome` needs them). */
  clientNonce: Uint8Array;
  /**
   * Largest frame the device accepts.
   * @default 1024
   */
  maxFrame?: number;
  /** The cookie from the gateway's Cookie frame; zeros (the default) on the first Hello. */
  cookie?: Uint8Array;
}

/**
 * Builds an authenticated Hello (60 bytes).
 *
 * @param crypto Crypto implementation.
 * @param input Device id, key, nonce, frame limit, cookie.
 * @param out Optional destination (60 bytes or more).
 * @returns The frame bytes.
 * @example
 * ```ts
 * import { createHello, nobleCrypto } from "@avi/p2p/protocol";
 * const c = nobleCrypto({ random: (b) => crypto.getRandomValues(b) });
 * const hello = createHello(c, { deviceId: 1, key: new Uint8Array(32), clientNonce: new Uint8Array(16) });
 * console.log(hello.length); // 60
 * ```
 */
export function createHello(
  crypto: ProtocolCrypto,
  input: HelloInput,
  out?: Uint8Array,
): Uint8Array {
  checkKey(input.key);
  const b = encodeHello({
    deviceId: input.deviceId,
    clientNonce: input.clientNonce,
    maxFrame: input.maxFrame ?? Limits.DEFAULT_MAX_FRAME,
    cookie: input.cookie ?? ZERO16,
    auth: ZERO16,
  }, out);
  b.set(helloAuth(crypto, input.key, b), 44);
  return b;
}

/** Per-direction keys of a session. */
export interface SessionKeys {
  /** Device -> gateway key. */
  deviceToGateway: Uint8Array;
  /** Gateway -> device key. */
  gatewayToDevice: Uint8Array;
}

/**
 * The key schedule: HKDF-SHA256(ikm = key, salt = clientNonce || serverNonce,
 * info = "avi-p2p/1 keys" || deviceId (u64 BE) || sessionId (u32 BE), 64 bytes),
 * split into the device->gateway key (first 32) and gateway->device key.
 *
 * @param crypto Crypto implementation.
 * @param key Device key.
 * @param clientNonce 16 bytes from the Hello.
 * @param serverNonce 16 bytes from the Welcome.
 * @param deviceId Device id.
 * @param sessionId Session id.
 * @returns Both keys.
 * @example
 * ```ts
 * import { deriveSessionKeys, nobleCrypto } from "@avi/p2p/protocol";
 * const c = nobleCrypto({ random: (b) => crypto.getRandomValues(b) });
 * const z = new Uint8Array(16);
 * const k = deriveSessionKeys(c, new Uint8Array(32), z, z, 1, 1);
 * console.log(k.deviceToGateway.length); // 32
 * ```
 */
export function deriveSessionKeys(
  crypto: ProtocolCrypto,
  key: Uint8Array,
  clientNonce: Uint8Array,
  serverNonce: Uint8Array,
  deviceId: number,
  sessionId: number,
): SessionKeys {
  const okm = crypto.hkdfSha256(
    key,
    concat([clientNonce, serverNonce]),
    concat([KEYS_LABEL, u64be(deviceId), u32be(sessionId)]),
    64,
  );
  return {
    deviceToGateway: okm.slice(0, 32),
    gatewayToDevice: okm.slice(32, 64),
  };
}

/**
 * The gateway's stateless cookie: time (u32 BE seconds) || the first 12
 * bytes of HMAC-SHA256(secret, "avi-p2p/1 cookie" || time || source ||
 * hello[2..26]) where `source` is the UTF-8 of "address:port" and
 * hello[2..26] is the device id and client nonce.
 *
 * @param crypto Crypto implementation.
 * @param secret The gateway's cookie secret (random at start).
 * @param now Gateway time, whole seconds.
 * @param source The datagram's source, "address:port".
 * @param hello The Hello frame bytes.
 * @returns 16 bytes.
 * @example
 * ```ts
 * import { makeCookie, nobleCrypto } from "@avi/p2p/protocol";
 * const c = nobleCrypto({ random: (b) => crypto.getRandomValues(b) });
 * console.log(makeCookie(c, new Uint8Array(32), 100, "127.0.0.1:5000", new Uint8Array(60)).length); // 16
 * ```
 */
export function makeCookie(
  crypto: ProtocolCrypto,
  secret: Uint8Array,
  now: number,
  source: string,
  hello: Uint8Array,
): Uint8Array {
  const t = u32be(now >>> 0);
  const mac = crypto.hmacSha256(
    secret,
    concat([COOKIE_LABEL, t, utf8Encode(source), hello.subarray(2, 26)]),
  );
  const c = new Uint8Array(16);
  c.set(t, 0);
  c.set(mac.subarray(0, 12), 4);
  return c;
}

/**
 * Checks a Hello's cookie: made by this secret for this source, device and
 * nonce, at most `lifetime` seconds ago.
 *
 * @param crypto Crypto implementation.
 * @param secret The gateway's cookie secret.
 * @param now Gateway time, whole seconds.
 * @param source "address:port" of the datagram.
 * @param hello The Hello frame bytes.
 * @param lifetime Seconds a cookie stays valid.
 * @returns True if valid.
 * @example
 * ```ts
 * import { makeCookie, verifyCookie, nobleCrypto } from "@avi/p2p/protocol";
 * const c = nobleCrypto({ random: (b) => crypto.getRandomValues(b) });
 * const s = new Uint8Array(32), hello = new Uint8Array(60);
 * hello.set(makeCookie(c, s, 100, "a:1", hello), 28);
 * console.log(verifyCookie(c, s, 110, "a:1", hello)); // true
 * ```
 */
export function verifyCookie(
  crypto: ProtocolCrypto,
  secret: Uint8Array,
  now: number,
  source: string,
  hello: Uint8Array,
  lifetime: number = Limits.COOKIE_LIFETIME_S,
): boolean {
  const cookie = hello.subarray(28, 44);
  const t = ((cookie[0] << 24) | (cookie[1] << 16) | (cookie[2] << 8) |
    cookie[3]) >>> 0;
  const age = (now >>> 0) - t;
  if (t === 0 || age < 0 || age > lifetime) return false;
  const expect = makeCookie(crypto, secret, t, source, hello);
  return constantTimeEqual(expect, cookie);
}

/** Options of {@linkcode answerHello}. */
export interface AnswerHelloOptions {
  /** The gateway's 32-byte cookie secret, random at start. */
  cookieSecret: Uint8Array;
  /** Gateway time in whole seconds. */
  now: number;
  /** "address:port" of the datagram. */
  source: string;
  /** The key of a device, or undefined if unknown. Called only for a valid cookie. */
  lookupKey: (deviceId: number) => Uint8Array | undefined;
  /** Nonzero, currently unused session id for a new session. */
  sessionId: number;
  /**
   * The gateway's frame limit; the session uses the smaller of it and the device's.
   * @default 1024
   */
  maxFrame?: number;
  /**
   * Keep-alive interval told to the device, seconds.
   * @default 30
   */
  keepAliveSeconds?: number;
  /**
   * The gateway's 32-bit id.
   * @default 0
   */
  gatewayId?: number;
  /**
   * Returns true if this device's client nonce was already accepted (a replayed Hello).
   * @default () => false
   */
  isReplay?: (deviceId: number, clientNonce: Uint8Array) => boolean;
  /**
   * Cookie lifetime, seconds.
   * @default 30
   */
  cookieLifetime?: number;
}

/** What the gateway does with a Hello. `reply` is the datagram to send back. */
export type HelloOutcome =
  | { action: "cookie"; reply: Uint8Array }
  | { action: "reject"; code: number; reply: Uint8Array }
  | {
    action: "accept";
    deviceId: number;
    clientNonce: Uint8Array;
    session: SecureSession;
    maxFrame: number;
    keepAliveSeconds: number;
    reply: Uint8Array;
  };

/**
 * The gateway's whole answer to a Hello, with no state kept before the
 * cookie is valid: a bad or missing cookie gets a (smaller) Cookie frame; an
 * unknown device or a wrong auth gets Reject NOT_AUTHORISED; a replayed
 * nonce gets Reject REPLAYED; otherwise a new session and its Welcome.
 *
 * @param crypto Crypto implementation.
 * @param hello The decoded Hello.
 * @param raw The Hello's 60 bytes.
 * @param options Secret, time, source, key lookup, session parameters.
 * @returns The outcome and the reply datagram.
 * @example
 * ```ts
 * import { answerHello, createHello, decodeFrame, nobleCrypto } from "@avi/p2p/protocol";
 * const c = nobleCrypto({ random: (b) => crypto.getRandomValues(b) });
 * const key = new Uint8Array(32).fill(9);
 * const raw = createHello(c, { deviceId: 5, key, clientNonce: new Uint8Array(16).fill(1) });
 * const f = decodeFrame(raw);
 * if (f.kind === "hello") {
 *   const o = answerHello(c, f, raw, {
 *     cookieSecret: new Uint8Array(32), now: 1000, source: "127.0.0.1:4000",
 *     lookupKey: () => key, sessionId: 1,
 *   });
 *   console.log(o.action); // "cookie"
 * }
 * ```
 */
export function answerHello(
  crypto: ProtocolCrypto,
  hello: HelloFrame,
  raw: Uint8Array,
  options: AnswerHelloOptions,
): HelloOutcome {
  const lifetime = options.cookieLifetime ?? Limits.COOKIE_LIFETIME_S;
  if (
    !verifyCookie(
      crypto,
      options.cookieSecret,
      options.now,
      options.source,
      raw,
      lifetime,
    )
  ) {
    const cookie = makeCookie(
      crypto,
      options.cookieSecret,
      options.now,
      options.source,
      raw,
    );
    return { action: "cookie", reply: encodeCookie(cookie) };
  }
  const key = options.lookupKey(hello.deviceId);
  if (
    key === undefined || key.length !== Sizes.KEY ||
    !constantTimeEqual(helloAuth(crypto, key, raw), hello.auth)
  ) {
    return {
      action: "reject",
      code: ErrorCode.NOT_AUTHORISED,
      reply: encodeReject(ErrorCode.NOT_AUTHORISED, 0),
    };
  }
  if (options.isReplay?.(hello.deviceId, hello.clientNonce)) {
    return {
      action: "reject",
      code: ErrorCode.REPLAYED,
      reply: encodeReject(ErrorCode.REPLAYED, 0),
    };
  }
  const sessionId = options.sessionId >>> 0;
  if (sessionId === 0) throw new RangeError("sessionId must be nonzero");
  const maxFrame = Math.min(
    hello.maxFrame,
    options.maxFrame ?? Limits.DEFAULT_MAX_FRAME,
    Limits.ABSOLUTE_MAX_FRAME,
  );
  const keepAliveSeconds = options.keepAliveSeconds ??
    Limits.DEFAULT_KEEPALIVE_S;
  const serverNonce = new Uint8Array(16);
  crypto.randomBytes(serverNonce);
  const clientNonce = hello.clientNonce.slice();
  const keys = deriveSessionKeys(
    crypto,
    key,
    clientNonce,
    serverNonce,
    hello.deviceId,
    sessionId,
  );
  // Welcome body: [maxFrame, keepAliveSeconds, gatewayId], sealed with seq 0.
  const body = new Writer(new Uint8Array(32));
  body.arrayHeader(3);
  body.int(maxFrame);
  body.int(keepAliveSeconds);
  body.int((options.gatewayId ?? 0) >>> 0);
  const pt = body.bytes();
  const reply = new Uint8Array(Sizes.WELCOME_HEADER + pt.length + Sizes.TAG);
  writeWelcomeHeader(reply, sessionId, serverNonce);
  crypto.seal(
    keys.gatewayToDevice,
    new Uint8Array(12),
    concat([reply.subarray(0, Sizes.WELCOME_HEADER), clientNonce]),
    pt,
    reply.subarray(Sizes.WELCOME_HEADER),
  );
  const session = new SecureSession(crypto, {
    sessionId,
    sendKey: keys.gatewayToDevice,
    recvKey: keys.deviceToGateway,
    maxFrame,
  });
  return {
    action: "accept",
    deviceId: hello.deviceId,
    clientNonce,
    session,
    maxFrame,
    keepAliveSeconds,
    reply,
  };
}

/** What a device learns from a valid Welcome. */
export interface WelcomeResult {
  /** The device side of the session. */
  session: SecureSession;
  /** Agreed maximum frame size. */
  maxFrame: number;
  /** Keep-alive interval asked by the gateway, seconds. */
  keepAliveSeconds: number;
  /** The gateway's id. */
  gatewayId: number;
}

/** What the device remembers of its Hello, to open the Welcome. */
export interface WelcomeContext {
  /** Device id. */
  deviceId: number;
  /** Device key. */
  key: Uint8Array;
  /** The Hello's client nonce. */
  clientNonce: Uint8Array;
  /**
   * The device's frame limit sent in the Hello.
   * @default 1024
   */
  maxFrame?: number;
}

/**
 * The device opens a Welcome. A valid one proves the gateway holds the key
 * and answers this Hello (the client nonce is in the additional data).
 *
 * @param crypto Crypto implementation.
 * @param ctx Device id, key and the Hello's nonce.
 * @param welcome The decoded Welcome (`sealed` is decrypted in place).
 * @param raw The Welcome's bytes.
 * @returns The session, or `null` if it does not verify or is malformed.
 * @example
 * ```ts
 * import { openWelcome, nobleCrypto, type WelcomeFrame } from "@avi/p2p/protocol";
 * const c = nobleCrypto({ random: (b) => crypto.getRandomValues(b) });
 * const raw = new Uint8Array(40);
 * const fake: WelcomeFrame = { kind: "welcome", sessionId: 1, serverNonce: raw.subarray(6, 22), sealed: raw.subarray(22) };
 * console.log(openWelcome(c, { deviceId: 1, key: new Uint8Array(32), clientNonce: new Uint8Array(16) }, fake, raw)); // null
 * ```
 */
export function openWelcome(
  crypto: ProtocolCrypto,
  ctx: WelcomeContext,
  welcome: WelcomeFrame,
  raw: Uint8Array,
): WelcomeResult | null {
  checkKey(ctx.key);
  const keys = deriveSessionKeys(
    crypto,
    ctx.key,
    ctx.clientNonce,
    welcome.serverNonce,
    ctx.deviceId,
    welcome.sessionId,
  );
  const aad = concat([raw.subarray(0, Sizes.WELCOME_HEADER), ctx.clientNonce]);
  const pt = crypto.open(
    keys.gatewayToDevice,
    new Uint8Array(12),
    aad,
    welcome.sealed,
  );
  if (pt === null) return null;
  try {
    const r = new Reader(pt);
    if (r.arrayHeader() !== 3) return null;
    const maxFrame = r.uint(0xffff);
    const keepAliveSeconds = r.uint(0xffff);
    const gatewayId = r.uint(0xffffffff);
    const limit = ctx.maxFrame ?? Limits.DEFAULT_MAX_FRAME;
    if (
      r.pos !== r.end || maxFrame < Limits.MIN_MAX_FRAME || maxFrame > limit ||
      keepAliveSeconds === 0
    ) return null;
    const session = new SecureSession(crypto, {
      sessionId: welcome.sessionId,
      sendKey: keys.deviceToGateway,
      recvKey: keys.gatewayToDevice,
      maxFrame,
    });
    return { session, maxFrame, keepAliveSeconds, gatewayId };
  } catch {
    return null;
  }
}

/**
 * A random nonzero 32-bit session id.
 *
 * @param crypto Crypto implementation (its random source).
 * @returns The id.
 * @example
 * ```ts
 * import { randomSessionId, nobleCrypto } from "@avi/p2p/protocol";
 * const c = nobleCrypto({ random: (b) => crypto.getRandomValues(b) });
 * console.log(randomSessionId(c) > 0); // true
 * ```
 */
export function randomSessionId(crypto: ProtocolCrypto): number {
  const b = new Uint8Array(4);
  for (;;) {
    crypto.randomBytes(b);
    const v = ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
    if (v !== 0) return v;
  }
}
