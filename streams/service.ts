/**
 * The stream service: logical streams between two peers, each carried by one
 * libp2p stream speaking `/avi/stream/2.0.0`.
 *
 * @module
 */

import type {
  Connection,
  Libp2p,
  Stream,
  StreamCloseEvent,
  StreamMessageEvent,
} from "@libp2p/interface";
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
import type { AviEvent } from "../core/events.ts";
import type { PeerId, StreamId } from "../core/peer_id.ts";
import {
  DEFAULT_MAX_FRAME_BYTES,
  encodeFrame,
  FLAG_ERROR,
  type Frame,
  FrameType,
  type FrameTypeValue,
  STREAM_PROTOCOL,
} from "./frame.ts";
import { Channel, type State } from "./_channel.ts";
import type {
  RequestStreamOptions,
  SendStreamOptions,
  StreamFrame,
  StreamStats,
} from "./types.ts";

/** The longest request or rejection reason, in UTF-8 bytes. */
export const MAX_REASON_BYTES = 1024;

/** How long a graceful close of the underlying stream may take. */
const CLOSE_GRACE_MS = 5_000;

/** How many closed streams keep their final figures for `stats`. */
const CLOSED_STATS_KEPT = 64;

/** A realtime receiver acknowledges every this many data frames. */
const ACK_EVERY = 4;

/** The largest read buffer a paused Yamux stream can need (its max window). */
const PAUSED_READ_BUFFER_BYTES = 17 * 1024 * 1024;

/**
 * What the stream service needs from its host.
 *
 * @example
 * ```ts ignore
 * const init: StreamServiceInit = { libp2p, emit: console.log, maxStreams: 5 };
 * ```
 */
export interface StreamServiceInit {
  /** A running js-libp2p v3 node. */
  libp2p: Libp2p;
  /** Receives streamRequested/Accepted/Rejected/Data/Closed events. */
  emit(event: AviEvent): void;
  /**
   * The most streams at once, counting both directions and pending requests.
   * Beyond it `request` throws {@linkcode LimitExceededError} and incoming
   * requests are rejected.
   */
  maxStreams: number;
  /**
   * The most streams one peer may have asked this node for, pending or open
   * (its share of `maxStreams`): its requests beyond it are refused at once,
   * so one peer's unanswered requests never take every slot.
   *
   * @default {Math.max(1, Math.ceil(maxStreams / 2))}
   */
  maxStreamsPerPeer?: number;
  /**
   * How long a request may stay unanswered before it is rejected with the
   * reason `"timeout"`, in ms.
   *
   * @default {10_000}
   */
  requestTimeoutMs?: number;
  /**
   * The largest payload of one `send`, in bytes; larger payloads throw
   * {@linkcode TooLargeError}, larger incoming frames end the stream.
   *
   * @default {1_048_576}
   */
  maxFrameBytes?: number;
  /**
   * Realtime mode: the most frames held per direction (outgoing frames the
   * link cannot take yet; incoming frames the `readable` reader has not
   * read). Beyond it the oldest are dropped and counted.
   *
   * @default {10}
   */
  realtimeQueueFrames?: number;
  /**
   * Realtime mode: the most frames sent but not yet acknowledged by the
   * receiver. When the link or the receiving node falls behind, later frames
   * wait in the bounded send queue (and the oldest are dropped) instead of
   * piling up latency in network buffers. The receiver acknowledges every
   * 4th frame.
   *
   * @default {16}
   */
  realtimeMaxInFlight?: number;
  /**
   * Reliable mode: how many unread frames a `readable` holds before the
   * stream stops reading from the network (the sender's `send` then waits).
   *
   * @default {64}
   */
  readableHighWaterMark?: number;
}

/** Counters of refused network input, for the whole service. */
export interface StreamServiceCounters {
  /** Streams ended because the peer broke the wire format or the protocol. */
  protocolErrors: number;
  /** Incoming requests refused (limit, share, duplicate id, stopped). */
  refusedRequests: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

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
  readonly #libp2p: Libp2p;
  readonly #emit: (event: AviEvent) => void;
  readonly #maxStreams: number;
  readonly #perPeer: number;
  readonly #requestTimeoutMs: number;
  readonly #maxFrameBytes: number;
  readonly #rtQueueFrames: number;
  readonly #rtMaxInFlight: number;
  readonly #highWaterMark: number;
  #running = false;
  #reserved = 0;
  readonly #streams = new Map<StreamId, Channel>();
  readonly #handshakes = new Set<Channel>();
  readonly #closingRaw = new Set<Stream>();
  readonly #closedStats = new Map<StreamId, StreamStats>();
  readonly #counters: StreamServiceCounters = {
    protocolErrors: 0,
    refusedRequests: 0,
  };

  /**
   * Create the service; call `start` next.
   *
   * @param init The libp2p node, the event sink and the limits.
   * @throws {RangeError} When a limit is not a positive integer.
   */
  constructor(init: StreamServiceInit) {
    this.#libp2p = init.libp2p;
    this.#emit = init.emit;
    this.#maxStreams = positiveInt("maxStreams", init.maxStreams);
    this.#perPeer = positiveInt(
      "maxStreamsPerPeer",
      init.maxStreamsPerPeer ?? Math.max(1, Math.ceil(this.#maxStreams / 2)),
    );
    this.#requestTimeoutMs = positiveInt(
      "requestTimeoutMs",
      init.requestTimeoutMs ?? 10_000,
    );
    this.#maxFrameBytes = positiveInt(
      "maxFrameBytes",
      init.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
    );
    this.#rtQueueFrames = positiveInt(
      "realtimeQueueFrames",
      init.realtimeQueueFrames ?? 10,
    );
    this.#rtMaxInFlight = positiveInt(
      "realtimeMaxInFlight",
      init.realtimeMaxInFlight ?? 16,
    );
    this.#highWaterMark = positiveInt(
      "readableHighWaterMark",
      init.readableHighWaterMark ?? 64,
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
    if (this.#running) return;
    const perConnection = Math.max(64, this.#maxStreams * 2 + 8);
    await this.#libp2p.handle(STREAM_PROTOCOL, this.#onInbound, {
      maxInboundStreams: perConnection,
      maxOutboundStreams: perConnection,
      force: true,
    });
    this.#running = true;
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
    if (!this.#running) return;
    this.#running = false;
    for (const ch of [...this.#streams.values(), ...this.#handshakes]) {
      this.#finish(ch, "local", undefined, "stopped");
      ch.raw.abort(new Error("The stream service stopped"));
    }
    for (const raw of this.#closingRaw) {
      raw.abort(new Error("The stream service stopped"));
    }
    this.#closingRaw.clear();
    try {
      await this.#libp2p.unhandle(STREAM_PROTOCOL);
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
    return { ...this.#counters };
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
    if (!this.#running) throw new NotStartedError();
    const mode = options.mode ?? "reliable";
    if (mode !== "reliable" && mode !== "realtime") {
      throw new TypeError(
        `Invalid stream mode "${mode}": expected "reliable" or "realtime"`,
      );
    }
    checkReason(reason);
    options.signal?.throwIfAborted();
    if (this.#streams.size + this.#reserved >= this.#maxStreams) {
      throw new LimitExceededError(
        `maxStreams (${this.#maxStreams}) reached: cannot open another stream`,
      );
    }
    let remote;
    try {
      remote = peerIdFromString(peer);
    } catch (cause) {
      throw new PeerNotFoundError(`Invalid peer id "${peer}"`, { cause });
    }
    if (this.#libp2p.getConnections(remote).length === 0) {
      throw new PeerNotFoundError(`Peer ${peer} is not connected`);
    }

    const id = crypto.randomUUID();
    const dialAbort = new AbortController();
    const onAbort = () => dialAbort.abort(options.signal?.reason);
    options.signal?.addEventListener("abort", onAbort);
    const dialTimer = setTimeout(
      () => dialAbort.abort(new StreamRejectedError("timeout")),
      this.#requestTimeoutMs,
    );
    const started = Date.now();
    let raw: Stream;
    this.#reserved++;
    try {
      raw = await this.#libp2p.dialProtocol(remote, STREAM_PROTOCOL, {
        signal: dialAbort.signal,
      });
    } catch (cause) {
      if (dialAbort.signal.aborted) throw dialAbort.signal.reason;
      throw new NetworkError(
        `Cannot open a stream to ${peer}: ${(cause as Error).message}`,
        { cause },
      );
    } finally {
      this.#reserved--;
      clearTimeout(dialTimer);
      options.signal?.removeEventListener("abort", onAbort);
    }
    if (!this.#running) {
      raw.abort(new Error("The stream service stopped"));
      throw new NotStartedError();
    }

    const ch = new Channel(
      raw,
      peer,
      "outbound",
      "requesting",
      this.#maxFrameBytes,
    );
    ch.id = id;
    ch.mode = mode;
    ch.answer = Promise.withResolvers<void>();
    this.#streams.set(id, ch);
    this.#attach(ch);
    const left = Math.max(1, this.#requestTimeoutMs - (Date.now() - started));
    ch.timer = setTimeout(() => {
      this.#finish(ch, "error", "timeout", "timeout");
      ch.raw.abort(new Error("Stream request timed out"));
    }, left);
    const onCancel = () => {
      this.#finish(ch, "local", undefined, "aborted", options.signal?.reason);
      ch.raw.abort(new Error("Stream request aborted"));
    };
    options.signal?.addEventListener("abort", onCancel, { once: true });
    try {
      this.#control(
        ch,
        FrameType.Request,
        encoder.encode(JSON.stringify({ id, reason, mode })),
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
    const ch = this.#streams.get(id);
    if (!ch || ch.direction !== "inbound" || ch.state !== "pending") {
      return Promise.reject(new StreamNotFoundError(id));
    }
    clearTimeout(ch.timer);
    ch.open();
    this.#control(ch, FrameType.Accept);
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
    const ch = this.#streams.get(id);
    if (!ch || ch.direction !== "inbound" || ch.state !== "pending") {
      return Promise.reject(new StreamNotFoundError(id));
    }
    this.#control(ch, FrameType.Reject, encoder.encode(reason));
    this.#finish(ch, "local", undefined, undefined, undefined, true);
    this.#closeRaw(ch.raw);
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
    const ch = this.#streams.get(id);
    if (!ch || ch.state !== "open" || ch.closing) {
      return Promise.reject(new StreamNotFoundError(id));
    }
    if (data.length > this.#maxFrameBytes) {
      return Promise.reject(
        new TooLargeError("stream frame", data.length, this.#maxFrameBytes),
      );
    }
    const timestamp = options.timestamp ?? Date.now();
    const seq = ch.sendSeq;
    const frame = encodeFrame(FrameType.Data, seq, timestamp, data);
    ch.sendSeq = (ch.sendSeq + 1) % 2 ** 32;
    if (ch.mode === "realtime") {
      this.#sendRealtime(ch, frame, data.length, seq);
      return Promise.resolve();
    }
    if (ch.pendingWrites === 0 && !ch.raw.writableNeedsDrain) {
      try {
        this.#write(ch, frame, data.length);
        return Promise.resolve();
      } catch (e) {
        return Promise.reject(e);
      }
    }
    ch.pendingWrites++;
    const done = ch.writeTail.then(async () => {
      while (ch.raw.writableNeedsDrain && ch.state === "open") {
        await this.#drain(ch);
      }
      if (ch.state !== "open") throw new StreamNotFoundError(id);
      this.#write(ch, frame, data.length);
    }).finally(() => {
      ch.pendingWrites--;
    });
    ch.writeTail = done.catch(() => {});
    return done;
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
    const ch = this.#streams.get(id);
    if (!ch || ch.state === "closed" || ch.closing) {
      throw new StreamNotFoundError(id);
    }
    if (ch.state === "requesting") {
      this.#finish(ch, "local", undefined, "closed");
      ch.raw.abort(new Error("Stream request withdrawn"));
      return;
    }
    if (ch.state === "pending") {
      this.#control(ch, FrameType.Reject, encoder.encode("closed"));
      this.#finish(ch, "local");
      await this.#closeRaw(ch.raw);
      return;
    }
    ch.closing = true;
    if (ch.mode === "reliable") {
      // deliver everything first, however slow the reader: a graceful
      // close of the libp2p stream would give up after a grace period
      await ch.writeTail;
      while (
        (ch.raw.writableNeedsDrain || ch.raw.writeBufferLength > 0) &&
        ch.state === "open"
      ) {
        await this.#drain(ch, "idle");
      }
    }
    if ((ch.state as State) === "closed") return;
    this.#control(ch, FrameType.Close);
    this.#finish(ch, "local");
    await this.#closeRaw(ch.raw);
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
    const ch = this.#streams.get(id);
    if (ch) return this.#snapshot(ch);
    const closed = this.#closedStats.get(id);
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
    const ch = this.#streams.get(id);
    if (!ch || ch.state === "closed") throw new StreamNotFoundError(id);
    if (ch.reader) {
      throw new TypeError(`readable() was already called for stream "${id}"`);
    }
    return new ReadableStream<StreamFrame>({
      start: (controller) => {
        ch.reader = { controller, wanting: false };
      },
      pull: () => this.#pull(ch),
      cancel: () => {
        ch.reader = undefined;
        ch.inbox.length = 0;
        ch.inboxBytes = 0;
        this.#resume(ch);
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
    const ch = this.#streams.get(id);
    if (!ch || ch.state === "closed") throw new StreamNotFoundError(id);
    return new WritableStream<Uint8Array>({
      write: (chunk) => this.send(id, chunk),
      close: () => this.#closeQuietly(id),
      abort: () => this.#closeQuietly(id),
    }, new CountQueuingStrategy({ highWaterMark: 1 }));
  }

  // ---------------------------------------------------------------- inbound

  #onInbound = (raw: Stream, connection: Connection): void => {
    const peer = connection.remotePeer.toString() as PeerId;
    if (!this.#running) {
      raw.abort(new Error("The stream service is not running"));
      return;
    }
    const ch = new Channel(
      raw,
      peer,
      "inbound",
      "handshake",
      this.#maxFrameBytes,
    );
    this.#handshakes.add(ch);
    ch.timer = setTimeout(() => {
      this.#protocolError(ch, "No stream request within the timeout");
    }, this.#requestTimeoutMs);
    this.#attach(ch);
  };

  #attach(ch: Channel): void {
    ch.raw.maxReadBufferLength = Math.max(
      ch.raw.maxReadBufferLength,
      PAUSED_READ_BUFFER_BYTES,
    );
    ch.raw.addEventListener("message", (evt: StreamMessageEvent) => {
      const data = evt.data;
      if (data instanceof Uint8Array) ch.decoder.push(data);
      else for (const chunk of data) ch.decoder.push(chunk);
      this.#pump(ch);
    });
    ch.raw.addEventListener("close", (evt: StreamCloseEvent) => {
      this.#closingRaw.delete(ch.raw);
      const onClose = () => {
        if (ch.state === "closed") return;
        if (evt.error != null && evt.local) {
          this.#finish(ch, "error", evt.error.message, "error");
        } else {
          this.#finish(ch, "remote", undefined, "connection closed");
        }
      };
      if (ch.holding) ch.afterHold.push(onClose);
      else onClose();
    });
    ch.raw.addEventListener("end", () => {
      const onEnd = () => {
        if (ch.state === "closed") return;
        // the peer finished writing without a close frame
        this.#finish(ch, "remote", undefined, "connection closed");
        void this.#closeRaw(ch.raw);
      };
      if (ch.holding) ch.afterHold.push(onEnd);
      else onEnd();
    });
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
        this.#protocolError(ch, (e as Error).message);
        return;
      }
      if (!frame) return;
      this.#onFrame(ch, frame);
    }
  }

  #onFrame(ch: Channel, frame: Frame): void {
    switch (ch.state) {
      case "handshake":
        if (frame.type !== FrameType.Request) {
          return this.#protocolError(ch, "Expected a stream request first");
        }
        return this.#onRequest(ch, frame.payload);
      case "requesting":
        if (frame.type === FrameType.Accept) {
          clearTimeout(ch.timer);
          ch.open();
          this.#safeEmit({
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
          this.#finish(ch, "remote", undefined, reason);
          void this.#closeRaw(ch.raw);
          return;
        }
        return this.#protocolError(ch, "Expected an accept or a reject");
      case "pending":
        if (frame.type === FrameType.Close) {
          this.#finish(ch, "remote");
          void this.#closeRaw(ch.raw);
          return;
        }
        return this.#protocolError(ch, "Frame before the stream was accepted");
      case "open":
        if (frame.type === FrameType.Data) return this.#onData(ch, frame);
        if (frame.type === FrameType.Ack) return this.#onAck(ch, frame);
        if (frame.type === FrameType.Close) {
          if (frame.flags & FLAG_ERROR) {
            this.#finish(ch, "error", decoder.decode(frame.payload));
          } else {
            this.#finish(ch, "remote");
          }
          void this.#closeRaw(ch.raw);
          return;
        }
        return this.#protocolError(ch, "Unexpected control frame");
    }
  }

  #onRequest(ch: Channel, payload: Uint8Array): void {
    let id: unknown, reason: unknown, mode: unknown;
    try {
      ({ id, reason, mode } = JSON.parse(decoder.decode(payload)));
    } catch {
      return this.#protocolError(ch, "Malformed stream request");
    }
    if (
      typeof id !== "string" || id.length === 0 || id.length > 128 ||
      typeof reason !== "string" ||
      encoder.encode(reason).length > MAX_REASON_BYTES ||
      (mode !== "reliable" && mode !== "realtime")
    ) {
      return this.#protocolError(ch, "Invalid stream request");
    }
    this.#handshakes.delete(ch);
    clearTimeout(ch.timer);
    let refusal: string | undefined;
    if (!this.#running) refusal = "stopped";
    else if (this.#streams.has(id)) refusal = "duplicate stream id";
    else if (this.#streams.size + this.#reserved >= this.#maxStreams) {
      refusal = `maxStreams (${this.#maxStreams}) reached`;
    } else if (this.#askedBy(ch.peer) >= this.#perPeer) {
      refusal = `maxStreamsPerPeer (${this.#perPeer}) reached`;
    }
    if (refusal !== undefined) {
      this.#counters.refusedRequests++;
      ch.state = "closed";
      this.#control(ch, FrameType.Reject, encoder.encode(refusal));
      void this.#closeRaw(ch.raw);
      return;
    }
    ch.id = id;
    ch.mode = mode;
    ch.state = "pending";
    this.#streams.set(id, ch);
    ch.timer = setTimeout(() => {
      if (ch.state !== "pending") return;
      this.#control(ch, FrameType.Reject, encoder.encode("timeout"));
      this.#finish(
        ch,
        "error",
        `Request not answered within ${this.#requestTimeoutMs} ms`,
      );
      void this.#closeRaw(ch.raw);
    }, this.#requestTimeoutMs);
    this.#safeEmit({
      type: "streamRequested",
      from: ch.peer,
      streamId: id,
      reason,
      mode,
    });
  }

  /** The streams `peer` asked for that are pending or open here. */
  #askedBy(peer: PeerId): number {
    let n = 0;
    for (const s of this.#streams.values()) {
      if (s.peer === peer && s.direction === "inbound") n++;
    }
    return n;
  }

  #onData(ch: Channel, frame: Frame): void {
    ch.rx.record(
      frame.seq,
      frame.timestamp,
      frame.payload.length,
      Date.now(),
    );
    if (ch.mode === "realtime" && ++ch.unacked >= ACK_EVERY) {
      ch.unacked = 0;
      this.#control(
        ch,
        FrameType.Ack,
        undefined,
        0,
        frame.seq,
        frame.timestamp,
      );
    }
    this.#safeEmit({
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
    if (ch.mode === "realtime") {
      while (ch.inbox.length > this.#rtQueueFrames) {
        ch.inboxBytes -= ch.inbox.shift()!.data.length;
        ch.dropped++;
      }
    } else if (ch.inbox.length >= this.#highWaterMark && !ch.paused) {
      try {
        ch.raw.pause();
        ch.paused = true;
      } catch {
        // the readable end is already closing
      }
    }
  }

  #pull(ch: Channel): void {
    const reader = ch.reader;
    if (!reader) return;
    const f = ch.inbox.shift();
    if (f) {
      ch.inboxBytes -= f.data.length;
      reader.controller.enqueue(f);
      if (ch.inbox.length <= this.#highWaterMark / 2) this.#resume(ch);
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

  #resume(ch: Channel): void {
    if (!ch.paused) return;
    ch.paused = false;
    try {
      ch.raw.resume();
    } catch {
      // closing
    }
  }

  // ---------------------------------------------------------------- sending

  #control(
    ch: Channel,
    type: FrameTypeValue,
    payload?: Uint8Array,
    flags = 0,
    seq = 0,
    timestamp = 0,
  ): void {
    try {
      ch.raw.send(encodeFrame(type, seq, timestamp, payload, flags));
    } catch {
      // the stream is already closed; its close listener reports it
    }
  }

  #write(ch: Channel, frame: Uint8Array, size: number): void {
    try {
      ch.raw.send(frame);
    } catch (cause) {
      this.#finish(ch, "error", (cause as Error).message);
      throw new StreamNotFoundError(ch.id);
    }
    ch.framesSent++;
    ch.bytesSent += size;
  }

  #sendRealtime(
    ch: Channel,
    frame: Uint8Array,
    size: number,
    seq: number,
  ): void {
    if (ch.rtQueue.length === 0 && this.#canWriteRealtime(ch)) {
      try {
        this.#write(ch, frame, size);
        ch.inFlight.push(seq);
      } catch {
        // reported through streamClosed
      }
      return;
    }
    ch.rtQueue.push({ frame, size, seq });
    ch.rtQueuedBytes += frame.length;
    while (ch.rtQueue.length > this.#rtQueueFrames) {
      ch.rtQueuedBytes -= ch.rtQueue.shift()!.frame.length;
      ch.dropped++;
    }
    if (!ch.rtDrainListening) {
      ch.rtDrainListening = true;
      ch.raw.addEventListener("drain", () => this.#flushRealtime(ch));
    }
  }

  #canWriteRealtime(ch: Channel): boolean {
    return !ch.raw.writableNeedsDrain &&
      ch.inFlight.length < this.#rtMaxInFlight;
  }

  #flushRealtime(ch: Channel): void {
    while (
      ch.rtQueue.length > 0 && this.#canWriteRealtime(ch) &&
      ch.state === "open"
    ) {
      const { frame, size, seq } = ch.rtQueue.shift()!;
      ch.rtQueuedBytes -= frame.length;
      try {
        this.#write(ch, frame, size);
        ch.inFlight.push(seq);
      } catch {
        return;
      }
    }
  }

  #onAck(ch: Channel, frame: Frame): void {
    if (ch.mode !== "realtime") return;
    // seqs are written in increasing order (wrapping at 2^32 is ignored:
    // 2.7 years of 50 frames a second)
    while (ch.inFlight.length > 0 && ch.inFlight[0] <= frame.seq) {
      ch.inFlight.shift();
    }
    this.#flushRealtime(ch);
  }

  /**
   * Wait for the next `drain` (or also `idle`) event, or the channel's end.
   * Never `stream.onDrain()`: in @libp2p/utils 7.4.1 its promise is made
   * once and never renewed, so awaiting it again resolves at once and spins.
   */
  #drain(ch: Channel, also?: "idle"): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        ch.raw.removeEventListener("drain", done);
        if (also) ch.raw.removeEventListener(also, done);
        ch.wakers.delete(done);
        resolve();
      };
      ch.raw.addEventListener("drain", done);
      if (also) ch.raw.addEventListener(also, done);
      ch.wakers.add(done);
    });
  }

  // ---------------------------------------------------------------- endings

  #protocolError(ch: Channel, message: string): void {
    this.#counters.protocolErrors++;
    this.#handshakes.delete(ch);
    if (ch.state === "handshake") {
      ch.state = "closed";
      clearTimeout(ch.timer);
    } else {
      this.#control(ch, FrameType.Close, encoder.encode(message), FLAG_ERROR);
      this.#finish(ch, "error", message, `protocol error: ${message}`);
    }
    ch.raw.abort(new Error(message));
  }

  /**
   * Mark a channel closed, release its resources and report it: a request
   * in flight rejects (`rejectReason`), an accepted or pending stream emits
   * `streamClosed` unless `silent`.
   */
  #finish(
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
    this.#handshakes.delete(ch);
    if (ch.id && this.#streams.get(ch.id) === ch) {
      this.#streams.delete(ch.id);
      this.#closedStats.set(ch.id, this.#snapshot(ch));
      if (this.#closedStats.size > CLOSED_STATS_KEPT) {
        this.#closedStats.delete(this.#closedStats.keys().next().value!);
      }
    }
    for (const wake of [...ch.wakers]) wake();
    ch.rtQueue.length = 0;
    ch.rtQueuedBytes = 0;
    ch.inFlight.length = 0;
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
      this.#safeEmit({
        type: "streamRejected",
        peerId: ch.peer,
        streamId: ch.id,
        reason,
      });
      ch.answer?.reject(rejectWith ?? new StreamRejectedError(reason));
    } else if ((previous === "pending" || previous === "open") && !silent) {
      this.#safeEmit({
        type: "streamClosed",
        peerId: ch.peer,
        streamId: ch.id,
        reason: how,
        ...(how === "error" ? { error: error ?? "unknown error" } : {}),
      });
    }
  }

  /** Close our writable end gracefully; abort after a grace period. */
  async #closeRaw(raw: Stream): Promise<void> {
    if (raw.status !== "open") return;
    this.#closingRaw.add(raw);
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), CLOSE_GRACE_MS);
    try {
      await raw.close({ signal: abort.signal });
    } catch (e) {
      raw.abort(e instanceof Error ? e : new Error(String(e)));
    } finally {
      clearTimeout(timer);
      if (raw.status !== "open") this.#closingRaw.delete(raw);
    }
  }

  async #closeQuietly(id: StreamId): Promise<void> {
    try {
      await this.close(id);
    } catch (e) {
      if (!(e instanceof StreamNotFoundError)) throw e;
    }
  }

  #snapshot(ch: Channel): StreamStats {
    return {
      id: ch.id,
      peer: ch.peer,
      mode: ch.mode,
      direction: ch.direction,
      state: ch.state === "open"
        ? "open"
        : ch.state === "closed"
        ? "closed"
        : "pending",
      framesSent: ch.framesSent,
      bytesSent: ch.bytesSent,
      framesReceived: ch.rx.frames,
      bytesReceived: ch.rx.bytes,
      lost: ch.rx.lost,
      dropped: ch.dropped,
      reordered: ch.rx.reordered,
      jitterMs: ch.rx.jitterMs,
      latencyMs: ch.rx.latencyMs,
      bufferedBytes: ch.state === "closed" ? 0 : ch.raw.writeBufferLength +
        ch.rtQueuedBytes + ch.raw.readBufferLength + ch.inboxBytes +
        ch.decoder.bufferedBytes,
    };
  }

  #safeEmit(event: AviEvent): void {
    try {
      this.#emit(event);
    } catch {
      // a throwing listener must not break the protocol
    }
  }
}

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}

function checkReason(reason: string): void {
  if (typeof reason !== "string") {
    throw new TypeError("The reason must be a string");
  }
  const size = encoder.encode(reason).length;
  if (size > MAX_REASON_BYTES) {
    throw new TooLargeError("reason", size, MAX_REASON_BYTES);
  }
}
