/**
 * Small helpers over JSON values shared by the context's files: a copy that
 * leaves scalars alone, and deep equality ({@linkcode jsonEqual}, public
 * through `doc.ts`).
 *
 * @module
 */

import type { JsonObject, JsonValue } from "../core/events.ts";

/** A deep copy of an object or array; a scalar as it is. */
export function copy<T extends JsonValue>(v: T): T {
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
