/**
 * The runtime behind a mesh node: owns the libp2p node, turns its events into
 * {@linkcode AviEvent}s, keeps peers connected, and serves the handle's calls.
 * Internal: the public faces are `AviP2p` (node.ts) and `AviP2pHandle`
 * (handle.ts).
 *
 * @module
 */

import { multiaddr } from "@multiformats/multiaddr";
import type { Message } from "@libp2p/gossipsub";
import type { Multiaddr } from "@multiformats/multiaddr";
import { peerIdFromString } from "@libp2p/peer-id";
import type {
  ConnectionGater,
  PeerId as Libp2pPeerId,
  PeerInfo,
} from "@libp2p/interface";
import {
  AviP2pError,
  InvalidAddressError,
  LimitExceededError,
  NetworkError,
  NotStartedError,
  NotSubscribedError,
  PeerNotFoundError,
  TooLargeError,
} from "../core/errors.ts";
import type { AviEvent } from "../core/events.ts";
import type { PeerId } from "../core/peer_id.ts";
import type { ResolvedConfig } from "./config.ts";
import { EventHub, type EventStream } from "./event_hub.ts";
import { loadIdentity } from "./identity.ts";
import { type DataDirLock, lockDataDir } from "./_data_lock.ts";
import { buildLibp2p, type MeshLibp2p } from "./_libp2p.ts";
import { parsePeerId } from "./peer_id.ts";
import { checkTopic } from "./topic.ts";
import { Redialer } from "./reconnect.ts";
import { checkPermissions } from "./_permissions.ts";
import { startContext } from "./_context.ts";
import {
  decodeEnvelope,
  encodeEnvelope,
  ENVELOPE_TOPIC,
  type EnvelopeEntry,
} from "./_envelope.ts";
import type { ContextSync, ContextSyncStats } from "../context/sync.ts";
import { StreamService } from "../streams/service.ts";
import type { PrivateKey } from "@libp2p/interface";

/** Counters of a running node (see `AviP2p.stats()`). */
export interface MeshStats {
  /** Events emitted to the event hub. */
  eventsEmitted: number;
  /** Events dropped across all consumers (slow consumers). */
  eventsDropped: number;
  /** Event consumers attached now. */
  eventConsumers: number;
  /**
   * Peers this node learnt about (mDNS, DHT, bootstrap, or an inbound
   * connection), each counted once.
   */
  peersDiscovered: number;
  /** Connections refused because `maxPeers` was reached. */
  refusedMaxPeers: number;
  /** Connections refused because the peer is not on `allowedPeers`. */
  refusedNotAllowed: number;
  /** Dials that failed (discovery, bootstrap, redial). */
  dialFailures: number;
  /** Redials made after drops. */
  redials: number;
  /**
   * Inbound pub/sub messages dropped: unsigned, over the size limit, or a
   * malformed envelope (see `AviP2pHandle.publishBatch`).
   */
  messagesDropped: number;
  /**
   * Inbound pub/sub messages dropped because their signed author is not on
   * `allowedPeers` (relayed by an allowed peer), on any topic.
   */
  messagesNotAllowed: number;
  /** The shared context's counters (deltas sent, merged, rejected, ...). */
  context: ContextSyncStats;
}

/** The bytes counted per event on top of its payload (`eventQueueBytes`). */
export const EVENT_OVERHEAD_BYTES = 64;

/**
 * The size of an event against `eventQueueBytes`: its payload (message and
 * stream data; a `contextUpdated` document, estimated) plus
 * {@linkcode EVENT_OVERHEAD_BYTES}.
 */
export function eventBytes(ev: AviEvent): number {
  switch (ev.type) {
    case "message":
      return EVENT_OVERHEAD_BYTES + ev.data.byteLength + ev.topic.length;
    case "streamData":
      return EVENT_OVERHEAD_BYTES + ev.data.byteLength;
    case "contextUpdated": {
      let n = EVENT_OVERHEAD_BYTES + jsonBytes(ev.context);
      for (const p of ev.changedPaths) n += p.length + 8;
      return n;
    }
    default:
      return EVENT_OVERHEAD_BYTES;
  }
}

/**
 * A cheap estimate of the memory of a JSON value: string lengths, 8 bytes
 * per number, boolean, null, array slot and object entry. No recursion, so
 * any depth is fine; it stops after 4 million values (a tree, never a
 * cycle, is expected).
 */
function jsonBytes(value: unknown): number {
  let n = 0;
  let budget = 4_000_000;
  const todo: unknown[] = [value];
  while (todo.length > 0 && budget-- > 0) {
    const v = todo.pop();
    if (typeof v === "string") n += v.length + 8;
    else if (Array.isArray(v)) {
      n += 8;
      for (const x of v) todo.push(x);
    } else if (v !== null && typeof v === "object") {
      n += 8;
      for (const [k, x] of Object.entries(v)) {
        n += k.length + 8;
        todo.push(x);
      }
    } else n += 8;
  }
  return n;
}

/** What this node knows about a peer (see `AviP2pHandle.peerInfo`). */
export interface PeerInfoView {
  /** The peer. */
  peerId: PeerId;
  /** Its known listen addresses (from Identify, mDNS or bootstrap). */
  addresses: string[];
  /** Its Identify agent version: the peer's node name, once identified. */
  agentVersion?: string;
  /** Its Identify protocol version (`/avi/1.0.0` for mesh nodes). */
  protocolVersion?: string;
  /** The protocols it announced through Identify (empty until identified). */
  protocols: string[];
  /** Whether a connection to it is open now. */
  connected: boolean;
}

/** Internal handler of messages on a topic (used by services such as context). */
export type TopicHandler = (from: PeerId, data: Uint8Array) => void;

/** A service hosted by the runtime, stopped before libp2p at shutdown. */
export interface HostedService {
  stop(): Promise<void> | void;
}

interface Listenable {
  // deno-lint-ignore no-explicit-any
  addEventListener(type: string, fn: (ev: any) => void): void;
  // deno-lint-ignore no-explicit-any
  removeEventListener(type: string, fn: (ev: any) => void): void;
}

/** The running mesh node (internal). */
export class MeshRuntime {
  readonly config: ResolvedConfig;
  readonly libp2p: MeshLibp2p;
  readonly peerId: PeerId;
  readonly listenAddresses: string[];
  readonly identityPersisted: boolean;
  readonly hub: EventHub<AviEvent>;
  readonly services: Map<string, HostedService> = new Map();
  /** The shared-context service (set during start). */
  context!: ContextSync;
  /** The media-stream service (set during start). */
  streams!: StreamService;
  #privateKey: PrivateKey;

  #running = true;
  #stopping: Promise<void> | undefined;
  #abort = new AbortController();
  #redialer: Redialer;
  #discovered = new Set<string>();
  #userTopics = new Set<string>();
  #internalTopics = new Map<string, Set<TopicHandler>>();
  #connectListeners = new Set<(peer: PeerId) => void>();
  #stats = {
    refusedMaxPeers: 0,
    refusedNotAllowed: 0,
    dialFailures: 0,
    messagesDropped: 0,
    messagesNotAllowed: 0,
  };
  #cleanup: (() => void)[] = [];
  /** The `dataDir` lock, released at the end of shutdown. */
  #lock: DataDirLock | undefined;

  private constructor(
    config: ResolvedConfig,
    libp2p: MeshLibp2p,
    persisted: boolean,
    hub: EventHub<AviEvent>,
    privateKey: PrivateKey,
  ) {
    this.#privateKey = privateKey;
    this.config = config;
    this.libp2p = libp2p;
    this.hub = hub;
    this.identityPersisted = persisted;
    this.peerId = libp2p.peerId.toString() as PeerId;
    this.listenAddresses = libp2p.getMultiaddrs().map((m) => m.toString());
    this.#redialer = new Redialer({
      initialMs: config.redialInitialMs,
      maxMs: config.redialMaxMs,
      isConnected: (p) => this.#isConnected(p),
      dial: async (p) => {
        if (!this.#running) return;
        if (this.#atPeerLimit()) throw new LimitExceededError("maxPeers");
        await this.libp2p.dial(peerIdFromString(p), {
          signal: this.#abort.signal,
        });
      },
    });
  }

  /** Starts libp2p and wires every event (see `AviP2p.start`). */
  static async start(config: ResolvedConfig): Promise<MeshRuntime> {
    checkPermissions(config);
    // one running node per dataDir: a second would share the peer id
    const lock = await lockDataDir(config.dataDir);
    try {
      return await MeshRuntime.#start(config, lock);
    } catch (e) {
      lock?.release();
      throw e;
    }
  }

  static async #start(
    config: ResolvedConfig,
    lock: DataDirLock | undefined,
  ): Promise<MeshRuntime> {
    const { privateKey, persisted } = await loadIdentity(
      config.dataDir,
      config.onWarning,
    );
    const hub = new EventHub<AviEvent>({
      queueSize: config.eventQueueSize,
      queueBytes: config.eventQueueBytes,
      sizeOf: eventBytes,
      lagged: (dropped) => ({ type: "lagged", dropped }),
      sticky: (ev) => ev.type === "started",
    });
    // the gater needs the runtime, which needs the node: late binding
    const ref: { rt?: MeshRuntime } = {};
    const allowed = config.allowedPeers;
    const gate = (peer: Libp2pPeerId): boolean => {
      const id = peer.toString();
      const rt = ref.rt;
      if (allowed !== undefined && !allowed.has(id)) {
        if (rt) rt.#stats.refusedNotAllowed++;
        return true;
      }
      if (rt !== undefined && !rt.#isConnected(id) && rt.#atPeerLimit()) {
        rt.#stats.refusedMaxPeers++;
        return true;
      }
      return false;
    };
    const gater: ConnectionGater = {
      denyDialPeer: gate,
      denyInboundEncryptedConnection: gate,
      denyOutboundEncryptedConnection: gate,
      // loopback and LAN addresses are what a home mesh dials
      denyDialMultiaddr: () => false,
    };
    let libp2p: MeshLibp2p;
    try {
      libp2p = await buildLibp2p(config, privateKey, gater);
    } catch (cause) {
      throw new NetworkError(
        `Cannot start the node on ${config.listenHost}:${config.listenPort}: ${
          (cause as Error)?.message ?? cause
        }`,
        { cause },
      );
    }
    const rt = ref.rt = new MeshRuntime(
      config,
      libp2p,
      persisted,
      hub,
      privateKey,
    );
    rt.#lock = lock;
    rt.#wire();
    rt.subscribeInternal(
      ENVELOPE_TOPIC,
      (from, data) => rt.#onEnvelope(from, data),
    );
    try {
      rt.context = await startContext(rt, rt.#privateKey);
      rt.services.set("context", rt.context);
      rt.streams = new StreamService({
        // deno-lint-ignore no-explicit-any
        libp2p: libp2p as any,
        emit: (ev) => hub.emit(ev),
        maxStreams: config.maxStreams,
        maxStreamsPerPeer: config.maxStreamsPerPeer,
        requestTimeoutMs: config.streamRequestTimeoutMs,
      });
      await rt.streams.start();
      rt.services.set("streams", rt.streams);
    } catch (e) {
      await rt.shutdown().catch(() => {});
      throw e;
    }
    hub.emit({
      type: "started",
      peerId: rt.peerId,
      listenAddresses: rt.listenAddresses,
    });
    rt.#bootstrap();
    return rt;
  }

  get running(): boolean {
    return this.#running;
  }

  /** Throws NotStartedError after shutdown. */
  assertRunning(): void {
    if (!this.#running) throw new NotStartedError();
  }

  /**
   * Runs a handle call: rejects with NotStartedError after shutdown, keeps
   * our typed errors, wraps anything else in NetworkError.
   */
  async call<T>(what: string, fn: () => Promise<T> | T): Promise<T> {
    this.assertRunning();
    try {
      return await fn();
    } catch (e) {
      if (!this.#running) throw new NotStartedError();
      if (
        e instanceof AviP2pError || e instanceof TypeError ||
        e instanceof RangeError
      ) throw e;
      throw new NetworkError(
        `${what} failed: ${(e as Error)?.message ?? e}`,
        { cause: e },
      );
    }
  }

  #isConnected(peer: string): boolean {
    try {
      return this.libp2p.getConnections(peerIdFromString(peer)).length > 0;
    } catch {
      return false;
    }
  }

  /**
   * Whether `peer` passes `allowedPeers`: true when there is no list, for
   * this node itself, and for every peer on the list. Pub/sub messages
   * whose signed author fails it are dropped before any handler (internal
   * or `message` event) sees them; a service that receives content written
   * by one peer but carried by another (context deltas) checks the writer
   * with this.
   */
  isAllowed(peer: string): boolean {
    const allowed = this.config.allowedPeers;
    return allowed === undefined || peer === this.peerId || allowed.has(peer);
  }

  #atPeerLimit(): boolean {
    return this.libp2p.getPeers().length >= this.config.maxPeers;
  }

  #on(target: Listenable, type: string, fn: (ev: CustomEvent) => void): void {
    const listener = (ev: CustomEvent) => {
      try {
        fn(ev);
      } catch (e) {
        // never let a bad event escape into libp2p's dispatch loop
        this.config.onWarning(`avi-p2p: error handling ${type}: ${e}`);
      }
    };
    target.addEventListener(type, listener);
    this.#cleanup.push(() => target.removeEventListener(type, listener));
  }

  #wire(): void {
    const node = this.libp2p;
    this.#on(node as unknown as Listenable, "peer:connect", (ev) => {
      const id = (ev.detail as Libp2pPeerId).toString() as PeerId;
      const conn = node.getConnections(ev.detail)[0];
      this.#redialer.connected(id);
      // a peer that reached us first (inbound) is learnt about now: every
      // peer gets one peerDiscovered, before its first peerConnected
      this.#markDiscovered(id);
      this.hub.emit({
        type: "peerConnected",
        peerId: id,
        address: conn?.remoteAddr.toString() ?? "",
      });
      for (const fn of this.#connectListeners) {
        try {
          fn(id);
        } catch { /* a listener's fault is not ours */ }
      }
    });
    this.#on(node as unknown as Listenable, "peer:disconnect", (ev) => {
      const id = (ev.detail as Libp2pPeerId).toString() as PeerId;
      this.hub.emit({ type: "peerDisconnected", peerId: id });
      if (this.#running) this.#redialer.disconnected(id);
    });
    this.#on(node as unknown as Listenable, "peer:discovery", (ev) => {
      const info = ev.detail as PeerInfo;
      this.#discoveredPeer(info.id.toString(), info.id);
    });
    this.#on(node.services.pubsub as unknown as Listenable, "message", (ev) => {
      const msg = ev.detail as Message;
      if (
        msg.type !== "signed" || msg.data.length > this.config.maxMessageBytes
      ) {
        this.#stats.messagesDropped++;
        return;
      }
      const from = msg.from.toString() as PeerId;
      // allowedPeers holds for content too: a peer off the list reaches us
      // only through an allowed one, which relays what the author signed
      if (!this.isAllowed(from)) {
        this.#stats.messagesNotAllowed++;
        return;
      }
      const handlers = this.#internalTopics.get(msg.topic);
      if (handlers !== undefined) {
        for (const h of handlers) {
          try {
            h(from, msg.data);
          } catch { /* counted by the service itself */ }
        }
      }
      if (this.#userTopics.has(msg.topic)) {
        this.hub.emit({
          type: "message",
          from,
          topic: msg.topic,
          data: msg.data,
        });
      }
    });
  }

  /** Unpacks an envelope into `message` events for our own topics. */
  #onEnvelope(from: PeerId, data: Uint8Array): void {
    let entries: EnvelopeEntry[];
    try {
      entries = decodeEnvelope(data, this.config.maxTopicLength);
    } catch {
      this.#stats.messagesDropped++;
      return;
    }
    for (const e of entries) {
      if (!this.#userTopics.has(e.topic)) continue;
      this.hub.emit({ type: "message", from, topic: e.topic, data: e.data });
    }
  }

  #discoveredPeer(id: string, peer: Libp2pPeerId): void {
    if (id === this.peerId || !this.#running) return;
    this.#markDiscovered(id);
    if (!this.#isConnected(id)) this.#dialPeer(id, peer);
  }

  /** Emits `peerDiscovered` the first time this node learns of `id`. */
  #markDiscovered(id: string): void {
    if (id === this.peerId || this.#discovered.has(id)) return;
    this.#discovered.add(id);
    this.hub.emit({ type: "peerDiscovered", peerId: id as PeerId });
  }

  #dialPeer(id: string, peer: Libp2pPeerId | Multiaddr): void {
    if (this.#atPeerLimit()) return;
    if (this.config.allowedPeers && !this.config.allowedPeers.has(id)) return;
    this.libp2p.dial(peer, { signal: this.#abort.signal }).catch(() => {
      if (!this.#running) return;
      this.#stats.dialFailures++;
      this.#redialer.disconnected(id);
    });
  }

  #bootstrap(): void {
    for (const text of this.config.bootstrapPeers) {
      const ma = multiaddr(text);
      const id = ma.getComponents().findLast((c) => c.name === "p2p")!.value!;
      if (id === this.peerId) continue;
      const peer = peerIdFromString(id);
      // remember the address so that later redials (by peer id) can use it
      this.libp2p.peerStore.merge(peer, {
        multiaddrs: [ma.decapsulateCode(421)],
      })
        .catch(() => {})
        .finally(() => {
          if (!this.#running) return;
          this.#markDiscovered(id);
          this.#dialPeer(id, ma);
        });
    }
  }

  // ---- pub/sub -----------------------------------------------------------

  #refreshSubscription(topic: string): void {
    const want = this.#userTopics.has(topic) ||
      (this.#internalTopics.get(topic)?.size ?? 0) > 0;
    const has = this.libp2p.services.pubsub.getTopics().includes(topic);
    if (want && !has) this.libp2p.services.pubsub.subscribe(topic);
    if (!want && has) this.libp2p.services.pubsub.unsubscribe(topic);
  }

  subscribe(topic: string): void {
    checkTopic(topic, this.config.maxTopicLength);
    this.#userTopics.add(topic);
    this.#refreshSubscription(topic);
  }

  unsubscribe(topic: string): void {
    checkTopic(topic, this.config.maxTopicLength);
    if (!this.#userTopics.delete(topic)) throw new NotSubscribedError(topic);
    this.#refreshSubscription(topic);
  }

  subscriptions(): string[] {
    return [...this.#userTopics];
  }

  /** Subscribes an internal handler (not surfaced as `message` events). */
  subscribeInternal(topic: string, handler: TopicHandler): () => void {
    let set = this.#internalTopics.get(topic);
    if (set === undefined) this.#internalTopics.set(topic, set = new Set());
    set.add(handler);
    this.#refreshSubscription(topic);
    return () => {
      set!.delete(handler);
      if (set!.size === 0) this.#internalTopics.delete(topic);
      if (this.#running) this.#refreshSubscription(topic);
    };
  }

  /** Calls `fn` with each newly connected peer; returns the remover. */
  onPeerConnected(fn: (peer: PeerId) => void): () => void {
    this.#connectListeners.add(fn);
    return () => this.#connectListeners.delete(fn);
  }

  async publish(topic: string, data: Uint8Array): Promise<number> {
    checkTopic(topic, this.config.maxTopicLength);
    if (!(data instanceof Uint8Array)) {
      throw new TypeError("Cannot publish: data must be a Uint8Array");
    }
    if (data.length > this.config.maxMessageBytes) {
      throw new TooLargeError(
        "message",
        data.length,
        this.config.maxMessageBytes,
      );
    }
    const result = await this.libp2p.services.pubsub.publish(topic, data);
    return result.recipients.length;
  }

  async publishBatch(
    messages: readonly { topic: string; data: Uint8Array }[],
  ): Promise<number> {
    if (!Array.isArray(messages) || messages.length === 0) {
      throw new TypeError("Cannot publish: no messages");
    }
    if (messages.length === 1) {
      return await this.publish(messages[0].topic, messages[0].data);
    }
    for (const m of messages) {
      checkTopic(m?.topic, this.config.maxTopicLength);
      if (!(m.data instanceof Uint8Array)) {
        throw new TypeError("Cannot publish: data must be a Uint8Array");
      }
    }
    const envelope = encodeEnvelope(
      messages.map((m) => ({ topic: m.topic, data: m.data })),
    );
    if (envelope.length > this.config.maxMessageBytes) {
      throw new TooLargeError(
        "message",
        envelope.length,
        this.config.maxMessageBytes,
      );
    }
    const result = await this.libp2p.services.pubsub.publish(
      ENVELOPE_TOPIC,
      envelope,
    );
    return result.recipients.length;
  }

  topicPeers(topic: string): PeerId[] {
    checkTopic(topic, this.config.maxTopicLength);
    return this.libp2p.services.pubsub.getSubscribers(topic).map((p) =>
      p.toString() as PeerId
    );
  }

  // ---- peers -------------------------------------------------------------

  connectedPeers(): PeerId[] {
    return this.libp2p.getPeers().map((p) => p.toString() as PeerId);
  }

  async discoverPeers(): Promise<PeerId[]> {
    // redial every known peer that is not connected, then ask the DHT
    for (const id of this.#discovered) {
      if (!this.#isConnected(id)) this.#dialPeer(id, peerIdFromString(id));
    }
    const dht = this.libp2p.services.dht;
    if (dht !== undefined && this.libp2p.getPeers().length > 0) {
      const signal = AbortSignal.any([
        this.#abort.signal,
        AbortSignal.timeout(10_000),
      ]);
      try {
        for await (
          const _ of dht.getClosestPeers(
            this.libp2p.peerId.toMultihash().bytes,
            { signal },
          )
        ) {
          // peers found are reported through peer:discovery
        }
      } catch {
        // a DHT query that finds nobody or times out is not an error here
      }
    }
    return [...this.#discovered] as PeerId[];
  }

  async dial(address: string): Promise<PeerId> {
    let ma: Multiaddr;
    let id: string | undefined;
    try {
      ma = multiaddr(address);
      id = ma.getComponents().findLast((c) => c.name === "p2p")?.value;
    } catch (cause) {
      throw new InvalidAddressError(`Cannot parse multiaddr "${address}"`, {
        cause,
      });
    }
    if (id === undefined) {
      throw new InvalidAddressError(
        `Multiaddr "${address}" must end in /p2p/<peerId>`,
      );
    }
    parsePeerId(id);
    if (this.config.allowedPeers && !this.config.allowedPeers.has(id)) {
      throw new NetworkError(`Peer ${id} is not on allowedPeers`);
    }
    if (!this.#isConnected(id) && this.#atPeerLimit()) {
      throw new LimitExceededError(
        `maxPeers (${this.config.maxPeers}) reached`,
      );
    }
    const conn = await this.libp2p.dial(ma, { signal: this.#abort.signal });
    return conn.remotePeer.toString() as PeerId;
  }

  async disconnect(peerId: string): Promise<void> {
    const id = parsePeerId(peerId);
    if (!this.#isConnected(id)) {
      throw new PeerNotFoundError(`Peer ${id} is not connected`);
    }
    this.#redialer.forget(id);
    await this.libp2p.hangUp(peerIdFromString(id), {
      signal: this.#abort.signal,
    });
    this.#redialer.forget(id);
  }

  async peerInfo(peerId: string): Promise<PeerInfoView> {
    const id = parsePeerId(peerId);
    const key = peerIdFromString(id);
    let peer;
    try {
      peer = await this.libp2p.peerStore.get(key);
    } catch (cause) {
      throw new PeerNotFoundError(`Peer ${id} is not known`, { cause });
    }
    const text = (k: string) => {
      const v = peer.metadata.get(k);
      return v === undefined ? undefined : new TextDecoder().decode(v);
    };
    return {
      peerId: id,
      addresses: peer.addresses.map((a) => a.multiaddr.toString()),
      agentVersion: text("AgentVersion"),
      protocolVersion: text("ProtocolVersion"),
      protocols: [...peer.protocols],
      connected: this.#isConnected(id),
    };
  }

  events(): EventStream<AviEvent> {
    return this.hub.subscribe();
  }

  stats(): MeshStats {
    const hub = this.hub.stats();
    const r = this.#redialer.stats();
    return {
      eventsEmitted: hub.emitted,
      eventsDropped: hub.dropped,
      eventConsumers: hub.consumers,
      peersDiscovered: this.#discovered.size,
      refusedMaxPeers: this.#stats.refusedMaxPeers,
      refusedNotAllowed: this.#stats.refusedNotAllowed,
      dialFailures: this.#stats.dialFailures,
      redials: r.dials,
      messagesDropped: this.#stats.messagesDropped,
      messagesNotAllowed: this.#stats.messagesNotAllowed,
      context: this.context.stats(),
    };
  }

  /** Stops everything; safe to call more than once. */
  shutdown(): Promise<void> {
    if (this.#stopping) return this.#stopping;
    this.#running = false;
    this.#stopping = (async () => {
      this.#redialer.stop();
      this.#abort.abort(new NotStartedError());
      for (const [name, s] of [...this.services].reverse()) {
        try {
          await s.stop();
        } catch (e) {
          this.config.onWarning(
            `avi-p2p: service ${name} failed to stop: ${e}`,
          );
        }
      }
      this.services.clear();
      this.#connectListeners.clear();
      this.#internalTopics.clear();
      try {
        await this.libp2p.stop();
      } finally {
        for (const fn of this.#cleanup.splice(0)) fn();
        this.hub.close();
        this.#lock?.release();
      }
    })();
    return this.#stopping;
  }
}
