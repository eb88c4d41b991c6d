/**
 * The peers of a mesh node and the dialling (internal): discovery, bootstrap,
 * redials after drops, `maxPeers` and `allowedPeers` on our own dials, and
 * the handle's peer calls.
 *
 * @module
 */

import { aviLogger } from "../core/log.ts";
import { multiaddr } from "@multiformats/multiaddr";
import type { Multiaddr } from "@multiformats/multiaddr";
import { peerIdFromString } from "@libp2p/peer-id";
import type { PeerId as Libp2pPeerId } from "@libp2p/interface";
import {
  InvalidAddressError,
  LimitExceededError,
  NetworkError,
  NotStartedError,
  PeerNotFoundError,
} from "../core/errors.ts";
import type { AviEvent } from "../core/events.ts";
import type { PeerId } from "../core/peer_id.ts";
import type { ResolvedConfig } from "./config.ts";
import type { MeshLibp2p } from "./_libp2p.ts";
import { parsePeerId } from "./peer_id.ts";
import { Redialer } from "./reconnect.ts";
import type { PeerInfoView } from "./types.ts";

const log = aviLogger("mesh");

/** What {@linkcode MeshPeers} needs of its node. */
export interface MeshPeersInit {
  config: ResolvedConfig;
  libp2p: MeshLibp2p;
  /** Receives `peerDiscovered`, `peerConnected` and `peerDisconnected`. */
  emit(ev: AviEvent): void;
  /** Whether the node runs (false once shutdown began). */
  running(): boolean;
}

/**
 * Keeps the node's peers: learns of them (each once), dials them within
 * `maxPeers` and `allowedPeers`, redials known peers after drops, and tells
 * listeners of each new connection.
 */
export class MeshPeers {
  /** Dials that failed (discovery, bootstrap, redial). */
  dialFailures = 0;
  readonly #config: ResolvedConfig;
  readonly #libp2p: MeshLibp2p;
  readonly #self: string;
  readonly #emit: (ev: AviEvent) => void;
  readonly #running: () => boolean;
  readonly #abort = new AbortController();
  readonly #redialer: Redialer;
  readonly #discovered = new Set<string>();
  readonly #connectListeners = new Set<(peer: PeerId) => void>();

  constructor(init: MeshPeersInit) {
    this.#config = init.config;
    this.#libp2p = init.libp2p;
    this.#self = init.libp2p.peerId.toString();
    this.#emit = init.emit;
    this.#running = init.running;
    this.#redialer = new Redialer({
      initialMs: init.config.redialInitialMs,
      maxMs: init.config.redialMaxMs,
      isConnected: (p) => this.isConnected(p),
      dial: async (p) => {
        if (!this.#running()) return;
        if (this.atPeerLimit()) throw new LimitExceededError("maxPeers");
        await this.#libp2p.dial(peerIdFromString(p), {
          signal: this.#abort.signal,
        });
      },
    });
  }

  /** Whether a connection to `peer` is open now. */
  isConnected(peer: string): boolean {
    try {
      return this.#libp2p.getConnections(peerIdFromString(peer)).length > 0;
    } catch {
      return false;
    }
  }

  /** Whether `maxPeers` peers are connected. */
  atPeerLimit(): boolean {
    return this.#libp2p.getPeers().length >= this.#config.maxPeers;
  }

  /** Peers learnt about so far. */
  get discovered(): number {
    return this.#discovered.size;
  }

  /** Redials made after drops. */
  get redials(): number {
    return this.#redialer.stats().dials;
  }

  // ---- libp2p events ------------------------------------------------------

  /** libp2p's `peer:connect`. */
  connected(peer: Libp2pPeerId): void {
    const id = peer.toString() as PeerId;
    const conn = this.#libp2p.getConnections(peer)[0];
    this.#redialer.connected(id);
    // a peer that reached us first (inbound) is learnt about now: every
    // peer gets one peerDiscovered, before its first peerConnected
    this.#markDiscovered(id);
    const address = conn?.remoteAddr.toString() ?? "";
    log.debug("peer {peerId} connected at {address}", { peerId: id, address });
    this.#emit({ type: "peerConnected", peerId: id, address });
    for (const fn of this.#connectListeners) {
      try {
        fn(id);
      } catch { /* a listener's fault is not ours */ }
    }
  }

  /** libp2p's `peer:disconnect`. */
  disconnected(peer: Libp2pPeerId): void {
    const id = peer.toString() as PeerId;
    log.debug("peer {peerId} disconnected", { peerId: id });
    this.#emit({ type: "peerDisconnected", peerId: id });
    if (this.#running()) this.#redialer.disconnected(id);
  }

  /** libp2p's `peer:discovery` (mDNS, DHT). */
  found(peer: Libp2pPeerId): void {
    const id = peer.toString();
    if (id === this.#self || !this.#running()) return;
    this.#markDiscovered(id);
    if (!this.isConnected(id)) this.#dialPeer(id, peer);
  }

  /** Emits `peerDiscovered` the first time this node learns of `id`. */
  #markDiscovered(id: string): void {
    if (id === this.#self || this.#discovered.has(id)) return;
    this.#discovered.add(id);
    this.#emit({ type: "peerDiscovered", peerId: id as PeerId });
  }

  #dialPeer(id: string, peer: Libp2pPeerId | Multiaddr): void {
    if (this.atPeerLimit()) return;
    if (this.#config.allowedPeers && !this.#config.allowedPeers.has(id)) {
      return;
    }
    this.#libp2p.dial(peer, { signal: this.#abort.signal }).catch((e) => {
      if (!this.#running()) return;
      log.debug("dial to {peerId} failed: {error}", {
        peerId: id,
        error: (e as Error)?.message ?? String(e),
      });
      this.dialFailures++;
      this.#redialer.disconnected(id);
    });
  }

  /** Dials the configured bootstrap peers, remembering their addresses. */
  bootstrap(): void {
    for (const text of this.#config.bootstrapPeers) {
      const ma = multiaddr(text);
      const id = ma.getComponents().findLast((c) => c.name === "p2p")!.value!;
      if (id === this.#self) continue;
      const peer = peerIdFromString(id);
      // remember the address so that later redials (by peer id) can use it
      this.#libp2p.peerStore.merge(peer, {
        multiaddrs: [ma.decapsulateCode(421)],
      })
        .catch(() => {})
        .finally(() => {
          if (!this.#running()) return;
          this.#markDiscovered(id);
          this.#dialPeer(id, ma);
        });
    }
  }

  /** Calls `fn` with each newly connected peer; returns the remover. */
  onPeerConnected(fn: (peer: PeerId) => void): () => void {
    this.#connectListeners.add(fn);
    return () => this.#connectListeners.delete(fn);
  }

  /** Stops redialling and aborts every dial in flight. */
  stopDialling(): void {
    this.#redialer.stop();
    this.#abort.abort(new NotStartedError());
  }

  /** Forgets every connection listener (at shutdown). */
  clearListeners(): void {
    this.#connectListeners.clear();
  }

  // ---- the handle's calls -------------------------------------------------

  connectedPeers(): PeerId[] {
    return this.#libp2p.getPeers().map((p) => p.toString() as PeerId);
  }

  async discoverPeers(): Promise<PeerId[]> {
    // redial every known peer that is not connected, then ask the DHT
    for (const id of this.#discovered) {
      if (!this.isConnected(id)) this.#dialPeer(id, peerIdFromString(id));
    }
    const dht = this.#libp2p.services.dht;
    if (dht !== undefined && this.#libp2p.getPeers().length > 0) {
      const signal = AbortSignal.any([
        this.#abort.signal,
        AbortSignal.timeout(10_000),
      ]);
      try {
        for await (
          const _ of dht.getClosestPeers(
            this.#libp2p.peerId.toMultihash().bytes,
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
    if (this.#config.allowedPeers && !this.#config.allowedPeers.has(id)) {
      throw new NetworkError(`Peer ${id} is not on allowedPeers`);
    }
    if (!this.isConnected(id) && this.atPeerLimit()) {
      throw new LimitExceededError(
        `maxPeers (${this.#config.maxPeers}) reached`,
      );
    }
    const conn = await this.#libp2p.dial(ma, { signal: this.#abort.signal });
    return conn.remotePeer.toString() as PeerId;
  }

  async disconnect(peerId: string): Promise<void> {
    const id = parsePeerId(peerId);
    if (!this.isConnected(id)) {
      throw new PeerNotFoundError(`Peer ${id} is not connected`);
    }
    this.#redialer.forget(id);
    await this.#libp2p.hangUp(peerIdFromString(id), {
      signal: this.#abort.signal,
    });
    this.#redialer.forget(id);
  }

  /** One ping over the open connection; resolves the round-trip time in ms. */
  async ping(peerId: string, timeoutMs: number): Promise<number> {
    const id = parsePeerId(peerId);
    if (!this.isConnected(id)) {
      throw new PeerNotFoundError(`Peer ${id} is not connected`);
    }
    const service = this.#libp2p.services.ping as {
      ping(peer: unknown, options: { signal: AbortSignal }): Promise<number>;
    };
    return await service.ping(peerIdFromString(id), {
      signal: AbortSignal.any([
        this.#abort.signal,
        AbortSignal.timeout(timeoutMs),
      ]),
    });
  }

  async peerInfo(peerId: string): Promise<PeerInfoView> {
    const id = parsePeerId(peerId);
    const key = peerIdFromString(id);
    let peer;
    try {
      peer = await this.#libp2p.peerStore.get(key);
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
      connected: this.isConnected(id),
    };
  }
}
