/**
 * The snapshot format of a replica (`ContextDoc.snapshot` and `restore`).
 *
 * Format 2: "AVC", the format byte, 8 bytes of SHA-256 of the body, then the
 * body, the MessagePack array `[wall, counter, dots, held, compact, heads]`:
 * the clock, what was seen (`[writer, n, [seq above n...]]`), the kept
 * deltas and the superseded heads (`[bytes, signature | null]`), and the
 * compact tombstones (`[path, wall, counter, writer]`). Format 1 (still
 * read) is `[1, wall, counter, dots, held, compact]` with no header.
 *
 * @module
 */

import { InvalidPathError } from "../core/errors.ts";
import { decode, encode } from "./_msgpack.ts";
import type { DotSet } from "./version_vector.ts";
import type { Held, Node, RegisterTree } from "./_tree.ts";
import { sha256 } from "@noble/hashes/sha2.js";

const SNAPSHOT_FORMAT = 2;
/** "AVC" and the format, then 8 bytes of SHA-256 of the body, then the body. */
const SNAPSHOT_MAGIC = [0x41, 0x56, 0x43, SNAPSHOT_FORMAT];
const SNAPSHOT_HEADER = 12;

/** A delta's encoding and its writer's signature, if known. */
export type Signed = [bytes: Uint8Array, proof: Uint8Array | null];
/** A compact tombstone: its path and stamp. */
export type CompactRow = [
  path: string[],
  wall: number,
  counter: number,
  writer: string,
];

/** A decoded snapshot. */
export interface SnapshotBody {
  /** The clock's last stamp. */
  wall: number;
  counter: number;
  /** What was seen (`DotSet.toJSON`). */
  dots: [string, number, number[]][];
  /** The kept deltas. */
  held: Signed[];
  /** The compact tombstones. */
  compact: CompactRow[];
  /** The writers' heads that are not kept deltas. */
  heads: Signed[];
}

/** The snapshot bytes of a replica's parts. */
export function encodeSnapshot(
  tree: RegisterTree,
  heads: ReadonlyMap<string, Held>,
  dots: DotSet,
  clock: { wall: number; counter: number },
): Uint8Array {
  const compact: CompactRow[] = [];
  const walk = (node: Node, path: string[]) => {
    const c = node.clear;
    if (c && c.held === null) {
      compact.push([path, c.stamp.wall, c.stamp.counter, c.stamp.writer]);
    }
    for (const [k, c] of node.children ?? []) walk(c, [...path, k]);
  };
  walk(tree.root, []);
  const held: Signed[] = [];
  for (const byWriter of tree.held.values()) {
    for (const h of byWriter.values()) held.push([h.bytes, h.proof ?? null]);
  }
  // Heads that are not kept deltas (superseded ones) are stored apart.
  const superseded: Signed[] = [];
  for (const h of heads.values()) {
    if (tree.held.get(h.delta.writer)?.get(h.delta.seq) !== h) {
      superseded.push([h.bytes, h.proof ?? null]);
    }
  }
  const body = encode([
    clock.wall,
    clock.counter,
    dots.toJSON(),
    held,
    compact,
    superseded,
  ]);
  const out = new Uint8Array(SNAPSHOT_HEADER + body.length);
  out.set(SNAPSHOT_MAGIC, 0);
  out.set(sha256(body).subarray(0, 8), 4);
  out.set(body, SNAPSHOT_HEADER);
  return out;
}

/**
 * Decodes snapshot bytes (format 2, or format 1).
 * @throws {InvalidPathError} When the bytes are not a snapshot, or their
 * checksum does not match (a damaged copy).
 */
export function decodeSnapshot(snapshot: Uint8Array): SnapshotBody {
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
    raw = decodeBody(body);
  } else {
    raw = decodeBody(snapshot); // format 1: no header, no checksum
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
    Signed[],
    CompactRow[],
    Signed[],
  ];
  return { wall, counter, dots, held, compact, heads };
}

/** Puts compact tombstones back into a fresh tree. */
export function plantCompact(
  tree: RegisterTree,
  rows: readonly CompactRow[],
): void {
  for (const [path, w, c, writer] of rows) {
    let node = tree.root;
    for (const key of path) {
      const children: Map<string, Node> = node.children ??= new Map();
      let child = children.get(key);
      if (!child) children.set(key, child = {});
      node = child;
    }
    node.clear = { stamp: { wall: w, counter: c, writer }, held: null };
    tree.compact++;
  }
}

function decodeBody(bytes: Uint8Array): unknown {
  try {
    return decode(bytes);
  } catch (cause) {
    throw new InvalidPathError("Cannot decode context snapshot", { cause });
  }
}
