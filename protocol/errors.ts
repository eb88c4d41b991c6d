/**
 * The two errors of the wire format. `protocol/` imports nothing else of
 * ours, so these live here rather than in `core/`.
 *
 * @module
 */

/**
 * A byte string is not a valid frame. `code` is the protocol error code
 * ({@linkcode ErrorCode}) a gateway should answer with: `MALFORMED`,
 * `TOO_LARGE` or `UNSUPPORTED_VERSION`. The decoder never throws anything else.
 *
 * @example
 * ```ts
 * import { decodeFrame, FrameDecodeError } from "@avi/p2p/protocol";
 * try {
 *   decodeFrame(new Uint8Array([1]));
 * } catch (e) {
 *   if (e instanceof FrameDecodeError) console.log(e.name, e.code, e.message);
 * }
 * ```
 */
export class FrameDecodeError extends Error {
  /** Protocol error code to report (see `ErrorCode`). */
  readonly code: number;
  /**
   * Creates the error.
   * @param message What is wrong, e.g. `Cannot decode frame: expected 5 bytes, got 1`.
   * @param code Protocol error code; `ErrorCode.MALFORMED` (1) by default.
   * @param options `cause`, if any.
   */
  constructor(message: string, code = 1, options?: ErrorOptions) {
    super(message, options);
    this.name = "FrameDecodeError";
    this.code = code;
  }
}

/**
 * A message cannot be encoded: it does not fit the buffer or the agreed
 * maximum frame size, or a field is out of its range.
 *
 * @example
 * ```ts
 * import { FrameEncodeError } from "@avi/p2p/protocol";
 * const e = new FrameEncodeError("Cannot encode frame: 2000 bytes exceed the 1024-byte limit");
 * console.log(e.name); // "FrameEncodeError"
 * ```
 */
export class FrameEncodeError extends Error {
  /**
   * Creates the error.
   * @param message What does not fit.
   * @param options `cause`, if any.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FrameEncodeError";
  }
}
