/**
 * Realtime delivery: `send` never waits. Frames the link cannot take yet
 * wait in a bounded queue that drops the oldest (counted); at most
 * `realtimeMaxInFlight` frames are sent but unacknowledged, the receiver
 * acknowledging every {@linkcode ACK_EVERY}th, and at once the frame that
 * fills the sender's window (flagged {@linkcode FLAG_ACK_NOW}); unread
 * incoming frames are bounded the same way. So latency never piles up.
 *
 * @module
 */

import { FLAG_ACK_NOW, type Frame, FrameType, setFlags } from "./frame.ts";
import type { Channel, WriteFrame } from "./_channel.ts";

/**
 * A realtime receiver acknowledges every this many data frames (half the
 * default window of 16, so acks keep it moving), besides the frame that
 * fills the sender's window, when the sender said in its request (or
 * accept) that it flags that frame (`ackNow`).
 */
export const ACK_EVERY = 8;

/**
 * The ack interval for a sender that did not say so (an older one, whose
 * window of 5 to 7 frames would never free with acks every 8th).
 */
export const LEGACY_ACK_EVERY = 4;

/** The realtime half of the service: sending, acks, and the bounded queues. */
export class RealtimeDelivery {
  readonly #queueFrames: number;
  readonly #maxInFlight: number;
  readonly #write: WriteFrame;

  /**
   * @param queueFrames The most frames held per direction.
   * @param maxInFlight The most frames sent but not acknowledged.
   * @param write Writes one frame, counting it.
   */
  constructor(queueFrames: number, maxInFlight: number, write: WriteFrame) {
    this.#queueFrames = queueFrames;
    this.#maxInFlight = maxInFlight;
    this.#write = write;
  }

  /** Send one encoded data frame now, or queue it (dropping the oldest). */
  send(ch: Channel, frame: Uint8Array, size: number, seq: number): void {
    if (ch.rtQueue.length === 0 && this.#canWrite(ch)) {
      try {
        this.#writeData(ch, frame, size, seq);
      } catch {
        // reported through streamClosed
      }
      return;
    }
    ch.rtQueue.push({ frame, size, seq });
    ch.rtQueuedBytes += frame.length;
    while (ch.rtQueue.length > this.#queueFrames) {
      ch.rtQueuedBytes -= ch.rtQueue.shift()!.frame.length;
      ch.dropped++;
    }
    if (!ch.rtDrainListening) {
      ch.rtDrainListening = true;
      ch.raw.addEventListener("drain", () => this.#flush(ch));
    }
  }

  /** An ack came: forget the frames it covers and send what waits. */
  onAck(ch: Channel, frame: Frame): void {
    if (ch.mode !== "realtime") return;
    // seqs are written in increasing order (wrapping at 2^32 is ignored:
    // 2.7 years of 50 frames a second)
    while (ch.inFlight.length > 0 && ch.inFlight[0] <= frame.seq) {
      ch.inFlight.shift();
    }
    this.#flush(ch);
  }

  /**
   * A data frame came: acknowledge every {@linkcode ACK_EVERY}th, and one
   * that fills the sender's window at once.
   */
  onData(ch: Channel, frame: Frame): void {
    if (++ch.unacked >= ch.ackEvery || (frame.flags & FLAG_ACK_NOW) !== 0) {
      ch.unacked = 0;
      ch.control(FrameType.Ack, undefined, 0, frame.seq, frame.timestamp);
    }
  }

  /** A frame joined the unread inbox: drop the oldest beyond the bound. */
  onQueued(ch: Channel): void {
    while (ch.inbox.length > this.#queueFrames) {
      ch.inboxBytes -= ch.inbox.shift()!.data.length;
      ch.dropped++;
    }
  }

  /** Write a data frame, asking for an ack at once if it fills the window. */
  #writeData(ch: Channel, frame: Uint8Array, size: number, seq: number): void {
    if (ch.inFlight.length + 1 >= this.#maxInFlight) {
      setFlags(frame, FLAG_ACK_NOW);
    }
    this.#write(ch, frame, size);
    ch.inFlight.push(seq);
  }

  #canWrite(ch: Channel): boolean {
    return !ch.raw.writableNeedsDrain &&
      ch.inFlight.length < this.#maxInFlight;
  }

  #flush(ch: Channel): void {
    while (
      ch.rtQueue.length > 0 && this.#canWrite(ch) &&
      ch.state === "open"
    ) {
      const { frame, size, seq } = ch.rtQueue.shift()!;
      ch.rtQueuedBytes -= frame.length;
      try {
        this.#writeData(ch, frame, size, seq);
      } catch {
        return;
      }
    }
  }
}

/** A channel ended: discard what it still had to send. */
export function clearRealtime(ch: Channel): void {
  ch.rtQueue.length = 0;
  ch.rtQueuedBytes = 0;
  ch.inFlight.length = 0;
}
