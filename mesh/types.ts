/**
 * The shapes a running node hands back: its counters
 * ({@linkcode MeshStats}) and what it knows about a peer
 * ({@linkcode PeerInfoView}).
 *
 * @module
 */

import type { PeerId } from "../core/peer_id.ts";
import type { ContextSyncStats } from "../context/sync.ts";
import type { StreamServiceCounters } from "../streams/types.ts";

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
  /** Messages this node published (each message of a batch counts). */
  messagesPublished: number;
  /** Messages delivered to the application as `message` events. */
  messagesReceived: number;
  /** The stream service's counters (open, refused, protocol errors, ...). */
  streams: StreamServiceCounters;
  /** The shared context's counters (deltas sent, merged, rejected, ...). */
  context: ContextSyncStats;
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
