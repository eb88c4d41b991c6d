/**
 * The public types of the stream service.
 *
 * @module
 */

import type { PeerId } from "../core/peer_id.ts";

/**
 * How a stream delivers frames.
 *
 * - `"reliable"`: every byte, in order, with backpressure (`send` waits while
 *   the peer is slow).
 * - `"realtime"`: bounded queues; when the receiver or the link falls behind,
 *   the oldest frames are dropped and counted, so latency never piles up.
 *
 * @example
 * ```ts
 * import type { StreamMode } from "@avi/p2p";
 * const mode: StreamMode = "realtime";
 * ```
 */
export type StreamMode = "reliable" | "realtime";

/**
 * Options of `request`.
 *
 * @example
 * ```ts
 * import type { RequestStreamOptions } from "@avi/p2p";
 * const options: RequestStreamOptions = { mode: "realtime" };
 * ```
 */
export interface RequestStreamOptions {
  /**
   * The delivery mode.
   *
   * @default {"reliable"}
   */
  mode?: StreamMode;
  /** Abandon the request (it then rejects with the signal's reason). */
  signal?: AbortSignal;
}

/**
 * Options of `send`.
 *
 * @example
 * ```ts
 * import type { SendStreamOptions } from "@avi/p2p";
 * const options: SendStreamOptions = { timestamp: Date.now() };
 * ```
 */
export interface SendStreamOptions {
  /**
   * The capture time of the data in milliseconds since the Unix epoch. The
   * receiver's latency and jitter figures are computed from it.
   *
   * @default {Date.now()}
   */
  timestamp?: number;
}

/**
 * One frame received on a stream, as given by `readable(id)`.
 *
 * @example
 * ```ts
 * import type { StreamFrame } from "@avi/p2p";
 * const show = (f: StreamFrame) => `#${f.seq} ${f.data.length} bytes`;
 * ```
 */
export interface StreamFrame {
  /** The payload. */
  data: Uint8Array;
  /** The sender's sequence number, from 0. */
  seq: number;
  /** The sender's capture timestamp, in ms since the Unix epoch. */
  timestamp: number;
}

/**
 * The figures of one stream, from this node's point of view.
 *
 * @example
 * ```ts
 * import type { StreamStats } from "@avi/p2p";
 * const line = (s: StreamStats) =>
 *   `${s.framesReceived} frames, ${s.lost} lost, jitter ${s.jitterMs} ms`;
 * ```
 */
export interface StreamStats {
  /** The stream id. */
  id: string;
  /** The other end. */
  peer: PeerId;
  /** The delivery mode. */
  mode: StreamMode;
  /** Whether this node asked for the stream or was asked. */
  direction: "outbound" | "inbound";
  /** Lifecycle state. */
  state: "pending" | "open" | "closed";
  /** Data frames handed to the network. */
  framesSent: number;
  /** Payload bytes handed to the network. */
  bytesSent: number;
  /** Data frames received. */
  framesReceived: number;
  /** Payload bytes received. */
  bytesReceived: number;
  /** Frames the peer numbered that never arrived (gaps in `seq`). */
  lost: number;
  /**
   * Frames this node discarded from its own bounded queues (realtime mode):
   * outgoing frames the link could not take and incoming frames the reader
   * did not read in time.
   */
  dropped: number;
  /** Frames that arrived after a later-numbered frame. */
  reordered: number;
  /** Interarrival jitter in ms (RFC 3550 estimator over capture timestamps). */
  jitterMs: number;
  /**
   * Smoothed one-way latency estimate in ms: arrival time minus the sender's
   * capture timestamp. Meaningful when both clocks agree (same machine, or
   * NTP-synchronised hosts); 0 before any frame arrived.
   */
  latencyMs: number;
  /**
   * Bytes held in memory for this stream right now: unsent outgoing bytes
   * plus received bytes not yet read.
   */
  bufferedBytes: number;
}

/** Counters of refused network input, for the whole service. */
export interface StreamServiceCounters {
  /** Streams ended because the peer broke the wire format or the protocol. */
  protocolErrors: number;
  /** Incoming requests refused (limit, share, duplicate id, stopped). */
  refusedRequests: number;
  /** Streams open or being opened now. */
  open: number;
}
