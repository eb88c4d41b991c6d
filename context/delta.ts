/**
 * A delta: one change by one writer, as the changed paths only. It is the
 * unit that is stamped, signed, gossiped, relayed and persisted.
 *
 * @module
 */

import { decode, encode } from "./_msgpack.ts";
import { InvalidPathError } from "../core/errors.ts";
import type { JsonValue } from "../core/events.ts";
import { checkKey, MAX_PATH_DEPTH, plainKey } from "./path.ts";

/**
 * What an entry does at its path:
 * - `set`: the path holds this value (a scalar or an array) and nothing
 *   older below it survives;
 * - `delete`: the path is absent and nothing older below it survives;
 * - `object`: the path is an object (its older keys are kept);
 * - `reset`: the path is an empty object and nothing older below it survives
 *   (newer keys, and keys set by the same delta, stay).
 *
 * Every entry also makes each ancestor of its path an object, with the
 * delta's stamp.
 */
export type EntryKind = "set" | "delete" | "object" | "reset";

/** One changed path of a {@linkcode ContextDelta}. */
export interface DeltaEntry {
  /** The keys of the path (`[]` is the root). */
  readonly path: readonly string[];
  /** What happens there. */
  readonly kind: EntryKind;
  /** The value, for `set` only: a scalar or an array (never a plain object). */
  readonly value?: JsonValue;
}

/**
 * One change by one writer: its stamp (hybrid clock + writer), its
 * sequence number among the writer's changes (from 1), and its entries.
 */
export interface ContextDelta {
  /** The writer's id (a peer id string). */
  readonly writer: string;
  /** 1 for the writer's first change, then 2, 3, ... */
  readonly seq: number;
  /** Hybrid clock: wall-clock ms. */
  readonly wall: number;
  /** Hybrid clock: counter within `wall`. */
  readonly counter: number;
  /** The changed paths. */
  readonly entries: readonly DeltaEntry[];
}

const KINDS: EntryKind[] = ["set", "delete", "object", "reset"];

/**
 * The highest sequence number a delta may carry: far below 2^53, so that no
 * writer's counter ever nears the end of exact integers (and a claim about
 * one cannot either).
 *
 * @example
 * ```ts
 * import { MAX_SEQ } from "@avi/p2p/context";
 * console.log(MAX_SEQ); // 1099511627776
 * ```
 */
export const MAX_SEQ = 2 ** 40;
/** The format number every encoded delta starts with. */
export const DELTA_FORMAT = 1;

/** A replica's `maxDeltaBytes` by default: 64 KiB. */
export const DEFAULT_MAX_DELTA_BYTES = 65_536;
const FORMAT = DELTA_FORMAT;

/**
 * Encodes a delta (MessagePack). These bytes are what the writer signs.
 *
 * @example
 * ```ts
 * import { decodeDelta, encodeDelta } from "@avi/p2p/context";
 * const bytes = encodeDelta({
 *   writer: "A", seq: 1, wall: 1, counter: 0,
 *   entries: [{ path: ["avi", "volume"], kind: "set", value: 40 }],
 * });
 * console.log(decodeDelta(bytes).entries[0].value); // 40
 * ```
 */
export function encodeDelta(delta: ContextDelta): Uint8Array {
  return encode([
    FORMAT,
    delta.writer,
    delta.seq,
    delta.wall,
    delta.counter,
    delta.entries.map((e) =>
      e.kind === "set" ? [e.path, 0, e.value] : [e.path, KINDS.indexOf(e.kind)]
    ),
  ]);
}

/**
 * Decodes and validates a delta.
 *
 * @throws {InvalidPathError} Malformed bytes, a bad path, or a non-JSON value.
 */
export function decodeDelta(bytes: Uint8Array): ContextDelta {
  let raw: unknown;
  try {
    raw = decode(bytes);
  } catch (cause) {
    throw new InvalidPathError("Cannot decode delta: not MessagePack", {
      cause,
    });
  }
  if (!Array.isArray(raw) || raw.length !== 6 || raw[0] !== FORMAT) {
    throw new InvalidPathError(
      "Cannot decode delta: expected a format-1 array of 6",
    );
  }
  const [, writer, seq, wall, counter, rawEntries] = raw;
  if (
    typeof writer !== "string" || writer.length === 0 || writer.length > 128
  ) {
    throw new InvalidPathError("Cannot decode delta: bad writer");
  }
  if (
    !isCount(seq) || seq < 1 || seq > MAX_SEQ || !isCount(wall) ||
    !isCount(counter)
  ) {
    throw new InvalidPathError("Cannot decode delta: bad seq or clock");
  }
  if (!Array.isArray(rawEntries) || rawEntries.length === 0) {
    throw new InvalidPathError("Cannot decode delta: no entries");
  }
  const entries: DeltaEntry[] = rawEntries.map((e): DeltaEntry => {
    if (!Array.isArray(e) || e.length < 2 || e.length > 3) {
      throw new InvalidPathError("Cannot decode delta: bad entry");
    }
    const [path, code, value] = e;
    if (!Array.isArray(path) || path.length > MAX_PATH_DEPTH) {
      throw new InvalidPathError("Cannot decode delta: bad path");
    }
    for (const key of path) {
      if (typeof key !== "string") {
        throw new InvalidPathError("Cannot decode delta: bad key");
      }
      // the path is joined for the error message only (per key, it made
      // decoding quadratic in the depth)
      if (!plainKey(key)) checkKey(key, path.join("."));
    }
    const kind = KINDS[code as number];
    if (kind === undefined) {
      throw new InvalidPathError("Cannot decode delta: bad kind");
    }
    if (path.length === 0 && (kind === "set" || kind === "delete")) {
      throw new InvalidPathError(
        "Cannot decode delta: the root must stay an object",
      );
    }
    if (kind === "set") {
      checkLeaf(value);
      return { path, kind, value };
    }
    if (e.length !== 2) {
      throw new InvalidPathError("Cannot decode delta: stray value");
    }
    return { path, kind };
  });
  return { writer, seq, wall, counter, entries };
}

function isCount(n: unknown): n is number {
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
}

/**
 * Checks that `value` can be stored by a `set` entry: JSON, and not a plain
 * object (objects are stored key by key).
 * @throws {InvalidPathError} When it is not.
 */
export function checkLeaf(value: unknown): asserts value is JsonValue {
  if (isPlainObject(value)) {
    throw new InvalidPathError("A set entry cannot hold an object");
  }
  checkJson(value, 0);
}

/** Is `v` a plain JSON object (not null, not an array)? */
export function isPlainObject(v: unknown): v is Record<string, JsonValue> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * Checks that `v` is JSON: null, boolean, finite number, string, arrays and
 * plain objects of those, at most 64 levels deep.
 * @throws {InvalidPathError} When it is not.
 */
export function checkJson(v: unknown, depth = 0): asserts v is JsonValue {
  if (depth > 64) {
    throw new InvalidPathError("Value nested deeper than 64 levels");
  }
  if (v === null || typeof v === "boolean" || typeof v === "string") return;
  if (typeof v === "number") {
    if (!Number.isFinite(v)) {
      throw new InvalidPathError(`Not a JSON number: ${v}`);
    }
    return;
  }
  if (Array.isArray(v)) {
    for (const x of v) checkJson(x, depth + 1);
    return;
  }
  if (isPlainObject(v)) {
    for (const k of Object.keys(v)) checkJson(v[k], depth + 1);
    return;
  }
  throw new InvalidPathError(`Not a JSON value: ${typeof v}`);
}
