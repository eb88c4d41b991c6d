/**
 * The device client's streams (docs/PROTOCOL.md 4.2): the device names them
 * 0..255; a StreamStart is acknowledged, StreamData (real-time audio) and
 * StreamClose are sent once, and each stream's StreamData count from 0 in
 * `seq`, so that the gateway can count loss. (What the gateway sends on a
 * stream reaches the config's `onStreamData` and `onStreamClose`.)
 *
 * @module
 */

import type { Message } from "../protocol/mod.ts";
import type { Connection } from "./connection.ts";
import { checkInt } from "./errors.ts";

/** The streams of one client, made by {@linkcode createStreams}. */
export interface Streams {
  /** Asks for a stream (QoS 1); its sequence numbers start again at 0. */
  start(streamId: number, targetPeer: string, reason: string): Promise<void>;
  /** Sends the next StreamData of a stream at once, with what is queued. */
  data(streamId: number, data: Uint8Array): void;
  /** Queues a StreamClose. */
  close(streamId: number, code: number): void;
}

/**
 * No stream yet.
 * @param c The connection.
 * @returns The streams.
 */
export function createStreams(c: Connection): Streams {
  const seqs = new Uint32Array(256);
  return {
    start(streamId, targetPeer, reason) {
      try {
        checkInt(streamId, 0, 255, "streamId");
      } catch (e) {
        return Promise.reject(e);
      }
      seqs[streamId] = 0;
      return c.reliable((msgId) => ({
        type: "streamStart",
        msgId,
        streamId,
        targetPeer,
        reason,
      }));
    },
    data(streamId, data) {
      checkInt(streamId, 0, 255, "streamId");
      c.requireConnected();
      const seq = seqs[streamId];
      const m: Message = { type: "streamData", streamId, seq, data };
      c.checkSize(m);
      seqs[streamId] = (seq + 1) >>> 0;
      // Real-time, and `data` may be reused: out now, with what is queued.
      c.send(m);
      c.flush();
    },
    close(streamId, code) {
      checkInt(streamId, 0, 255, "streamId");
      c.requireConnected();
      const m: Message = { type: "streamClose", streamId, code };
      c.checkSize(m);
      c.send(m);
    },
  };
}
