/**
 * No delivery record for messages on topics nobody scores (internal).
 *
 * The peer score of `@libp2p/gossipsub` 17.1.1 keeps a delivery record for
 * every message it sees (an object, an empty `Set` of the peers that
 * forwarded it, a queue entry, a map entry) for two minutes
 * (`TimeCacheDuration`), whatever its topic. The records feed only the
 * per-topic counters of the score (first and mesh message deliveries,
 * invalid deliveries), and for a topic without score parameters every one of
 * those counters is skipped: the work and the records are for nothing. Our
 * mesh scores no topic, so at 1,000 messages a second a node held 120,000
 * such records (about 350 bytes each, measured), and every young-generation
 * GC copied the newest of them.
 *
 * {@linkcode patchGossipRecords} gives a node's `PeerScore` instance
 * `deliverMessage`, `duplicateMessage` and `rejectMessage` that do nothing
 * for a message on a topic without score parameters (what the package's
 * own would end with, minus the record), and a `validateMessage` (which only
 * creates the record early) that does nothing while no topic is scored.
 * Topics with score parameters keep the package's behaviour. A fix any
 * user of the package would want (see docs/PERFORMANCE.md).
 *
 * @module
 */

import type { WrittenFor } from "./_written_for.ts";

/** The version this adjustment was written for: it wraps four `PeerScore` methods and reads `params.topics`. */
export const GOSSIP_RECORDS_WRITTEN_FOR: WrittenFor = {
  name: "@libp2p/gossipsub",
  version: "17.1.1",
  adjustment: "mesh/_gossip_records.ts",
};

type Method = (this: unknown, ...args: unknown[]) => void;

/** What the adjustment uses of a `PeerScore`. */
interface ScoreFields {
  params: { topics: Record<string, unknown> };
  validateMessage: Method;
  deliverMessage: Method;
  duplicateMessage: Method;
  rejectMessage: Method;
}

const PATCHED = Symbol("avi.gossipRecords");

/** The methods the adjustment sets on a peer score instance. */
export const GOSSIP_RECORDS_METHODS = [
  "validateMessage",
  "deliverMessage",
  "duplicateMessage",
  "rejectMessage",
] as const;

/**
 * Applies the adjustment to the peer score of a running GossipSub service
 * (its `score` field), once.
 *
 * @param pubsub The GossipSub service.
 * @throws {Error} When the package no longer has the fields it wraps.
 */
export function patchGossipRecords(pubsub: object): void {
  const score = (pubsub as { score?: ScoreFields }).score;
  const ok = score !== undefined &&
    typeof score.params?.topics === "object" &&
    GOSSIP_RECORDS_METHODS.every((m) => typeof score[m] === "function");
  if (!ok) {
    throw new Error(
      "@libp2p/gossipsub's peer score has changed: mesh/_gossip_records.ts no longer applies",
    );
  }
  const s = score as ScoreFields & { [PATCHED]?: true };
  if (s[PATCHED]) return;
  s[PATCHED] = true;
  const topics = () => s.params.topics;
  const scored = (topic: unknown) =>
    typeof topic === "string" && Object.hasOwn(topics(), topic);
  const anyScored = () => {
    for (const _ in topics()) return true;
    return false;
  };
  const validate = s.validateMessage;
  const deliver = s.deliverMessage;
  const duplicate = s.duplicateMessage;
  const reject = s.rejectMessage;
  s.validateMessage = function (this: unknown, ...args: unknown[]) {
    if (anyScored()) validate.apply(this, args);
  };
  s.deliverMessage = function (this: unknown, ...args: unknown[]) {
    if (scored(args[2])) deliver.apply(this, args);
  };
  s.duplicateMessage = function (this: unknown, ...args: unknown[]) {
    if (scored(args[2])) duplicate.apply(this, args);
  };
  s.rejectMessage = function (this: unknown, ...args: unknown[]) {
    if (scored(args[2])) reject.apply(this, args);
  };
}
