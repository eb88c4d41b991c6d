/**
 * {@linkcode ContextDoc}: the replicated JSON document, a CRDT with no
 * network inside.
 *
 * ## Model
 * Every path holds a last-writer-wins register ordered by {@linkcode Stamp}
 * (hybrid clock, then writer id), and every path also keeps the newest
 * "clear" stamp: `set`, `delete` and `reset` (see {@linkcode EntryKind})
 * hide everything older than themselves below their path. An entry at
 * `a.b.c` also writes "is an object" at `a` and `a.b` with its own stamp. The
 * visible document is a pure function of the set of deltas received, so any
 * two replicas that have received the same deltas, in any order, any number
 * of times, show the same document (merge is commutative, associative and
 * idempotent).
 *
 * ## Conflict semantics
 * - Two concurrent writes to one path: the newer stamp wins (hybrid clock
 *   time, then counter, then the greater writer id). Same second, same
 *   millisecond: still ordered, never a tie.
 * - Write versus delete of one path: the newer wins. A delete of `a` versus a
 *   newer write of `a.x`: `a` becomes `{x: ...}`; keys of `a` older than the
 *   delete stay deleted.
 * - Object versus scalar: `a = 5` concurrent with a write at `a.b`: the newer
 *   of the two wins the whole of `a`. If `a = 5` is newer, `a` is 5 (and
 *   every older key below `a` is gone); if the write at `a.b` is newer, `a` is
 *   an object holding `b` and any other keys of `a` newer than `a = 5`.
 * - A merge patch `{a: {x: 1}}` merges into `a` (other keys of `a` stay);
 *   `set("a", {x: 1})` and `replace` replace (older keys below go).
 * - Arrays are values: concurrent changes to one array keep the newer array.
 *
 * ## Clock skew
 * A remote delta stamped more than `maxSkewMs` ahead of our wall clock is
 * refused (status `"clock-ahead"`) and does not move our clock, so no peer can
 * freeze a writer. It is accepted later, when anti-entropy offers it again
 * and our clock has caught up.
 *
 * ## Tombstones
 * A delete is a tombstone: its delta is kept (and relayed) so that older
 * writes arriving late stay deleted. {@linkcode ContextDoc.collectGarbage}
 * drops the delta of a tombstone once (1) it is stable: every known replica's
 * version vector covers it and ours covers theirs (so no change older than
 * the delete can still arrive from them), or it is older than
 * `tombstoneHorizonMs`; and (2) dropping it cannot change the document: no
 * other kept delta (nor the initial document) has anything at or below that
 * path, and the delete no longer holds its parents' "is an object" marks (a
 * later write under the parent took them over). What remains is a compact
 * tombstone, the path and its stamp (no delta, no signature), which still
 * hides any older write that arrives late; it goes too once older than
 * `tombstoneHorizonMs`. So a deleted key comes back only if a replica that
 * was silent for longer than the horizon returns with a write older than the
 * delete; a replica silent for that long should be reset (started from an
 * empty store) rather than merged.
 *
 * ## Files
 * This class holds what a replica has seen, its writers' heads and its
 * clock; the register tree is in `_tree.ts`, patch compilation in
 * `_patch.ts`, garbage collection in `_gc.ts`, the snapshot format in
 * `_snapshot.ts`, and the public shapes in `types.ts`. (Past 600 lines for
 * its documentation: the model above and each public method's contract,
 * with an example, stay beside the code.)
 *
 * @module
 */

import { InvalidPathError, TooLargeError } from "../core/errors.ts";
import type { JsonObject, JsonValue } from "../core/events.ts";
import { HybridClock } from "./hlc.ts";
import {
  checkJson,
  checkLeaf,
  type ContextDelta,
  decodeDelta,
  DEFAULT_MAX_DELTA_BYTES,
  type DeltaEntry,
  encodeDelta,
  isPlainObject,
  MAX_SEQ,
} from "./delta.ts";
import { parsePath } from "./path.ts";
import { DotSet, type VersionVector } from "./version_vector.ts";
import { writerPeer } from "./writer.ts";
import { copy, jsonEqual } from "./_json.ts";
import {
  type Held,
  hold,
  materialize,
  RegisterTree,
  writtenBy,
} from "./_tree.ts";
import { compilePatch, flatten } from "./_patch.ts";
import { view } from "./_view.ts";
import { collectTombstones, retireWriters } from "./_gc.ts";
import { decodeSnapshot, encodeSnapshot, plantCompact } from "./_snapshot.ts";
import type {
  ChangeResult,
  ContextDocOptions,
  HeldDelta,
  MergeResult,
  Offer,
} from "./types.ts";

export { jsonEqual };

/** The document every replica starts from (as in the original). */
export const INITIAL_CONTEXT: JsonObject = { avi: { device: {} } };

/**
 * A replicated JSON document. Local changes return a delta to send; remote
 * deltas are merged in any order, any number of times.
 *
 * @example Two replicas converge
 * ```ts
 * import { ContextDoc } from "@avi/p2p/context";
 * const a = new ContextDoc({ replicaId: "A" });
 * const b = new ContextDoc({ replicaId: "B" });
 * const d1 = a.update({ avi: { device: { audio: { volume: 40 } } } }).delta!;
 * const d2 = b.set("avi.device.lights", "on").delta!;
 * a.merge(d2);
 * b.merge(d1);
 * console.log(JSON.stringify(a.get()) === JSON.stringify(b.get())); // true
 * console.log(a.get("avi.device.audio.volume")); // 40
 * ```
 */
export class ContextDoc {
  /** This replica's writer id. */
  readonly replicaId: string;
  /** The largest delta in bytes. */
  readonly maxDeltaBytes: number;
  /** The tombstone horizon in ms. */
  readonly tombstoneHorizonMs: number;
  /** The most bytes of kept deltas per writer. */
  readonly maxWriterBytes: number;
  #clock: HybridClock;
  #tree: RegisterTree;
  #dots = new DotSet();
  /**
   * Each writer's newest delta this replica has merged (verified by the
   * caller), kept even once superseded: it proves how far the writer got,
   * and a range claim is never believed beyond it (see `joinRange`).
   */
  #heads = new Map<string, Held>();

  /**
   * Creates a replica holding the initial document.
   * @param options Replica id, clock and bounds.
   */
  constructor(options: ContextDocOptions) {
    if (
      typeof options.replicaId !== "string" || options.replicaId.length === 0
    ) {
      throw new TypeError("replicaId must be a non-empty string");
    }
    this.replicaId = options.replicaId;
    this.maxDeltaBytes = options.maxDeltaBytes ?? DEFAULT_MAX_DELTA_BYTES;
    this.tombstoneHorizonMs = options.tombstoneHorizonMs ?? 604_800_000;
    this.maxWriterBytes = options.maxWriterBytes ?? 4_194_304;
    if (!(this.maxWriterBytes > 0)) {
      throw new RangeError("maxWriterBytes must be > 0");
    }
    if (!(this.maxDeltaBytes > 0)) {
      throw new RangeError("maxDeltaBytes must be > 0");
    }
    if (!(this.tombstoneHorizonMs > 0)) {
      throw new RangeError("tombstoneHorizonMs must be > 0");
    }
    this.#clock = new HybridClock({
      now: options.now,
      maxSkewMs: options.maxSkewMs,
    });
    const initial = options.initial ?? INITIAL_CONTEXT;
    checkJson(initial);
    this.#tree = new RegisterTree(initial);
  }

  // ---------------------------------------------------------------- reading

  /**
   * The document, or the value at a dotted path.
   *
   * @param path A dotted path; omit (or `""`) for the whole document.
   * @returns A fresh copy, or `undefined` when the path is absent.
   * @throws {InvalidPathError} When the path is malformed.
   */
  get(path = ""): JsonValue | undefined {
    return this.#tree.valueAt(parsePath(path));
  }

  /** The whole document (a fresh copy). */
  toJSON(): JsonObject {
    return materialize(this.#tree.root) as JsonObject;
  }

  /**
   * The whole document, read-only: frozen all the way down, and sharing
   * every object under which nothing changed with the previous call's, so
   * that it costs what changed since, not the whole document (the
   * `contextUpdated` events carry it). Copy it (`structuredClone`) to
   * change it.
   *
   * @example
   * ```ts
   * import { ContextDoc } from "@avi/p2p/context";
   * const doc = new ContextDoc({ replicaId: "A" });
   * doc.set("lights.hall", "on");
   * const before = doc.view();
   * doc.set("avi.device.volume", 3);
   * const after = doc.view();
   * console.log(Object.isFrozen(after)); // true
   * console.log(after.avi === before.avi); // false: a change under it
   * console.log(after.lights === before.lights); // true: shared
   * ```
   */
  view(): JsonObject {
    return view(this.#tree.root) as JsonObject;
  }

  /**
   * What `writer` wrote that is still visible: its values (and the empty
   * objects it made), with their parent objects. `writer` may be a whole
   * writer id or a peer id, which stands for every epoch of that peer (see
   * `writer.ts`).
   *
   * @example
   * ```ts
   * import { ContextDoc } from "@avi/p2p/context";
   * const doc = new ContextDoc({ replicaId: "A" });
   * doc.set("avi.device.volume", 3);
   * console.log(doc.writtenBy("A")); // { avi: { device: { volume: 3 } } }
   * ```
   */
  writtenBy(writer: string): JsonObject {
    return writtenBy(
      this.#tree.root,
      (w) => w === writer || writerPeer(w) === writer,
    );
  }

  // ----------------------------------------------------------- local changes

  /**
   * Applies an RFC 7396 JSON merge patch: objects merge key by key, `null`
   * deletes, any other value (arrays included) replaces.
   *
   * @returns The delta to send (undefined if nothing changed) and the changed paths.
   * @throws {InvalidPathError} A key is empty, contains a dot or is
   * `__proto__`, the patch is deeper than 32 levels, or holds a non-JSON value.
   * @throws {TooLargeError} The delta would exceed `maxDeltaBytes`.
   */
  update(patch: JsonObject): ChangeResult {
    if (!isPlainObject(patch)) {
      throw new InvalidPathError("A merge patch must be an object");
    }
    const entries: DeltaEntry[] = [];
    compilePatch(patch, [], this.#tree.root, entries);
    return this.#commit(entries);
  }

  /**
   * Replaces the whole document with `data` (`null` values are kept as
   * values here, not deletions).
   * @throws {InvalidPathError} Bad keys or non-JSON values.
   * @throws {TooLargeError} Over `maxDeltaBytes`.
   */
  replace(data: JsonObject): ChangeResult {
    if (!isPlainObject(data)) {
      throw new InvalidPathError("The context must be an object");
    }
    const entries: DeltaEntry[] = [{ path: [], kind: "reset" }];
    flatten(data, [], entries);
    return this.#commit(entries);
  }

  /**
   * Sets the value at a dotted path. Missing parents are created, and a
   * scalar in the way becomes an object. An object value replaces the
   * subtree (unlike a merge patch).
   * @throws {InvalidPathError} Bad path or value.
   * @throws {TooLargeError} Over `maxDeltaBytes`.
   */
  set(path: string, value: JsonValue): ChangeResult {
    const keys = parsePath(path);
    if (keys.length === 0) {
      if (!isPlainObject(value)) {
        throw new InvalidPathError("The root must be an object");
      }
      return this.replace(value);
    }
    if (isPlainObject(value)) {
      const entries: DeltaEntry[] = [{ path: keys, kind: "reset" }];
      flatten(value, keys, entries);
      return this.#commit(entries);
    }
    checkLeaf(value);
    if (jsonEqual(this.get(path), value)) return { changedPaths: [] };
    return this.#commit([{ path: keys, kind: "set", value: copy(value) }]);
  }

  /**
   * Deletes the value at a dotted path (nothing happens if it is absent).
   * @throws {InvalidPathError} Bad path, or the root.
   */
  delete(path: string): ChangeResult {
    const keys = parsePath(path);
    if (keys.length === 0) throw new InvalidPathError("Cannot delete the root");
    if (!this.#tree.find(keys)) return { changedPaths: [] };
    return this.#commit([{ path: keys, kind: "delete" }]);
  }

  #commit(entries: DeltaEntry[]): ChangeResult {
    if (entries.length === 0) return { changedPaths: [] };
    const seq = this.#dots.get(this.replicaId) + 1;
    if (seq > MAX_SEQ) {
      throw new RangeError(
        `Writer ${this.replicaId} used every sequence number; start a new one`,
      );
    }
    const { wall, counter } = this.#clock.tick();
    const delta: ContextDelta = {
      writer: this.replicaId,
      seq,
      wall,
      counter,
      entries,
    };
    const bytes = encodeDelta(delta);
    if (bytes.length > this.maxDeltaBytes) {
      throw new TooLargeError("delta", bytes.length, this.maxDeltaBytes);
    }
    if (this.#overQuota(delta, bytes)) {
      throw new TooLargeError(
        "context written by this node",
        this.#tree.writerBytes(this.replicaId) + bytes.length,
        this.maxWriterBytes,
      );
    }
    const changedPaths = this.#apply(delta, bytes, undefined);
    return { delta, changedPaths };
  }

  // ------------------------------------------------------------------ merge

  /**
   * Merges a delta from another replica (or a duplicate of any delta).
   *
   * @param delta The delta, or its encoding.
   * @param proof The writer's signature over its encoding, kept for relaying.
   * @throws {InvalidPathError} Malformed bytes.
   * @throws {TooLargeError} Bytes over `maxDeltaBytes`.
   */
  merge(delta: ContextDelta | Uint8Array, proof?: Uint8Array): MergeResult {
    const bytes = delta instanceof Uint8Array ? delta : encodeDelta(delta);
    if (bytes.length > this.maxDeltaBytes) {
      throw new TooLargeError("delta", bytes.length, this.maxDeltaBytes);
    }
    delta = decodeDelta(bytes); // also validates a hand-made delta
    if (this.#dots.has(delta.writer, delta.seq)) {
      return { status: "duplicate", changedPaths: [] };
    }
    if (this.#overQuota(delta, bytes)) {
      return { status: "quota", changedPaths: [] };
    }
    if (!this.#clock.observe(delta.wall, delta.counter)) {
      return { status: "clock-ahead", changedPaths: [] };
    }
    return {
      status: "applied",
      changedPaths: this.#apply(delta, bytes, proof),
    };
  }

  /** Would keeping `delta` take its writer past `maxWriterBytes`? Deletes always pass. */
  #overQuota(delta: ContextDelta, bytes: Uint8Array): boolean {
    if (delta.entries.every((e) => e.kind === "delete")) return false;
    return this.#tree.writerBytes(delta.writer) + bytes.length >
      this.maxWriterBytes;
  }

  /** Applies a validated delta; returns the changed paths. */
  #apply(
    delta: ContextDelta,
    bytes: Uint8Array,
    proof: Uint8Array | undefined,
  ): string[] {
    const held = hold(delta, bytes, proof);
    const changed = this.#tree.apply(held);
    this.#noteHead(held);
    this.#dots.add(delta.writer, delta.seq);
    return changed;
  }

  /** Keeps `held` as its writer's head if it is the newest seen. */
  #noteHead(held: Held): void {
    const head = this.#heads.get(held.delta.writer);
    if (!head || head.delta.seq < held.delta.seq) {
      this.#heads.set(held.delta.writer, held);
    }
  }

  /**
   * The newest delta of `writer` this replica has merged (kept even when
   * superseded), or `undefined`.
   */
  head(writer: string): HeldDelta | undefined {
    return this.#heads.get(writer);
  }

  /** The highest sequence number of `writer` this replica has merged (0 if none). */
  top(writer: string): number {
    return this.#heads.get(writer)?.delta.seq ?? 0;
  }

  // ------------------------------------------------------- versions, relay

  /** What this replica has seen: its version vector. */
  version(): VersionVector {
    return this.#dots.vector();
  }

  /** Has this replica seen change `seq` of `writer`? */
  hasSeen(writer: string, seq: number): boolean {
    return this.#dots.has(writer, seq);
  }

  /**
   * The kept deltas a replica whose version is `version` has not seen,
   * oldest first per writer. Deltas no longer kept were superseded; see
   * {@linkcode ContextDoc.joinRange} for how the receiver learns that.
   */
  deltasSince(version: VersionVector, writer?: string): HeldDelta[] {
    const out: HeldDelta[] = [];
    const writers = writer === undefined
      ? [...this.#tree.held.keys()]
      : [writer];
    for (const w of writers.sort()) {
      const seen = version[w] ?? 0;
      const byWriter = this.#tree.held.get(w);
      if (!byWriter) continue;
      const list = [...byWriter.values()].filter((h) => h.delta.seq > seen);
      list.sort((a, b) => a.delta.seq - b.delta.seq);
      out.push(...list);
    }
    return out;
  }

  /**
   * What a replica whose version is `version` lacks, one {@linkcode Offer}
   * per writer: the kept deltas above its version, and the range of that
   * writer's changes this replica has fully seen. The receiver merges the
   * deltas, then calls {@linkcode ContextDoc.joinRange} if none was refused.
   *
   * @example Anti-entropy between two replicas
   * ```ts
   * import { ContextDoc } from "@avi/p2p/context";
   * const a = new ContextDoc({ replicaId: "A" });
   * const b = new ContextDoc({ replicaId: "B" });
   * a.set("avi.x", 1);
   * a.set("avi.x", 2); // supersedes the first change
   * for (const offer of a.offer(b.version())) {
   *   for (const d of offer.deltas) b.merge(d.bytes);
   *   if (offer.head) b.proveHead(offer.head.bytes);
   *   b.joinRange(offer.writer, offer.from, offer.to);
   * }
   * console.log(b.get("avi.x"), b.version()); // 2 { A: 2 }
   * ```
   */
  offer(version: VersionVector): Offer[] {
    const own = this.#dots.vector();
    const writers = new Set([...Object.keys(own), ...this.#tree.held.keys()]);
    const out: Offer[] = [];
    for (const writer of [...writers].sort()) {
      const from = version[writer] ?? 0;
      const to = own[writer] ?? 0;
      const deltas = this.deltasSince(version, writer);
      if (to <= from && deltas.length === 0) continue;
      // The head proves how far the writer got: without it the receiver
      // would not believe the range (see joinRange).
      const head = this.#heads.get(writer);
      const kept = head &&
        this.#tree.held.get(writer)?.get(head.delta.seq) === head;
      out.push({
        writer,
        from,
        to: Math.max(to, from),
        deltas,
        ...(head && !kept && head.delta.seq > from ? { head } : {}),
      });
    }
    return out;
  }

  /**
   * Records that every change of `writer` up to `to` is reflected here,
   * after merging every delta a replica that had seen them all still kept
   * above `from`. Only joins when this replica had already seen up to `from`,
   * and never beyond the newest delta of `writer` merged here (its head): a
   * claim about a writer is believed only as far as the writer's own signed
   * changes prove it got, so no peer can make the others skip a writer's
   * future changes.
   * @returns Whether the range was joined.
   */
  joinRange(writer: string, from: number, to: number): boolean {
    return this.#dots.joinRange(writer, from, Math.min(to, this.top(writer)));
  }

  /**
   * Records `bytes` (a delta whose signature the caller has checked) as the
   * proof of how far its writer got, without merging it: the head of an
   * {@linkcode Offer}. @returns Whether it raised what is proven.
   * @throws {InvalidPathError} Malformed bytes.
   */
  proveHead(bytes: Uint8Array, proof?: Uint8Array): boolean {
    const delta = decodeDelta(bytes);
    if (delta.seq <= this.top(delta.writer)) return false;
    this.#noteHead(hold(delta, bytes, proof));
    return true;
  }

  /** Attaches the writer's signature to a kept delta. */
  setProof(writer: string, seq: number, proof: Uint8Array): void {
    const held = this.#tree.held.get(writer)?.get(seq);
    if (held) held.proof = proof;
  }

  /**
   * Counts: kept deltas, tombstones (with their delta), and compact
   * tombstones (a path and a stamp; see {@linkcode ContextDoc.collectGarbage}).
   */
  stats(): {
    heldDeltas: number;
    tombstones: number;
    compactTombstones: number;
  } {
    let heldDeltas = 0;
    for (const m of this.#tree.held.values()) heldDeltas += m.size;
    return {
      heldDeltas,
      tombstones: this.#tree.tombstones,
      compactTombstones: this.#tree.compact,
    };
  }

  // -------------------------------------------------------------------- GC

  /**
   * Forgets writers that are done: an epoch of a peer (see `writer.ts`)
   * for which a newer epoch of the same peer is known, none of whose changes
   * is kept any more (all superseded), and all of whose changes up to its
   * newest one were seen. Such a writer will write nothing again and
   * nothing of it is left to relay, so its entry would only grow every
   * version vector and digest with each restart of its node. (Should an
   * old change of it arrive again, it merges as any duplicate-free delta
   * would: the document does not change.) Called by `collectGarbage`.
   * @returns How many writers were forgotten.
   */
  retireWriters(): number {
    return retireWriters({
      replicaId: this.replicaId,
      dots: this.#dots,
      heads: this.#heads,
      kept: this.#tree.held,
    });
  }

  /**
   * Drops tombstones that can no longer matter (see the module doc).
   *
   * @param peers The version vectors other known replicas last reported.
   * @returns How many tombstones were dropped.
   */
  collectGarbage(peers: readonly VersionVector[]): number {
    this.retireWriters();
    return collectTombstones(
      this.#tree,
      this.version(),
      peers,
      this.#clock.now() - this.tombstoneHorizonMs,
    );
  }

  // ----------------------------------------------------------- persistence

  /**
   * The replica's whole state as bytes (kept deltas with their signatures,
   * each writer's head, what it has seen, its clock, its compact tombstones),
   * for {@linkcode ContextDoc.restore}. The bytes start with a format tag and
   * a SHA-256 checksum, so a damaged copy is refused rather than loaded.
   */
  snapshot(): Uint8Array {
    return encodeSnapshot(
      this.#tree,
      this.#heads,
      this.#dots,
      this.#clock.last,
    );
  }

  /**
   * Rebuilds a replica from {@linkcode ContextDoc.snapshot} bytes. What it
   * has seen of each writer is capped at that writer's newest delta it
   * holds, so a damaged or poisoned record cannot make it skip changes.
   * @throws {InvalidPathError} When the bytes are not a snapshot, or their
   * checksum does not match (a damaged copy).
   */
  static restore(snapshot: Uint8Array, options: ContextDocOptions): ContextDoc {
    const s = decodeSnapshot(snapshot);
    const doc = new ContextDoc(options);
    plantCompact(doc.#tree, s.compact);
    for (const [bytes, proof] of s.held) {
      const delta = decodeDelta(bytes);
      doc.#apply(delta, bytes, proof ?? undefined);
    }
    for (const [bytes, proof] of s.heads) {
      doc.proveHead(bytes, proof ?? undefined);
    }
    doc.#dots = DotSet.from(
      s.dots.map(([w, n, extra]) => {
        const top = doc.top(w);
        return [w, Math.min(n, top), extra.filter((s) => s <= top)];
      }),
    );
    doc.#clock.restore(s.wall, s.counter);
    return doc;
  }
}
