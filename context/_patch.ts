/**
 * Local changes as delta entries: an RFC 7396 merge patch compiled against
 * the visible document ({@linkcode compilePatch}), and a whole object as the
 * entries that write it ({@linkcode flatten}). Helpers of `doc.ts`.
 *
 * @module
 */

import { InvalidPathError } from "../core/errors.ts";
import type { JsonObject } from "../core/events.ts";
import { checkLeaf, type DeltaEntry, isPlainObject } from "./delta.ts";
import { checkKey, formatPath, MAX_PATH_DEPTH, plainKey } from "./path.ts";
import { copy, jsonEqual } from "./_json.ts";
import type { Node } from "./_tree.ts";

/**
 * Pushes onto `out` the entries of `patch` applied at `path`, skipping what
 * would change nothing. `node`: the visible object node at `path`, or
 * undefined if none.
 */
export function compilePatch(
  patch: JsonObject,
  path: string[],
  node: Node | undefined,
  out: DeltaEntry[],
): void {
  for (const key of Object.keys(patch)) {
    const p = [...path, key];
    if (!plainKey(key)) checkKey(key, formatPath(p));
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
      compilePatch(v, p, isObject ? child : undefined, out);
    } else {
      checkLeaf(v);
      const cur = child?.reg?.kind === "set" ? child.reg.value : undefined;
      if (isObject || !jsonEqual(cur, v)) {
        out.push({ path: p, kind: "set", value: copy(v) });
      }
    }
  }
}

/** Pushes onto `out` the entries that write `obj` at `path` (empty objects included). */
export function flatten(
  obj: JsonObject,
  path: string[],
  out: DeltaEntry[],
): void {
  for (const key of Object.keys(obj)) {
    const p = [...path, key];
    if (!plainKey(key)) checkKey(key, formatPath(p));
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
