/**
 * GossipSub's seen caches without an object per entry (internal).
 *
 * `@libp2p/gossipsub` 17.1.1 remembers every message id it saw or sent for
 * `seenTTL` (30 s here, see `SEEN_TTL_MS`) in `SimpleTimeCache`s: the seen
 * cache, the fast-id cache (received messages) and the published ids (sent
 * messages, never read back, kept for a metric of their count). Each entry
 * is a map entry whose value is a fresh `{ value, validUntilMs }` object,
 * and the expiry time in it a boxed number: at 1,000 messages a second
 * 30,000 of each per cache, every one copied by the young-generation
 * collections that see it and promoted. They were about a third of what a
 * message leaves alive on the heap of its sender and receiver together.
 *
 * {@linkcode patchTimeCaches} gives those three caches of a GossipSub
 * service, before they hold anything, the same methods over a different
 * layout: the map keeps each key's position in insertion order (a small
 * integer), and the keys, values and expiry times sit in arrays in that
 * order (the times unboxed; no value array for a cache that keeps none).
 * Expiry is by insertion order as in the package (`prune` stops at the
 * first entry still valid), `get` still answers only for an entry that has
 * not expired, `has` still for any entry not pruned, `put` of a known key
 * still reports the collision and changes nothing, and `size` is the map's
 * as before. A fix any user of the package would want (see
 * docs/PERFORMANCE.md).
 *
 * @module
 */

import type { WrittenFor } from "./_written_for.ts";

/** The version this adjustment was written for: it replaces four `SimpleTimeCache` methods and reads `entries` and `validityMs`. */
export const TIME_CACHE_WRITTEN_FOR: WrittenFor = {
  name: "@libp2p/gossipsub",
  version: "17.1.1",
  adjustment: "mesh/_time_cache.ts",
};

/** The GossipSub fields that hold the caches the adjustment applies to. */
export const TIME_CACHE_FIELDS = [
  "seenCache",
  "fastMsgIdCache",
  "publishedMessageIds",
] as const;

/** The cache methods the adjustment replaces (`has` and `size` read the map as before). */
export const TIME_CACHE_METHODS = ["put", "get", "prune", "clear"] as const;

/** Positions are rebased before they leave the small-integer range. */
const MAX_POSITION = 2 ** 29;

/** Where the entries are (one per cache). */
interface Layout {
  /** Keys in insertion order from `head` on (`undefined`: pruned). */
  keys: (string | undefined)[];
  /** Values, in the same order; `undefined` until a value is put. */
  values: unknown[] | undefined;
  /** Expiry times (ms), in the same order. */
  until: number[];
  /** The first index not pruned. */
  head: number;
  /** The position of `keys[0]` (positions only grow, until a rebase). */
  base: number;
}

/** What the adjustment uses of a `SimpleTimeCache`. */
interface TimeCache {
  /** Key → position, once patched. */
  entries: Map<string, number>;
  validityMs: number;
  [LAYOUT]: Layout;
}

const LAYOUT = Symbol("avi.timeCache");

function empty(): Layout {
  return { keys: [], values: undefined, until: [], head: 0, base: 0 };
}

function put(this: TimeCache, key: string, value?: unknown): boolean {
  if (this.entries.has(key)) return true;
  const l = this[LAYOUT];
  const i = l.keys.length;
  this.entries.set(key, l.base + i);
  l.keys.push(key);
  l.until.push(Date.now() + this.validityMs);
  if (value !== undefined) (l.values ??= [])[i] = value;
  return false;
}

function get(this: TimeCache, key: string): unknown {
  const p = this.entries.get(key);
  if (p === undefined) return undefined;
  const l = this[LAYOUT];
  const i = p - l.base;
  return l.until[i] >= Date.now() ? l.values?.[i] : undefined;
}

function prune(this: TimeCache): void {
  const now = Date.now();
  const l = this[LAYOUT];
  let h = l.head;
  while (h < l.keys.length && l.until[h] < now) {
    this.entries.delete(l.keys[h]!);
    l.keys[h] = undefined;
    if (l.values !== undefined) l.values[h] = undefined;
    h++;
  }
  l.head = h;
  // Drop the pruned front once it is half of the arrays (amortised O(1)).
  if (h >= 1024 && h * 2 >= l.keys.length) {
    l.keys = l.keys.slice(h);
    l.until = l.until.slice(h);
    l.values = l.values?.slice(h);
    l.base += h;
    l.head = 0;
  }
  if (l.base > MAX_POSITION) {
    for (const [k, p] of this.entries) this.entries.set(k, p - l.base);
    l.base = 0;
  }
}

function clear(this: TimeCache): void {
  this.entries.clear();
  this[LAYOUT] = empty();
}

const REPLACEMENTS = { put, get, prune, clear };

/**
 * Applies the adjustment to one `SimpleTimeCache`, before it holds
 * anything.
 *
 * @param cache The cache.
 * @throws {Error} When the package's cache no longer has what it replaces,
 *   or the cache already holds entries.
 */
export function patchTimeCache(cache: object): void {
  const c = cache as Record<string | symbol, unknown>;
  const ok = c.entries instanceof Map && typeof c.validityMs === "number" &&
    typeof c.has === "function" &&
    TIME_CACHE_METHODS.every((m) => typeof c[m] === "function");
  if (!ok) {
    throw new Error(
      "@libp2p/gossipsub's time cache has changed: mesh/_time_cache.ts no longer applies",
    );
  }
  if ((c.entries as Map<unknown, unknown>).size > 0) {
    throw new Error("mesh/_time_cache.ts: the cache already holds entries");
  }
  c[LAYOUT] = empty();
  Object.assign(c, REPLACEMENTS);
}

/**
 * Applies the adjustment to the seen, fast-id and published-id caches of a
 * GossipSub service (those it has: the fast-id cache exists only with a
 * fast id function), once, before any message.
 *
 * @param pubsub The GossipSub service.
 * @throws {Error} When the package no longer has the seen cache, or a
 *   cache no longer fits (see {@linkcode patchTimeCache}).
 */
export function patchTimeCaches(pubsub: object): void {
  const p = pubsub as Record<string, object | undefined>;
  if (p.seenCache === undefined) {
    throw new Error(
      "@libp2p/gossipsub has no seenCache: mesh/_time_cache.ts no longer applies",
    );
  }
  for (const f of TIME_CACHE_FIELDS) {
    const cache = p[f];
    if (cache !== undefined) patchTimeCache(cache);
  }
}
