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
 * @module
 */

import { InvalidPathError, TooLargeError } from "../core/errors.ts";
import type { JsonObject, JsonValue } from "../core/events.ts";
import { decode, encode } from "./_msgpack.ts";
import { compareStamps, HybridClock, type Stamp } from "./hlc.ts";
import {
  checkJson,
  checkLeaf,
  type ContextDelta,
  decodeDelta,
  type DeltaEntry,
  encodeDelta,
  type EntryKind,
  isPlainObject,
  MAX_SEQ,
} from "./delta.ts";
import { checkKey, formatPath, MAX_PATH_DEPTH, parsePath } from "./path.ts";
import { dominates, DotSet, type VersionVector } from "./version_vector.ts";
import { diffValues } from "./_diff.ts";
import { writerEpoch, writerPeer } from "./writer.ts";
import { sha256 } from "@noble/hashes/sha2.js";

/** The document every replica starts from (as in the original). */
export const INITIAL_CONTEXT: JsonObject = { avi: { device: {} } };

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

interface Held extends HeldDelta {
  stamp: Stamp;
  refs: number;
}

interface Reg {
  stamp: Stamp;
  kind: EntryKind;
  implied?: boolean; // an "is an object" mark made by an entry below
  value?: JsonValue;
  held: Held | null; // null: the initial document
}

interface Clear {
  stamp: Stamp;
  held: Held | null; // null: a collected tombstone (see collectGarbage)
}

interface Node {
  reg?: Reg;
  clear?: Clear;
  children?: Map<string, Node>;
}

const GENESIS: Stamp = { wall: 0, counter: 0, writer: "" };
const SNAPSHOT_FORMAT = 2;
/** "AVC" and the format, then 8 bytes of SHA-256 of the body, then the body. */
const SNAPSHOT_MAGIC = [0x41, 0x56, 0x43, SNAPSHOT_FORMAT];
const SNAPSHOT_HEADER = 12;

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
  #root: Node = {};
  #dots = new DotSet();
  #held = new Map<string, Map<number, Held>>();
  #heldBytes = new Map<string, number>();
  /**
   * Each writer's newest delta this replica has merged (verified by the
   * caller), kept even once superseded: it proves how far the writer got,
   * and a range claim is never believed beyond it (see `joinRange`).
   */
  #heads = new Map<string, Held>();
  #tombstones = 0;
  #compact = 0;
  #genesisPaths: string[] = [];

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
    this.maxDeltaBytes = options.maxDeltaBytes ?? 65_536;
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
    this.#root.reg = { stamp: GENESIS, kind: "object", held: null };
    this.#seed(this.#root, initial);
    this.#seedPath.clear();
  }

  #seedPath = new Map<Node, string[]>();
  #pathOf(node: Node): string[] {
    return this.#seedPath.get(node) ?? [];
  }

  #seed(node: Node, obj: JsonObject): void {
    for (const key in obj) {
      checkKey(key);
      const v = obj[key];
      const child: Node = {};
      this.#genesisPaths.push(formatPath([...this.#pathOf(node), key]));
      (node.children ??= new Map()).set(key, child);
      if (isPlainObject(v)) {
        child.reg = { stamp: GENESIS, kind: "object", held: null };
        this.#seedPath.set(child, [...this.#pathOf(node), key]);
        this.#seed(child, v);
      } else child.reg = { stamp: GENESIS, kind: "set", value: v, held: null };
    }
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
    const node = this.#find(parsePath(path));
    return node ? materialize(node) : undefined;
  }

  /** The whole document (a fresh copy). */
  toJSON(): JsonObject {
    return materialize(this.#root) as JsonObject;
  }

  /** The visible node at `keys`, or undefined. */
  #find(keys: readonly string[]): Node | undefined {
    let node = this.#root;
    for (const key of keys) {
      if (node.reg?.kind !== "object" && node.reg?.kind !== "reset") {
        return undefined;
      }
      const child = node.children?.get(key);
      if (!child?.reg || child.reg.kind === "delete") return undefined;
      node = child;
    }
    return node;
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
    const mine = (w: string) => w === writer || writerPeer(w) === writer;
    const walk = (node: Node): JsonValue | undefined => {
      const reg = node.reg;
      if (!reg || reg.kind === "delete") return undefined;
      if (reg.kind === "set") {
        return mine(reg.stamp.writer) ? copy(reg.value!) : undefined;
      }
      const out: JsonObject = {};
      let any = false;
      let visibleChildren = false;
      for (const [k, child] of node.children ?? []) {
        if (child.reg && child.reg.kind !== "delete") visibleChildren = true;
        const v = walk(child);
        if (v !== undefined) {
          out[k] = v;
          any = true;
        }
      }
      if (any) return out;
      if (!visibleChildren && !reg.implied && mine(reg.stamp.writer)) {
        return out;
      }
      return undefined;
    };
    return (walk(this.#root) ?? {}) as JsonObject;
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
    this.#compilePatch(patch, [], this.#root, entries);
    return this.#commit(entries);
  }

  /** `node`: the visible object node at `path`, or undefined if none. */
  #compilePatch(
    patch: JsonObject,
    path: string[],
    node: Node | undefined,
    out: DeltaEntry[],
  ): void {
    for (const key in patch) {
      const p = [...path, key];
      checkKey(key, formatPath(p));
      if (p.length > MAX_PATH_DEPTH) {
        throw new InvalidPathError(
          `Patch deeper than ${MAX_PATH_DEPTH} levels`,
        );
      }
      const v = patch[key];
      let child = node?.children?.get(key);
      if (!child?.reg || child.reg.kind === "delete") child = undefined;
      const isObject = child?.reg?.kind === "object" ||
        child?.reg?.kind === "reset";
      if (v === null) {
        if (child) out.push({ path: p, kind: "delete" });
      } else if (isPlainObject(v)) {
        if (!isObject) out.push({ path: p, kind: "object" });
        this.#compilePatch(v, p, isObject ? child : undefined, out);
      } else {
        checkLeaf(v);
        const cur = child?.reg?.kind === "set" ? child.reg.value : undefined;
        if (isObject || !jsonEqual(cur, v)) {
          out.push({ path: p, kind: "set", value: copy(v) });
        }
      }
    }
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
    if (!this.#find(keys)) return { changedPaths: [] };
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
        this.#writerBytes(this.replicaId) + bytes.length,
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
    let bytes: Uint8Array;
    if (delta instanceof Uint8Array) {
      bytes = delta;
      if (bytes.length > this.maxDeltaBytes) {
        throw new TooLargeError("delta", bytes.length, this.maxDeltaBytes);
      }
      delta = decodeDelta(bytes);
    } else {
      bytes = encodeDelta(delta);
      if (bytes.length > this.maxDeltaBytes) {
        throw new TooLargeError("delta", bytes.length, this.maxDeltaBytes);
      }
      delta = decodeDelta(bytes); // validates a hand-made delta
    }
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

  /** The bytes of kept deltas of `writer`. */
  #writerBytes(writer: string): number {
    return this.#heldBytes.get(writer) ?? 0;
  }

  /** Would keeping `delta` take its writer past `maxWriterBytes`? Deletes always pass. */
  #overQuota(delta: ContextDelta, bytes: Uint8Array): boolean {
    if (delta.entries.every((e) => e.kind === "delete")) return false;
    return this.#writerBytes(delta.writer) + bytes.length > this.maxWriterBytes;
  }

  /** Applies a validated delta; returns the changed paths. */
  #apply(
    delta: ContextDelta,
    bytes: Uint8Array,
    proof: Uint8Array | undefined,
  ): string[] {
    const stamp: Stamp = {
      wall: delta.wall,
      counter: delta.counter,
      writer: delta.writer,
    };
    const held: Held = { delta, bytes, proof, stamp, refs: 0 };
    // Where to look for visible changes: the shallowest prefix of each path
    // that is not an object now (it may become one), or the path itself.
    const roots: string[][] = [];
    for (const e of delta.entries) {
      let i = 0;
      let node: Node | undefined = this.#root;
      while (i < e.path.length) {
        node = node.children?.get(e.path[i]);
        i++;
        if (
          !node?.reg || node.reg.kind === "delete" || node.reg.kind === "set"
        ) break;
      }
      roots.push(e.path.slice(0, i));
    }
    const unique = minimalRoots(roots);
    const before = unique.map((r) => this.#valueAt(r));
    for (const e of delta.entries) this.#applyEntry(held, e);
    if (held.refs > 0) {
      let byWriter = this.#held.get(delta.writer);
      if (!byWriter) this.#held.set(delta.writer, byWriter = new Map());
      byWriter.set(delta.seq, held);
      this.#heldBytes.set(
        delta.writer,
        this.#writerBytes(delta.writer) + bytes.length,
      );
    }
    this.#noteHead(held);
    this.#dots.add(delta.writer, delta.seq);
    const changed: string[] = [];
    unique.forEach((r, i) =>
      diffValues(before[i], this.#valueAt(r), r, changed)
    );
    return changed;
  }

  #valueAt(keys: readonly string[]): JsonValue | undefined {
    const node = this.#find(keys);
    return node ? materialize(node) : undefined;
  }

  #applyEntry(held: Held, e: DeltaEntry): void {
    const t = held.stamp;
    const path = e.path;
    // Pass 1: is the entry hidden by a newer clear at or above its path? (A
    // clear at the path itself comes with a register at least as new, so
    // an older entry there would lose anyway.)
    let node = this.#root;
    if (
      path.length > 0 && node.clear && compareStamps(t, node.clear.stamp) < 0
    ) return;
    for (let i = 0; i < path.length; i++) {
      const child = node.children?.get(path[i]);
      if (!child) break;
      if (child.clear && compareStamps(t, child.clear.stamp) < 0) return;
      node = child;
    }
    // Pass 2: parents become objects, then the target.
    node = this.#root;
    for (let i = 0; i < path.length; i++) {
      const children: Map<string, Node> = node.children ??= new Map();
      let child = children.get(path[i]);
      if (!child) children.set(path[i], child = {});
      node = child;
      if (i < path.length - 1) {
        this.#setReg(node, t, "object", undefined, held, true);
      }
    }
    this.#setReg(node, t, e.kind, e.value, held, false);
    if (e.kind !== "object") this.#raiseClear(node, t, held);
  }

  #setReg(
    node: Node,
    t: Stamp,
    kind: EntryKind,
    value: JsonValue | undefined,
    held: Held,
    implied: boolean,
  ): void {
    const old = node.reg;
    if (old && compareStamps(t, old.stamp) <= 0) return;
    if (old?.held) this.#unref(old.held);
    if (old?.kind === "delete") this.#tombstones--;
    node.reg = kind === "set"
      ? { stamp: t, kind, value, held }
      : { stamp: t, kind, held, implied };
    if (kind === "delete") this.#tombstones++;
    held.refs++;
  }

  #raiseClear(node: Node, t: Stamp, held: Held): void {
    if (node.clear && compareStamps(node.clear.stamp, t) >= 0) return;
    if (node.clear?.held) this.#unref(node.clear.held);
    else if (node.clear) this.#compact--;
    node.clear = { stamp: t, held };
    held.refs++;
    if (node.children) this.#prune(node.children, t);
  }

  #prune(children: Map<string, Node>, t: Stamp): void {
    for (const [key, child] of children) {
      const reg = child.reg;
      if (reg && compareStamps(reg.stamp, t) < 0) {
        if (reg.held) this.#unref(reg.held);
        if (reg.kind === "delete") this.#tombstones--;
        delete child.reg;
      }
      if (child.clear && compareStamps(child.clear.stamp, t) < 0) {
        if (child.clear.held) this.#unref(child.clear.held);
        else this.#compact--;
        delete child.clear;
      }
      if (child.children) this.#prune(child.children, t);
      if (!child.reg && !child.clear && !child.children?.size) {
        children.delete(key);
      }
    }
  }

  #unref(held: Held): void {
    if (--held.refs > 0) return;
    const byWriter = this.#held.get(held.delta.writer);
    if (byWriter?.get(held.delta.seq) === held) {
      byWriter.delete(held.delta.seq);
      const w = held.delta.writer;
      const left = this.#writerBytes(w) - held.bytes.length;
      if (left > 0) this.#heldBytes.set(w, left);
      else this.#heldBytes.delete(w);
      if (byWriter.size === 0) this.#held.delete(w);
    }
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
    const writers = writer === undefined ? [...this.#held.keys()] : [writer];
    for (const w of writers.sort()) {
      const seen = version[w] ?? 0;
      const byWriter = this.#held.get(w);
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
    const writers = new Set([...Object.keys(own), ...this.#held.keys()]);
    const out: Offer[] = [];
    for (const writer of [...writers].sort()) {
      const from = version[writer] ?? 0;
      const to = own[writer] ?? 0;
      const deltas = this.deltasSince(version, writer);
      if (to <= from && deltas.length === 0) continue;
      // The head proves how far the writer got: without it the receiver
      // would not believe the range (see joinRange).
      const head = this.#heads.get(writer);
      const kept = head && this.#held.get(writer)?.get(head.delta.seq) === head;
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
    this.#noteHead({
      delta,
      bytes,
      proof,
      stamp: { wall: delta.wall, counter: delta.counter, writer: delta.writer },
      refs: 0,
    });
    return true;
  }

  /** Attaches the writer's signature to a kept delta. */
  setProof(writer: string, seq: number, proof: Uint8Array): void {
    const held = this.#held.get(writer)?.get(seq);
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
    for (const m of this.#held.values()) heldDeltas += m.size;
    return {
      heldDeltas,
      tombstones: this.#tombstones,
      compactTombstones: this.#compact,
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
    const newest = new Map<string, string>();
    const writers = new Set([
      ...Object.keys(this.version()),
      ...this.#heads.keys(),
    ]);
    for (const w of writers) {
      const peer = writerPeer(w);
      const e = writerEpoch(w);
      if ((newest.get(peer) ?? "") <= e) newest.set(peer, e);
    }
    let retired = 0;
    for (const w of writers) {
      if (w === this.replicaId || this.#held.has(w)) continue;
      if (writerEpoch(w) >= newest.get(writerPeer(w))!) continue;
      if (this.#dots.hasGaps(w) || this.#dots.get(w) !== this.top(w)) continue;
      this.#dots.forget(w);
      this.#heads.delete(w);
      retired++;
    }
    return retired;
  }

  /**
   * Drops tombstones that can no longer matter (see the module doc).
   *
   * @param peers The version vectors other known replicas last reported.
   * @returns How many tombstones were dropped.
   */
  collectGarbage(peers: readonly VersionVector[]): number {
    this.retireWriters();
    const own = this.version();
    const allSeen = peers.every((v) => dominates(own, v));
    const horizon = this.#clock.now() - this.tombstoneHorizonMs;
    // Candidate deltas: every reference they hold is a tombstone (a delete
    // register plus its clear at the same node).
    const candidates = new Map<Held, Node[]>();
    const paths = new Map<string, Held>();
    const visit = (node: Node, path: string[]) => {
      const reg = node.reg;
      if (
        reg?.kind === "delete" && reg.held && node.clear?.held === reg.held &&
        !node.children?.size
      ) {
        const h = reg.held;
        const stable = allSeen &&
          peers.every((v) => (v[h.delta.writer] ?? 0) >= h.delta.seq);
        if (stable || h.stamp.wall < horizon) {
          const list = candidates.get(h) ?? [];
          list.push(node);
          candidates.set(h, list);
          paths.set(formatPath(path), h);
        }
      }
      for (const [k, c] of node.children ?? []) visit(c, [...path, k]);
    };
    visit(this.#root, []);
    for (const [h, nodes] of candidates) {
      if (h.refs !== nodes.length * 2) candidates.delete(h);
    }
    // Blocked if the initial document has something at or below the path
    // (a replica starting afresh would show it again).
    for (const g of this.#genesisPaths) {
      const keys = g.split(".");
      for (let i = 1; i <= keys.length; i++) {
        const owner = paths.get(keys.slice(0, i).join("."));
        if (owner) candidates.delete(owner);
      }
    }
    if (candidates.size === 0) return 0;
    // Blocked if another kept delta still has an entry at or below the path.
    for (const byWriter of this.#held.values()) {
      for (const held of byWriter.values()) {
        for (const e of held.delta.entries) {
          for (let i = 1; i <= e.path.length; i++) {
            const owner = paths.get(formatPath(e.path.slice(0, i)));
            if (owner && owner !== held) candidates.delete(owner);
          }
        }
      }
    }
    let dropped = 0;
    for (const [h] of candidates) {
      for (const e of h.delta.entries) {
        if (e.kind !== "delete") continue;
        let parent = this.#root;
        for (const key of e.path.slice(0, -1)) {
          parent = parent.children!.get(key)!;
        }
        const key = e.path[e.path.length - 1];
        const node = parent.children?.get(key);
        if (!node || node.reg?.held !== h) continue;
        // Keep only the stamp: a compact, local tombstone.
        delete node.reg;
        node.clear = { stamp: h.stamp, held: null };
        this.#tombstones--;
        this.#compact++;
        dropped++;
      }
      h.refs = 1;
      this.#unref(h);
    }
    // Compact tombstones past the horizon go entirely.
    const sweep = (children: Map<string, Node>) => {
      for (const [key, node] of children) {
        if (node.children) sweep(node.children);
        if (node.clear?.held === null && node.clear.stamp.wall < horizon) {
          delete node.clear;
          this.#compact--;
          if (!node.reg && !node.children?.size) children.delete(key);
        }
      }
    };
    if (this.#root.children) sweep(this.#root.children);
    return dropped;
  }

  // ----------------------------------------------------------- persistence

  /**
   * The replica's whole state as bytes (kept deltas with their signatures,
   * each writer's head, what it has seen, its clock, its compact tombstones),
   * for {@linkcode ContextDoc.restore}. The bytes start with a format tag and
   * a SHA-256 checksum, so a damaged copy is refused rather than loaded.
   */
  snapshot(): Uint8Array {
    const compact: [string[], number, number, string][] = [];
    const walk = (node: Node, path: string[]) => {
      const c = node.clear;
      if (c && c.held === null) {
        compact.push([path, c.stamp.wall, c.stamp.counter, c.stamp.writer]);
      }
      for (const [k, c] of node.children ?? []) walk(c, [...path, k]);
    };
    walk(this.#root, []);
    const held: [Uint8Array, Uint8Array | null][] = [];
    for (const byWriter of this.#held.values()) {
      for (const h of byWriter.values()) held.push([h.bytes, h.proof ?? null]);
    }
    // Heads that are not kept deltas (superseded ones) are stored apart.
    const heads: [Uint8Array, Uint8Array | null][] = [];
    for (const h of this.#heads.values()) {
      if (this.#held.get(h.delta.writer)?.get(h.delta.seq) !== h) {
        heads.push([h.bytes, h.proof ?? null]);
      }
    }
    const { wall, counter } = this.#clock.last;
    const body = encode([
      wall,
      counter,
      this.#dots.toJSON(),
      held,
      compact,
      heads,
    ]);
    const out = new Uint8Array(SNAPSHOT_HEADER + body.length);
    out.set(SNAPSHOT_MAGIC, 0);
    out.set(sha256(body).subarray(0, 8), 4);
    out.set(body, SNAPSHOT_HEADER);
    return out;
  }

  /**
   * Rebuilds a replica from {@linkcode ContextDoc.snapshot} bytes. What it
   * has seen of each writer is capped at that writer's newest delta it
   * holds, so a damaged or poisoned record cannot make it skip changes.
   * @throws {InvalidPathError} When the bytes are not a snapshot, or their
   * checksum does not match (a damaged copy).
   */
  static restore(snapshot: Uint8Array, options: ContextDocOptions): ContextDoc {
    let raw: unknown;
    if (
      snapshot.length >= SNAPSHOT_HEADER &&
      SNAPSHOT_MAGIC.every((b, i) => snapshot[i] === b)
    ) {
      const body = snapshot.subarray(SNAPSHOT_HEADER);
      const sum = sha256(body).subarray(0, 8);
      if (!sum.every((b, i) => snapshot[4 + i] === b)) {
        throw new InvalidPathError(
          "Cannot load context snapshot: checksum mismatch (damaged copy)",
        );
      }
      raw = decodeSnapshot(body);
    } else {
      raw = decodeSnapshot(snapshot); // format 1: no header, no checksum
      if (Array.isArray(raw) && raw[0] === 1 && raw.length === 6) {
        raw = [...raw.slice(1), []];
      } else raw = undefined;
    }
    if (!Array.isArray(raw) || raw.length !== 6) {
      throw new InvalidPathError(
        "Cannot decode context snapshot: unknown format",
      );
    }
    const [wall, counter, dots, held, compact, heads] = raw as [
      number,
      number,
      [string, number, number[]][],
      [Uint8Array, Uint8Array | null][],
      [string[], number, number, string][],
      [Uint8Array, Uint8Array | null][],
    ];
    const doc = new ContextDoc(options);
    for (const [path, w, c, writer] of compact) {
      let node = doc.#root;
      for (const key of path) {
        const children: Map<string, Node> = node.children ??= new Map();
        let child = children.get(key);
        if (!child) children.set(key, child = {});
        node = child;
      }
      node.clear = { stamp: { wall: w, counter: c, writer }, held: null };
      doc.#compact++;
    }
    for (const [bytes, proof] of held) {
      const delta = decodeDelta(bytes);
      doc.#apply(delta, bytes, proof ?? undefined);
    }
    for (const [bytes, proof] of heads) {
      doc.proveHead(bytes, proof ?? undefined);
    }
    doc.#dots = DotSet.from(
      dots.map(([w, n, extra]) => {
        const top = doc.top(w);
        return [w, Math.min(n, top), extra.filter((s) => s <= top)];
      }),
    );
    doc.#clock.restore(wall, counter);
    return doc;
  }
}

function decodeSnapshot(bytes: Uint8Array): unknown {
  try {
    return decode(bytes);
  } catch (cause) {
    throw new InvalidPathError("Cannot decode context snapshot", { cause });
  }
}

function materialize(node: Node): JsonValue | undefined {
  const reg = node.reg;
  if (!reg || reg.kind === "delete") return undefined;
  if (reg.kind === "set") return copy(reg.value!);
  const out: JsonObject = {};
  for (const [k, child] of node.children ?? []) {
    const v = materialize(child);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

function flatten(obj: JsonObject, path: string[], out: DeltaEntry[]): void {
  for (const key in obj) {
    const p = [...path, key];
    checkKey(key, formatPath(p));
    if (p.length > MAX_PATH_DEPTH) {
      throw new InvalidPathError(
        `Document deeper than ${MAX_PATH_DEPTH} levels`,
      );
    }
    const v = obj[key];
    if (isPlainObject(v)) {
      if (Object.keys(v).length === 0) out.push({ path: p, kind: "object" });
      else flatten(v, p, out);
    } else {
      checkLeaf(v);
      out.push({ path: p, kind: "set", value: copy(v) });
    }
  }
}

function minimalRoots(roots: string[][]): string[][] {
  const sorted = roots.map((r) => ({ r, s: formatPath(r) }))
    .sort((a, b) => a.r.length - b.r.length);
  const out: { r: string[]; s: string }[] = [];
  for (const x of sorted) {
    if (
      out.some((o) =>
        o.r.length === 0 || x.s === o.s || x.s.startsWith(o.s + ".")
      )
    ) continue;
    out.push(x);
  }
  return out.map((x) => x.r);
}

function copy<T extends JsonValue>(v: T): T {
  return typeof v === "object" && v !== null ? structuredClone(v) : v;
}

/** Deep equality of JSON values (key order ignored). */
export function jsonEqual(
  a: JsonValue | undefined,
  b: JsonValue | undefined,
): boolean {
  if (a === b) return true;
  if (
    typeof a !== "object" || typeof b !== "object" || a === null || b === null
  ) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as JsonValue[];
    return a.length === bb.length && a.every((x, i) => jsonEqual(x, bb[i]));
  }
  const ao = a as JsonObject;
  const bo = b as JsonObject;
  const ak = Object.keys(ao);
  if (ak.length !== Object.keys(bo).length) return false;
  return ak.every((k) => k in bo && jsonEqual(ao[k], bo[k]));
}
