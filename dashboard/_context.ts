/**
 * The shared context as the dashboard sees it: the whole document, who
 * wrote each path and when (the last {@linkcode BOUNDS.writes} paths), and
 * which paths changed while a page is attached (past
 * {@linkcode BOUNDS.contextPathsPerTick} of them, the whole document goes
 * instead).
 *
 * @module
 */

import type { JsonObject, JsonValue } from "../mod.ts";
import type { DashboardUpdate, WriteView } from "./types.ts";
import { BOUNDS, trim, valueAt } from "./_tables.ts";

/** The context tree and its writers. */
export class ContextTree {
  /** The whole document. */
  doc: JsonObject = {};
  #writes = new Map<string, WriteView>();
  #dirtyPaths = new Set<string>();
  #full = false;
  #active = false;

  /** Whether changes are collected (a page is attached); forgets them either way. */
  setActive(active: boolean): void {
    this.#active = active;
    this.#dirtyPaths.clear();
    this.#full = false;
  }

  /** Who wrote each remembered path, and when. */
  writes(): Record<string, WriteView> {
    return Object.fromEntries(this.#writes);
  }

  /** Takes the document again (events were lost): a page gets all of it. */
  reload(doc: JsonObject): void {
    this.doc = doc;
    if (this.#active) this.#full = true;
  }

  /** Takes a `contextUpdated` event: `writer` changed the `changed` paths. */
  onUpdate(writer: string, doc: JsonObject, changed: string[]): void {
    this.doc = doc;
    const at = Date.now();
    for (const p of changed) {
      this.#writes.delete(p);
      this.#writes.set(p, { by: writer, at });
      if (this.#active && !this.#full) {
        this.#dirtyPaths.add(p);
        if (this.#dirtyPaths.size > BOUNDS.contextPathsPerTick) {
          this.#full = true;
          this.#dirtyPaths.clear();
        }
      }
    }
    trim(this.#writes, BOUNDS.writes, () => true);
  }

  /**
   * Puts what changed since the previous call in `u` (the changed paths'
   * values, or the whole document, and their writers); whether anything did.
   */
  collect(u: DashboardUpdate): boolean {
    if (!this.#full && this.#dirtyPaths.size === 0) return false;
    const writes: Record<string, WriteView> = {};
    if (this.#full) {
      u.context = { full: this.doc };
      for (const [p, w] of this.#writes) writes[p] = w;
    } else {
      // A path under another changed path goes with its ancestor.
      const paths = [...this.#dirtyPaths].sort();
      const set: [string, JsonValue | null][] = [];
      let last: string | undefined;
      for (const p of paths) {
        const w = this.#writes.get(p);
        if (w) writes[p] = w;
        if (last !== undefined && p.startsWith(`${last}.`)) continue;
        last = p;
        set.push([p, valueAt(this.doc, p) ?? null]);
      }
      u.context = { set };
    }
    u.writes = writes;
    this.#dirtyPaths.clear();
    this.#full = false;
    return true;
  }
}
