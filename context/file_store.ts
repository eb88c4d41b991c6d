/**
 * {@linkcode FileContextStore}: the Deno implementation of
 * {@linkcode ContextStore}, one file under a directory, replaced atomically.
 *
 * Requires `--allow-read` and `--allow-write` for the directory.
 *
 * @module
 */

import type { ContextStore } from "./store.ts";

/** Options of {@linkcode FileContextStore}. */
export interface FileContextStoreOptions {
  /** The directory (created if missing), e.g. the node's `dataDir`. */
  dir: string;
  /** The file name inside `dir`. @default "context.bin" */
  fileName?: string;
}

/**
 * Keeps the context snapshot in `<dir>/context.bin`. `save` writes a
 * temporary file in the same directory, flushes it to disk, and renames it
 * over the old one, so a crash leaves either the old or the new snapshot.
 *
 * @example
 * ```ts ignore
 * import { ContextDoc, FileContextStore } from "@avi/p2p/context";
 * const store = new FileContextStore({ dir: "./data" });
 * const doc = new ContextDoc({ replicaId: "A" });
 * doc.set("avi.device.volume", 4);
 * await store.save(doc.snapshot());
 * const back = ContextDoc.restore((await store.load())!, { replicaId: "A" });
 * console.log(back.get("avi.device.volume")); // 4
 * ```
 */
export class FileContextStore implements ContextStore {
  /** The snapshot file's path. */
  readonly path: string;
  readonly #dir: string;
  #chain: Promise<void> = Promise.resolve();

  /**
   * Creates a store; nothing is touched on disk until `load` or `save`.
   * @param options The directory and file name.
   */
  constructor(options: FileContextStoreOptions) {
    if (typeof options.dir !== "string" || options.dir.length === 0) {
      throw new TypeError("FileContextStore needs a non-empty dir");
    }
    const name = options.fileName ?? "context.bin";
    if (name.includes("/") || name.includes("\\") || name.length === 0) {
      throw new TypeError(`Invalid fileName "${name}"`);
    }
    this.#dir = options.dir.replace(/\/+$/, "") || "/";
    this.path = `${this.#dir}/${name}`;
  }

  /**
   * Reads the snapshot file. Temporary files a crash left behind (from a
   * save that never reached its rename) are removed first.
   * @returns The saved snapshot, or `undefined` when there is none.
   */
  async load(): Promise<Uint8Array | undefined> {
    await this.#removeOrphans();
    try {
      return await Deno.readFile(this.path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
  }

  /**
   * Moves the snapshot file aside (to `<file>.corrupt-<time>`), for a copy
   * that cannot be loaded: it is kept for inspection, and the next `save`
   * starts a new file.
   * @returns The path it was moved to.
   */
  async quarantine(): Promise<string> {
    const aside = `${this.path}.corrupt-${
      new Date().toISOString().replace(/[:.]/g, "-")
    }`;
    await this.#chain;
    await Deno.rename(this.path, aside);
    return aside;
  }

  async #removeOrphans(): Promise<void> {
    const name = this.path.slice(this.#dir.length + 1);
    try {
      for await (const entry of Deno.readDir(this.#dir)) {
        if (
          entry.isFile && entry.name.startsWith(`${name}.`) &&
          entry.name.endsWith(".tmp")
        ) {
          await Deno.remove(`${this.#dir}/${entry.name}`).catch(() => {});
        }
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }

  /** Writes `snapshot` atomically (temp file, fsync, rename). Saves run one at a time. */
  save(snapshot: Uint8Array): Promise<void> {
    const run = this.#chain.then(() => this.#write(snapshot));
    this.#chain = run.catch(() => {});
    return run;
  }

  async #write(snapshot: Uint8Array): Promise<void> {
    await Deno.mkdir(this.#dir, { recursive: true });
    const tmp = `${this.path}.${crypto.randomUUID()}.tmp`;
    try {
      const file = await Deno.open(tmp, {
        write: true,
        create: true,
        truncate: true,
      });
      try {
        let done = 0;
        while (done < snapshot.length) {
          done += await file.write(snapshot.subarray(done));
        }
        await file.syncData();
      } finally {
        file.close();
      }
      await Deno.rename(tmp, this.path);
    } catch (error) {
      await Deno.remove(tmp).catch(() => {});
      throw error;
    }
  }
}
