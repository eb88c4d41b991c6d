/**
 * The device protocol of @avi/p2p: the wire format shared by microcontroller
 * clients (`@avi/p2p/embedded`) and the UDP gateway (`@avi/p2p/bridge`).
 * Pure ECMAScript, no I/O, no Deno or Node API; it runs on Moddable XS.
 * The byte-level specification is docs/PROTOCOL.md.
 *
 * - {@linkcode decodeFrame}: any datagram -> a frame or {@linkcode FrameDecodeError}.
 * - {@linkcode createHello}, {@linkcode answerHello}, {@linkcode openWelcome}: the handshake.
 * - {@linkcode SecureSession}: sealed (ChaCha20-Poly1305) frames with a replay window.
 * - {@linkcode encodeMessage} / {@linkcode decodeMessage} / {@linkcode decodeMessages}: the MessagePack messages.
 *
 * @example A whole handshake and one message, in memory
 * ```ts
 * import {
 *   answerHello, createHello, decodeFrame, nobleCrypto, openWelcome,
 * } from "@avi/p2p/protocol";
 * const c = nobleCrypto({ random: (b) => crypto.getRandomValues(b) });
 * const key = crypto.getRandomValues(new Uint8Array(32));
 * const gw = { cookieSecret: crypto.getRandomValues(new Uint8Array(32)), now: 1000,
 *   source: "127.0.0.1:5000", lookupKey: () => key, sessionId: 42 };
 * const clientNonce = crypto.getRandomValues(new Uint8Array(16));
 * let raw = createHello(c, { deviceId: 7, key, clientNonce });
 * let f = decodeFrame(raw);
 * if (f.kind !== "hello") throw new Error();
 * const first = answerHello(c, f, raw, gw);            // a Cookie
 * const cf = decodeFrame(first.reply);
 * if (cf.kind !== "cookie") throw new Error();
 * raw = createHello(c, { deviceId: 7, key, clientNonce, cookie: cf.cookie });
 * f = decodeFrame(raw);
 * if (f.kind !== "hello") throw new Error();
 * const second = answerHello(c, f, raw, gw);           // a session
 * if (second.action !== "accept") throw new Error();
 * const wf = decodeFrame(second.reply);
 * if (wf.kind !== "welcome") throw new Error();
 * const dev = openWelcome(c, { deviceId: 7, key, clientNonce }, wf, second.reply);
 * const frame = dev!.session.sealMessage({ type: "ping" }, new Uint8Array(1024));
 * const sf = decodeFrame(frame);
 * if (sf.kind === "sealed") console.log(second.session.openMessage(sf)); // { type: "ping" }
 * ```
 *
 * @module
 */

export { FrameDecodeError, FrameEncodeError } from "./errors.ts";
export {
  ErrorCode,
  errorCodeName,
  FrameKind,
  Limits,
  MessageType,
  PROTOCOL_VERSION,
  Sizes,
} from "./constants.ts";
export { utf8Decode, utf8Encode, utf8Length, utf8Write } from "./utf8.ts";
export {
  decode,
  encode,
  MAX_DEPTH,
  type MsgpackValue,
  Reader,
  Writer,
} from "./msgpack.ts";
export {
  decodeMessage,
  decodeMessages,
  encodeMessage,
  type Message,
  type MessageTypeName,
  type PressType,
  type SensorValue,
  type TopicRef,
} from "./messages.ts";
export {
  type CookieFrame,
  decodeFrame,
  type DecodeFrameOptions,
  encodeCookie,
  encodeGwInfo,
  encodeHello,
  encodeReject,
  encodeSearchGw,
  type Frame,
  type GwInfoFrame,
  type HelloFrame,
  type RejectFrame,
  type SealedFrame,
  type SearchGwFrame,
  type WelcomeFrame,
  writeSealedHeader,
  writeWelcomeHeader,
} from "./frames.ts";
export { constantTimeEqual, type ProtocolCrypto } from "./crypto.ts";
export { nobleCrypto, type NobleCryptoOptions } from "./noble_crypto.ts";
export { ReplayWindow } from "./replay_window.ts";
export { SecureSession, type SecureSessionOptions } from "./session.ts";
export {
  answerHello,
  type AnswerHelloOptions,
  createHello,
  deriveSessionKeys,
  helloAuth,
  type HelloInput,
  type HelloOutcome,
  makeCookie,
  openWelcome,
  randomSessionId,
  type SessionKeys,
  verifyCookie,
  type WelcomeContext,
  type WelcomeResult,
} from "./handshake.ts";
