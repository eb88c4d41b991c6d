/**
 * The shared context of @avi/p2p: a replicated JSON document (a CRDT) that
 * converges on every device with no server, usable on its own with no
 * network ({@linkcode ContextDoc}), and kept in sync over the mesh by
 * {@linkcode ContextSync}.
 *
 * Changes are RFC 7396 merge patches or set/delete at a dotted path; every
 * path is a last-writer-wins register ordered by a hybrid logical clock with
 * the writer's id as tie-break; deletes are tombstones; replicas compare
 * version vectors and exchange only what the other lacks. See
 * {@linkcode ContextDoc} for the conflict rules.
 *
 * @example Two replicas, no network
 * ```ts
 * import { ContextDoc } from "@avi/p2p/context";
 * const kitchen = new ContextDoc({ replicaId: "kitchen" });
 * const hall = new ContextDoc({ replicaId: "hall" });
 * const change = kitchen.update({ avi: { device: { audio: { volume: 40 } } } });
 * hall.merge(change.delta!);
 * console.log(hall.get("avi.device.audio.volume")); // 40
 * ```
 *
 * @module
 */
export { ContextDoc, INITIAL_CONTEXT, jsonEqual } from "./doc.ts";
export type {
  ChangeResult,
  ContextDocOptions,
  ContextSyncOptions,
  ContextSyncStats,
  HeldDelta,
  MergeResult,
  Offer,
} from "./types.ts";
export { decodeDelta, encodeDelta, MAX_SEQ } from "./delta.ts";
export { deltaBytes } from "./delta_size.ts";
export { newWriterId, writerEpoch, writerPeer } from "./writer.ts";
export type { ContextDelta, DeltaEntry, EntryKind } from "./delta.ts";
export { compareStamps, HybridClock, MAX_COUNTER } from "./hlc.ts";
export type { HybridClockOptions, Stamp } from "./hlc.ts";
export {
  formatPath,
  MAX_KEY_LENGTH,
  MAX_PATH_DEPTH,
  parsePath,
} from "./path.ts";
export { compareVersions, dominates } from "./version_vector.ts";
export type { VersionOrder, VersionVector } from "./version_vector.ts";
export { MemoryContextStore } from "./store.ts";
export type { ContextStore } from "./store.ts";
export { FileContextStore } from "./file_store.ts";
export type { FileContextStoreOptions } from "./file_store.ts";
export { CONTEXT_TOPIC, ContextSync } from "./sync.ts";
export type { ContextTransport, TransportMessage } from "./transport.ts";
export type {
  ContextUpdatedEvent,
  JsonObject,
  JsonValue,
} from "../core/events.ts";
export type { PeerId } from "../core/peer_id.ts";
