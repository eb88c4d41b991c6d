/**
 * Message-cache entries the garbage collector can skip (internal).
 *
 * `@libp2p/gossipsub` 17.1.1 keeps every message it sends or receives in its
 * message cache for five heartbeats (for IWANT). Each entry was the decoded
 * message object (`from`, `data`, `seqno`, `signature` as four `Uint8Array`
 * views, a fresh `topic` string), a history record `{ msgId, msgIdStr,
 * topic }` with its own `Uint8Array`, and an empty `Set` (peers that sent a
 * copy before an asynchronous validator answered) and `Map` (IWANT counts).
 * All of it outlives the young generation, so every scavenge copied it once
 * and promoted it: at 1,000 messages a second the cache was most of what a
 * scavenge copied, and the scavenges (2–4 ms each) were the mesh's tail.
 *
 * {@linkcode patchMessageCache} gives a node's `MessageCache` instance the
 * same `put`, `get`, `observeDuplicate`, `getWithIWantCount`,
 * `getGossipIDs`, `validate`, `shift` and `remove`, storing each message's
 * bytes (and its id) in one packed array whose contents live outside the
 * JS heap, the topic as one shared string, the history as flat lists of
 * id strings and topics, and the two collections only once used. A message
 * is unpacked (views into the packed array) only when somebody asks for it:
 * by IWANT, or after an asynchronous validation. What callers get back is
 * what the package's own returns. A fix any user of the package would want
 * (see docs/PERFORMANCE.md).
 *
 * @module
 */

import type { WrittenFor } from "./_written_for.ts";
import { slabBytes } from "../core/slab.ts";

/** The version this adjustment was written for: it replaces eight `MessageCache` methods and uses its `msgs`, `history`, `gossip`, `msgIdToStrFn` and `notValidatedCount`. */
export const MESSAGE_CACHE_WRITTEN_FOR: WrittenFor = {
  name: "@libp2p/gossipsub",
  version: "17.1.1",
  adjustment: "mesh/_message_cache.ts",
};

/** The byte fields of a GossipSub message, in packing order. */
const FIELDS = ["from", "data", "seqno", "signature", "key"] as const;
type Field = typeof FIELDS[number];

/** A message as the cache is given it. */
type Message = { topic: string } & Partial<Record<Field, Uint8Array>>;

/**
 * A cache entry: the message packed (or, when it has anything packing does
 * not keep, as given), its id's bytes, and the collections once used.
 */
interface Entry {
  packed: Uint8Array | undefined;
  message: Message | undefined;
  msgId: Uint8Array | undefined;
  topic: string;
  validated: boolean;
  originatingPeers?: Set<string>;
  iwantCounts?: Map<string, number>;
}

/** What the adjustment uses of a `MessageCache`. */
interface CacheFields {
  msgs: Map<string, Entry>;
  /** Per heartbeat, newest first: `[msgIdStr, topic, msgIdStr, topic, ...]`. */
  history: string[][];
  gossip: number;
  msgIdToStrFn: (msgId: Uint8Array) => string;
  notValidatedCount: number;
  /** The one string kept per topic name. */
  topicNames?: Map<string, string>;
}

/** The methods the adjustment sets on a cache instance. */
export const MESSAGE_CACHE_METHODS = [
  "put",
  "get",
  "observeDuplicate",
  "getWithIWantCount",
  "getGossipIDs",
  "validate",
  "shift",
  "remove",
] as const;

/** Topic names kept for sharing before the table starts again. */
const MAX_TOPIC_NAMES = 1024;

/** The shared instance of a topic name. */
function topicName(cache: CacheFields, topic: string): string {
  const names = cache.topicNames ??= new Map();
  const known = names.get(topic);
  if (known !== undefined) return known;
  if (names.size >= MAX_TOPIC_NAMES) names.clear();
  names.set(topic, topic);
  return topic;
}

/**
 * Packs the message's byte fields and the id into one array:
 * `[presence mask][u32 length of each present field, then of the id][bytes]`.
 * A field that is `undefined` is absent (as in its protobuf encoding).
 * Undefined when the message has anything else (kept as given then).
 */
function pack(msg: Message, msgId: Uint8Array): Uint8Array | undefined {
  let count = 0;
  for (const k in msg) {
    if (k === "topic") continue;
    const v = (msg as Record<string, unknown>)[k];
    if (v === undefined) continue;
    if (!(v instanceof Uint8Array) || !FIELDS.includes(k as Field)) {
      return undefined;
    }
    count++;
  }
  let mask = 0;
  let bytes = msgId.length;
  for (let i = 0; i < FIELDS.length; i++) {
    const v = msg[FIELDS[i]];
    if (v !== undefined) {
      mask |= 1 << i;
      bytes += v.length;
    }
  }
  const head = 1 + 4 * (count + 1);
  const out = slabBytes(head + bytes);
  out[0] = mask;
  let at = 1;
  let off = head;
  const put = (v: Uint8Array) => {
    const n = v.length;
    out[at] = n >>> 24;
    out[at + 1] = (n >>> 16) & 0xff;
    out[at + 2] = (n >>> 8) & 0xff;
    out[at + 3] = n & 0xff;
    at += 4;
    out.set(v, off);
    off += n;
  };
  for (const k of FIELDS) {
    const v = msg[k];
    if (v !== undefined) put(v);
  }
  put(msgId);
  return out;
}

/** The packed fields and id as views into `packed`, in packing order. */
function unpackAll(packed: Uint8Array): Uint8Array[] {
  const mask = packed[0];
  let n = 1; // the id
  for (let i = 0; i < FIELDS.length; i++) if (mask & (1 << i)) n++;
  const out: Uint8Array[] = [];
  let at = 1;
  let off = 1 + 4 * n;
  for (let i = 0; i < n; i++) {
    const len = ((packed[at] << 24) >>> 0) + (packed[at + 1] << 16) +
      (packed[at + 2] << 8) + packed[at + 3];
    at += 4;
    out.push(packed.subarray(off, off + len));
    off += len;
  }
  return out;
}

/** The message of an entry, as it was given (byte fields as views). */
function messageOf(entry: Entry): Message {
  if (entry.packed === undefined) return entry.message!;
  const parts = unpackAll(entry.packed);
  const msg: Message = { topic: entry.topic };
  let p = 0;
  for (let i = 0; i < FIELDS.length; i++) {
    if (entry.packed[0] & (1 << i)) msg[FIELDS[i]] = parts[p++];
  }
  return msg;
}

/** The id's bytes of an entry. */
function msgIdOf(entry: Entry): Uint8Array {
  if (entry.packed === undefined) return entry.msgId!;
  const parts = unpackAll(entry.packed);
  return parts[parts.length - 1];
}

/** `MessageCache.put`: one packed array, the shared topic, a flat history. */
function put(
  this: CacheFields,
  messageId: { msgId: Uint8Array; msgIdStr: string },
  msg: Message,
  validated = false,
): boolean {
  const { msgId, msgIdStr } = messageId;
  if (this.msgs.has(msgIdStr)) return false;
  const topic = topicName(this, msg.topic);
  const packed = pack(msg, msgId);
  this.msgs.set(msgIdStr, {
    packed,
    message: packed === undefined ? msg : undefined,
    msgId: packed === undefined ? msgId : undefined,
    topic,
    validated,
  });
  this.history[0].push(msgIdStr, topic);
  if (!validated) this.notValidatedCount++;
  return true;
}

/** `MessageCache.get`. */
function get(this: CacheFields, msgId: Uint8Array): Message | undefined {
  const entry = this.msgs.get(this.msgIdToStrFn(msgId));
  return entry === undefined ? undefined : messageOf(entry);
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
): { msg: Message; count: number } | null {
  const entry = this.msgs.get(msgIdStr);
  if (entry === undefined) return null;
  const counts = entry.iwantCounts ??= new Map();
  const count = (counts.get(p) ?? 0) + 1;
  counts.set(p, count);
  return { msg: messageOf(entry), count };
}

/** `MessageCache.getGossipIDs`, over the flat history. */
function getGossipIDs(
  this: CacheFields,
  topics: Set<string>,
): Map<string, Uint8Array[]> {
  const byTopic = new Map<string, Uint8Array[]>();
  for (let i = 0; i < this.gossip; i++) {
    const h = this.history[i];
    for (let j = 0; j < h.length; j += 2) {
      const entry = this.msgs.get(h[j]);
      const topic = h[j + 1];
      if (entry?.validated && topics.has(topic)) {
        let ids = byTopic.get(topic);
        if (ids === undefined) byTopic.set(topic, ids = []);
        ids.push(msgIdOf(entry));
      }
    }
  }
  return byTopic;
}

/** `MessageCache.validate`: the peers that sent copies (a set, as before). */
function validate(
  this: CacheFields,
  msgIdStr: string,
): { message: Message; originatingPeers: Set<string> } | null {
  const entry = this.msgs.get(msgIdStr);
  if (entry === undefined) return null;
  if (!entry.validated) this.notValidatedCount--;
  const originatingPeers = entry.originatingPeers ?? new Set<string>();
  entry.validated = true;
  entry.originatingPeers = undefined;
  return { message: messageOf(entry), originatingPeers };
}

/** `MessageCache.shift`, over the flat history. */
function shift(this: CacheFields): void {
  const last = this.history[this.history.length - 1];
  for (let j = 0; j < last.length; j += 2) {
    const entry = this.msgs.get(last[j]);
    if (entry !== undefined) {
      this.msgs.delete(last[j]);
      if (!entry.validated) this.notValidatedCount--;
    }
  }
  this.history.pop();
  this.history.unshift([]);
}

/** `MessageCache.remove`: what callers read of the entry (as before). */
function remove(
  this: CacheFields,
  msgIdStr: string,
): {
  message: Message;
  validated: boolean;
  originatingPeers: Set<string>;
  iwantCounts: Map<string, number>;
} | null {
  const entry = this.msgs.get(msgIdStr);
  if (entry === undefined) return null;
  this.msgs.delete(msgIdStr);
  return {
    message: messageOf(entry),
    validated: entry.validated,
    originatingPeers: entry.originatingPeers ?? new Set(),
    iwantCounts: entry.iwantCounts ?? new Map(),
  };
}

const REPLACEMENTS = {
  put,
  get,
  observeDuplicate,
  getWithIWantCount,
  getGossipIDs,
  validate,
  shift,
  remove,
};

/**
 * Applies the adjustment to the message cache of a running GossipSub
 * service (its `mcache` field), once, before anything was cached.
 *
 * @param pubsub The GossipSub service.
 * @throws {Error} When the package no longer has what it replaces, or the
 *   cache already holds messages.
 */
export function patchMessageCache(pubsub: object): void {
  const cache = (pubsub as { mcache?: Record<string, unknown> }).mcache;
  const history = cache?.history;
  const ok = cache !== undefined && cache.msgs instanceof Map &&
    Array.isArray(history) && history.every((h) => Array.isArray(h)) &&
    typeof cache.gossip === "number" &&
    typeof cache.msgIdToStrFn === "function" &&
    typeof cache.notValidatedCount === "number" &&
    MESSAGE_CACHE_METHODS.every((m) => typeof cache[m] === "function");
  if (!ok) {
    throw new Error(
      "@libp2p/gossipsub's message cache has changed: mesh/_message_cache.ts no longer applies",
    );
  }
  if (
    (cache.msgs as Map<string, unknown>).size > 0 ||
    history.some((h) => h.length > 0)
  ) {
    throw new Error(
      "mesh/_message_cache.ts: the message cache already holds messages",
    );
  }
  Object.assign(cache, REPLACEMENTS);
}
