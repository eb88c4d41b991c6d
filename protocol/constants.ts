/**
 * Numbers of the device protocol: version, frame kinds, message types,
 * error codes, limits and default timers. docs/PROTOCOL.md is the reference.
 *
 * @module
 */

/**
 * Protocol version carried in byte 0 of every frame.
 * @default 1
 */
export const PROTOCOL_VERSION = 1;

/**
 * Outer frame kinds (byte 1 of every frame).
 *
 * @example
 * ```ts
 * import { FrameKind } from "@avi/p2p/protocol";
 * console.log(FrameKind.SEALED); // 16
 * ```
 */
export const FrameKind = {
  /** Device -> gateway, clear: start or complete a handshake. */
  HELLO: 0x01,
  /** Gateway -> device, clear: stateless cookie to echo in the next Hello. */
  COOKIE: 0x02,
  /** Gateway -> device: session id, server nonce, sealed session parameters. */
  WELCOME: 0x03,
  /** Either way, clear: a refusal with an error code. */
  REJECT: 0x04,
  /** Device -> any gateway (broadcast/multicast): who is there? */
  SEARCH_GW: 0x05,
  /** Gateway -> device: answer to SearchGw. */
  GW_INFO: 0x06,
  /** Either way: an encrypted, authenticated message of a session. */
  SEALED: 0x10,
} as const;

/**
 * Message type codes: element 0 of the MessagePack array inside a sealed frame.
 *
 * @example
 * ```ts
 * import { MessageType } from "@avi/p2p/protocol";
 * console.log(MessageType.PUBLISH); // 5
 * ```
 */
export const MessageType = {
  SUBSCRIBE: 1,
  SUBSCRIBE_ACK: 2,
  UNSUBSCRIBE: 3,
  UNSUBSCRIBE_ACK: 4,
  PUBLISH: 5,
  MESSAGE: 6,
  ACK: 7,
  STREAM_START: 8,
  STREAM_DATA: 9,
  STREAM_CLOSE: 10,
  BUTTON_PRESS: 11,
  SENSOR_UPDATE: 12,
  ERROR: 13,
  PING: 14,
  PONG: 15,
  REGISTER: 16,
  REG_ACK: 17,
  DISCONNECT: 18,
} as const;

/**
 * Error / reason codes (one byte), used in Reject frames, acks and Error messages.
 *
 * @example
 * ```ts
 * import { ErrorCode, errorCodeName } from "@avi/p2p/protocol";
 * console.log(errorCodeName(ErrorCode.UNKNOWN_SESSION)); // "unknown session"
 * ```
 */
export const ErrorCode = {
  OK: 0,
  MALFORMED: 1,
  UNKNOWN_SESSION: 2,
  NOT_AUTHORISED: 3,
  TOO_LARGE: 4,
  RATE_LIMITED: 5,
  UNSUPPORTED_VERSION: 6,
  NOT_PERMITTED: 7,
  LIMIT_REACHED: 8,
  UNKNOWN_STREAM: 9,
  UNKNOWN_ALIAS: 10,
  REPLAYED: 11,
  UNAVAILABLE: 12,
  INTERNAL: 13,
} as const;

const ERROR_NAMES = [
  "ok",
  "malformed",
  "unknown session",
  "not authorised",
  "too large",
  "rate limited",
  "unsupported version",
  "not permitted",
  "limit reached",
  "unknown stream",
  "unknown alias",
  "replayed",
  "unavailable",
  "internal error",
];

/**
 * Human-readable name of an error code.
 *
 * @param code An {@linkcode ErrorCode} value.
 * @returns Its name, or `code <n>` for an unknown one.
 * @example
 * ```ts
 * import { errorCodeName } from "@avi/p2p/protocol";
 * console.log(errorCodeName(3)); // "not authorised"
 * ```
 */
export function errorCodeName(code: number): string {
  return ERROR_NAMES[code] ?? `code ${code}`;
}

/**
 * Limits and default timers of the protocol (docs/PROTOCOL.md, "Timers and limits").
 *
 * @example
 * ```ts
 * import { Limits } from "@avi/p2p/protocol";
 * console.log(Limits.DEFAULT_MAX_FRAME); // 1024
 * ```
 */
export const Limits = {
  /** Default maximum datagram size, both directions. */
  DEFAULT_MAX_FRAME: 1024,
  /** Smallest maximum frame size a peer may ask for. */
  MIN_MAX_FRAME: 256,
  /** Largest maximum frame size (fits an Ethernet MTU after IPv4+UDP headers). */
  ABSOLUTE_MAX_FRAME: 1472,
  /** Bytes a sealed frame adds to its plaintext: 10-byte header + 16-byte tag. */
  SEALED_OVERHEAD: 26,
  /** Longest topic, in UTF-8 bytes. */
  MAX_TOPIC_BYTES: 255,
  /** Longest sensor name, in UTF-8 bytes. */
  MAX_NAME_BYTES: 64,
  /** Longest text field (stream reason, target peer, error detail), in UTF-8 bytes. */
  MAX_TEXT_BYTES: 255,
  /** Cookie lifetime at the gateway, seconds. */
  COOKIE_LIFETIME_S: 30,
  /** Replay window size, frames. */
  REPLAY_WINDOW: 64,
  /** Default keep-alive interval announced by the gateway, seconds. */
  DEFAULT_KEEPALIVE_S: 30,
  /** Messages one sealed frame may carry, at most (a frame with more is malformed). */
  MAX_MESSAGES_PER_FRAME: 32,
  /**
   * A sender's send window: it transmits a message with a msgId only while
   * that id is less than this many ids after its oldest unacknowledged one,
   * so at most this many are unacknowledged (section 4.1).
   */
  SEND_WINDOW: 16,
  /** Last sequence number usable before a new handshake is required. */
  MAX_SEQ: 0xffffffff,
} as const;

/** Sizes of fixed fields, bytes. */
export const Sizes = {
  KEY: 32,
  NONCE: 16,
  COOKIE: 16,
  AUTH: 16,
  TAG: 16,
  HELLO: 60,
  COOKIE_FRAME: 18,
  REJECT: 7,
  SEARCH_GW: 18,
  GW_INFO: 16,
  SEALED_HEADER: 10,
  WELCOME_HEADER: 22,
} as const;
