/**
 * Where a replica keeps its state between runs. The interface is
 * runtime-neutral; {@linkcode FileContextStore} (in `file_store.ts`) is the
 * Deno implementation, {@linkcode MemoryContextStore} a test double.
 *
 * @module
 */

/**
 * Persistence for one replica's state, as one opaque snapshot.
 * `save` must be atomic: after a crash, `load` returns either the previous
 * snapshot or the new one, never a torn mix.
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
  /** Replaces the saved snapshot atomically. */
  save(snapshot: Uint8Array): Promise<void>;
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
  /** How many times `save` was called. */
  saves = 0;

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
    this.saves++;
    return Promise.resolve();
  }
}
