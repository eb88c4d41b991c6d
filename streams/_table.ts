/**
 * The stream service's shared state (the channels by id, the inbound
 * streams still in their handshake, the counters) and the ways a channel
 * ends, used by both the public calls and the frame handling.
 *
 * @module
 */

import { StreamNotFoundError, StreamRejectedError } from "../core/errors.ts";
import type { AviEvent } from "../core/events.ts";
import type { PeerId, StreamId } from "../core/peer_id.ts";
import { FLAG_ERROR, FrameType } from "./frame.ts";
import type { HostStream } from "./host.ts";
import type { Channel } from "./_channel.ts";
import { clearRealtime } from "./_realtime.ts";
import type { StreamServiceCounters, StreamStats } from "./types.ts";

/** How long a graceful close of the underlying stream may take. */
const CLOSE_GRACE_MS = 5_000;

/** How many closed streams keep their final figures for `stats`. */
const CLOSED_STATS_KEPT = 64;

const encoder = new TextEncoder();

/** Every channel of one service, and how they end. */
export class StreamTable {
  /** Whether the protocol handler is registered. */
  running = false;
  /** Outbound requests still dialling (they count against `maxStreams`). */
  reserved = 0;
  /** Requested, pending and open streams by id. */
  readonly streams = new Map<StreamId, Channel>();
  /** Inbound streams whose request has not come yet. */
  readonly handshakes = new Set<Channel>();
  /** Underlying streams closing gracefully. */
  readonly closingRaw = new Set<HostStream>();
  /** The final figures of the last closed streams. */
  readonly closedStats = new Map<StreamId, StreamStats>();
  /** Refused network input. */
  readonly counters: Omit<StreamServiceCounters, "open"> = {
    protocolErrors: 0,
    refusedRequests: 0,
  };
  readonly #emit: (event: AviEvent) => void;

  /** @param emit The event sink. */
  constructor(emit: (event: AviEvent) => void) {
    this.#emit = emit;
  }

  /** Emit an event; a throwing listener does not break the protocol. */
  safeEmit(event: AviEvent): void {
    try {
      this.#emit(event);
    } catch {
      // a throwing listener must not break the protocol
    }
  }

  /** The streams `peer` asked for that are pending or open here. */
  askedBy(peer: PeerId): number {
    let n = 0;
    for (const s of this.streams.values()) {
      if (s.peer === peer && s.direction === "inbound") n++;
    }
    return n;
  }

  /** Write one data frame and count it; a dead stream ends the channel. */
  write = (ch: Channel, frame: Uint8Array, size: number): void => {
    try {
      ch.raw.send(frame);
    } catch (cause) {
      this.finish(ch, "error", (cause as Error).message);
      throw new StreamNotFoundError(ch.id);
    }
    ch.framesSent++;
    ch.bytesSent += size;
  };

  /** The peer broke the wire format or the protocol: count it, end it. */
  protocolError(ch: Channel, message: string): void {
    this.counters.protocolErrors++;
    this.handshakes.delete(ch);
    if (ch.state === "handshake") {
      ch.state = "closed";
      clearTimeout(ch.timer);
    } else {
      ch.control(FrameType.Close, encoder.encode(message), FLAG_ERROR);
      this.finish(ch, "error", message, `protocol error: ${message}`);
    }
    ch.raw.abort(new Error(message));
  }

  /**
   * Mark a channel closed, release its resources and report it: a request
   * in flight rejects (`rejectReason`), an accepted or pending stream emits
   * `streamClosed` unless `silent`.
   */
  finish(
    ch: Channel,
    how: "local" | "remote" | "error",
    error?: string,
    rejectReason?: string,
    rejectWith?: unknown,
    silent = false,
  ): void {
    if (ch.state === "closed") return;
    const previous = ch.state;
    ch.state = "closed";
    clearTimeout(ch.timer);
    clearTimeout(ch.holdTimer);
    this.handshakes.delete(ch);
    if (ch.id && this.streams.get(ch.id) === ch) {
      this.streams.delete(ch.id);
      this.closedStats.set(ch.id, ch.snapshot());
      if (this.closedStats.size > CLOSED_STATS_KEPT) {
        this.closedStats.delete(this.closedStats.keys().next().value!);
      }
    }
    for (const wake of [...ch.wakers]) wake();
    clearRealtime(ch);
    const reader = ch.reader;
    if (reader && (reader.wanting || ch.inbox.length === 0)) {
      reader.wanting = false;
      try {
        reader.controller.close();
      } catch {
        // already closed
      }
    }
    if (previous === "requesting") {
      const reason = rejectReason ?? how;
      this.safeEmit({
        type: "streamRejected",
        peerId: ch.peer,
        streamId: ch.id,
        reason,
      });
      ch.answer?.reject(rejectWith ?? new StreamRejectedError(reason));
    } else if ((previous === "pending" || previous === "open") && !silent) {
      this.safeEmit({
        type: "streamClosed",
        peerId: ch.peer,
        streamId: ch.id,
        reason: how,
        ...(how === "error" ? { error: error ?? "unknown error" } : {}),
      });
    }
  }

  /** Close our writable end gracefully; abort after a grace period. */
  async closeRaw(raw: HostStream): Promise<void> {
    if (raw.status !== "open") return;
    this.closingRaw.add(raw);
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), CLOSE_GRACE_MS);
    try {
      await raw.close({ signal: abort.signal });
    } catch (e) {
      raw.abort(e instanceof Error ? e : new Error(String(e)));
    } finally {
      clearTimeout(timer);
      if (raw.status !== "open") this.closingRaw.delete(raw);
    }
  }
}
