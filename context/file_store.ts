/**
 * {@linkcode FileContextStore}: the Deno implementation of
 * {@linkcode ContextStore}, one file under a directory, replaced atomically.
 *
 * Requires `--allow-read` and `--allow-write` for the directory.
 *
 * @module
 */

import { sha256 } from "@noble/hashes/sha2.js";
import type { ContextStore } from "./store.ts";

/** Each log record: 4 bytes of length, 8 of SHA-256 of the body, the body. */
const RECORD_HEADER = 12;
/** The largest log record read back. */
const MAX_RECORD_BYTES = 16 * 1024 * 1024;

/** Options of {@linkcode FileContextStore}. */
export interface FileContextStoreOptions {
  /** The directory (created if missing), e.g. the node's `dataDir`. */
  dir: string;
  /** The file name inside `dir`. @default "context.bin" */
  fileName?: string;
}

/**
 * Keeps the context snapshot in `<dir>/context.bin` and the changes since in
 * `<dir>/context.bin.log`. `save` writes a temporary file in the same
 * directory, flushes it to disk, renames it over the old one (so a crash
 * leaves either the old or the new snapshot), then empties the log.
 * `append` adds one checksummed record to the log and flushes it; a torn or
 * damaged tail (a crash in the middle of an append) is cut off at `loadLog`.
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
  /** The log file's path. */
  readonly logPath: string;
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
    this.logPath = `${this.path}.log`;
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
    await Deno.rename(this.logPath, `${aside}.log`).catch(() => {});
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

  /**
   * Writes `snapshot` atomically (temp file, fsync, rename), then empties
   * the log. Saves and appends run one at a time, in call order.
   */
  save(snapshot: Uint8Array): Promise<void> {
    return this.#queue(async () => {
      await this.#write(snapshot);
      await Deno.remove(this.logPath).catch((e) => {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      });
    });
  }

  /** Appends one checksummed record to the log and flushes it to disk. */
  append(record: Uint8Array): Promise<void> {
    return this.#queue(async () => {
      await Deno.mkdir(this.#dir, { recursive: true });
      const frame = new Uint8Array(RECORD_HEADER + record.length);
      new DataView(frame.buffer).setUint32(0, record.length);
      frame.set(sha256(record).subarray(0, 8), 4);
      frame.set(record, RECORD_HEADER);
      const file = await Deno.open(this.logPath, {
        append: true,
        create: true,
      });
      try {
        let done = 0;
        while (done < frame.length) {
          done += await file.write(frame.subarray(done));
        }
        await file.syncData();
      } finally {
        file.close();
      }
    });
  }

  /**
   * Reads the log: the records appended since the last save, oldest first.
   * A torn or damaged tail is cut off (and truncated on disk, so that later
   * appends follow the last good record).
   */
  async loadLog(): Promise<Uint8Array[]> {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(this.logPath);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return [];
      throw error;
    }
    const records: Uint8Array[] = [];
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    let at = 0;
    while (at + RECORD_HEADER <= bytes.length) {
      const n = view.getUint32(at);
      const end = at + RECORD_HEADER + n;
      if (n > MAX_RECORD_BYTES || end > bytes.length) break;
      const body = bytes.subarray(at + RECORD_HEADER, end);
      const sum = sha256(body);
      if (!sum.subarray(0, 8).every((b, i) => bytes[at + 4 + i] === b)) break;
      records.push(body.slice());
      at = end;
    }
    if (at < bytes.length) await Deno.truncate(this.logPath, at);
    return records;
  }

  #queue(job: () => Promise<void>): Promise<void> {
    const run = this.#chain.then(job);
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
