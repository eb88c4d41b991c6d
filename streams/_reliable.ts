/**
 * Reliable delivery: every byte, in order, with backpressure both ways.
 * `send` waits (in call order) while the stream's write buffer needs a
 * `drain`; `close` first delivers everything already sent, however slow the
 * reader; a `readable` reader that falls behind pauses the stream, so the
 * peer's `send` waits in turn.
 *
 * @module
 */

import { StreamNotFoundError } from "../core/errors.ts";
import type { Channel, WriteFrame } from "./_channel.ts";

/** The reliable half of the service: ordered sends and read backpressure. */
export class ReliableDelivery {
  readonly #highWaterMark: number;
  readonly #write: WriteFrame;

  /**
   * @param highWaterMark Unread frames held before the stream is paused.
   * @param write Writes one frame, counting it.
   */
  constructor(highWaterMark: number, write: WriteFrame) {
    this.#highWaterMark = highWaterMark;
    this.#write = write;
  }

  /**
   * Send one encoded data frame: at once when nothing waits, else after the
   * frames before it, once the stream drained.
   */
  send(ch: Channel, frame: Uint8Array, size: number): Promise<void> {
    if (ch.pendingWrites === 0 && !ch.raw.writableNeedsDrain) {
      try {
        this.#write(ch, frame, size);
        return Promise.resolve();
      } catch (e) {
        return Promise.reject(e);
      }
    }
    ch.pendingWrites++;
    const done = ch.writeTail.then(async () => {
      while (ch.raw.writableNeedsDrain && ch.state === "open") {
        await ch.drained();
      }
      if (ch.state !== "open") throw new StreamNotFoundError(ch.id);
      this.#write(ch, frame, size);
    }).finally(() => {
      ch.pendingWrites--;
    });
    ch.writeTail = done.catch(() => {});
    return done;
  }

  /**
   * Before a close: wait until every frame passed to `send` is handed to the
   * network (a graceful close of the stream would give up after a grace
   * period), or the channel ends.
   */
  async flush(ch: Channel): Promise<void> {
    await ch.writeTail;
    while (
      (ch.raw.writableNeedsDrain || ch.raw.writeBufferLength > 0) &&
      ch.state === "open"
    ) {
      await ch.drained("idle");
    }
  }

  /** A frame joined the unread inbox: pause the stream at the high mark. */
  onQueued(ch: Channel): void {
    if (ch.inbox.length >= this.#highWaterMark && !ch.paused) {
      try {
        ch.raw.pause();
        ch.paused = true;
      } catch {
        // the readable end is already closing
      }
    }
  }

  /** A frame left the inbox: resume the stream once half of it is read. */
  onTaken(ch: Channel): void {
    if (ch.inbox.length <= this.#highWaterMark / 2) this.resume(ch);
  }

  /** Resume a paused stream (the reader caught up or went away). */
  resume(ch: Channel): void {
    if (!ch.paused) return;
    ch.paused = false;
    try {
      ch.raw.resume();
    } catch {
      // closing
    }
  }
}
