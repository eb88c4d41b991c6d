/**
 * The runtime behind a mesh node: starts and stops the libp2p node and the
 * hosted services, wires libp2p's events to the node's parts (the gate in
 * `_gate.ts`, the peers and dialling in `_peers.ts`, pub/sub and envelopes
 * in `_pubsub.ts`), and runs the handle's calls. Internal: the public faces
 * are `AviP2p` (node.ts) and `AviP2pHandle` (handle.ts).
 *
 * @module
 */

import type { PeerInfo } from "@libp2p/interface";
import { AviP2pError, NetworkError, NotStartedError } from "../core/errors.ts";
import type { AviEvent } from "../core/events.ts";
import type { PeerId } from "../core/peer_id.ts";
import type { ResolvedConfig } from "./config.ts";
import { EventHub, type EventStream } from "./event_hub.ts";
import { loadIdentity } from "./identity.ts";
import { type DataDirLock, lockDataDir } from "./_data_lock.ts";
import { buildLibp2p, type MeshLibp2p } from "./_libp2p.ts";
import { checkPermissions } from "./_permissions.ts";
import { type ContextPort, startContext } from "./_context.ts";
import { eventBytes } from "./_event_bytes.ts";
import { PeerGate } from "./_gate.ts";
import { MeshPeers } from "./_peers.ts";
import { MeshPubSub } from "./_pubsub.ts";
import type { MeshStats } from "./types.ts";
import type { ContextSync } from "../context/sync.ts";
import { StreamService } from "../streams/service.ts";

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

/**
 * The running mesh node (internal).
 *
 * @ignore
 */
export class MeshRuntime {
  readonly config: ResolvedConfig;
  readonly libp2p: MeshLibp2p;
  readonly peerId: PeerId;
  readonly listenAddresses: string[];
  readonly identityPersisted: boolean;
  readonly hub: EventHub<AviEvent>;
  readonly services: Map<string, HostedService> = new Map();
  /** The peers, dialling and the handle's peer calls. */
  readonly peers: MeshPeers;
  /** Pub/sub: the handle's topics and the services' internal ones. */
  readonly pubsub: MeshPubSub;
  /** The shared-context service (set during start). */
  context!: ContextSync;
  /** The media-stream service (set during start). */
  streams!: StreamService;

  #running = true;
  #stopping: Promise<void> | undefined;
  #gate: PeerGate;
  #cleanup: (() => void)[] = [];
  /** The `dataDir` lock, released at the end of shutdown. */
  #lock: DataDirLock | undefined;

  private constructor(
    config: ResolvedConfig,
    libp2p: MeshLibp2p,
    persisted: boolean,
    hub: EventHub<AviEvent>,
    gate: PeerGate,
  ) {
    this.config = config;
    this.libp2p = libp2p;
    this.hub = hub;
    this.identityPersisted = persisted;
    this.peerId = libp2p.peerId.toString() as PeerId;
    this.listenAddresses = libp2p.getMultiaddrs().map((m) => m.toString());
    const running = () => this.#running;
    const emit = (ev: AviEvent) => hub.emit(ev);
    this.peers = new MeshPeers({ config, libp2p, emit, running });
    this.#gate = gate;
    gate.bind(this.peers);
    this.pubsub = new MeshPubSub({
      pubsub: libp2p.services.pubsub,
      maxMessageBytes: config.maxMessageBytes,
      maxTopicLength: config.maxTopicLength,
      emit,
      isAllowed: (peer) => this.isAllowed(peer),
      running,
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
    // the gate needs the node's peers, which need the node: bound later
    const gate = new PeerGate(config.allowedPeers);
    let libp2p: MeshLibp2p;
    try {
      libp2p = await buildLibp2p(config, privateKey, gate.gater);
    } catch (cause) {
      throw new NetworkError(
        `Cannot start the node on ${config.listenHost}:${config.listenPort}: ${
          (cause as Error)?.message ?? cause
        }`,
        { cause },
      );
    }
    const rt = new MeshRuntime(config, libp2p, persisted, hub, gate);
    rt.#lock = lock;
    rt.#wire();
    try {
      rt.context = await startContext(
        rt.#contextPort(),
        privateKey,
        persisted ? config.dataDir : null,
      );
      rt.services.set("context", rt.context);
      rt.streams = new StreamService({
        libp2p,
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
    rt.peers.bootstrap();
    return rt;
  }

  /** The part of this node the context service sees. */
  #contextPort(): ContextPort {
    const allowed = this.config.allowedPeers;
    return {
      peerId: this.peerId,
      running: () => this.#running,
      assertRunning: () => this.assertRunning(),
      publish: (topic, data) => this.pubsub.publishInternal(topic, data),
      subscribe: (topic, handler) =>
        this.pubsub.subscribeInternal(topic, handler),
      onPeerConnected: (fn) => this.peers.onPeerConnected(fn),
      connectedPeers: () => this.peers.connectedPeers(),
      protocols: this.libp2p,
      emit: (ev) => this.hub.emit(ev),
      warn: (message) => this.config.onWarning(message),
      canWrite: allowed ? (writer) => this.isAllowed(writer) : undefined,
    };
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
    const node = this.libp2p as unknown as Listenable;
    this.#on(node, "peer:connect", (ev) => this.peers.connected(ev.detail));
    this.#on(
      node,
      "peer:disconnect",
      (ev) => this.peers.disconnected(ev.detail),
    );
    this.#on(
      node,
      "peer:discovery",
      (ev) => this.peers.found((ev.detail as PeerInfo).id),
    );
    this.#on(
      this.libp2p.services.pubsub as unknown as Listenable,
      "message",
      (ev) => this.pubsub.receive(ev.detail),
    );
  }

  events(): EventStream<AviEvent> {
    return this.hub.subscribe();
  }

  stats(): MeshStats {
    const hub = this.hub.stats();
    return {
      eventsEmitted: hub.emitted,
      eventsDropped: hub.dropped,
      eventConsumers: hub.consumers,
      peersDiscovered: this.peers.discovered,
      refusedMaxPeers: this.#gate.refusedMaxPeers,
      refusedNotAllowed: this.#gate.refusedNotAllowed,
      dialFailures: this.peers.dialFailures,
      redials: this.peers.redials,
      messagesDropped: this.pubsub.messagesDropped,
      messagesNotAllowed: this.pubsub.messagesNotAllowed,
      messagesPublished: this.pubsub.messagesPublished,
      messagesReceived: this.pubsub.messagesReceived,
      streams: this.streams.counters(),
      context: this.context.stats(),
    };
  }

  /** Stops everything; safe to call more than once. */
  shutdown(): Promise<void> {
    if (this.#stopping) return this.#stopping;
    this.#running = false;
    this.#stopping = (async () => {
      this.peers.stopDialling();
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
      this.peers.clearListeners();
      this.pubsub.clearInternal();
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
