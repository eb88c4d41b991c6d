/**
 * The stream service's options: what it is given, every default and every
 * check.
 *
 * @module
 */

import { TooLargeError } from "../core/errors.ts";
import type { AviEvent } from "../core/events.ts";
import { DEFAULT_MAX_FRAME_BYTES } from "./frame.ts";
import type { StreamsHost } from "./host.ts";

/** The longest request or rejection reason, in UTF-8 bytes. */
export const MAX_REASON_BYTES = 1024;

/**
 * What the stream service needs from its host.
 *
 * @example
 * ```ts ignore
 * const init: StreamServiceInit = { libp2p, emit: console.log, maxStreams: 5 };
 * ```
 */
export interface StreamServiceInit {
  /**
   * The node the streams run on: a running js-libp2p v3 node satisfies
   * {@linkcode StreamsHost} as it is.
   */
  libp2p: StreamsHost;
  /** Receives streamRequested/Accepted/Rejected/Data/Closed events. */
  emit(event: AviEvent): void;
  /**
   * The most streams at once, counting both directions and pending requests.
   * Beyond it `request` throws `LimitExceededError` and incoming requests are
   * rejected.
   */
  maxStreams: number;
  /**
   * The most streams one peer may have asked this node for, pending or open
   * (its share of `maxStreams`): its requests beyond it are refused at once,
   * so one peer's unanswered requests never take every slot.
   *
   * @default {Math.max(1, Math.ceil(maxStreams / 2))}
   */
  maxStreamsPerPeer?: number;
  /**
   * How long a request may stay unanswered before it is rejected with the
   * reason `"timeout"`, in ms.
   *
   * @default {10_000}
   */
  requestTimeoutMs?: number;
  /**
   * The largest payload of one `send`, in bytes; larger payloads throw
   * {@linkcode TooLargeError}, larger incoming frames end the stream.
   *
   * @default {1_048_576}
   */
  maxFrameBytes?: number;
  /**
   * Realtime mode: the most frames held per direction (outgoing frames the
   * link cannot take yet; incoming frames the `readable` reader has not
   * read). Beyond it the oldest are dropped and counted.
   *
   * @default {10}
   */
  realtimeQueueFrames?: number;
  /**
   * Realtime mode: the most frames sent but not yet acknowledged by the
   * receiver. When the link or the receiving node falls behind, later frames
   * wait in the bounded send queue (and the oldest are dropped) instead of
   * piling up latency in network buffers. The receiver acknowledges every
   * 8th frame (every 4th for an older sender), and at once the frame that
   * fills this window (any window
   * from 1 frame up works).
   *
   * @default {16}
   */
  realtimeMaxInFlight?: number;
  /**
   * Reliable mode: how many unread frames a `readable` holds before the
   * stream stops reading from the network (the sender's `send` then waits).
   *
   * @default {64}
   */
  readableHighWaterMark?: number;
}

/** The limits of a service, defaults applied and checked. */
export interface StreamLimits {
  maxStreams: number;
  perPeer: number;
  requestTimeoutMs: number;
  maxFrameBytes: number;
  rtQueueFrames: number;
  rtMaxInFlight: number;
  highWaterMark: number;
}

/**
 * Apply the defaults to `init`'s limits and check them, in declaration order.
 *
 * @throws {RangeError} When a limit is not a positive integer.
 */
export function resolveLimits(init: StreamServiceInit): StreamLimits {
  const maxStreams = positiveInt("maxStreams", init.maxStreams);
  return {
    maxStreams,
    perPeer: positiveInt(
      "maxStreamsPerPeer",
      init.maxStreamsPerPeer ?? Math.max(1, Math.ceil(maxStreams / 2)),
    ),
    requestTimeoutMs: positiveInt(
      "requestTimeoutMs",
      init.requestTimeoutMs ?? 10_000,
    ),
    maxFrameBytes: positiveInt(
      "maxFrameBytes",
      init.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
    ),
    rtQueueFrames: positiveInt(
      "realtimeQueueFrames",
      init.realtimeQueueFrames ?? 10,
    ),
    rtMaxInFlight: positiveInt(
      "realtimeMaxInFlight",
      init.realtimeMaxInFlight ?? 16,
    ),
    highWaterMark: positiveInt(
      "readableHighWaterMark",
      init.readableHighWaterMark ?? 64,
    ),
  };
}

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}

const encoder = new TextEncoder();

/**
 * Check a request or rejection reason given by the caller.
 *
 * @throws {TypeError} When it is not a string.
 * @throws {TooLargeError} When it exceeds {@linkcode MAX_REASON_BYTES}.
 */
export function checkReason(reason: string): void {
  if (typeof reason !== "string") {
    throw new TypeError("The reason must be a string");
  }
  const size = encoder.encode(reason).length;
  if (size > MAX_REASON_BYTES) {
    throw new TooLargeError("reason", size, MAX_REASON_BYTES);
  }
}
