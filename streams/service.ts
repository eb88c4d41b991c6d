/**
 * The stream service: logical streams between two peers, each carried by one
 * stream of the host speaking `/avi/stream/2.0.0`. Reliable delivery is in
 * `_reliable.ts`, realtime delivery in `_realtime.ts`, the handling of
 * incoming frames in `_receive.ts`; the host is reached only through the
 * {@linkcode StreamsHost} port.
 *
 * @module
 */

import { peerIdFromString } from "@libp2p/peer-id";
import {
  LimitExceededError,
  NetworkError,
  NotStartedError,
  PeerNotFoundError,
  StreamNotFoundError,
  StreamRejectedError,
  TooLargeError,
} from "../core/errors.ts";
import type { PeerId, StreamId } from "../core/peer_id.ts";
import { encodeFrame, FrameType, STREAM_PROTOCOL } from "./frame.ts";
import type { HostStream, StreamsHost } from "./host.ts";
import {
  checkReason,
  resolveLimits,
  type StreamLimits,
  type StreamServiceInit,
} from "./options.ts";
import { Channel, type State } from "./_channel.ts";
import { RealtimeDelivery } from "./_realtime.ts";
import { Receiver } from "./_receive.ts";
import { ReliableDelivery } from "./_reliable.ts";
import { StreamTable } from "./_table.ts";
import type {
  RequestStreamOptions,
  SendStreamOptions,
  StreamFrame,
  StreamServiceCounters,
  StreamStats,
} from "./types.ts";

export { MAX_REASON_BYTES, type StreamServiceInit } from "./options.ts";
export type { StreamServiceCounters } from "./types.ts";

const encoder = new TextEncoder();

/**
 * An accept's payload: this end flags the data frame that fills its window
 * (`FLAG_ACK_NOW`), so the requester may acknowledge less often. An older
 * end sends an empty accept and ignores this one's payload.
 */
const ACCEPT_PAYLOAD = encoder.encode(JSON.stringify({ ackNow: true }));

/**
 * Logical streams between peers, with a reliable and a realtime mode.
 *
 * One libp2p stream carries each logical stream, so its frames can only come
 * from the peer at the other end: a third peer can neither inject frames into
 * it nor close it.
 *
 * @example
 * ```ts ignore
 * const service = new StreamService({ libp2p, emit: (e) => console.log(e.type), maxStreams: 5 });
 * await service.start();
 * const id = await service.request(peer, "voice", { mode: "realtime" });
 * await service.send(id, new Uint8Array(640));
 * await service.close(id);
 * await service.stop();
 * ```
 */
export class StreamService {
  readonly #host: StreamsHost;
  readonly #limits: StreamLimits;
  readonly #table: StreamTable;
  readonly #reliable: ReliableDelivery;
  readonly #realtime: RealtimeDelivery;
  readonly #receiver: Receiver;

  /**
   * Create the service; call `start` next.
   *
   * @param init The host node, the event sink and the limits.
   * @throws {RangeError} When a limit is not a positive integer.
   */
  constructor(init: StreamServiceInit) {
    this.#host = init.libp2p;
    this.#limits = resolveLimits(init);
    this.#table = new StreamTable(init.emit);
    const write = this.#table.write;
    this.#reliable = new ReliableDelivery(this.#limits.highWaterMark, write);
    this.#realtime = new RealtimeDelivery(
      this.#limits.rtQueueFrames,
      this.#limits.rtMaxInFlight,
      write,
    );
    this.#receiver = new Receiver(
      this.#table,
      this.#limits,
      this.#reliable,
      this.#realtime,
    );
  }

  /**
   * Register the protocol handler. Call once the libp2p node runs.
   *
   * @example
   * ```ts ignore
   * await service.start();
   * ```
   */
  async start(): Promise<void> {
    if (this.#table.running) return;
    const perConnection = Math.max(64, this.#limits.maxStreams * 2 + 8);
    await this.#host.handle(STREAM_PROTOCOL, this.#receiver.onInbound, {
      maxInboundStreams: perConnection,
      maxOutboundStreams: perConnection,
      force: true,
    });
    this.#table.running = true;
  }

  /**
   * Close every stream (reason `"local"`) and unregister the protocol.
   *
   * @example
   * ```ts ignore
   * await service.stop();
   * ```
   */
  async stop(): Promise<void> {
    if (!this.#table.running) return;
    this.#table.running = false;
    for (
      const ch of [...this.#table.streams.values(), ...this.#table.handshakes]
    ) {
      this.#table.finish(ch, "local", undefined, "stopped");
      ch.raw.abort(new Error("The stream service stopped"));
    }
    for (const raw of this.#table.closingRaw) {
      raw.abort(new Error("The stream service stopped"));
    }
    this.#table.closingRaw.clear();
    try {
      await this.#host.unhandle(STREAM_PROTOCOL);
    } catch {
      // the node may already be stopping
    }
  }

  /**
   * Counters of refused network input.
   *
   * @example
   * ```ts ignore
   * console.log(service.counters().protocolErrors);
   * ```
   */
  counters(): StreamServiceCounters {
    return { ...this.#table.counters, open: this.#table.streams.size };
  }

  /**
   * Ask `peer` for a stream. Resolves with its id once the peer accepts.
   *
   * @param peer A connected peer.
   * @param reason Free text shown to the peer (at most 1024 UTF-8 bytes).
   * @param options `mode` (default `"reliable"`) and an abort `signal`.
   * @returns The new stream's id.
   * @throws {LimitExceededError} When `maxStreams` streams are open or pending.
   * @throws {PeerNotFoundError} When the peer id is malformed or not connected.
   * @throws {StreamRejectedError} When the peer rejects, or does not answer
   *   within `requestTimeoutMs` (reason `"timeout"`), or the connection drops.
   * @throws {NotStartedError} When the service is not running.
   *
   * @example
   * ```ts ignore
   * const id = await service.request(peer, "voice", { mode: "realtime" });
   * ```
   */
  async request(
    peer: PeerId,
    reason: string,
    options: RequestStreamOptions = {},
  ): Promise<StreamId> {
    if (!this.#table.running) throw new NotStartedError();
    const mode = options.mode ?? "reliable";
    if (mode !== "reliable" && mode !== "realtime") {
      throw new TypeError(
        `Invalid stream mode "${mode}": expected "reliable" or "realtime"`,
      );
    }
    checkReason(reason);
    options.signal?.throwIfAborted();
    if (
      this.#table.streams.size + this.#table.reserved >= this.#limits.maxStreams
    ) {
      throw new LimitExceededError(
        `maxStreams (${this.#limits.maxStreams}) reached: cannot open another stream`,
      );
    }
    let remote;
    try {
      remote = peerIdFromString(peer);
    } catch (cause) {
      throw new PeerNotFoundError(`Invalid peer id "${peer}"`, { cause });
    }
    if (this.#host.getConnections(remote).length === 0) {
      throw new PeerNotFoundError(`Peer ${peer} is not connected`);
    }

    const id = crypto.randomUUID();
    const dialAbort = new AbortController();
    const onAbort = () => dialAbort.abort(options.signal?.reason);
    options.signal?.addEventListener("abort", onAbort);
    const dialTimer = setTimeout(
      () => dialAbort.abort(new StreamRejectedError("timeout")),
      this.#limits.requestTimeoutMs,
    );
    const started = Date.now();
    let raw: HostStream;
    this.#table.reserved++;
    try {
      raw = await this.#host.dialProtocol(remote, STREAM_PROTOCOL, {
        signal: dialAbort.signal,
      });
    } catch (cause) {
      if (dialAbort.signal.aborted) throw dialAbort.signal.reason;
      throw new NetworkError(
        `Cannot open a stream to ${peer}: ${(cause as Error).message}`,
        { cause },
      );
    } finally {
      this.#table.reserved--;
      clearTimeout(dialTimer);
      options.signal?.removeEventListener("abort", onAbort);
    }
    if (!this.#table.running) {
      raw.abort(new Error("The stream service stopped"));
      throw new NotStartedError();
    }

    const ch = new Channel(
      raw,
      peer,
      "outbound",
      "requesting",
      this.#limits.maxFrameBytes,
    );
    ch.id = id;
    ch.mode = mode;
    ch.answer = Promise.withResolvers<void>();
    this.#table.streams.set(id, ch);
    this.#receiver.attach(ch);
    const left = Math.max(
      1,
      this.#limits.requestTimeoutMs - (Date.now() - started),
    );
    ch.timer = setTimeout(() => {
      this.#table.finish(ch, "error", "timeout", "timeout");
      ch.raw.abort(new Error("Stream request timed out"));
    }, left);
    const onCancel = () => {
      this.#table.finish(
        ch,
        "local",
        undefined,
        "aborted",
        options.signal?.reason,
      );
      ch.raw.abort(new Error("Stream request aborted"));
    };
    options.signal?.addEventListener("abort", onCancel, { once: true });
    try {
      ch.control(
        FrameType.Request,
        // ackNow: this end flags the data frame that fills its window
        // (FLAG_ACK_NOW), so the other may acknowledge less often
        encoder.encode(JSON.stringify({ id, reason, mode, ackNow: true })),
      );
      await ch.answer.promise;
    } finally {
      options.signal?.removeEventListener("abort", onCancel);
    }
    return id;
  }

  /**
   * Accept a stream a peer requested (see the `streamRequested` event).
   *
   * @param id The id from the `streamRequested` event.
   * @throws {StreamNotFoundError} When no request with that id is pending.
   *
   * @example
   * ```ts ignore
   * await service.accept(event.streamId);
   * ```
   */
  accept(id: StreamId): Promise<void> {
    const ch = this.#table.streams.get(id);
    if (!ch || ch.direction !== "inbound" || ch.state !== "pending") {
      return Promise.reject(new StreamNotFoundError(id));
    }
    clearTimeout(ch.timer);
    ch.open();
    ch.control(FrameType.Accept, ACCEPT_PAYLOAD);
    return Promise.resolve();
  }

  /**
   * Reject a stream a peer requested; the peer's `request` rejects with
   * {@linkcode StreamRejectedError} carrying `reason`.
   *
   * @param id The id from the `streamRequested` event.
   * @param reason Why (at most 1024 UTF-8 bytes).
   * @throws {StreamNotFoundError} When no request with that id is pending.
   *
   * @example
   * ```ts ignore
   * await service.reject(event.streamId, "busy");
   * ```
   */
  reject(id: StreamId, reason: string): Promise<void> {
    checkReason(reason);
    const ch = this.#table.streams.get(id);
    if (!ch || ch.direction !== "inbound" || ch.state !== "pending") {
      return Promise.reject(new StreamNotFoundError(id));
    }
    ch.control(FrameType.Reject, encoder.encode(reason));
    this.#table.finish(ch, "local", undefined, undefined, undefined, true);
    this.#table.closeRaw(ch.raw);
    return Promise.resolve();
  }

  /**
   * Send one frame. Reliable mode: resolves once the bytes are handed to the
   * network, waiting while the peer is slow. Realtime mode: never waits; when
   * the link is behind the frame is queued and the oldest queued frames are
   * dropped (counted in `stats(id).dropped`).
   *
   * The bytes are copied; `data` may be reused at once.
   *
   * @param id An open stream.
   * @param data The payload (at most `maxFrameBytes`).
   * @param options `timestamp`: the capture time in ms (default now).
   * @throws {StreamNotFoundError} When the stream is not open.
   * @throws {TooLargeError} When `data` exceeds `maxFrameBytes`.
   *
   * @example
   * ```ts ignore
   * await service.send(id, new Uint8Array(640));
   * ```
   */
  send(
    id: StreamId,
    data: Uint8Array,
    options: SendStreamOptions = {},
  ): Promise<void> {
    const ch = this.#table.streams.get(id);
    if (!ch || ch.state !== "open" || ch.closing) {
      return Promise.reject(new StreamNotFoundError(id));
    }
    if (data.length > this.#limits.maxFrameBytes) {
      return Promise.reject(
        new TooLargeError(
          "stream frame",
          data.length,
          this.#limits.maxFrameBytes,
        ),
      );
    }
    const timestamp = options.timestamp ?? Date.now();
    const seq = ch.sendSeq;
    const frame = encodeFrame(FrameType.Data, seq, timestamp, data);
    ch.sendSeq = (ch.sendSeq + 1) % 2 ** 32;
    if (ch.mode === "realtime") {
      this.#realtime.send(ch, frame, data.length, seq);
      return Promise.resolve();
    }
    return this.#reliable.send(ch, frame, data.length);
  }

  /**
   * Close a stream (or withdraw a pending request). Reliable mode: frames
   * already passed to `send` are delivered first, however long a slow
   * reader takes (the call waits like `send`; the stream still ends if the
   * connection drops). Realtime mode: queued frames are discarded. Both ends
   * get `streamClosed` (`"local"` here, `"remote"` there).
   *
   * @param id The stream.
   * @throws {StreamNotFoundError} When no such stream exists.
   *
   * @example
   * ```ts ignore
   * await service.close(id);
   * ```
   */
  async close(id: StreamId): Promise<void> {
    const ch = this.#table.streams.get(id);
    if (!ch || ch.state === "closed" || ch.closing) {
      throw new StreamNotFoundError(id);
    }
    if (ch.state === "requesting") {
      this.#table.finish(ch, "local", undefined, "closed");
      ch.raw.abort(new Error("Stream request withdrawn"));
      return;
    }
    if (ch.state === "pending") {
      ch.control(FrameType.Reject, encoder.encode("closed"));
      this.#table.finish(ch, "local");
      await this.#table.closeRaw(ch.raw);
      return;
    }
    ch.closing = true;
    // reliable: deliver everything first, however slow the reader
    if (ch.mode === "reliable") await this.#reliable.flush(ch);
    if ((ch.state as State) === "closed") return;
    ch.control(FrameType.Close);
    this.#table.finish(ch, "local");
    await this.#table.closeRaw(ch.raw);
  }

  /**
   * The figures of a stream (still open, or among the last 64 closed).
   *
   * @param id The stream.
   * @returns Frames and bytes each way, loss, drops, reordering, jitter,
   *   latency and buffered bytes.
   * @throws {StreamNotFoundError} When the stream is unknown.
   *
   * @example
   * ```ts ignore
   * const s = service.stats(id);
   * console.log(s.framesReceived, s.lost, s.jitterMs);
   * ```
   */
  stats(id: StreamId): StreamStats {
    const ch = this.#table.streams.get(id);
    if (ch) return ch.snapshot();
    const closed = this.#table.closedStats.get(id);
    if (closed) return { ...closed };
    throw new StreamNotFoundError(id);
  }

  /**
   * The frames arriving on a stream from now on, as a web `ReadableStream`.
   * Call it once per stream, before or after accepting. In reliable mode a
   * reader that falls behind makes the sender wait; in realtime mode its
   * oldest unread frames are dropped. The stream ends when the stream
   * closes. Frames are also emitted as `streamData` events.
   *
   * @param id A pending or open stream.
   * @throws {StreamNotFoundError} When no such stream exists.
   * @throws {TypeError} When `readable` was already called for it.
   *
   * @example
   * ```ts ignore
   * for await (const frame of service.readable(id)) console.log(frame.seq);
   * ```
   */
  readable(id: StreamId): ReadableStream<StreamFrame> {
    const ch = this.#table.streams.get(id);
    if (!ch || ch.state === "closed") throw new StreamNotFoundError(id);
    if (ch.reader) {
      throw new TypeError(`readable() was already called for stream "${id}"`);
    }
    return new ReadableStream<StreamFrame>({
      start: (controller) => {
        ch.reader = { controller, wanting: false };
      },
      pull: () => this.#receiver.pull(ch),
      cancel: () => {
        ch.reader = undefined;
        ch.inbox.length = 0;
        ch.inboxBytes = 0;
        this.#reliable.resume(ch);
      },
    }, { highWaterMark: 0 });
  }

  /**
   * A web `WritableStream` that sends each chunk as one frame and closes the
   * stream when closed or aborted.
   *
   * @param id An open stream.
   * @throws {StreamNotFoundError} When no such stream exists.
   *
   * @example
   * ```ts ignore
   * const w = service.writable(id).getWriter();
   * await w.write(new Uint8Array(640));
   * await w.close();
   * ```
   */
  writable(id: StreamId): WritableStream<Uint8Array> {
    const ch = this.#table.streams.get(id);
    if (!ch || ch.state === "closed") throw new StreamNotFoundError(id);
    return new WritableStream<Uint8Array>({
      write: (chunk) => this.send(id, chunk),
      close: () => this.#closeQuietly(id),
      abort: () => this.#closeQuietly(id),
    }, new CountQueuingStrategy({ highWaterMark: 1 }));
  }

  async #closeQuietly(id: StreamId): Promise<void> {
    try {
      await this.close(id);
    } catch (e) {
      if (!(e instanceof StreamNotFoundError)) throw e;
    }
  }
}
