/**
 * Message-cache entries without an empty `Set` and `Map` each (internal).
 *
 * `@libp2p/gossipsub` 17.1.1 keeps every message it sends or receives in its
 * message cache for five heartbeats (for IWANT), and each entry is created
 * with an empty `Set` (peers that sent a copy before it was validated) and
 * an empty `Map` (IWANT counts per peer). Both stay empty for nearly every
 * message: the set is only filled while a message waits for an asynchronous
 * validator, the map only when a peer asks for the message by IWANT. They
 * were about a fifth of what each message left alive on the heap (measured:
 * ~340 of ~1,800 bytes), copied by every young-generation GC.
 *
 * {@linkcode patchMessageCache} gives a node's `MessageCache` instance the
 * same `put`, `observeDuplicate`, `getWithIWantCount`, `validate` and
 * `remove`, with both collections created when first needed; what callers
 * get back is what the package's own returns. A fix any user of the package
 * would want (see docs/PERFORMANCE.md).
 *
 * @module
 */

import type { WrittenFor } from "./_written_for.ts";

/** The version this adjustment was written for: it replaces five `MessageCache` methods and uses its `msgs`, `history` and `notValidatedCount`. */
export const MESSAGE_CACHE_WRITTEN_FOR: WrittenFor = {
  name: "@libp2p/gossipsub",
  version: "17.1.1",
  adjustment: "mesh/_message_cache.ts",
};

/** A cache entry; the two collections exist once used. */
interface Entry {
  message: { topic: string };
  validated: boolean;
  originatingPeers?: Set<string>;
  iwantCounts?: Map<string, number>;
}

/** What the adjustment uses of a `MessageCache`. */
interface CacheFields {
  msgs: Map<string, Entry>;
  history: { msgId: Uint8Array; msgIdStr: string; topic: string }[][];
  notValidatedCount: number;
}

const METHODS = [
  "put",
  "observeDuplicate",
  "getWithIWantCount",
  "validate",
  "remove",
] as const;

/** `MessageCache.put`, without the two empty collections. */
function put(
  this: CacheFields,
  messageId: { msgId: Uint8Array; msgIdStr: string },
  msg: { topic: string },
  validated = false,
): boolean {
  const { msgId, msgIdStr } = messageId;
  if (this.msgs.has(msgIdStr)) return false;
  this.msgs.set(msgIdStr, { message: msg, validated });
  this.history[0].push({ msgId, msgIdStr, topic: msg.topic });
  if (!validated) this.notValidatedCount++;
  return true;
}

/** `MessageCache.observeDuplicate`: the set made at the first copy. */
function observeDuplicate(
  this: CacheFields,
  msgIdStr: string,
  fromPeerIdStr: string,
): void {
  const entry = this.msgs.get(msgIdStr);
  if (entry !== undefined && !entry.validated) {
    (entry.originatingPeers ??= new Set()).add(fromPeerIdStr);
  }
}

/** `MessageCache.getWithIWantCount`: the map made at the first IWANT. */
function getWithIWantCount(
  this: CacheFields,
  msgIdStr: string,
  p: string,
): { msg: unknown; count: number } | null {
  const entry = this.msgs.get(msgIdStr);
  if (entry === undefined) return null;
  const counts = entry.iwantCounts ??= new Map();
  const count = (counts.get(p) ?? 0) + 1;
  counts.set(p, count);
  return { msg: entry.message, count };
}

/** `MessageCache.validate`: the peers that sent copies (a set, as before). */
function validate(
  this: CacheFields,
  msgIdStr: string,
): { message: unknown; originatingPeers: Set<string> } | null {
  const entry = this.msgs.get(msgIdStr);
  if (entry === undefined) return null;
  if (!entry.validated) this.notValidatedCount--;
  const originatingPeers = entry.originatingPeers ?? new Set<string>();
  entry.validated = true;
  entry.originatingPeers = undefined;
  return { message: entry.message, originatingPeers };
}

/** `MessageCache.remove`: the entry, with both collections (as before). */
function remove(this: CacheFields, msgIdStr: string): Entry | null {
  const entry = this.msgs.get(msgIdStr);
  if (entry === undefined) return null;
  this.msgs.delete(msgIdStr);
  entry.originatingPeers ??= new Set();
  entry.iwantCounts ??= new Map();
  return entry;
}

const REPLACEMENTS = {
  put,
  observeDuplicate,
  getWithIWantCount,
  validate,
  remove,
};

/**
 * Applies the adjustment to the message cache of a running GossipSub
 * service (its `mcache` field), once.
 *
 * @param pubsub The GossipSub service.
 * @throws {Error} When the package no longer has what it replaces.
 */
export function patchMessageCache(pubsub: object): void {
  const cache = (pubsub as { mcache?: Record<string, unknown> }).mcache;
  const ok = cache !== undefined && cache.msgs instanceof Map &&
    Array.isArray(cache.history) &&
    typeof cache.notValidatedCount === "number" &&
    METHODS.every((m) => typeof cache[m] === "function");
  if (!ok) {
    throw new Error(
      "@libp2p/gossipsub's message cache has changed: mesh/_message_cache.ts no longer applies",
    );
  }
  Object.assign(cache, REPLACEMENTS);
}
