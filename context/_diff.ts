// Changed-path diff of two JSON values (private helper of doc.ts).
import type { JsonObject, JsonValue } from "../core/events.ts";

function isObj(v: JsonValue | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function equal(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Pushes onto `out` the dotted paths under `path` whose value differs between
 * `a` and `b`: leaves that changed, appeared or vanished; a path that turned
 * from object to scalar (or back) is reported itself, plus its leaves.
 */
export function diffValues(
  a: JsonValue | undefined,
  b: JsonValue | undefined,
  path: readonly string[],
  out: string[],
): void {
  if (isObj(a) && isObj(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      diffValues(a[k], b[k], [...path, k], out);
    }
    return;
  }
  if (!isObj(a) && !isObj(b)) {
    if (!equal(a, b)) out.push(path.join("."));
    return;
  }
  const o = (isObj(a) ? a : b) as JsonObject;
  const other = isObj(a) ? b : a;
  const keys = Object.keys(o);
  if (other !== undefined || keys.length === 0) out.push(path.join("."));
  for (const k of keys) {
    diffValues(isObj(a) ? a[k] : undefined, isObj(b) ? b[k] : undefined, [
      ...path,
      k,
    ], out);
  }
}
