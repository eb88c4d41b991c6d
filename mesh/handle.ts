/**
 * {@linkcode AviP2pHandle}: the calls an application makes on a running
 * node. Cheap to copy and safe to share; every call returns a promise that
 * resolves, or rejects with a typed error, and after `shutdown()` every call
 * rejects with `NotStartedError` (none hangs).
 *
 * Past 600 lines on purpose: one public class of one-line delegations whose
 * JSDoc (errors, examples) is most of the file; splitting it would split
 * the reference a user reads.
 *
 * @module
 */

import type { AviEvent, JsonObject, JsonValue } from "../core/events.ts";
import type { PeerId, StreamId } from "../core/peer_id.ts";
import type {
  RequestStreamOptions,
  SendStreamOptions,
  StreamFrame,
  StreamStats,
} from "../streams/types.ts";
import type { EventStream } from "./event_hub.ts";
import type { MeshRuntime } from "./_runtime.ts";
import type { PeerInfoView } from "./types.ts";
import { parsePeerId } from "./peer_id.ts";

/**
 * A handle on a running node. Get one with `node.handle()`.
 *
 * @example
 * ```ts ignore
 * import { AviP2p } from "@avi/p2p";
 * const node = await AviP2p.start({ nodeName: "lamp", dataDir: null });
 * const handle = node.handle();
 * await handle.subscribe("home/lights");
 * const reached = await handle.publish("home/lights", new TextEncoder().encode("on"));
 * console.log(`reached ${reached} peers`);
 * await node.shutdown();
 * ```
 */
export class AviP2pHandle {
  #rt: MeshRuntime;

  /**
   * Internal: get a handle with `node.handle()`.
   *
   * @internal
   * @ignore
   */
  constructor(runtime: MeshRuntime) {
    this.#rt = runtime;
  }

  /** This node's peer id. */
  get peerId(): PeerId {
    return this.#rt.peerId;
  }

  /**
   * Subscribes to a pub/sub topic; matching messages then arrive as
   * `message` events. Subscribing twice is harmless (idempotent).
   *
   * @param topic 1 to `maxTopicLength` (default 256) UTF-8 bytes, no control
   * characters.
   * @throws {InvalidTopicError} For an empty, oversize or malformed topic.
   * @throws {NotStartedError} After shutdown.
   * @example
   * ```ts ignore
   * await handle.subscribe("home/lights");
   * ```
   */
  subscribe(topic: string): Promise<void> {
    return this.#rt.call("subscribe", () => this.#rt.pubsub.subscribe(topic));
  }

  /**
   * Leaves a topic.
   *
   * @param topic A topic this node subscribed to.
   * @throws {NotSubscribedError} When not subscribed to `topic`.
   * @throws {InvalidTopicError} For a malformed topic.
   * @throws {NotStartedError} After shutdown.
   * @example
   * ```ts ignore
   * await handle.unsubscribe("home/lights");
   * ```
   */
  unsubscribe(topic: string): Promise<void> {
    return this.#rt.call(
      "unsubscribe",
      () => this.#rt.pubsub.unsubscribe(topic),
    );
  }

  /** The topics this node is subscribed to (by `subscribe`).
   * @example
   * ```ts ignore
   * console.log(await handle.subscriptions());
   * ```
   */
  subscriptions(): Promise<string[]> {
    return this.#rt.call(
      "subscriptions",
      () => this.#rt.pubsub.subscriptions(),
    );
  }

  /**
   * Publishes a signed message on a topic (this node need not subscribe).
   *
   * **When no peer subscribes**, the promise still resolves, with `0`: the
   * message reached nobody and is not stored or retried. Check the count
   * (or wait for `topicPeers(topic)` to be non-empty) when delivery matters.
   * The count is the number of peers GossipSub sent the message to directly;
   * they forward it to the rest of the mesh.
   *
   * @param topic The topic.
   * @param data The payload, at most `maxMessageBytes` (default 1 MiB).
   * @returns The number of peers the message was sent to (0: nobody).
   * @throws {TooLargeError} When `data` is over the limit.
   * @throws {InvalidTopicError} For an empty, oversize or malformed topic.
   * @throws {NotStartedError} After shutdown.
   * @example
   * ```ts ignore
   * const n = await handle.publish("home/lights", new TextEncoder().encode("on"));
   * if (n === 0) console.log("nobody listens yet");
   * ```
   */
  publish(topic: string, data: Uint8Array): Promise<number> {
    return this.#rt.call("publish", () => this.#rt.pubsub.publish(topic, data));
  }

  /**
   * Publishes several messages, on any topics, as one signed mesh message
   * (an envelope on a reserved topic). Every node of this library unpacks
   * it into ordinary `message` events, one per message whose topic it is
   * subscribed to, in order, each with this node as `from`; a node not
   * subscribed to a topic gets nothing for it. A burst costs one signature
   * and one gossip frame instead of one per message.
   *
   * A single message is published as by {@linkcode publish}. Nodes of the
   * original Rust library do not understand envelopes: publish one by one
   * when they must receive the messages.
   *
   * @param messages 1 to 1,024 messages; the envelope (each message plus 6
   * bytes and its topic) must fit in `maxMessageBytes`.
   * @returns The number of peers the envelope was sent to (0: nobody).
   * @throws {TooLargeError} When the envelope is over `maxMessageBytes`.
   * @throws {InvalidTopicError} For a malformed topic.
   * @throws {RangeError} For more than 1,024 messages.
   * @throws {TypeError} For no messages or a payload that is not bytes.
   * @throws {NotStartedError} After shutdown.
   * @example
   * ```ts ignore
   * const te = new TextEncoder();
   * await handle.publishBatch([
   *   { topic: "home/kitchen/temp", data: te.encode("21.5") },
   *   { topic: "home/hall/temp", data: te.encode("19.0") },
   * ]);
   * ```
   */
  publishBatch(
    messages: readonly { topic: string; data: Uint8Array }[],
  ): Promise<number> {
    return this.#rt.call(
      "publishBatch",
      () => this.#rt.pubsub.publishBatch(messages),
    );
  }

  /**
   * Waits until at least `min` connected peers subscribe to `topic` (GossipSub
   * learns a peer's subscriptions shortly after it connects), so that a
   * publish right after start reaches someone.
   *
   * @param topic The topic.
   * @param options `min` peers (default 1); `timeoutMs` (default 10,000);
   * `signal` to give up early.
   * @returns The subscribed peers, at least `min` of them.
   * @throws {TimeoutError} (a `DOMException`) When fewer subscribe in time.
   * @throws {InvalidTopicError} For a malformed topic.
   * @throws {NotStartedError} After shutdown.
   * @example
   * ```ts ignore
   * await handle.waitForSubscribers("home/lights", { min: 1, timeoutMs: 5000 });
   * await handle.publish("home/lights", new TextEncoder().encode("on"));
   * ```
   */
  async waitForSubscribers(
    topic: string,
    options: { min?: number; timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<PeerId[]> {
    const min = options.min ?? 1;
    if (!Number.isSafeInteger(min) || min < 0) {
      throw new RangeError("min must be a whole number >= 0");
    }
    const signal = AbortSignal.any([
      AbortSignal.timeout(options.timeoutMs ?? 10_000),
      ...(options.signal ? [options.signal] : []),
    ]);
    while (true) {
      const peers = await this.topicPeers(topic);
      if (peers.length >= min) return peers;
      if (signal.aborted) {
        throw signal.reason instanceof DOMException
          ? new DOMException(
            `${peers.length} of ${min} subscriber(s) to "${topic}" in time`,
            signal.reason.name,
          )
          : signal.reason;
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, 25);
        function done() {
          clearTimeout(t);
          signal.removeEventListener("abort", done);
          resolve();
        }
        signal.addEventListener("abort", done, { once: true });
      });
    }
  }

  /**
   * The connected peers known to subscribe to `topic`.
   *
   * @throws {InvalidTopicError} For a malformed topic.
   * @example
   * ```ts ignore
   * console.log(await handle.topicPeers("home/lights"));
   * ```
   */
  topicPeers(topic: string): Promise<PeerId[]> {
    return this.#rt.call("topicPeers", () => this.#rt.pubsub.topicPeers(topic));
  }

  /**
   * Pings a connected peer once.
   *
   * @param peerId The peer.
   * @param options `timeoutMs` (default 5,000).
   * @returns The round-trip time in milliseconds.
   * @throws {PeerNotFoundError} When it is not connected.
   * @throws {NetworkError} When it does not answer in time.
   * @example
   * ```ts ignore
   * console.log(`${await handle.ping(peerId)} ms`);
   * ```
   */
  ping(
    peerId: PeerId | string,
    options: { timeoutMs?: number } = {},
  ): Promise<number> {
    return this.#rt.call(
      "ping",
      () => this.#rt.peers.ping(peerId, options.timeoutMs ?? 5000),
    );
  }

  /**
   * The peers connected now.
   * @example
   * ```ts ignore
   * console.log((await handle.connectedPeers()).length);
   * ```
   */
  connectedPeers(): Promise<PeerId[]> {
    return this.#rt.call(
      "connectedPeers",
      () => this.#rt.peers.connectedPeers(),
    );
  }

  /**
   * Looks for peers now: redials every known peer that is not connected and
   * runs a DHT query (at most 10 s) when Kademlia is on. mDNS keeps running
   * on its own. Resolves with every peer discovered so far.
   * @example
   * ```ts ignore
   * const known = await handle.discoverPeers();
   * ```
   */
  discoverPeers(): Promise<PeerId[]> {
    return this.#rt.call("discoverPeers", () => this.#rt.peers.discoverPeers());
  }

  /**
   * Connects to a peer by multiaddr (ending in `/p2p/<peerId>`).
   *
   * @param address For example `/ip4/192.168.1.20/tcp/4001/p2p/12D3KooW...`.
   * @returns The peer's id.
   * @throws {InvalidAddressError} For a malformed multiaddr or peer id.
   * @throws {LimitExceededError} When `maxPeers` peers are connected.
   * @throws {NetworkError} When the dial fails (refused, wrong mesh key, ...).
   * @example
   * ```ts ignore
   * await handle.dial("/ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...");
   * ```
   */
  dial(address: string): Promise<PeerId> {
    return this.#rt.call("dial", () => this.#rt.peers.dial(address));
  }

  /**
   * Closes every connection to a peer (it is not redialled).
   *
   * @throws {InvalidAddressError} For a malformed peer id.
   * @throws {PeerNotFoundError} When the peer is not connected.
   * @example
   * ```ts ignore
   * await handle.disconnect(peerId);
   * ```
   */
  disconnect(peerId: PeerId | string): Promise<void> {
    return this.#rt.call("disconnect", () => this.#rt.peers.disconnect(peerId));
  }

  /**
   * What this node knows about a peer: its addresses and, once Identify has
   * run, its node name (`agentVersion`) and protocol version.
   *
   * @throws {InvalidAddressError} For a malformed peer id.
   * @throws {PeerNotFoundError} When the peer is unknown.
   * @example
   * ```ts ignore
   * const info = await handle.peerInfo(peerId);
   * console.log(info.agentVersion, info.addresses);
   * ```
   */
  peerInfo(peerId: PeerId | string): Promise<PeerInfoView> {
    return this.#rt.call("peerInfo", () => this.#rt.peers.peerInfo(peerId));
  }

  // ---- streams ------------------------------------------------------------

  /**
   * Asks a connected peer for a stream. The peer gets a `streamRequested`
   * event and answers with `acceptStream` or `rejectStream`; this call
   * resolves once it accepts. At most `maxStreams` streams at once.
   *
   * @param peerId A connected peer.
   * @param reason Free text for the peer (e.g. "voice"), at most 1024 bytes.
   * @param options `mode`: "reliable" (default; in order, `send` waits for a
   * slow peer) or "realtime" (bounded queues drop the oldest frames).
   * @returns The stream id.
   * @throws {InvalidAddressError} For a malformed peer id.
   * @throws {PeerNotFoundError} When the peer is not connected.
   * @throws {StreamRejectedError} When the peer rejects or does not answer
   * within `streamRequestTimeoutMs`.
   * @throws {LimitExceededError} When `maxStreams` streams are open.
   * @throws {NotStartedError} After shutdown.
   * @example
   * ```ts ignore
   * const id = await handle.requestStream(peerId, "voice", { mode: "realtime" });
   * await handle.sendStreamData(id, new Uint8Array(640));
   * await handle.closeStream(id);
   * ```
   */
  requestStream(
    peerId: PeerId | string,
    reason: string,
    options?: RequestStreamOptions,
  ): Promise<StreamId> {
    return this.#rt.call(
      "requestStream",
      () => this.#rt.streams.request(parsePeerId(peerId), reason, options),
    );
  }

  /**
   * Accepts a stream a peer asked for (see the `streamRequested` event).
   *
   * @throws {StreamNotFoundError} When no such request is pending.
   * @throws {NotStartedError} After shutdown.
   * @example
   * ```ts ignore
   * await handle.acceptStream(ev.streamId);
   * ```
   */
  acceptStream(streamId: StreamId): Promise<void> {
    return this.#rt.call(
      "acceptStream",
      () => this.#rt.streams.accept(streamId),
    );
  }

  /**
   * Rejects a stream a peer asked for; the peer gets `streamRejected`.
   *
   * @throws {StreamNotFoundError} When no such request is pending.
   * @throws {NotStartedError} After shutdown.
   * @example
   * ```ts ignore
   * await handle.rejectStream(ev.streamId, "busy");
   * ```
   */
  rejectStream(streamId: StreamId, reason: string): Promise<void> {
    return this.#rt.call(
      "rejectStream",
      () => this.#rt.streams.reject(streamId, reason),
    );
  }

  /**
   * Sends one frame on an open stream (the bytes are copied). Reliable mode
   * waits while the peer is slow; realtime mode never waits and drops the
   * oldest queued frames instead (counted in `streamStats`).
   *
   * @param options `timestamp`: the capture time in ms (default now).
   * @throws {StreamNotFoundError} When the stream is not open.
   * @throws {TooLargeError} When `data` is over the frame limit (1 MiB).
   * @throws {NotStartedError} After shutdown.
   * @example
   * ```ts ignore
   * await handle.sendStreamData(id, pcmChunk);
   * ```
   */
  sendStreamData(
    streamId: StreamId,
    data: Uint8Array,
    options?: SendStreamOptions,
  ): Promise<void> {
    return this.#rt.call(
      "sendStreamData",
      () => this.#rt.streams.send(streamId, data, options),
    );
  }

  /**
   * Closes a stream; both ends get `streamClosed`.
   *
   * @throws {StreamNotFoundError} When the stream is unknown.
   * @throws {NotStartedError} After shutdown.
   * @example
   * ```ts ignore
   * await handle.closeStream(id);
   * ```
   */
  closeStream(streamId: StreamId): Promise<void> {
    return this.#rt.call("closeStream", () => this.#rt.streams.close(streamId));
  }

  /**
   * A stream's figures: frames and bytes each way, losses, drops, latency
   * and jitter.
   *
   * @throws {StreamNotFoundError} When the stream is unknown.
   * @throws {NotStartedError} After shutdown.
   * @example
   * ```ts ignore
   * const s = await handle.streamStats(id);
   * console.log(s.framesReceived, s.lost);
   * ```
   */
  streamStats(streamId: StreamId): Promise<StreamStats> {
    return this.#rt.call("streamStats", () => this.#rt.streams.stats(streamId));
  }

  /**
   * The frames arriving on a stream from now on, as a web `ReadableStream`
   * (call it once per stream, before or after accepting). In reliable mode a
   * reader that falls behind makes the sender wait; in realtime mode its
   * oldest unread frames are dropped. Frames are also emitted as
   * `streamData` events.
   *
   * @throws {StreamNotFoundError} When the stream is unknown.
   * @throws {TypeError} When it was already called for this stream.
   * @throws {NotStartedError} After shutdown.
   * @example
   * ```ts ignore
   * for await (const frame of await handle.streamReadable(id)) console.log(frame.seq);
   * ```
   */
  streamReadable(streamId: StreamId): Promise<ReadableStream<StreamFrame>> {
    return this.#rt.call(
      "streamReadable",
      () => this.#rt.streams.readable(streamId),
    );
  }

  /**
   * A web `WritableStream` that sends each written chunk as one frame.
   *
   * @throws {StreamNotFoundError} When the stream is unknown.
   * @throws {NotStartedError} After shutdown.
   * @example
   * ```ts ignore
   * await someReadable.pipeTo(await handle.streamWritable(id));
   * ```
   */
  streamWritable(streamId: StreamId): Promise<WritableStream<Uint8Array>> {
    return this.#rt.call(
      "streamWritable",
      () => this.#rt.streams.writable(streamId),
    );
  }

  // ---- shared context ---------------------------------------------------

  /**
   * Deep-merges `patch` into the shared context (RFC 7396: objects merge key
   * by key, `null` deletes, anything else replaces) and gossips the change.
   * Every node converges on the same document; see `@avi/p2p/context`.
   *
   * @returns The dotted paths that changed.
   * @throws {InvalidPathError} For an empty key, a key with a dot, or a
   * document too deep.
   * @throws {TooLargeError} When the change is over the delta limit.
   * @throws {NotStartedError} After shutdown.
   * @example
   * ```ts ignore
   * await handle.updateContext({ avi: { device: { audio: { volume: 75 } } } });
   * ```
   */
  updateContext(patch: JsonObject): Promise<string[]> {
    return this.#rt.call(
      "updateContext",
      () => this.#rt.context.updateContext(patch),
    );
  }

  /**
   * Replaces the whole shared context with `data`.
   *
   * @returns The dotted paths that changed.
   * @throws {InvalidPathError} For bad keys or values.
   * @throws {TooLargeError} When the change is over the delta limit.
   * @throws {NotStartedError} After shutdown.
   * @example
   * ```ts ignore
   * await handle.replaceContext({ avi: { device: {} } });
   * ```
   */
  replaceContext(data: JsonObject): Promise<string[]> {
    return this.#rt.call(
      "replaceContext",
      () => this.#rt.context.replaceContext(data),
    );
  }

  /**
   * Sets the value at a dotted path (`"avi.device.audio.volume"`).
   *
   * @returns The dotted paths that changed.
   * @throws {InvalidPathError} For a malformed path or value.
   * @throws {NotStartedError} After shutdown.
   * @example
   * ```ts ignore
   * await handle.setContextPath("avi.device.audio.volume", 40);
   * ```
   */
  setContextPath(path: string, value: JsonValue): Promise<string[]> {
    return this.#rt.call(
      "setContextPath",
      () => this.#rt.context.setPath(path, value),
    );
  }

  /**
   * Deletes the value at a dotted path (the delete wins over older writes on
   * every node).
   *
   * @returns The dotted paths that changed.
   * @throws {InvalidPathError} For a malformed path.
   * @throws {NotStartedError} After shutdown.
   * @example
   * ```ts ignore
   * await handle.deleteContextPath("avi.device.audio");
   * ```
   */
  deleteContextPath(path: string): Promise<string[]> {
    return this.#rt.call(
      "deleteContextPath",
      () => this.#rt.context.deletePath(path),
    );
  }

  /**
   * The merged shared context, or the value at a dotted path.
   *
   * @param path A dotted path; omitted: the whole document.
   * @returns A copy; `undefined` when the path is absent.
   * @throws {InvalidPathError} For a malformed path.
   * @throws {NotStartedError} After shutdown.
   * @example
   * ```ts ignore
   * console.log(await handle.getContext("avi.device.audio.volume"));
   * ```
   */
  getContext(): Promise<JsonObject>;
  /** The value at a dotted path, or `undefined` when absent. */
  getContext(path: string): Promise<JsonValue | undefined>;
  getContext(path?: string): Promise<JsonValue | undefined> {
    return this.#rt.call("getContext", () => this.#rt.context.getContext(path));
  }

  /**
   * Catches up with the connected peers' shared context: asks each for its
   * version and what this node lacks, and resolves once every one of them
   * has answered with nothing missing, or when `timeoutMs` passes.
   *
   * @param options `timeoutMs` (default 5,000).
   * @returns `true` when caught up with every connected peer (also when
   * none is connected), `false` at the timeout.
   * @throws {NotStartedError} After shutdown.
   * @example
   * ```ts ignore
   * await handle.syncContext();
   * console.log(await handle.getContext("avi.device.audio.volume"));
   * ```
   */
  syncContext(options: { timeoutMs?: number } = {}): Promise<boolean> {
    return this.#rt.call(
      "syncContext",
      () => this.#rt.context.catchUp(options.timeoutMs ?? 5000),
    );
  }

  /**
   * What `peerId` wrote that is still current in the merged context.
   *
   * @throws {InvalidAddressError} For a malformed peer id.
   * @throws {NotStartedError} After shutdown.
   * @example
   * ```ts ignore
   * const theirs = await handle.getPeerContext(peerId);
   * ```
   */
  getPeerContext(peerId: PeerId | string): Promise<JsonObject> {
    return this.#rt.call(
      "getPeerContext",
      () => this.#rt.context.getPeerContext(parsePeerId(peerId)),
    );
  }

  /**
   * A new independent event consumer (see `AviP2p.events()`). It ends when
   * the node shuts down.
   * @example
   * ```ts ignore
   * for await (const ev of handle.events()) console.log(ev.type);
   * ```
   */
  events(): EventStream<AviEvent> {
    return this.#rt.events();
  }
}
