/**
 * The replica of a `ContextSync` on disk, through its {@linkcode ContextStore}:
 * one snapshot (`ContextDoc.snapshot`) and a log of records appended after
 * it, so that a change costs one small append.
 *
 * Log records (MessagePack): `[0, delta, signature]` a merged delta,
 * `[1, writer, from, to]` a joined range, `[2, delta, signature]` a proven
 * head. On start the snapshot is restored and the log replayed over it (a
 * record that no longer applies is skipped: peers resend what matters).
 * Once the log is larger than both the snapshot and 1 MiB, the next change
 * saves a whole snapshot instead, which empties the log; so does a store
 * with no log, on every change, and a clean stop. Store operations run one
 * at a time, in call order.
 *
 * @module
 */

import { decode, encode } from "./_msgpack.ts";
import { ContextDoc } from "./doc.ts";
import type { ContextStore } from "./store.ts";
import type { ContextDocOptions } from "./types.ts";

/** Log records (see ContextStore.append): a merged delta, a joined range, a proven head. */
const LOG_DELTA = 0;
const LOG_RANGE = 1;
const LOG_HEAD = 2;
/** The log is compacted into a snapshot once it is larger than this and the snapshot. */
const MIN_COMPACT_BYTES = 1_048_576;

/** Saves one replica to a store (none: every call does nothing). */
export class Persistence {
  readonly #store: ContextStore | undefined;
  readonly #onError: () => void;
  #doc: ContextDoc | undefined;
  #disk: Promise<void> = Promise.resolve();
  #snapshotRun: Promise<void> | undefined;
  #snapshotBytes = 0;
  #logBytes = 0;

  /**
   * @param store Where to save; undefined for no persistence.
   * @param onError Called for every failed store operation.
   */
  constructor(store: ContextStore | undefined, onError: () => void) {
    this.#store = store;
    this.#onError = onError;
  }

  /**
   * The replica as saved (its snapshot, then its log replayed), or a new
   * one when nothing was; it is the replica saved from now on.
   */
  async load(options: ContextDocOptions): Promise<ContextDoc> {
    const store = this.#store;
    const saved = await store?.load();
    const log = (await store?.loadLog?.()) ?? [];
    const doc = this.#doc = saved
      ? ContextDoc.restore(saved, options)
      : new ContextDoc(options);
    for (const record of log) replay(doc, record);
    this.#snapshotBytes = saved?.length ?? 0;
    this.#logBytes = log.reduce((n, r) => n + r.length, 0);
    return doc;
  }

  /**
   * Saves a whole snapshot (taken when its turn comes, so one queued save
   * covers every change made before it runs), which empties the log.
   * @param rethrow Reject when the save fails (else it is only counted).
   */
  save(rethrow: boolean): Promise<void> {
    const store = this.#store;
    if (!store) return Promise.resolve();
    if (this.#snapshotRun === undefined) {
      this.#snapshotRun = this.#onDisk(async () => {
        this.#snapshotRun = undefined;
        const snapshot = this.#doc!.snapshot();
        this.#logBytes = 0;
        await store.save(snapshot);
        this.#snapshotBytes = snapshot.length;
      });
    }
    const p = this.#snapshotRun;
    return rethrow ? p : p.catch(() => {});
  }

  /** Records a merged delta (see {@linkcode Persistence.save} for `rethrow`). */
  recordDelta(
    bytes: Uint8Array,
    proof: Uint8Array | undefined,
    rethrow: boolean,
  ): Promise<void> {
    return this.#record([LOG_DELTA, bytes, proof], rethrow);
  }

  /** Records a joined range (see `ContextDoc.joinRange`). */
  recordRange(writer: string, from: number, to: number): void {
    this.#record([LOG_RANGE, writer, from, to], false);
  }

  /** Records a proven head (see `ContextDoc.proveHead`). */
  recordHead(bytes: Uint8Array, proof: Uint8Array): void {
    this.#record([LOG_HEAD, bytes, proof], false);
  }

  /** Waits for every store operation; a log left over is saved as a snapshot first. */
  async flush(): Promise<void> {
    // A clean stop leaves one snapshot and no log: the next start is quick.
    if (this.#logBytes > 0) await this.save(false);
    await this.#disk;
  }

  /**
   * Records one change: one append to the store's log, or a snapshot when
   * the store keeps no log or the log has outgrown the snapshot.
   */
  #record(record: unknown[], rethrow: boolean): Promise<void> {
    const store = this.#store;
    if (!store) return Promise.resolve();
    if (
      !store.append ||
      this.#logBytes > Math.max(MIN_COMPACT_BYTES, this.#snapshotBytes)
    ) {
      return this.save(rethrow);
    }
    const bytes = encode(record);
    this.#logBytes += bytes.length;
    const p = this.#onDisk(() => store.append!(bytes));
    return rethrow ? p : p.catch(() => {});
  }

  /** Runs store operations one at a time, in call order. */
  #onDisk(job: () => Promise<void>): Promise<void> {
    const run = this.#disk.then(job).catch((error) => {
      this.#onError();
      throw error;
    });
    this.#disk = run.catch(() => {});
    return run;
  }
}

/** Applies one log record to a replica being restored (a bad one is skipped). */
function replay(doc: ContextDoc, record: Uint8Array): void {
  try {
    const r = decode(record) as unknown[];
    if (!Array.isArray(r)) return;
    const [kind, a, b, c] = r;
    if (kind === LOG_DELTA && a instanceof Uint8Array) {
      doc.merge(a, b instanceof Uint8Array ? b : undefined);
    } else if (
      kind === LOG_RANGE && typeof a === "string" && Number.isSafeInteger(b) &&
      Number.isSafeInteger(c)
    ) {
      doc.joinRange(a, b as number, c as number);
    } else if (kind === LOG_HEAD && a instanceof Uint8Array) {
      doc.proveHead(a, b instanceof Uint8Array ? b : undefined);
    }
  } catch { /* a record that no longer applies: peers resend what matters */ }
}
