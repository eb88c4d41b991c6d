/**
 * The document as `contextUpdated` events carry it: frozen, and shared
 * between events while nothing under a node changed, so that an event
 * costs the paths that changed (and the keys of the objects on them), not
 * the whole document. `RegisterTree` drops a node's cached view whenever
 * anything at or under it may change; {@linkcode jsonBytes} knows the size
 * of every view without walking it again.
 *
 * @module
 */

import type { JsonObject, JsonValue } from "../core/events.ts";
import type { Node } from "./_tree.ts";

/** The estimated bytes of each view object (see {@linkcode jsonBytes}). */
const BYTES = new WeakMap<object, number>();

/** The most values {@linkcode jsonBytes} walks (a tree, never a cycle, is expected). */
const MAX_WALK = 4_000_000;

/**
 * A cheap estimate of the memory of a JSON value: string lengths, 8 bytes
 * per number, boolean, null, array slot and object entry. No recursion, so
 * any depth is fine; it stops after 4 million values. A view from
 * {@linkcode view} counts at once.
 */
export function jsonBytes(value: unknown): number {
  let n = 0;
  let budget = MAX_WALK;
  const todo: unknown[] = [value];
  while (todo.length > 0 && budget-- > 0) {
    const v = todo.pop();
    if (typeof v === "string") n += v.length + 8;
    else if (typeof v !== "object" || v === null) n += 8;
    else if (BYTES.has(v)) n += BYTES.get(v)!;
    else if (Array.isArray(v)) {
      n += 8;
      for (const x of v) todo.push(x);
    } else {
      n += 8;
      for (const k of Object.keys(v)) {
        n += k.length + 8;
        todo.push((v as Record<string, unknown>)[k]);
      }
    }
  }
  return n;
}

/** `v`, frozen all the way down. */
function frozen<T extends JsonValue>(v: T): T {
  if (typeof v !== "object" || v === null || Object.isFrozen(v)) return v;
  if (Array.isArray(v)) { for (const x of v) frozen(x); }
  else for (const k of Object.keys(v)) frozen((v as JsonObject)[k]);
  return Object.freeze(v);
}

/** The visible value of a node (see {@linkcode view}); its size in `node.viewBytes`. */
function build(node: Node): JsonValue | undefined {
  const reg = node.reg;
  if (!reg || reg.kind === "delete") return undefined;
  if (node.view !== undefined) return node.view;
  if (reg.kind === "set") {
    const v = reg.value!;
    node.viewBytes = jsonBytes(v);
    if (typeof v !== "object" || v === null) return v;
    return node.view = frozen(structuredClone(v));
  }
  const out: JsonObject = {};
  let bytes = 8;
  for (const [k, child] of node.children ?? []) {
    const v = build(child);
    if (v === undefined) continue;
    out[k] = v;
    bytes += k.length + 8 + child.viewBytes!;
  }
  node.viewBytes = bytes;
  return node.view = Object.freeze(out);
}

/**
 * The visible value of a node, frozen: the same object as the last call's
 * for every node under which nothing changed since. `undefined` when the
 * node shows nothing. {@linkcode jsonBytes} knows the size of what it
 * returns without walking it.
 */
export function view(node: Node): JsonValue | undefined {
  const v = build(node);
  if (typeof v === "object" && v !== null) BYTES.set(v, node.viewBytes!);
  return v;
}
