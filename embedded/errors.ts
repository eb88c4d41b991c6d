/**
 * Errors of the device client. `embedded/` imports only `protocol/`, so
 * they live here; each sets `name`, so callers can match on it. Also the
 * integer check that throws a RangeError.
 *
 * @module
 */

import { errorCodeName } from "../protocol/mod.ts";

/**
 * `connect()` found no gateway: no answer to Hello (or SearchGw) before the deadline.
 *
 * @example
 * ```ts
 * import { GatewayUnreachableError } from "@avi/p2p/embedded";
 * console.log(new GatewayUnreachableError(10000).message);
 * ```
 */
export class GatewayUnreachableError extends Error {
  /**
   * Creates the error.
   * @param timeoutMs The deadline that passed.
   */
  constructor(timeoutMs: number) {
    super(`No gateway answered within ${timeoutMs} ms`);
    this.name = "GatewayUnreachableError";
  }
}

/**
 * The gateway refused the handshake; `code` is the protocol error code
 * (`NOT_AUTHORISED` for an unknown device or wrong key, `UNSUPPORTED_VERSION`).
 *
 * @example
 * ```ts
 * import { HandshakeRejectedError } from "@avi/p2p/embedded";
 * const e = new HandshakeRejectedError(3);
 * console.log(e.code, e.message); // 3 "The gateway refused the handshake: not authorised"
 * ```
 */
export class HandshakeRejectedError extends Error {
  /** Protocol error code. */
  readonly code: number;
  /**
   * Creates the error.
   * @param code Protocol error code from the Reject frame.
   */
  constructor(code: number) {
    super(`The gateway refused the handshake: ${errorCodeName(code)}`);
    this.name = "HandshakeRejectedError";
    this.code = code;
  }
}

/**
 * The call needs a session and there is none (never connected, or a QoS 0
 * send while reconnecting).
 *
 * @example
 * ```ts
 * import { NotConnectedError } from "@avi/p2p/embedded";
 * console.log(new NotConnectedError().name); // "NotConnectedError"
 * ```
 */
export class NotConnectedError extends Error {
  /**
   * Creates the error.
   * @param message Defaults to a sentence saying the device is not connected.
   */
  constructor(message = "The device is not connected to a gateway") {
    super(message);
    this.name = "NotConnectedError";
  }
}

/**
 * The bounded queue of unacknowledged messages is full: wait for acks
 * (await earlier calls) and try again.
 *
 * @example
 * ```ts
 * import { QueueFullError } from "@avi/p2p/embedded";
 * console.log(new QueueFullError(16).message);
 * ```
 */
export class QueueFullError extends Error {
  /**
   * Creates the error.
   * @param limit The queue's size.
   */
  constructor(limit: number) {
    super(`The queue of ${limit} unacknowledged messages is full`);
    this.name = "QueueFullError";
  }
}

/**
 * The gateway acknowledged a request with a nonzero code (e.g. `not permitted`).
 *
 * @example
 * ```ts
 * import { RequestRefusedError } from "@avi/p2p/embedded";
 * const e = new RequestRefusedError("publish", 7);
 * console.log(e.message); // "The gateway refused publish: not permitted"
 * ```
 */
export class RequestRefusedError extends Error {
  /** Protocol error code. */
  readonly code: number;
  /**
   * Creates the error.
   * @param what The request, e.g. "publish".
   * @param code Protocol error code.
   */
  constructor(what: string, code: number) {
    super(`The gateway refused ${what}: ${errorCodeName(code)}`);
    this.name = "RequestRefusedError";
    this.code = code;
  }
}

/**
 * The client was closed while the call was pending.
 *
 * @example
 * ```ts
 * import { ClientClosedError } from "@avi/p2p/embedded";
 * console.log(new ClientClosedError().name); // "ClientClosedError"
 * ```
 */
export class ClientClosedError extends Error {
  /**
   * Creates the error.
   * @param message Defaults to a sentence saying the client is closed.
   */
  constructor(message = "The device client is closed") {
    super(message);
    this.name = "ClientClosedError";
  }
}

/**
 * Throws a RangeError unless `v` is an integer from `min` to `max`.
 * @param v The value.
 * @param min Smallest allowed.
 * @param max Largest allowed.
 * @param what Its name, for the message.
 */
export function checkInt(
  v: number,
  min: number,
  max: number,
  what: string,
): void {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`${what} must be an integer from ${min} to ${max}`);
  }
}
