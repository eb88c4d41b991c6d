/**
 * The shapes of the context's public API: the options of
 * {@linkcode ContextDoc} and {@linkcode ContextSync}, what a replica's
 * changes, merges and anti-entropy offers return, and the service's
 * counters. The classes are in `doc.ts` and `sync.ts`.
 *
 * @module
 */

import type { ContextUpdatedEvent, JsonObject } from "../core/events.ts";
import type { PeerId } from "../core/peer_id.ts";
import type { ContextDelta } from "./delta.ts";
import type { ContextStore } from "./store.ts";
import type { ContextTransport } from "./transport.ts";

/** Options of {@linkcode ContextDoc}. */
export interface ContextDocOptions {
  /** This replica's writer id (its peer id). */
  replicaId: string;
  /** The wall clock in ms. @default Date.now */
  now?: () => number;
  /** Remote stamps further ahead than this are refused. @default 60_000 */
  maxSkewMs?: number;
  /** The largest encoded delta accepted or produced, in bytes. @default 65_536 */
  maxDeltaBytes?: number;
  /**
   * A tombstone older than this is dropped even if not every known replica
   * has acknowledged it (see the module doc). @default 604_800_000 (7 days)
   */
  tombstoneHorizonMs?: number;
  /**
   * The most bytes of kept deltas one writer may have in this replica. A
   * local change past it throws {@linkcode TooLargeError}; a remote one is
   * refused (status `"quota"`). A change that only deletes always passes.
   * @default 4_194_304 (4 MiB)
   */
  maxWriterBytes?: number;
  /**
   * The starting document, identical on every replica (it is not
   * replicated). @default {"avi": {"device": {}}}
   */
  initial?: JsonObject;
}

/** The outcome of a local change or a merge. */
export interface ChangeResult {
  /** The delta (the changed paths), or `undefined` when nothing changed. */
  delta?: ContextDelta;
  /** Dotted paths whose visible value changed. */
  changedPaths: string[];
}

/** The outcome of {@linkcode ContextDoc.merge}. */
export interface MergeResult {
  /**
   * `applied`: new to this replica (even if it changed nothing visible);
   * `duplicate`: already seen; `clock-ahead`: refused for now (clock skew);
   * `quota`: refused, its writer holds `maxWriterBytes` already.
   */
  status: "applied" | "duplicate" | "clock-ahead" | "quota";
  /** Dotted paths whose visible value changed. */
  changedPaths: string[];
}

/** A kept delta, with its encoding and the writer's signature if any. */
export interface HeldDelta {
  /** The delta. */
  readonly delta: ContextDelta;
  /** Its encoding (what the writer signed). */
  readonly bytes: Uint8Array;
  /** The writer's signature over `bytes`, when known. */
  proof?: Uint8Array;
}

/** One writer's part of an anti-entropy answer (see {@linkcode ContextDoc.offer}). */
export interface Offer {
  /** The writer. */
  writer: string;
  /** The receiver had seen this writer's changes up to `from`. */
  from: number;
  /** The sender has seen (and reflects) all of them up to `to`. */
  to: number;
  /** The sender's kept deltas of this writer above `from`, oldest first. */
  deltas: HeldDelta[];
  /**
   * The writer's newest delta when it is not among `deltas` (it was
   * superseded): the proof of how far the writer got, for
   * {@linkcode ContextDoc.proveHead}. It must not be merged: what superseded
   * it may have been collected since.
   */
  head?: HeldDelta;
}

/** Options of {@linkcode ContextSync}. */
export interface ContextSyncOptions {
  /** The network (the mesh adapter, or an in-memory fixture in tests). */
  transport: ContextTransport;
  /** Receives a `contextUpdated` event for every local or remote change. */
  emit: (event: ContextUpdatedEvent) => void;
  /** Where to persist the replica. @default no persistence */
  store?: ContextStore;
  /** The gossip topic. @default "avi-context/1" */
  topic?: string;
  /** Interval between anti-entropy rounds (digest + garbage collection), ms. @default 5000 */
  antiEntropyIntervalMs?: number;
  /**
   * Delay between a peer connecting and the digest sent for it, ms (a second
   * one follows 1.5 s later). @default 300
   */
  connectSyncDelayMs?: number;
  /** The largest delta accepted or produced, in bytes. @default 65_536 */
  maxDeltaBytes?: number;
  /** The largest gossip message sent or accepted, in bytes. @default 262_144 */
  maxMessageBytes?: number;
  /** Remote clocks further ahead than this are refused for now, ms. @default 60_000 */
  maxClockSkewMs?: number;
  /**
   * The most bytes of kept deltas one writer may have (see
   * {@linkcode ContextDoc}): a local change past it rejects with
   * `TooLargeError`, a remote one is refused and counted. @default 4_194_304
   */
  maxWriterBytes?: number;
  /** A peer's digests are answered at most once per this many ms. @default 1000 */
  answerIntervalMs?: number;
  /**
   * The most bytes of deltas one answer to a digest holds; the rest follows
   * in the next answers. @default 1_048_576
   */
  maxAnswerBytes?: number;
  /**
   * Tombstone horizon (see {@linkcode ContextDoc}); a peer silent for longer
   * stops counting for garbage collection. @default 604_800_000 (7 days)
   */
  tombstoneHorizonMs?: number;
  /**
   * May `writer` (the peer id of a delta's writer) write `path` (dotted,
   * `""` for the root)? A remote delta with any refused path is rejected and
   * counted (e.g. a gateway may write only its devices' sensor paths).
   * @default every writer may write every path
   */
  canWrite?: (writer: PeerId, path: string) => boolean;
  /** The wall clock, ms. @default Date.now */
  now?: () => number;
}

/** Counters of a {@linkcode ContextSync}. */
export interface ContextSyncStats {
  /** Remote deltas merged (new to this node). */
  deltasMerged: number;
  /** Remote deltas already seen. */
  duplicates: number;
  /** Deltas whose signature is not their writer's. */
  rejectedForged: number;
  /** Deltas or messages over the size limit. */
  rejectedTooLarge: number;
  /** Messages or deltas that could not be decoded. */
  rejectedMalformed: number;
  /** Deltas refused for now because their clock is too far ahead. */
  rejectedClock: number;
  /** Deltas refused by `canWrite`. */
  rejectedUnauthorized: number;
  /** Deltas refused because their writer holds `maxWriterBytes` already. */
  rejectedQuota: number;
  /**
   * Anti-entropy messages refused: a digest or a range sent on the gossip
   * topic (they are only believed from a connected neighbour, directly), or
   * a direct message from a peer that is not connected.
   */
  rejectedIndirect: number;
  /** Digests that waited for the answer interval (answered later, once). */
  digestsDeferred: number;
  /** Publishes that failed (no peer, not started); anti-entropy resends. */
  publishFailures: number;
  /** Digests published. */
  digestsSent: number;
  /** Delta messages sent in answer to digests. */
  offersSent: number;
  /** Answers cut at `maxAnswerBytes` (the rest follows). */
  answersCut: number;
  /** Failed saves to the store. */
  saveErrors: number;
  /** Tombstones collected. */
  tombstonesCollected: number;
  /** Deltas kept in memory. */
  heldDeltas: number;
  /** Tombstones with their delta. */
  tombstones: number;
  /** Peers whose anti-entropy state is kept (connected peers that sent a digest). */
  peerStates: number;
}
