/**
 * Garbage collection of a replica (see "Tombstones" in the module doc of
 * `doc.ts`): dropping the deltas of tombstones that can no longer matter,
 * forgetting compact tombstones past the horizon, and retiring writers
 * that are done. Helpers of `ContextDoc.collectGarbage` and
 * `ContextDoc.retireWriters`, over the replica's parts passed in.
 *
 * @module
 */

import { formatPath } from "./path.ts";
import {
  dominates,
  type DotSet,
  type VersionVector,
} from "./version_vector.ts";
import { writerEpoch, writerPeer } from "./writer.ts";
import type { Held, Node, RegisterTree } from "./_tree.ts";

/**
 * Drops the deltas of tombstones that are stable (every replica in `peers`
 * covers them and `own` covers every one of `peers`) or older than
 * `horizon` (a wall time, ms), when dropping them cannot change the
 * document; then drops compact tombstones older than `horizon`.
 * @returns How many tombstones were dropped.
 */
export function collectTombstones(
  tree: RegisterTree,
  own: VersionVector,
  peers: readonly VersionVector[],
  horizon: number,
): number {
  const allSeen = peers.every((v) => dominates(own, v));
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
  visit(tree.root, []);
  for (const [h, nodes] of candidates) {
    if (h.refs !== nodes.length * 2) candidates.delete(h);
  }
  // Blocked if the initial document has something at or below the path
  // (a replica starting afresh would show it again).
  for (const g of tree.genesisPaths) {
    const keys = g.split(".");
    for (let i = 1; i <= keys.length; i++) {
      const owner = paths.get(keys.slice(0, i).join("."));
      if (owner) candidates.delete(owner);
    }
  }
  if (candidates.size === 0) return 0;
  // Blocked if another kept delta still has an entry at or below the path.
  for (const byWriter of tree.held.values()) {
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
      let parent = tree.root;
      for (const key of e.path.slice(0, -1)) {
        parent = parent.children!.get(key)!;
      }
      const key = e.path[e.path.length - 1];
      const node = parent.children?.get(key);
      if (!node || node.reg?.held !== h) continue;
      // Keep only the stamp: a compact, local tombstone.
      delete node.reg;
      node.clear = { stamp: h.stamp, held: null };
      tree.tombstones--;
      tree.compact++;
      dropped++;
    }
    h.refs = 1;
    tree.unref(h);
  }
  // Compact tombstones past the horizon go entirely.
  const sweep = (children: Map<string, Node>) => {
    for (const [key, node] of children) {
      if (node.children) sweep(node.children);
      if (node.clear?.held === null && node.clear.stamp.wall < horizon) {
        delete node.clear;
        tree.compact--;
        if (!node.reg && !node.children?.size) children.delete(key);
      }
    }
  };
  if (tree.root.children) sweep(tree.root.children);
  return dropped;
}

/** The parts of a replica {@linkcode retireWriters} reads and trims. */
export interface Writers {
  /** This replica's writer id (never retired). */
  readonly replicaId: string;
  /** What the replica has seen. */
  readonly dots: DotSet;
  /** Each writer's newest merged delta. */
  readonly heads: Map<string, Held>;
  /** The writers that still have kept deltas. */
  readonly kept: ReadonlyMap<string, unknown>;
}

/**
 * Forgets the writers that are done (see `ContextDoc.retireWriters`).
 * @returns How many writers were forgotten.
 */
export function retireWriters(r: Writers): number {
  const newest = new Map<string, string>();
  const writers = new Set([
    ...Object.keys(r.dots.vector()),
    ...r.heads.keys(),
  ]);
  for (const w of writers) {
    const peer = writerPeer(w);
    const e = writerEpoch(w);
    if ((newest.get(peer) ?? "") <= e) newest.set(peer, e);
  }
  let retired = 0;
  for (const w of writers) {
    if (w === r.replicaId || r.kept.has(w)) continue;
    if (writerEpoch(w) >= newest.get(writerPeer(w))!) continue;
    const top = r.heads.get(w)?.delta.seq ?? 0;
    if (r.dots.hasGaps(w) || r.dots.get(w) !== top) continue;
    r.dots.forget(w);
    r.heads.delete(w);
    retired++;
  }
  return retired;
}
