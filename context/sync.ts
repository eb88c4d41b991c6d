/**
 * ContextSync: keeps a {@linkcode ContextDoc} converged across the mesh.
 * (Skeleton: the API below is final; the implementation follows.)
 *
 * @module
 */

import type {
  ContextUpdatedEvent,
  JsonObject,
  JsonValue,
} from "../core/events.ts";
import type { PeerId } from "../core/peer_id.ts";
import type { ContextStore } from "./store.ts";
import type { ContextTransport } from "./transport.ts";

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
  /** Interval between anti-entropy rounds, ms. @default 5000 */
  antiEntropyIntervalMs?: number;
  /**
   * May `writer` write `path` (dotted)? A delta with any refused path is
   * rejected and counted. @default every writer may write every path
   */
  canWrite?: (writer: PeerId, path: string) => boolean;
}

/** Counters of a {@linkcode ContextSync}. */
export interface ContextSyncStats {
  /** Deltas merged from the network that changed something or were new. */
  deltasMerged: number;
  /** Deltas whose writer did not sign them (forged) or whose signature failed. */
  rejectedForged: number;
  /** Deltas or messages over the size limit. */
  rejectedTooLarge: number;
  /** Messages that could not be decoded. */
  rejectedMalformed: number;
}

/**
 * Keeps the shared context converged over a {@linkcode ContextTransport}.
 *
 * @example
 * ```ts ignore
 * import { ContextSync } from "@avi/p2p/context";
 * const sync = new ContextSync({ transport, emit: (ev) => console.log(ev) });
 * await sync.start();
 * await sync.updateContext({ avi: { device: { audio: { volume: 40 } } } });
 * console.log(sync.getContext("avi.device.audio.volume")); // 40
 * await sync.stop();
 * ```
 */
export class ContextSync {
  /** @param options Transport, event sink and tuning. */
  constructor(readonly options: ContextSyncOptions) {}
  /** Loads the store, subscribes, and starts anti-entropy. */
  start(): Promise<void> {
    throw new Error("not implemented yet");
  }
  /** Stops timers, unsubscribes, and flushes the store. */
  stop(): Promise<void> {
    throw new Error("not implemented yet");
  }
  /**
   * Applies an RFC 7396 merge patch, persists it, and gossips the delta.
   * @returns The dotted paths that changed.
   * @throws {InvalidPathError} A key is empty or contains a dot, or too deep.
   * @throws {TooLargeError} The delta is over the size limit.
   */
  updateContext(_patch: JsonObject): Promise<string[]> {
    throw new Error("not implemented yet");
  }
  /** Replaces the whole document with `data`. @returns The changed paths. */
  replaceContext(_data: JsonObject): Promise<string[]> {
    throw new Error("not implemented yet");
  }
  /** The document, or the value at a dotted path (`undefined` when absent). */
  getContext(_path?: string): JsonValue | undefined {
    throw new Error("not implemented yet");
  }
  /** The values that `peerId` wrote and that are still current, as a document. */
  getPeerContext(_peerId: PeerId): JsonObject {
    throw new Error("not implemented yet");
  }
  /** Counters. */
  stats(): ContextSyncStats {
    throw new Error("not implemented yet");
  }
}
