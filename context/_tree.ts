/**
 * The state under a `ContextDoc`: the register tree and the deltas it keeps.
 *
 * Every path is a node holding a last-writer-wins register (`reg`: a value,
 * "is an object", a delete or a reset) and the newest "clear" stamp
 * (`clear`: everything older below the node is hidden). Registers and
 * clears point at the delta that wrote them ({@linkcode Held}); a delta is
 * kept while something points at it and dropped when the last reference
 * goes (superseded). `doc.ts` owns the rest of a replica (what it has seen,
 * the writers' heads, the clock) and is the only way in: nothing here is
 * public.
 *
 * @module
 */

import type { JsonObject, JsonValue } from "../core/events.ts";
import { compareStamps, type Stamp } from "./hlc.ts";
import {
  type ContextDelta,
  type DeltaEntry,
  type EntryKind,
  isPlainObject,
} from "./delta.ts";
import { checkKey, formatPath } from "./path.ts";
import { diffValues } from "./_diff.ts";
import { copy } from "./_json.ts";

/** A kept delta (a `HeldDelta`), its stamp, and how many registers point at it. */
export interface Held {
  readonly delta: ContextDelta;
  readonly bytes: Uint8Array;
  proof?: Uint8Array;
  stamp: Stamp;
  refs: number;
}

/** `delta` (with its encoding and signature) as a kept delta, not yet referenced. */
export function hold(
  delta: ContextDelta,
  bytes: Uint8Array,
  proof: Uint8Array | undefined,
): Held {
  const stamp = {
    wall: delta.wall,
    counter: delta.counter,
    writer: delta.writer,
  };
  return { delta, bytes, proof, stamp, refs: 0 };
}

/** A path's register. */
export interface Reg {
  stamp: Stamp;
  kind: EntryKind;
  implied?: boolean; // an "is an object" mark made by an entry below
  value?: JsonValue;
  held: Held | null; // null: the initial document
}

/** A path's newest clear. */
export interface Clear {
  stamp: Stamp;
  held: Held | null; // null: a collected tombstone (see collectGarbage)
}

/** One path of the tree. */
export interface Node {
  reg?: Reg;
  clear?: Clear;
  children?: Map<string, Node>;
  /**
   * The node's frozen visible value while nothing under it changed (see
   * `_view.ts`); `undefined` once anything at or under it may have.
   */
  view?: JsonValue;
  /** The size of `view` as `jsonBytes` counts it (set with it). */
  viewBytes?: number;
}

/** The stamp of the initial document: older than every change. */
const GENESIS: Stamp = { wall: 0, counter: 0, writer: "" };

/** The register tree of one replica and the deltas it keeps. */
export class RegisterTree {
  /** The root (always an object). */
  readonly root: Node = {};
  /** The kept deltas, per writer and sequence number. */
  readonly held = new Map<string, Map<number, Held>>();
  /** The paths of the initial document, dotted. */
  readonly genesisPaths: string[] = [];
  /** Delete registers that still keep their delta. */
  tombstones = 0;
  /** Clears whose delta was collected (a path and a stamp). */
  compact = 0;
  #heldBytes = new Map<string, number>();

  /** A tree holding `initial` (checked by the caller) at the genesis stamp. */
  constructor(initial: JsonObject) {
    this.root.reg = { stamp: GENESIS, kind: "object", held: null };
    this.#seed(this.root, initial, []);
  }

  #seed(node: Node, obj: JsonObject, path: string[]): void {
    for (const key in obj) {
      checkKey(key);
      const v = obj[key];
      const child: Node = {};
      this.genesisPaths.push(formatPath([...path, key]));
      (node.children ??= new Map()).set(key, child);
      if (isPlainObject(v)) {
        child.reg = { stamp: GENESIS, kind: "object", held: null };
        this.#seed(child, v, [...path, key]);
      } else child.reg = { stamp: GENESIS, kind: "set", value: v, held: null };
    }
  }

  /** The visible node at `keys`, or undefined. */
  find(keys: readonly string[]): Node | undefined {
    let node = this.root;
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

  /** The visible value at `keys` (a fresh copy), or undefined. */
  valueAt(keys: readonly string[]): JsonValue | undefined {
    const node = this.find(keys);
    return node ? materialize(node) : undefined;
  }

  /** The bytes of kept deltas of `writer`. */
  writerBytes(writer: string): number {
    return this.#heldBytes.get(writer) ?? 0;
  }

  /**
   * Applies every entry of a validated delta, keeps it if anything points
   * at it, and returns the dotted paths whose visible value changed.
   */
  apply(held: Held): string[] {
    const delta = held.delta;
    // Where to look for visible changes: the shallowest prefix of each path
    // that is not an object now (it may become one), or the path itself.
    const roots: string[][] = [];
    for (const e of delta.entries) {
      let i = 0;
      let node: Node | undefined = this.root;
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
    const before = unique.map((r) => this.valueAt(r));
    for (const e of delta.entries) this.#applyEntry(held, e);
    if (held.refs > 0) {
      let byWriter = this.held.get(delta.writer);
      if (!byWriter) this.held.set(delta.writer, byWriter = new Map());
      byWriter.set(delta.seq, held);
      this.#heldBytes.set(
        delta.writer,
        this.writerBytes(delta.writer) + held.bytes.length,
      );
    }
    const changed: string[] = [];
    unique.forEach((r, i) =>
      diffValues(before[i], this.valueAt(r), r, changed)
    );
    return changed;
  }

  #applyEntry(held: Held, e: DeltaEntry): void {
    const t = held.stamp;
    const path = e.path;
    // Pass 1: is the entry hidden by a newer clear at or above its path? (A
    // clear at the path itself comes with a register at least as new, so
    // an older entry there would lose anyway.)
    let node = this.root;
    if (
      path.length > 0 && node.clear && compareStamps(t, node.clear.stamp) < 0
    ) return;
    for (let i = 0; i < path.length; i++) {
      const child = node.children?.get(path[i]);
      if (!child) break;
      if (child.clear && compareStamps(t, child.clear.stamp) < 0) return;
      node = child;
    }
    // Pass 2: parents become objects, then the target. Every node on the
    // way may change what it shows: its cached view goes.
    node = this.root;
    node.view = undefined;
    for (let i = 0; i < path.length; i++) {
      const children: Map<string, Node> = node.children ??= new Map();
      let child = children.get(path[i]);
      if (!child) children.set(path[i], child = {});
      node = child;
      node.view = undefined;
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
    if (old?.held) this.unref(old.held);
    if (old?.kind === "delete") this.tombstones--;
    node.reg = kind === "set"
      ? { stamp: t, kind, value, held }
      : { stamp: t, kind, held, implied };
    if (kind === "delete") this.tombstones++;
    held.refs++;
  }

  #raiseClear(node: Node, t: Stamp, held: Held): void {
    if (node.clear && compareStamps(node.clear.stamp, t) >= 0) return;
    if (node.clear?.held) this.unref(node.clear.held);
    else if (node.clear) this.compact--;
    node.clear = { stamp: t, held };
    held.refs++;
    if (node.children) this.#prune(node.children, t);
  }

  #prune(children: Map<string, Node>, t: Stamp): void {
    for (const [key, child] of children) {
      child.view = undefined;
      const reg = child.reg;
      if (reg && compareStamps(reg.stamp, t) < 0) {
        if (reg.held) this.unref(reg.held);
        if (reg.kind === "delete") this.tombstones--;
        delete child.reg;
      }
      if (child.clear && compareStamps(child.clear.stamp, t) < 0) {
        if (child.clear.held) this.unref(child.clear.held);
        else this.compact--;
        delete child.clear;
      }
      if (child.children) this.#prune(child.children, t);
      if (!child.reg && !child.clear && !child.children?.size) {
        children.delete(key);
      }
    }
  }

  /** Drops one reference to `held`; the last one drops the kept delta. */
  unref(held: Held): void {
    if (--held.refs > 0) return;
    const byWriter = this.held.get(held.delta.writer);
    if (byWriter?.get(held.delta.seq) === held) {
      byWriter.delete(held.delta.seq);
      const w = held.delta.writer;
      const left = this.writerBytes(w) - held.bytes.length;
      if (left > 0) this.#heldBytes.set(w, left);
      else this.#heldBytes.delete(w);
      if (byWriter.size === 0) this.held.delete(w);
    }
  }
}

/** The visible value of a node (a fresh copy), or undefined. */
export function materialize(node: Node): JsonValue | undefined {
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

/**
 * What `writer` (a writer id, or a peer id standing for all its epochs, as
 * `isMine` decides) wrote that is still visible under `root`, with its
 * parent objects (see `ContextDoc.writtenBy`).
 */
export function writtenBy(
  root: Node,
  isMine: (writer: string) => boolean,
): JsonObject {
  const walk = (node: Node): JsonValue | undefined => {
    const reg = node.reg;
    if (!reg || reg.kind === "delete") return undefined;
    if (reg.kind === "set") {
      return isMine(reg.stamp.writer) ? copy(reg.value!) : undefined;
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
    if (!visibleChildren && !reg.implied && isMine(reg.stamp.writer)) {
      return out;
    }
    return undefined;
  };
  return (walk(root) ?? {}) as JsonObject;
}

/** A trie of paths (see {@linkcode minimalRoots}). */
interface PathTrie {
  /** A path ends here. */
  end: boolean;
  next: Map<string, PathTrie> | undefined;
}

/**
 * The paths of `roots` that lie under no other one (the root covers all),
 * shortest first. Linear in the total length of the paths: a delta of many
 * entries used to compare every pair of them as strings.
 */
export function minimalRoots(roots: readonly string[][]): string[][] {
  const sorted = [...roots].sort((a, b) => a.length - b.length);
  const top: PathTrie = { end: false, next: undefined };
  const out: string[][] = [];
  for (const r of sorted) {
    let t = top;
    let covered = t.end;
    for (let i = 0; i < r.length && !covered; i++) {
      const next: Map<string, PathTrie> = t.next ??= new Map();
      let child = next.get(r[i]);
      if (child === undefined) {
        next.set(r[i], child = { end: false, next: undefined });
      }
      t = child;
      covered = t.end;
    }
    if (covered) continue;
    t.end = true;
    out.push(r);
  }
  return out;
}
