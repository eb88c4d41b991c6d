/**
 * The connection gater of a mesh node (internal): `allowedPeers` and
 * `maxPeers`, both directions, with their refusal counters.
 *
 * @module
 */

import type {
  ConnectionGater,
  PeerId as Libp2pPeerId,
} from "@libp2p/interface";

/** What the gate asks of the node's peers once they exist. */
export interface PeerLimit {
  /** Whether a connection to `peer` is open now. */
  isConnected(peer: string): boolean;
  /** Whether `maxPeers` peers are connected. */
  atPeerLimit(): boolean;
}

/**
 * Refuses peers off `allowedPeers`, and new peers once `maxPeers` are
 * connected. The gater is handed to libp2p before the node's peers exist:
 * until {@linkcode bind} it applies the allow-list alone and counts nothing.
 */
export class PeerGate {
  /** Connections refused because `maxPeers` was reached. */
  refusedMaxPeers = 0;
  /** Connections refused because the peer is not on `allowedPeers`. */
  refusedNotAllowed = 0;
  /** The gater to give libp2p. */
  readonly gater: ConnectionGater;
  #limit: PeerLimit | undefined;

  /** @param allowed The allow-list (`undefined`: every peer). */
  constructor(allowed: ReadonlySet<string> | undefined) {
    const gate = (peer: Libp2pPeerId): boolean => {
      const id = peer.toString();
      const limit = this.#limit;
      if (allowed !== undefined && !allowed.has(id)) {
        if (limit) this.refusedNotAllowed++;
        return true;
      }
      if (
        limit !== undefined && !limit.isConnected(id) && limit.atPeerLimit()
      ) {
        this.refusedMaxPeers++;
        return true;
      }
      return false;
    };
    this.gater = {
      denyDialPeer: gate,
      denyInboundEncryptedConnection: gate,
      denyOutboundEncryptedConnection: gate,
      // loopback and LAN addresses are what a home mesh dials
      denyDialMultiaddr: () => false,
    };
  }

  /** Starts applying `maxPeers` (and counting refusals). */
  bind(limit: PeerLimit): void {
    this.#limit = limit;
  }
}
