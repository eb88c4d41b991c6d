/**
 * One logical stream of the stream service, and its state.
 *
 * @module
 */

import type { Stream } from "@libp2p/interface";
import type { PeerId } from "../core/peer_id.ts";
import { FrameDecoder, MAX_UNACCEPTED_FRAME_BYTES } from "./frame.ts";
import { ReceiveStats } from "./_receive_stats.ts";
import type { StreamFrame, StreamMode } from "./types.ts";

/** Where a channel is in its life. */
export type State = "handshake" | "requesting" | "pending" | "open" | "closed";

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
  rtQueuedBytes = 0;
  rtDrainListening = false;
  readonly inbox: StreamFrame[] = [];
  inboxBytes = 0;
  reader?: Reader;
  paused = false;
  readonly wakers = new Set<() => void>();
  readonly decoder: FrameDecoder;

  constructor(
    readonly raw: Stream,
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
}
