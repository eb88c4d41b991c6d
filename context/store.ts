/**
 * Where a replica keeps its state between runs. The interface is
 * runtime-neutral; {@linkcode FileContextStore} (in `file_store.ts`) is the
 * Deno implementation, {@linkcode MemoryContextStore} a test double.
 *
 * @module
 */

/**
 * Persistence for one replica's state: an opaque snapshot, and (optionally)
 * a log of records appended after it, so that a change costs one small
 * append rather than a rewrite of the whole snapshot.
 * `save` must be atomic: after a crash, `load` returns either the previous
 * snapshot or the new one, never a torn mix. `save` also empties the log
 * (the records it held are in the new snapshot); a crash between the two may
 * leave old records, which the replica replays harmlessly. `loadLog` returns
 * the records appended since the last `save`, in order, and drops a torn or
 * damaged tail.
 *
 * @example
 * ```ts
 * import { MemoryContextStore } from "@avi/p2p/context";
 * const store = new MemoryContextStore();
 * await store.save(new Uint8Array([1, 2]));
 * console.log(await store.load());
 * ```
 */
export interface ContextStore {
  /** Resolves the last saved snapshot, or `undefined` when none exists. */
  load(): Promise<Uint8Array | undefined>;
  /** Replaces the saved snapshot atomically, and empties the log. */
  save(snapshot: Uint8Array): Promise<void>;
  /** Appends one record to the log, durably. Optional: without it, every change saves a snapshot. */
  append?(record: Uint8Array): Promise<void>;
  /** The records appended since the last `save`, oldest first. */
  loadLog?(): Promise<Uint8Array[]>;
}

/**
 * A {@linkcode ContextStore} in memory (tests, or a node that must forget).
 *
 * @example
 * ```ts
 * import { MemoryContextStore } from "@avi/p2p/context";
 * const store = new MemoryContextStore();
 * console.log(await store.load()); // undefined
 * ```
 */
export class MemoryContextStore implements ContextStore {
  #snapshot: Uint8Array | undefined;
  #log: Uint8Array[] = [];
  /** How many times `save` was called. */
  saves = 0;
  /** How many times `append` was called. */
  appends = 0;

  /**
   * Reads the last snapshot.
   * @returns The last saved snapshot (a copy), or `undefined`.
   */
  load(): Promise<Uint8Array | undefined> {
    return Promise.resolve(this.#snapshot?.slice());
  }

  /**
   * Keeps a snapshot.
   * @param snapshot The bytes to keep (copied).
   */
  save(snapshot: Uint8Array): Promise<void> {
    this.#snapshot = snapshot.slice();
    this.#log = [];
    this.saves++;
    return Promise.resolve();
  }

  /**
   * Keeps a record after the snapshot.
   * @param record The bytes to keep (copied).
   */
  append(record: Uint8Array): Promise<void> {
    this.#log.push(record.slice());
    this.appends++;
    return Promise.resolve();
  }

  /**
   * The records kept since the last `save`.
   * @returns Copies, oldest first.
   */
  loadLog(): Promise<Uint8Array[]> {
    return Promise.resolve(this.#log.map((r) => r.slice()));
  }
}
