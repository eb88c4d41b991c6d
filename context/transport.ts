/**
 * The transport that {@linkcode ContextSync} runs over, defined here so that
 * the context needs nothing from libp2p: the mesh supplies an adapter (see
 * `mesh/`), unit tests supply an in-memory one.
 *
 * What the adapter must guarantee:
 * - `subscribe` handlers receive the **signed** sender of each message
 *   (GossipSub `StrictSign`): `from` is the peer whose key signed it, never a
 *   claim made by the payload.
 * - `publish` may reject (no peer subscribed, not started): ContextSync
 *   catches, counts and retries later through anti-entropy.
 * - `send` delivers to one connected peer only (a direct stream, not
 *   gossip), and `onDirect` handlers receive such messages with `from` set
 *   to the authenticated peer at the other end of the connection. Anti-entropy
 *   (digests and the answers to them) runs over these, so that one peer's
 *   digest is answered to that peer alone.
 * - `sign` signs with this node's own Ed25519 key; `verify(peerId, ...)`
 *   checks a signature against the public key inlined in `peerId` (an Ed25519
 *   peer id, `12D3KooW...`) and resolves `false` (never throws) when the key
 *   cannot be extracted or the signature is bad. This lets a node relay
 *   another writer's delta during anti-entropy while the receiver still proves
 *   that the writer of a delta is the key that signed it.
 *
 * @module
 */

import type { PeerId } from "../core/peer_id.ts";

/** A gossip message as handed to a {@linkcode ContextTransport} subscriber. */
export interface TransportMessage {
  /** The signed sender (the peer whose key signed the gossip message). */
  from: PeerId;
  /** The payload, as published. */
  data: Uint8Array;
}

/**
 * What {@linkcode ContextSync} needs from the network: gossip publish and
 * subscribe, peer-connected notifications, and signing with the node's key.
 * Every method is called only between `ContextSync.start()` and `stop()`.
 *
 * @example An in-memory transport for a single isolated node
 * ```ts
 * import type { ContextTransport } from "@avi/p2p/context";
 * import type { PeerId } from "@avi/p2p";
 * const lonely: ContextTransport = {
 *   localPeerId: "12D3KooWlonely" as PeerId,
 *   publish: () => Promise.reject(new Error("no peers")),
 *   subscribe: () => () => {},
 *   onPeerConnected: () => () => {},
 *   connectedPeers: () => [],
 *   send: () => Promise.reject(new Error("no peers")),
 *   onDirect: () => () => {},
 *   sign: (data) => Promise.resolve(data.slice(0, 1)),
 *   verify: () => Promise.resolve(false),
 * };
 * console.log(lonely.localPeerId);
 * ```
 */
export interface ContextTransport {
  /** This node's peer id: the writer id of every local change. */
  readonly localPeerId: PeerId;
  /**
   * Publishes `data` on a gossip topic. May reject (for instance when no
   * peer is subscribed); the caller handles it.
   */
  publish(topic: string, data: Uint8Array): Promise<void>;
  /**
   * Subscribes to a gossip topic; `handler` receives each message with its
   * signed sender. Messages this node published itself must not be delivered.
   * Returns a function that unsubscribes.
   */
  subscribe(
    topic: string,
    handler: (message: TransportMessage) => void,
  ): () => void;
  /**
   * Calls `handler` with a peer's id each time the first connection to that
   * peer opens. Returns a function that removes the handler.
   */
  onPeerConnected(handler: (peerId: PeerId) => void): () => void;
  /** The peers currently connected. */
  connectedPeers(): PeerId[];
  /**
   * Sends `data` to one connected peer directly (not gossiped). May reject
   * (not connected, the peer does not run the context); the caller handles it.
   */
  send(peer: PeerId, data: Uint8Array): Promise<void>;
  /**
   * Receives the messages peers `send` to this node, each with the
   * authenticated peer it came from. Returns a function that removes the
   * handler.
   */
  onDirect(handler: (message: TransportMessage) => void): () => void;
  /** Signs `data` with this node's Ed25519 private key. */
  sign(data: Uint8Array): Promise<Uint8Array>;
  /**
   * Verifies that `signature` over `data` was made by the key of `peerId`.
   * Resolves `false` (never rejects) for a bad signature or an id whose
   * public key cannot be recovered.
   */
  verify(
    peerId: PeerId,
    data: Uint8Array,
    signature: Uint8Array,
  ): Promise<boolean>;
}
