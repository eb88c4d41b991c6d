/**
 * The events a running node emits, as one union discriminated on `type`.
 *
 * @module
 */

import type { PeerId, StreamId } from "./peer_id.ts";

/** A JSON value, as stored in the shared context. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

/** A JSON object, as stored in the shared context. */
export type JsonObject = { [key: string]: JsonValue };

/** The node is listening. */
export interface StartedEvent {
  /** Discriminator. */
  type: "started";
  /** This node's id. */
  peerId: PeerId;
  /** Multiaddrs this node listens on, each ending in `/p2p/<peerId>`. */
  listenAddresses: string[];
}

/**
 * A peer was found (mDNS, DHT, bootstrap, or its own inbound connection).
 * Fires once per peer per node run, whatever the route; for a peer that
 * connected in before any discovery, just before its first `peerConnected`.
 */
export interface PeerDiscoveredEvent {
  /** Discriminator. */
  type: "peerDiscovered";
  /** The peer found. */
  peerId: PeerId;
}

/** The first connection to a peer opened. */
export interface PeerConnectedEvent {
  /** Discriminator. */
  type: "peerConnected";
  /** The peer. */
  peerId: PeerId;
  /** The remote multiaddr of the connection. */
  address: string;
}

/** The last connection to a peer closed. */
export interface PeerDisconnectedEvent {
  /** Discriminator. */
  type: "peerDisconnected";
  /** The peer. */
  peerId: PeerId;
}

/** A pub/sub message arrived on a subscribed topic. */
export interface MessageEvent {
  /** Discriminator. */
  type: "message";
  /** The signed author of the message. */
  from: PeerId;
  /** The topic. */
  topic: string;
  /** The payload. */
  data: Uint8Array;
}

/** A peer asks to open a stream; answer with `acceptStream` or `rejectStream`. */
export interface StreamRequestedEvent {
  /** Discriminator. */
  type: "streamRequested";
  /** The requesting peer. */
  from: PeerId;
  /** The id to answer with. */
  streamId: StreamId;
  /** The reason the peer gave (free text, e.g. "voice"). */
  reason: string;
  /** The delivery mode asked for. */
  mode: "reliable" | "realtime";
}

/** A stream this node requested was accepted. */
export interface StreamAcceptedEvent {
  /** Discriminator. */
  type: "streamAccepted";
  /** The accepting peer. */
  peerId: PeerId;
  /** The stream. */
  streamId: StreamId;
}

/** A stream this node requested was rejected (or timed out). */
export interface StreamRejectedEvent {
  /** Discriminator. */
  type: "streamRejected";
  /** The peer. */
  peerId: PeerId;
  /** The stream. */
  streamId: StreamId;
  /** The peer's reason, or "timeout". */
  reason: string;
}

/** A frame arrived on a stream. */
export interface StreamDataEvent {
  /** Discriminator. */
  type: "streamData";
  /** The sending peer. */
  from: PeerId;
  /** The stream. */
  streamId: StreamId;
  /** The payload. */
  data: Uint8Array;
  /** The frame's sequence number (from 0). */
  seq: number;
  /** The sender's capture timestamp, in milliseconds. */
  timestamp: number;
}

/** A stream closed. */
export interface StreamClosedEvent {
  /** Discriminator. */
  type: "streamClosed";
  /** The other end. */
  peerId: PeerId;
  /** The stream. */
  streamId: StreamId;
  /** Who closed it: this node, the peer, or an error. */
  reason: "local" | "remote" | "error";
  /** The error's text when `reason` is "error". */
  error?: string;
}

/** The shared context changed because of a peer's (or this node's) write. */
export interface ContextUpdatedEvent {
  /** Discriminator. */
  type: "contextUpdated";
  /** The writer of the change. */
  peerId: PeerId;
  /**
   * The whole merged document after the change, read-only: frozen all the
   * way down, and sharing with earlier events every object under which
   * nothing changed (an event costs what changed, not the whole document).
   * Copy it (`structuredClone`) to change it.
   */
  context: JsonObject;
  /** The dotted paths that changed. */
  changedPaths: string[];
}

/** This consumer fell behind; `dropped` older events were discarded for it. */
export interface LaggedEvent {
  /** Discriminator. */
  type: "lagged";
  /** How many events this consumer lost since its last `lagged` event. */
  dropped: number;
}

/**
 * Every event a node emits, discriminated on `type`.
 *
 * @example
 * ```ts
 * import type { AviEvent } from "@avi/p2p";
 * function log(ev: AviEvent): void {
 *   if (ev.type === "message") console.log(ev.topic, ev.data.length);
 * }
 * ```
 */
export type AviEvent =
  | StartedEvent
  | PeerDiscoveredEvent
  | PeerConnectedEvent
  | PeerDisconnectedEvent
  | MessageEvent
  | StreamRequestedEvent
  | StreamAcceptedEvent
  | StreamRejectedEvent
  | StreamDataEvent
  | StreamClosedEvent
  | ContextUpdatedEvent
  | LaggedEvent;
