/**
 * The device client's bundler (docs/PROTOCOL.md 4.6): the messages that
 * become due in one job (calls made together, the answers to a received
 * frame, retransmissions due at once) are queued and leave at its end, in
 * order, in as few frames as fit; nothing waits longer than the job. What
 * is queued stays below one frame of copied QoS 0 payloads and 32
 * messages: beyond, the queue is sent first.
 *
 * @module
 */

import { Limits, type Message, type SecureSession } from "../protocol/mod.ts";

/** The messages due in the current job, made by {@linkcode createBundler}. */
export interface Bundler {
  /** The messages queued, in order. */
  readonly out: Message[];
  /**
   * Queues a message for the flush at the end of this job (`copied`: bytes
   * of payload copied for it); flushes first when the queue is full.
   */
  add(m: Message, copied?: number): void;
  /**
   * Schedules one flush at the end of the current job (a microtask, not a
   * timer: nothing waits for a fuller frame); settles once it has run.
   */
  kick(): Promise<void>;
  /**
   * Seals what is queued into as few frames as fit, in order, and hands
   * each to `send`; a message too large for a frame of its own is taken out
   * and handed to `refuse`. Returns false when the session can seal no more
   * (a new handshake is due).
   */
  seal(
    s: SecureSession,
    scratch: Uint8Array,
    send: (frame: Uint8Array, count: number) => void,
    refuse: (m: Message, e: Error) => void,
  ): boolean;
  /** Empties the queue. */
  clear(): void;
}

/**
 * An empty bundler.
 * @param maxFrame Bytes of copied payloads queued at most.
 * @param flush Sends what is queued (and empties the queue).
 * @returns The bundler.
 */
export function createBundler(maxFrame: number, flush: () => void): Bundler {
  const out: Message[] = [];
  let copied = 0;
  let due: Promise<void> | null = null;

  function kick(): Promise<void> {
    if (due === null) {
      due = Promise.resolve().then(() => {
        due = null;
        try {
          flush();
        } catch {
          // A callback threw while sending (onStateChange on a re-handshake):
          // what is still queued leaves with the next flush.
        }
      });
    }
    return due;
  }

  return {
    out,
    kick,
    add(m, n = 0) {
      if (
        out.length >= Limits.MAX_MESSAGES_PER_FRAME || copied + n > maxFrame
      ) flush();
      copied += n;
      out.push(m);
      kick();
    },
    seal(s, scratch, send, refuse) {
      while (out.length > 0) {
        if (s.exhausted()) return false;
        let r: { frame: Uint8Array; count: number };
        try {
          r = s.sealMessages(out, scratch);
        } catch (e) {
          // The first one does not fit the agreed frame size.
          refuse(out.shift()!, e as Error);
          continue;
        }
        out.splice(0, r.count);
        send(r.frame, r.count);
      }
      return true;
    },
    clear() {
      out.length = 0;
      copied = 0;
    },
  };
}
