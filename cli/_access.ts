/**
 * What the one-shot commands (`pub`, `sub`, `ctx`, `peers`) need from the
 * mesh, as one interface with two implementations: {@linkcode LocalAccess}
 * over a node's handle in this process (a node of `avi node` / `avi gateway`
 * serving its control endpoint, or a short-lived node the command started
 * itself), and `HttpAccess` (in `_http_access.ts`) over a running node's
 * control endpoint.
 *
 * @module
 */

import type { AviP2pHandle, JsonValue, MessageEvent, PeerId } from "../mod.ts";
import { CliError } from "./_args.ts";

/** A message as the commands print it. */
export interface MeshMessage {
  /** When this node received it, ms since the Unix epoch. */
  ts: number;
  /** Its signed author. */
  from: string;
  /** Its topic. */
  topic: string;
  /** Its payload. */
  data: Uint8Array;
}

/** A change of the shared context, as `ctx watch` prints it. */
export interface ContextChange {
  /** When, ms since the Unix epoch. */
  ts: number;
  /** Its writer. */
  peerId: string;
  /** The dotted paths that changed. */
  changedPaths: string[];
  /** The value at the watched path afterwards (`null` when absent). */
  value: JsonValue;
}

/** A peer, as `avi peers` prints it. */
export interface PeerRow {
  peerId: string;
  /** Its node name (Identify agent version), once known. */
  name?: string;
  addresses: string[];
  connected: boolean;
  /** Round-trip time of one ping, ms (absent when the ping failed). */
  rttMs?: number;
}

/** Options of a publish. */
export interface PublishOptions {
  /** Wait until at least this many peers subscribe to the topic. */
  minSubscribers: number;
  /** How long to wait for them, ms. */
  timeoutMs: number;
}

/** The mesh as the one-shot commands see it. */
export interface MeshAccess {
  /** Where it runs (for messages). */
  readonly description: string;
  /**
   * Publishes once `minSubscribers` peers have the topic.
   * @returns How many peers it was sent to.
   * @throws {CliError} Nobody (or too few) subscribed within the timeout.
   */
  publish(
    topic: string,
    data: Uint8Array,
    options: PublishOptions,
  ): Promise<number>;
  /** Messages on `topics` until `signal` aborts. */
  messages(topics: string[], signal: AbortSignal): AsyncIterable<MeshMessage>;
  /** The converged context, or the value at `path`. */
  getContext(path?: string): Promise<JsonValue | undefined>;
  /** Sets `path` to `value`; resolves with the changed paths. */
  setContext(path: string, value: JsonValue): Promise<string[]>;
  /** Deletes `path`; resolves with the changed paths. */
  deleteContext(path: string): Promise<string[]>;
  /** Changes at or below `path` (the whole context when omitted) until `signal` aborts. */
  watchContext(
    path: string | undefined,
    signal: AbortSignal,
  ): AsyncIterable<ContextChange>;
  /** The peers in view. */
  peers(): Promise<PeerRow[]>;
  /**
   * Catches up with the peers' shared context (see
   * `AviP2pHandle.syncContext`); a running node is caught up already.
   * @returns Whether every connected peer was caught up with in time.
   */
  syncContext(timeoutMs: number): Promise<boolean>;
  /** Releases what the access holds (a short-lived node stops). */
  close(): Promise<void>;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Is `path` (dotted) at or below `base` (everything when base is empty)? */
export function underPath(path: string, base: string | undefined): boolean {
  return !base || path === base || path.startsWith(`${base}.`) ||
    base.startsWith(`${path}.`);
}

/** The value at a dotted path of a document, or null. */
function valueAt(doc: JsonValue, path: string | undefined): JsonValue {
  if (!path) return doc;
  let v: JsonValue | undefined = doc;
  for (const key of path.split(".")) {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return null;
    v = (v as Record<string, JsonValue>)[key];
    if (v === undefined) return null;
  }
  return v;
}

/**
 * The mesh through a node's handle in this process. Subscriptions made for
 * `messages` are counted, so that two readers of one topic share it and a
 * topic the node was subscribed to before stays subscribed. A message
 * published through this access also reaches this access's own readers of
 * its topic (as an MQTT broker delivers to all its clients), and they count
 * as subscribers.
 */
export class LocalAccess implements MeshAccess {
  readonly #h: AviP2pHandle;
  readonly #stop: (() => Promise<void>) | undefined;
  #subs = new Map<string, number>();
  #local = new Map<string, Set<(m: MeshMessage) => void>>();
  #self: string;
  readonly description: string;

  /**
   * @param handle The node's handle.
   * @param options `selfId`: the node's peer id (the author of what it
   * publishes, for local readers); `description`: where it runs; `stop`:
   * called by `close` (for a node this access started).
   */
  constructor(
    handle: AviP2pHandle,
    options: {
      selfId: string;
      description: string;
      stop?: () => Promise<void>;
    },
  ) {
    this.#h = handle;
    this.description = options.description;
    this.#stop = options.stop;
    this.#self = options.selfId;
  }

  syncContext(timeoutMs: number): Promise<boolean> {
    return this.#h.syncContext({ timeoutMs });
  }

  async publish(
    topic: string,
    data: Uint8Array,
    { minSubscribers, timeoutMs }: PublishOptions,
  ): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    const local = () => this.#local.get(topic)?.size ?? 0;
    let have = (await this.#h.topicPeers(topic)).length + local();
    while (have < minSubscribers && Date.now() < deadline) {
      await sleep(Math.min(25, Math.max(1, deadline - Date.now())));
      have = (await this.#h.topicPeers(topic)).length + local();
    }
    if (have < minSubscribers) {
      throw new CliError(
        `nobody reached: ${have} of ${minSubscribers} subscriber(s) to "${topic}" after ${
          timeoutMs / 1000
        } s (raise --timeout, or lower --min-subscribers)`,
      );
    }
    const readers = [...(this.#local.get(topic) ?? [])];
    const remote = (await this.#h.topicPeers(topic)).length > 0
      ? await this.#h.publish(topic, data)
      : 0;
    const m = { ts: Date.now(), from: this.#self, topic, data };
    for (const r of readers) r(m);
    const reached = remote + readers.length;
    if (reached < minSubscribers) {
      throw new CliError(
        `sent to ${reached} peer(s), fewer than --min-subscribers ${minSubscribers}`,
      );
    }
    return reached;
  }

  async *messages(
    topics: string[],
    signal: AbortSignal,
  ): AsyncIterable<MeshMessage> {
    const events = this.#h.events();
    const wanted = new Set(topics);
    const added: string[] = [];
    // Messages published through this access, for its own readers.
    const mine: MeshMessage[] = [];
    let wake: (() => void) | undefined;
    const reader = (m: MeshMessage) => {
      mine.push(m);
      wake?.();
    };
    for (const t of wanted) {
      let set = this.#local.get(t);
      if (!set) this.#local.set(t, set = new Set());
      set.add(reader);
    }
    try {
      const already = new Set(await this.#h.subscriptions());
      for (const t of wanted) {
        const n = this.#subs.get(t) ?? 0;
        if (n === 0 && !already.has(t)) {
          await this.#h.subscribe(t);
          added.push(t);
        }
        this.#subs.set(t, n + 1);
      }
      const onAbort = () => {
        events.return?.();
        wake?.();
      };
      signal.addEventListener("abort", onAbort, { once: true });
      const it = events[Symbol.asyncIterator]();
      let next = it.next();
      while (!signal.aborted) {
        while (mine.length > 0) yield mine.shift()!;
        const woken = new Promise<"local">((r) => wake = () => r("local"));
        const r = await Promise.race([next, woken]);
        wake = undefined;
        if (r === "local") continue;
        if (r.done) break;
        next = it.next();
        const ev = r.value;
        if (ev.type !== "message" || !wanted.has(ev.topic)) continue;
        const m = ev as MessageEvent;
        yield { ts: Date.now(), from: m.from, topic: m.topic, data: m.data };
      }
    } finally {
      for (const t of wanted) this.#local.get(t)?.delete(reader);
      await events.return?.();
      for (const t of wanted) {
        const n = (this.#subs.get(t) ?? 1) - 1;
        if (n > 0) this.#subs.set(t, n);
        else {
          this.#subs.delete(t);
          if (added.includes(t)) await this.#h.unsubscribe(t).catch(() => {});
        }
      }
    }
  }

  getContext(path?: string): Promise<JsonValue | undefined> {
    return path ? this.#h.getContext(path) : this.#h.getContext();
  }

  setContext(path: string, value: JsonValue): Promise<string[]> {
    return this.#h.setContextPath(path, value);
  }

  deleteContext(path: string): Promise<string[]> {
    return this.#h.deleteContextPath(path);
  }

  async *watchContext(
    path: string | undefined,
    signal: AbortSignal,
  ): AsyncIterable<ContextChange> {
    const events = this.#h.events();
    const onAbort = () => events.return?.();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      for await (const ev of events) {
        if (signal.aborted) break;
        if (ev.type !== "contextUpdated") continue;
        const changed = ev.changedPaths.filter((p) => underPath(p, path));
        if (changed.length === 0) continue;
        yield {
          ts: Date.now(),
          peerId: ev.peerId,
          changedPaths: changed,
          value: valueAt(ev.context, path),
        };
      }
    } finally {
      await events.return?.();
    }
  }

  async peers(): Promise<PeerRow[]> {
    const ids = await this.#h.connectedPeers();
    return await Promise.all(ids.map(async (id: PeerId) => {
      const info = await this.#h.peerInfo(id).catch(() => undefined);
      const rttMs = await this.#h.ping(id, { timeoutMs: 2000 }).catch(() =>
        undefined
      );
      return {
        peerId: id,
        name: info?.agentVersion,
        addresses: info?.addresses ?? [],
        connected: info?.connected ?? true,
        ...(rttMs !== undefined ? { rttMs } : {}),
      };
    }));
  }

  async close(): Promise<void> {
    await this.#stop?.();
  }
}
