/**
 * No gossip work when there is nobody to gossip to (internal).
 *
 * At every heartbeat (each second) `@libp2p/gossipsub` 17.1.1 collects the
 * ids of every message of its recent history for each topic and shuffles
 * them in place, and only then looks whether any peer is there to receive
 * an IHAVE. In a home mesh every peer is usually in every topic's mesh, so
 * nobody is left to gossip to, yet a node that just sent 3,000 messages spent
 * about a millisecond each second shuffling their ids: a pause in every
 * message's path. {@linkcode patchGossipIdle} makes `emitGossip` skip the
 * topics that have no peer to gossip to (and the history lookup when none
 * has), which is what it would end with anyway. A fix any user of the
 * package would want (see docs/PERFORMANCE.md).
 *
 * @module
 */

import type { WrittenFor } from "./_written_for.ts";

/** The version this adjustment was written for: it replaces `emitGossip` and uses `mcache` and `doEmitGossip`. */
export const GOSSIP_IDLE_WRITTEN_FOR: WrittenFor = {
  name: "@libp2p/gossipsub",
  version: "17.1.1",
  adjustment: "mesh/_gossip_idle.ts",
};

interface GossipFields {
  mcache: { getGossipIDs(topics: Set<string>): Map<string, Uint8Array[]> };
  doEmitGossip(topic: string, peers: Set<string>, ids: Uint8Array[]): void;
}

/** `emitGossip` without the work for topics nobody is there to hear. */
export function emitGossip(
  this: GossipFields,
  peersToGossipByTopic: Map<string, Set<string>>,
): void {
  const topics: string[] = [];
  for (const [topic, peers] of peersToGossipByTopic) {
    if (peers.size > 0) topics.push(topic);
  }
  if (topics.length === 0) return;
  const ids = this.mcache.getGossipIDs(new Set(topics));
  for (const topic of topics) {
    this.doEmitGossip(
      topic,
      peersToGossipByTopic.get(topic)!,
      ids.get(topic) ?? [],
    );
  }
}

/**
 * Applies the patch to the class of a running GossipSub service (the class
 * is not exported by the package), once.
 */
export function patchGossipIdle(pubsub: object): void {
  const proto = Object.getPrototypeOf(pubsub) as {
    emitGossip?: unknown;
  };
  if (typeof proto.emitGossip !== "function") {
    throw new Error(
      "@libp2p/gossipsub has no emitGossip: mesh/_gossip_idle.ts no longer applies",
    );
  }
  proto.emitGossip = emitGossip;
}
