/**
 * The receiving side of every channel: inbound streams and their
 * handshake, the frames each stream brings (request, accept, reject, data,
 * ack, close) in the order its state allows, and the delivery of data to
 * events and to a `readable` reader.
 *
 * @module
 */

import type { PeerId } from "../core/peer_id.ts";
import { FLAG_ERROR, type Frame, FrameType } from "./frame.ts";
import type { HostConnection, HostStream } from "./host.ts";
import { MAX_REASON_BYTES, type StreamLimits } from "./options.ts";
import { Channel } from "./_channel.ts";
import {
  ACK_EVERY,
  LEGACY_ACK_EVERY,
  type RealtimeDelivery,
} from "./_realtime.ts";
import type { ReliableDelivery } from "./_reliable.ts";
import type { StreamTable } from "./_table.ts";
import type { StreamFrame } from "./types.ts";

/** The largest read buffer a paused Yamux stream can need (its max window). */
const PAUSED_READ_BUFFER_BYTES = 17 * 1024 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Whether an accept's payload says the peer flags its window-filling frame. */
function flagsAckNow(payload: Uint8Array): boolean {
  if (payload.length === 0) return false; // an older peer
  try {
    return JSON.parse(decoder.decode(payload))?.ackNow === true;
  } catch {
    return false;
  }
}

/** Reads every channel's frames and acts on them. */
export class Receiver {
  readonly #table: StreamTable;
  readonly #limits: StreamLimits;
  readonly #reliable: ReliableDelivery;
  readonly #realtime: RealtimeDelivery;

  /**
   * @param table The service's channels.
   * @param limits The service's limits.
   * @param reliable Reliable delivery (read backpressure).
   * @param realtime Realtime delivery (acks, bounded inbox).
   */
  constructor(
    table: StreamTable,
    limits: StreamLimits,
    reliable: ReliableDelivery,
    realtime: RealtimeDelivery,
  ) {
    this.#table = table;
    this.#limits = limits;
    this.#reliable = reliable;
    this.#realtime = realtime;
  }

  /** The protocol handler: a peer opened a stream; its request must follow. */
  onInbound = (raw: HostStream, connection: HostConnection): void => {
    const peer = connection.remotePeer.toString() as PeerId;
    if (!this.#table.running) {
      raw.abort(new Error("The stream service is not running"));
      return;
    }
    const ch = new Channel(
      raw,
      peer,
      "inbound",
      "handshake",
      this.#limits.maxFrameBytes,
    );
    this.#table.handshakes.add(ch);
    ch.timer = setTimeout(() => {
      this.#table.protocolError(ch, "No stream request within the timeout");
    }, this.#limits.requestTimeoutMs);
    this.attach(ch);
  };

  /** Listen to a channel's stream: its bytes, its end and its close. */
  attach(ch: Channel): void {
    ch.raw.maxReadBufferLength = Math.max(
      ch.raw.maxReadBufferLength,
      PAUSED_READ_BUFFER_BYTES,
    );
    ch.raw.addEventListener("message", (evt) => {
      const data = evt.data;
      if (data instanceof Uint8Array) ch.decoder.push(data);
      else for (const chunk of data) ch.decoder.push(chunk);
      this.#pump(ch);
    });
    ch.raw.addEventListener("close", (evt) => {
      this.#table.closingRaw.delete(ch.raw);
      const onClose = () => {
        if (ch.state === "closed") return;
        if (evt.error != null && evt.local) {
          this.#table.finish(ch, "error", evt.error.message, "error");
        } else {
          this.#table.finish(ch, "remote", undefined, "connection closed");
        }
      };
      if (ch.holding) ch.afterHold.push(onClose);
      else onClose();
    });
    ch.raw.addEventListener("end", () => {
      const onEnd = () => {
        if (ch.state === "closed") return;
        // the peer finished writing without a close frame
        this.#table.finish(ch, "remote", undefined, "connection closed");
        void this.#table.closeRaw(ch.raw);
      };
      if (ch.holding) ch.afterHold.push(onEnd);
      else onEnd();
    });
  }

  /** The `readable` reader wants a frame: give one, or end it, or wait. */
  pull(ch: Channel): void {
    const reader = ch.reader;
    if (!reader) return;
    const f = ch.inbox.shift();
    if (f) {
      ch.inboxBytes -= f.data.length;
      reader.controller.enqueue(f);
      this.#reliable.onTaken(ch);
      return;
    }
    if (ch.state === "closed") {
      try {
        reader.controller.close();
      } catch {
        // already closed
      }
      return;
    }
    reader.wanting = true;
  }

  /**
   * After an accept, hold further frames (and the stream's end) for one
   * macrotask, so that a caller awaiting `request()` can attach `readable()`
   * before anything is delivered.
   */
  #hold(ch: Channel): void {
    ch.holding = true;
    ch.holdTimer = setTimeout(() => {
      ch.holding = false;
      this.#pump(ch);
      for (const then of ch.afterHold.splice(0)) then();
    }, 0);
  }

  #pump(ch: Channel): void {
    while (!ch.holding && ch.state !== "closed") {
      let frame: Frame | undefined;
      try {
        frame = ch.decoder.next();
      } catch (e) {
        this.#table.protocolError(ch, (e as Error).message);
        return;
      }
      if (!frame) return;
      this.#onFrame(ch, frame);
    }
  }

  #onFrame(ch: Channel, frame: Frame): void {
    const table = this.#table;
    switch (ch.state) {
      case "handshake":
        if (frame.type !== FrameType.Request) {
          return table.protocolError(ch, "Expected a stream request first");
        }
        return this.#onRequest(ch, frame.payload);
      case "requesting":
        if (frame.type === FrameType.Accept) {
          clearTimeout(ch.timer);
          if (flagsAckNow(frame.payload)) ch.ackEvery = ACK_EVERY;
          ch.open();
          table.safeEmit({
            type: "streamAccepted",
            peerId: ch.peer,
            streamId: ch.id,
          });
          ch.answer?.resolve();
          this.#hold(ch);
          return;
        }
        if (frame.type === FrameType.Reject) {
          const reason = decoder.decode(frame.payload).slice(
            0,
            MAX_REASON_BYTES,
          );
          table.finish(ch, "remote", undefined, reason);
          void table.closeRaw(ch.raw);
          return;
        }
        return table.protocolError(ch, "Expected an accept or a reject");
      case "pending":
        if (frame.type === FrameType.Close) {
          table.finish(ch, "remote");
          void table.closeRaw(ch.raw);
          return;
        }
        return table.protocolError(ch, "Frame before the stream was accepted");
      case "open":
        if (frame.type === FrameType.Data) return this.#onData(ch, frame);
        if (frame.type === FrameType.Ack) {
          return this.#realtime.onAck(ch, frame);
        }
        if (frame.type === FrameType.Close) {
          if (frame.flags & FLAG_ERROR) {
            table.finish(ch, "error", decoder.decode(frame.payload));
          } else {
            table.finish(ch, "remote");
          }
          void table.closeRaw(ch.raw);
          return;
        }
        return table.protocolError(ch, "Unexpected control frame");
    }
  }

  #onRequest(ch: Channel, payload: Uint8Array): void {
    const table = this.#table;
    const limits = this.#limits;
    let id: unknown, reason: unknown, mode: unknown, ackNow: unknown;
    try {
      ({ id, reason, mode, ackNow } = JSON.parse(decoder.decode(payload)));
    } catch {
      return table.protocolError(ch, "Malformed stream request");
    }
    if (
      typeof id !== "string" || id.length === 0 || id.length > 128 ||
      typeof reason !== "string" ||
      encoder.encode(reason).length > MAX_REASON_BYTES ||
      (mode !== "reliable" && mode !== "realtime")
    ) {
      return table.protocolError(ch, "Invalid stream request");
    }
    table.handshakes.delete(ch);
    clearTimeout(ch.timer);
    let refusal: string | undefined;
    if (!table.running) refusal = "stopped";
    else if (table.streams.has(id)) refusal = "duplicate stream id";
    else if (table.streams.size + table.reserved >= limits.maxStreams) {
      refusal = `maxStreams (${limits.maxStreams}) reached`;
    } else if (table.askedBy(ch.peer) >= limits.perPeer) {
      refusal = `maxStreamsPerPeer (${limits.perPeer}) reached`;
    }
    if (refusal !== undefined) {
      table.counters.refusedRequests++;
      ch.state = "closed";
      ch.control(FrameType.Reject, encoder.encode(refusal));
      void table.closeRaw(ch.raw);
      return;
    }
    ch.id = id;
    ch.mode = mode;
    ch.ackEvery = ackNow === true ? ACK_EVERY : LEGACY_ACK_EVERY;
    ch.state = "pending";
    table.streams.set(id, ch);
    ch.timer = setTimeout(() => {
      if (ch.state !== "pending") return;
      ch.control(FrameType.Reject, encoder.encode("timeout"));
      table.finish(
        ch,
        "error",
        `Request not answered within ${limits.requestTimeoutMs} ms`,
      );
      void table.closeRaw(ch.raw);
    }, limits.requestTimeoutMs);
    table.safeEmit({
      type: "streamRequested",
      from: ch.peer,
      streamId: id,
      reason,
      mode,
    });
  }

  #onData(ch: Channel, frame: Frame): void {
    ch.rx.record(
      frame.seq,
      frame.timestamp,
      frame.payload.length,
      Date.now(),
    );
    if (ch.mode === "realtime") this.#realtime.onData(ch, frame);
    this.#table.safeEmit({
      type: "streamData",
      from: ch.peer,
      streamId: ch.id,
      data: frame.payload,
      seq: frame.seq,
      timestamp: frame.timestamp,
    });
    const reader = ch.reader;
    if (!reader) return;
    const f: StreamFrame = {
      data: frame.payload,
      seq: frame.seq,
      timestamp: frame.timestamp,
    };
    if (reader.wanting) {
      reader.wanting = false;
      reader.controller.enqueue(f);
      return;
    }
    ch.inbox.push(f);
    ch.inboxBytes += f.data.length;
    if (ch.mode === "realtime") this.#realtime.onQueued(ch);
    else this.#reliable.onQueued(ch);
  }
}
