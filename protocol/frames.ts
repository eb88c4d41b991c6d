/**
 * Outer frames: the datagram layout. Every frame starts with the protocol
 * version and the frame kind; the handshake frames have fixed layouts, and a
 * sealed frame carries an encrypted MessagePack message.
 *
 * @module
 */

import { FrameDecodeError, FrameEncodeError } from "./errors.ts";
import {
  ErrorCode,
  FrameKind,
  Limits,
  PROTOCOL_VERSION,
  Sizes,
} from "./constants.ts";

/** Hello: device -> gateway (60 bytes). */
export interface HelloFrame {
  /** Frame kind. */
  kind: "hello";
  /** 0 .. 2^53-1 (8 bytes big-endian on the wire). */
  deviceId: number;
  /** 16 random bytes, fresh for every handshake. */
  clientNonce: Uint8Array;
  /** The largest frame the device accepts. */
  maxFrame: number;
  /** 16 bytes: zero on the first Hello, else the gateway's cookie. */
  cookie: Uint8Array;
  /** 16 bytes: truncated HMAC-SHA256 under the device key (see handshake). */
  auth: Uint8Array;
}

/** Cookie: gateway -> device (18 bytes). */
export interface CookieFrame {
  /** Frame kind. */
  kind: "cookie";
  /** 16 bytes to echo in the next Hello. */
  cookie: Uint8Array;
}

/** Welcome: gateway -> device (22-byte header + sealed parameters). */
export interface WelcomeFrame {
  /** Frame kind. */
  kind: "welcome";
  /** The new session's id (nonzero). */
  sessionId: number;
  /** 16 random bytes from the gateway. */
  serverNonce: Uint8Array;
  /** Sealed MessagePack `[maxFrame, keepAliveSeconds, gatewayId]` + tag. */
  sealed: Uint8Array;
}

/** Reject: clear refusal (7 bytes). */
export interface RejectFrame {
  /** Frame kind. */
  kind: "reject";
  /** An `ErrorCode`. */
  code: number;
  /** Session concerned, 0 when none. */
  sessionId: number;
}

/** SearchGw: device -> gateways (18 bytes: nonce + 8 zero bytes of padding). */
export interface SearchGwFrame {
  /** Frame kind. */
  kind: "searchGw";
  /** 8 bytes echoed by GwInfo. */
  nonce: Uint8Array;
}

/** GwInfo: gateway -> device (16 bytes). */
export interface GwInfoFrame {
  /** Frame kind. */
  kind: "gwInfo";
  /** The SearchGw nonce. */
  nonce: Uint8Array;
  /** UDP port of the gateway's device socket. */
  port: number;
  /** The gateway's 32-bit id. */
  gatewayId: number;
}

/** Sealed: a session message (10-byte header + ciphertext + 16-byte tag). */
export interface SealedFrame {
  /** Frame kind. */
  kind: "sealed";
  /** The session id (nonzero). */
  sessionId: number;
  /** Per-direction sequence number, 1..2^32-1. */
  seq: number;
  /** The 10-byte clear header (the AEAD's additional data). */
  header: Uint8Array;
  /** Ciphertext and tag. */
  sealed: Uint8Array;
}

/** Any outer frame. */
export type Frame =
  | HelloFrame
  | CookieFrame
  | WelcomeFrame
  | RejectFrame
  | SearchGwFrame
  | GwInfoFrame
  | SealedFrame;

/** Options of {@linkcode decodeFrame}. */
export interface DecodeFrameOptions {
  /**
   * Largest datagram accepted; larger ones fail with code `TOO_LARGE`.
   * @default 1024
   */
  maxFrame?: number;
}

function u32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

function putU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

function need(bytes: Uint8Array, n: number, what: string, exact = true): void {
  if (exact ? bytes.length !== n : bytes.length < n) {
    throw new FrameDecodeError(
      `Cannot decode ${what}: expected ${
        exact ? "" : "at least "
      }${n} bytes, got ${bytes.length}`,
    );
  }
}

/**
 * Decodes the outer layer of a datagram. Byte fields are views into `bytes`.
 *
 * @param bytes One datagram.
 * @param options Size limit.
 * @returns The frame.
 * @throws {FrameDecodeError} `code` is `UNSUPPORTED_VERSION` for another version,
 *   `TOO_LARGE` above `maxFrame`, else `MALFORMED`.
 * @example
 * ```ts
 * import { decodeFrame } from "@avi/p2p/protocol";
 * console.log(decodeFrame(new Uint8Array([1, 4, 2, 0, 0, 0, 7])));
 * // { kind: "reject", code: 2, sessionId: 7 }
 * ```
 */
export function decodeFrame(
  bytes: Uint8Array,
  options?: DecodeFrameOptions,
): Frame {
  const max = options?.maxFrame ?? Limits.DEFAULT_MAX_FRAME;
  if (bytes.length > max) {
    throw new FrameDecodeError(
      `Cannot decode frame: ${bytes.length} bytes exceed the ${max}-byte limit`,
      ErrorCode.TOO_LARGE,
    );
  }
  need(bytes, 2, "frame", false);
  if (bytes[0] !== PROTOCOL_VERSION) {
    throw new FrameDecodeError(
      `Cannot decode frame: protocol version ${
        bytes[0]
      } is not supported (this is ${PROTOCOL_VERSION})`,
      ErrorCode.UNSUPPORTED_VERSION,
    );
  }
  switch (bytes[1]) {
    case FrameKind.HELLO: {
      need(bytes, Sizes.HELLO, "Hello");
      const hi = u32(bytes, 2), lo = u32(bytes, 6);
      if (hi > 0x1fffff) {
        throw new FrameDecodeError(
          "Cannot decode Hello: device id beyond 2^53",
        );
      }
      const maxFrame = (bytes[26] << 8) | bytes[27];
      if (maxFrame < Limits.MIN_MAX_FRAME) {
        throw new FrameDecodeError(
          `Cannot decode Hello: maxFrame ${maxFrame} below ${Limits.MIN_MAX_FRAME}`,
        );
      }
      return {
        kind: "hello",
        deviceId: hi * 0x100000000 + lo,
        clientNonce: bytes.subarray(10, 26),
        maxFrame,
        cookie: bytes.subarray(28, 44),
        auth: bytes.subarray(44, 60),
      };
    }
    case FrameKind.COOKIE:
      need(bytes, Sizes.COOKIE_FRAME, "Cookie");
      return { kind: "cookie", cookie: bytes.subarray(2, 18) };
    case FrameKind.WELCOME: {
      need(bytes, Sizes.WELCOME_HEADER + Sizes.TAG + 1, "Welcome", false);
      const sessionId = u32(bytes, 2);
      if (sessionId === 0) {
        throw new FrameDecodeError("Cannot decode Welcome: session id 0");
      }
      return {
        kind: "welcome",
        sessionId,
        serverNonce: bytes.subarray(6, 22),
        sealed: bytes.subarray(22),
      };
    }
    case FrameKind.REJECT:
      need(bytes, Sizes.REJECT, "Reject");
      return { kind: "reject", code: bytes[2], sessionId: u32(bytes, 3) };
    case FrameKind.SEARCH_GW:
      need(bytes, Sizes.SEARCH_GW, "SearchGw");
      return { kind: "searchGw", nonce: bytes.subarray(2, 10) };
    case FrameKind.GW_INFO:
      need(bytes, Sizes.GW_INFO, "GwInfo");
      return {
        kind: "gwInfo",
        nonce: bytes.subarray(2, 10),
        port: (bytes[10] << 8) | bytes[11],
        gatewayId: u32(bytes, 12),
      };
    case FrameKind.SEALED: {
      need(bytes, Sizes.SEALED_HEADER + Sizes.TAG + 1, "sealed frame", false);
      const sessionId = u32(bytes, 2);
      const seq = u32(bytes, 6);
      if (sessionId === 0 || seq === 0) {
        throw new FrameDecodeError(
          "Cannot decode sealed frame: session id and sequence must be nonzero",
        );
      }
      return {
        kind: "sealed",
        sessionId,
        seq,
        header: bytes.subarray(0, Sizes.SEALED_HEADER),
        sealed: bytes.subarray(Sizes.SEALED_HEADER),
      };
    }
  }
  throw new FrameDecodeError(
    `Cannot decode frame: unknown frame kind 0x${bytes[1].toString(16)}`,
  );
}

function outBuf(out: Uint8Array | undefined, n: number): Uint8Array {
  if (out === undefined) return new Uint8Array(n);
  if (out.length < n) {
    throw new FrameEncodeError(
      `Cannot encode frame: needs ${n} bytes, buffer has ${out.length}`,
    );
  }
  return out.subarray(0, n);
}

function checkLen(b: Uint8Array, n: number, what: string): void {
  if (!(b instanceof Uint8Array) || b.length !== n) {
    throw new FrameEncodeError(`Cannot encode ${what}: must be ${n} bytes`);
  }
}

/**
 * Writes a Hello's first 44 bytes (everything but `auth`, which
 * `createHello` in the handshake computes) and the given auth.
 *
 * @param f The fields.
 * @param out Optional destination (at least 60 bytes).
 * @returns The 60-byte frame.
 * @example
 * ```ts
 * import { encodeHello } from "@avi/p2p/protocol";
 * const z = new Uint8Array(16);
 * const b = encodeHello({ deviceId: 42, clientNonce: z, maxFrame: 1024, cookie: z, auth: z });
 * console.log(b.length); // 60
 * ```
 */
export function encodeHello(
  f: Omit<HelloFrame, "kind">,
  out?: Uint8Array,
): Uint8Array {
  if (!Number.isSafeInteger(f.deviceId) || f.deviceId < 0) {
    throw new FrameEncodeError(
      "Cannot encode Hello: deviceId must be 0..2^53-1",
    );
  }
  if (
    !Number.isInteger(f.maxFrame) || f.maxFrame < Limits.MIN_MAX_FRAME ||
    f.maxFrame > 0xffff
  ) {
    throw new FrameEncodeError("Cannot encode Hello: bad maxFrame");
  }
  checkLen(f.clientNonce, 16, "clientNonce");
  checkLen(f.cookie, 16, "cookie");
  checkLen(f.auth, 16, "auth");
  const b = outBuf(out, Sizes.HELLO);
  b[0] = PROTOCOL_VERSION;
  b[1] = FrameKind.HELLO;
  putU32(b, 2, Math.floor(f.deviceId / 0x100000000));
  putU32(b, 6, f.deviceId >>> 0);
  b.set(f.clientNonce, 10);
  b[26] = f.maxFrame >> 8;
  b[27] = f.maxFrame & 0xff;
  b.set(f.cookie, 28);
  b.set(f.auth, 44);
  return b;
}

/**
 * Encodes a Cookie frame.
 * @param cookie 16 bytes.
 * @param out Optional destination.
 * @returns The 18-byte Cookie frame.
 * @example
 * ```ts
 * import { encodeCookie } from "@avi/p2p/protocol";
 * console.log(encodeCookie(new Uint8Array(16)).length); // 18
 * ```
 */
export function encodeCookie(cookie: Uint8Array, out?: Uint8Array): Uint8Array {
  checkLen(cookie, 16, "cookie");
  const b = outBuf(out, Sizes.COOKIE_FRAME);
  b[0] = PROTOCOL_VERSION;
  b[1] = FrameKind.COOKIE;
  b.set(cookie, 2);
  return b;
}

/**
 * Encodes a Reject frame.
 * @param code An `ErrorCode`.
 * @param sessionId Session concerned, 0 if none.
 * @param out Optional destination.
 * @returns The 7-byte Reject frame.
 * @example
 * ```ts
 * import { encodeReject, ErrorCode } from "@avi/p2p/protocol";
 * console.log(encodeReject(ErrorCode.UNKNOWN_SESSION, 7)); // Uint8Array [1, 4, 2, 0, 0, 0, 7]
 * ```
 */
export function encodeReject(
  code: number,
  sessionId: number,
  out?: Uint8Array,
): Uint8Array {
  const b = outBuf(out, Sizes.REJECT);
  b[0] = PROTOCOL_VERSION;
  b[1] = FrameKind.REJECT;
  b[2] = code & 0xff;
  putU32(b, 3, sessionId);
  return b;
}

/**
 * Encodes a SearchGw frame.
 * @param nonce 8 random bytes.
 * @param out Optional destination.
 * @returns The 18-byte SearchGw frame.
 * @example
 * ```ts
 * import { encodeSearchGw } from "@avi/p2p/protocol";
 * console.log(encodeSearchGw(new Uint8Array(8)).length); // 18
 * ```
 */
export function encodeSearchGw(
  nonce: Uint8Array,
  out?: Uint8Array,
): Uint8Array {
  checkLen(nonce, 8, "SearchGw nonce");
  const b = outBuf(out, Sizes.SEARCH_GW);
  b.fill(0);
  b[0] = PROTOCOL_VERSION;
  b[1] = FrameKind.SEARCH_GW;
  b.set(nonce, 2);
  return b;
}

/**
 * Encodes a GwInfo frame.
 * @param f Nonce from the SearchGw, device port, gateway id.
 * @param out Optional destination.
 * @returns The 16-byte GwInfo frame.
 * @example
 * ```ts
 * import { encodeGwInfo } from "@avi/p2p/protocol";
 * console.log(encodeGwInfo({ nonce: new Uint8Array(8), port: 8888, gatewayId: 1 }).length); // 16
 * ```
 */
export function encodeGwInfo(
  f: Omit<GwInfoFrame, "kind">,
  out?: Uint8Array,
): Uint8Array {
  checkLen(f.nonce, 8, "GwInfo nonce");
  const b = outBuf(out, Sizes.GW_INFO);
  b[0] = PROTOCOL_VERSION;
  b[1] = FrameKind.GW_INFO;
  b.set(f.nonce, 2);
  b[10] = (f.port >> 8) & 0xff;
  b[11] = f.port & 0xff;
  putU32(b, 12, f.gatewayId);
  return b;
}

/**
 * Writes the 10-byte sealed-frame header (version, kind, session id, seq).
 *
 * @param b Destination, at least 10 bytes.
 * @param sessionId Nonzero session id.
 * @param seq Nonzero sequence number.
 * @example
 * ```ts
 * import { writeSealedHeader } from "@avi/p2p/protocol";
 * const b = new Uint8Array(10);
 * writeSealedHeader(b, 1, 1);
 * console.log(b); // Uint8Array [1, 16, 0, 0, 0, 1, 0, 0, 0, 1]
 * ```
 */
export function writeSealedHeader(
  b: Uint8Array,
  sessionId: number,
  seq: number,
): void {
  b[0] = PROTOCOL_VERSION;
  b[1] = FrameKind.SEALED;
  putU32(b, 2, sessionId);
  putU32(b, 6, seq);
}

/**
 * Writes the 22-byte Welcome header.
 *
 * @param b Destination, at least 22 bytes.
 * @param sessionId Nonzero session id.
 * @param serverNonce 16 bytes.
 * @example
 * ```ts
 * import { writeWelcomeHeader } from "@avi/p2p/protocol";
 * const b = new Uint8Array(22);
 * writeWelcomeHeader(b, 9, new Uint8Array(16));
 * console.log(b[1]); // 3
 * ```
 */
export function writeWelcomeHeader(
  b: Uint8Array,
  sessionId: number,
  serverNonce: Uint8Array,
): void {
  checkLen(serverNonce, 16, "serverNonce");
  b[0] = PROTOCOL_VERSION;
  b[1] = FrameKind.WELCOME;
  putU32(b, 2, sessionId);
  b.set(serverNonce, 6);
}
