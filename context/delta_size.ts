/**
 * What a merge patch costs as a delta, counted without making it
 * ({@linkcode deltaBytes}).
 *
 * `ContextDoc.update` compiles a patch into entries (`_patch.ts`) and
 * encodes them (`delta.ts`, MessagePack); a gateway asks this for every
 * sensor reading it admits, where compiling and encoding cost more than
 * everything else the reading costs. This walks the patch once with the
 * same checks, in the same order (so the same refusals), and adds up the
 * MessagePack sizes the encoder would write (the sizes are the codec's
 * own, `protocol/msgpack.ts`). `delta_size_test.ts` checks that
 * the two agree, byte for byte and refusal for refusal.
 *
 * @module
 */

import { InvalidPathError, TooLargeError } from "../core/errors.ts";
import type { JsonObject, JsonValue } from "../core/events.ts";
import {
  intBytes,
  lenHeaderBytes,
  strHeaderBytes,
} from "../protocol/msgpack.ts";
import { utf8Length } from "../protocol/utf8.ts";
import {
  checkLeaf,
  DEFAULT_MAX_DELTA_BYTES,
  DELTA_FORMAT,
  isPlainObject,
} from "./delta.ts";
import { checkKey, formatPath, MAX_PATH_DEPTH, plainKey } from "./path.ts";

/** The bytes of a MessagePack string. */
function strSize(s: string): number {
  const n = utf8Length(s);
  return strHeaderBytes(n) + n;
}

/** The bytes of a checked JSON value, as the context's encoder writes it. */
function valueSize(v: JsonValue): number {
  if (v === null || typeof v === "boolean") return 1;
  if (typeof v === "number") return Number.isSafeInteger(v) ? intBytes(v) : 9;
  if (typeof v === "string") return strSize(v);
  if (Array.isArray(v)) {
    let n = lenHeaderBytes(v.length);
    for (const x of v) n += valueSize(x);
    return n;
  }
  const keys = Object.keys(v);
  let n = lenHeaderBytes(keys.length);
  for (const k of keys) n += strSize(k) + valueSize(v[k]);
  return n;
}

/** Entries and their bytes so far. */
interface Count {
  entries: number;
  bytes: number;
}

function walk(
  patch: JsonObject,
  path: string[],
  pathBytes: number,
  count: Count,
): void {
  const keys = Object.keys(patch);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    path.push(key);
    if (!plainKey(key)) checkKey(key, formatPath(path));
    if (path.length > MAX_PATH_DEPTH) {
      throw new InvalidPathError(
        `Patch deeper than ${MAX_PATH_DEPTH} levels`,
      );
    }
    const v = patch[key];
    const keyBytes = pathBytes + strSize(key);
    // [path, kind] or [path, kind, value]: a fixarray, the path, the kind
    const entry = 1 + lenHeaderBytes(path.length) + keyBytes + 1;
    if (v === null) {
      // deletes nothing in an empty replica: no entry
    } else if (isPlainObject(v)) {
      count.entries++;
      count.bytes += entry;
      walk(v, path, keyBytes, count);
    } else {
      checkLeaf(v);
      count.entries++;
      count.bytes += entry + valueSize(v);
    }
    path.pop();
  }
}

/**
 * The bytes of the delta that `ContextDoc.update` would make of `patch` in
 * a replica that holds nothing under the patch's keys, with the same checks,
 * without a replica: an upper bound of what the patch costs in any replica
 * (one that already holds some of it writes fewer entries). A gateway checks
 * every sensor reading with it before the reading joins a context write.
 *
 * @param patch An RFC 7396 merge patch.
 * @param replicaId The writer id the delta would carry.
 * @param maxDeltaBytes The bound to check against (a replica's default).
 * @returns The bytes, or 0 when the patch changes nothing.
 * @throws {InvalidPathError} As `ContextDoc.update`: a bad key, too deep,
 * or a non-JSON value.
 * @throws {TooLargeError} Over `maxDeltaBytes`.
 *
 * @example
 * ```ts
 * import { deltaBytes } from "@avi/p2p/context";
 * const n = deltaBytes({ avi: { sensors: { "7": { temp: 21.5 } } } });
 * console.log(n > 0); // true
 * ```
 */
export function deltaBytes(
  patch: JsonObject,
  replicaId = "x",
  maxDeltaBytes: number = DEFAULT_MAX_DELTA_BYTES,
): number {
  if (!isPlainObject(patch)) {
    throw new InvalidPathError("A merge patch must be an object");
  }
  const count: Count = { entries: 0, bytes: 0 };
  walk(patch, [], 0, count);
  if (count.entries === 0) return 0;
  // [format, writer, seq, wall, counter, entries]: the first delta of
  // `replicaId` (sequence 1, counter 0) at the current wall clock
  const n = 1 + intBytes(DELTA_FORMAT) + strSize(replicaId) + intBytes(1) +
    intBytes(Date.now()) + intBytes(0) + lenHeaderBytes(count.entries) +
    count.bytes;
  if (n > maxDeltaBytes) throw new TooLargeError("delta", n, maxDeltaBytes);
  return n;
}
