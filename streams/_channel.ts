/**
 * One logical stream of the stream service, and its state.
 *
 * @module
 */

import type { PeerId } from "../core/peer_id.ts";
import {
  encodeFrame,
  FrameDecoder,
  type FrameTypeValue,
  MAX_UNACCEPTED_FRAME_BYTES,
} from "./frame.ts";
import type { HostStream } from "./host.ts";
import { ReceiveStats } from "./_receive_stats.ts";
import { LEGACY_ACK_EVERY } from "./_realtime.ts";
import type { StreamFrame, StreamMode, StreamStats } from "./types.ts";

/** Where a channel is in its life. */
export type State = "handshake" | "requesting" | "pending" | "open" | "closed";

/** Hand one encoded data frame to the network; throws when the stream died. */
export type WriteFrame = (ch: Channel, frame: Uint8Array, size: number) => void;

/** The `readable()` of a channel. */
export interface Reader {
  controller: ReadableStreamDefaultController<StreamFrame>;
  wanting: boolean;
}

/** One logical stream (or an inbound libp2p stream before its request). */
export class Channel {
  id = "";
  mode: StreamMode = "reliable";
  state: State;
  closing = false;
  timer?: ReturnType<typeof setTimeout>;
  holdTimer?: ReturnType<typeof setTimeout>;
  holding = false;
  /** Stream-end handlers deferred while holding. */
  readonly afterHold: (() => void)[] = [];
  answer?: PromiseWithResolvers<void>;
  sendSeq = 0;
  framesSent = 0;
  bytesSent = 0;
  dropped = 0;
  readonly rx = new ReceiveStats();
  writeTail: Promise<void> = Promise.resolve();
  pendingWrites = 0;
  readonly rtQueue: { frame: Uint8Array; size: number; seq: number }[] = [];
  /** Realtime: seqs written but not acknowledged yet, oldest first. */
  readonly inFlight: number[] = [];
  /** Realtime: data frames received since the last ack sent. */
  unacked = 0;
  /**
   * Realtime receiver: acknowledge every this many data frames
   * (`ACK_EVERY` when the sender flags the frame that fills its window,
   * else `LEGACY_ACK_EVERY`).
   */
  ackEvery = LEGACY_ACK_EVERY;
  rtQueuedBytes = 0;
  rtDrainListening = false;
  readonly inbox: StreamFrame[] = [];
  inboxBytes = 0;
  reader?: Reader;
  paused = false;
  readonly wakers = new Set<() => void>();
  readonly decoder: FrameDecoder;

  constructor(
    readonly raw: HostStream,
    readonly peer: PeerId,
    readonly direction: "outbound" | "inbound",
    state: State,
    readonly maxFrameBytes: number,
  ) {
    this.state = state;
    this.decoder = new FrameDecoder(MAX_UNACCEPTED_FRAME_BYTES);
  }

  /** The stream is accepted: frames up to the full limit may come now. */
  open(): void {
    this.state = "open";
    this.decoder.maxPayload = Math.max(this.maxFrameBytes, 4096);
  }

  /** Send a control frame; a closed stream is left to its close listener. */
  control(
    type: FrameTypeValue,
    payload?: Uint8Array,
    flags = 0,
    seq = 0,
    timestamp = 0,
  ): void {
    try {
      this.raw.send(encodeFrame(type, seq, timestamp, payload, flags));
    } catch {
      // the stream is already closed; its close listener reports it
    }
  }

  /**
   * Wait for the next `drain` (or also `idle`) event, or the channel's end.
   * Never `stream.onDrain()`: in @libp2p/utils 7.4.1 its promise is made
   * once and never renewed, so awaiting it again resolves at once and spins.
   */
  drained(also?: "idle"): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.raw.removeEventListener("drain", done);
        if (also) this.raw.removeEventListener(also, done);
        this.wakers.delete(done);
        resolve();
      };
      this.raw.addEventListener("drain", done);
      if (also) this.raw.addEventListener(also, done);
      this.wakers.add(done);
    });
  }

  /** The channel's figures now. */
  snapshot(): StreamStats {
    return {
      id: this.id,
      peer: this.peer,
      mode: this.mode,
      direction: this.direction,
      state: this.state === "open"
        ? "open"
        : this.state === "closed"
        ? "closed"
        : "pending",
      framesSent: this.framesSent,
      bytesSent: this.bytesSent,
      framesReceived: this.rx.frames,
      bytesReceived: this.rx.bytes,
      lost: this.rx.lost,
      dropped: this.dropped,
      reordered: this.rx.reordered,
      jitterMs: this.rx.jitterMs,
      latencyMs: this.rx.latencyMs,
      bufferedBytes: this.state === "closed" ? 0 : this.raw.writeBufferLength +
        this.rtQueuedBytes + this.raw.readBufferLength + this.inboxBytes +
        this.decoder.bufferedBytes,
    };
  }
}
