/**
 * {@linkcode ContextSync}: keeps a {@linkcode ContextDoc} converged across the
 * mesh over an injected {@linkcode ContextTransport}.
 *
 * ## Protocol (one gossip topic, MessagePack messages)
 * - `[1, [[delta, signature], ...], range]`: deltas. Each delta is signed by
 *   its writer's key, so a delta relayed by a third node still proves its
 *   writer. `range` (`[writer, from, to]` or `null`) says the sender has seen
 *   all of that writer's changes up to `to` and that this message holds every
 *   one of them it still keeps in `(from, to]` (the others were superseded);
 *   a receiver that had seen up to `from` then records up to `to` (see
 *   {@linkcode ContextDoc.offer}). An answer too big for one message
 *   (`maxMessageBytes`) is split, each part with its own range.
 * - `[2, [[writer, n], ...]]`: a digest, the sender's version vector.
 *
 * A local change is applied, signed, persisted, then published as one delta.
 * On every peer connection (after `connectSyncDelayMs`) and every
 * `antiEntropyIntervalMs`, a node publishes its digest; any node that holds
 * changes the digest lacks answers with them, and a node that sees a digest
 * with changes it lacks answers with its own digest. So a node that missed
 * messages, was offline, joined late or was partitioned converges, and a
 * change made with no peer connected is sent when one connects.
 *
 * A delta is rejected and counted when its signature is not its writer's
 * (`rejectedForged`), it or its message is over the size limit
 * (`rejectedTooLarge`), it cannot be decoded (`rejectedMalformed`), its clock
 * is too far ahead (`rejectedClock`; offered again later), or `canWrite`
 * refuses one of its paths (`rejectedUnauthorized`). Nothing from the network
 * ever throws out of the receive loop.
 *
 * Trust: no node can forge or alter another writer's change (every delta is
 * checked against its writer's key, whoever relays it). A `range` claim, on
 * the other hand, is believed from any member of the mesh (members are
 * admitted by `meshKey` / `allowedPeers`): a malicious member could make a
 * neighbour skip old changes it missed (new changes still arrive by the
 * writer's own gossip). Clocks are bounded by `maxClockSkewMs`: a writer whose
 * clock runs ahead by less than that wins ties for that long.
 *
 * @module
 */

import { decode, encode } from "@msgpack/msgpack";
import { InvalidPathError, NotStartedError } from "../core/errors.ts";
import type {
  ContextUpdatedEvent,
  JsonObject,
  JsonValue,
} from "../core/events.ts";
import type { PeerId } from "../core/peer_id.ts";
import { ContextDoc, type HeldDelta, type Offer } from "./doc.ts";
import { decodeDelta } from "./delta.ts";
import type { ContextStore } from "./store.ts";
import type { ContextTransport, TransportMessage } from "./transport.ts";
import type { VersionVector } from "./version_vector.ts";

/** The gossip topic of the shared context. */
export const CONTEXT_TOPIC = "avi-context/1";

/** Options of {@linkcode ContextSync}. */
export interface ContextSyncOptions {
  /** The network (the mesh adapter, or an in-memory fixture in tests). */
  transport: ContextTransport;
  /** Receives a `contextUpdated` event for every local or remote change. */
  emit: (event: ContextUpdatedEvent) => void;
  /** Where to persist the replica. @default no persistence */
  store?: ContextStore;
  /** The gossip topic. @default "avi-context/1" */
  topic?: string;
  /** Interval between anti-entropy rounds (digest + garbage collection), ms. @default 5000 */
  antiEntropyIntervalMs?: number;
  /**
   * Delay between a peer connecting and the digest sent for it, ms (a second
   * one follows 1.5 s later). @default 300
   */
  connectSyncDelayMs?: number;
  /** The largest delta accepted or produced, in bytes. @default 65_536 */
  maxDeltaBytes?: number;
  /** The largest gossip message sent or accepted, in bytes. @default 262_144 */
  maxMessageBytes?: number;
  /** Remote clocks further ahead than this are refused for now, ms. @default 60_000 */
  maxClockSkewMs?: number;
  /**
   * Tombstone horizon (see {@linkcode ContextDoc}); a peer silent for longer
   * stops counting for garbage collection. @default 604_800_000 (7 days)
   */
  tombstoneHorizonMs?: number;
  /**
   * May `writer` write `path` (dotted, `""` for the root)? A remote delta
   * with any refused path is rejected and counted (e.g. a gateway may write
   * only its devices' sensor paths). @default every writer may write every path
   */
  canWrite?: (writer: PeerId, path: string) => boolean;
  /** The wall clock, ms. @default Date.now */
  now?: () => number;
}

/** Counters of a {@linkcode ContextSync}. */
export interface ContextSyncStats {
  /** Remote deltas merged (new to this node). */
  deltasMerged: number;
  /** Remote deltas already seen. */
  duplicates: number;
  /** Deltas whose signature is not their writer's. */
  rejectedForged: number;
  /** Deltas or messages over the size limit. */
  rejectedTooLarge: number;
  /** Messages or deltas that could not be decoded. */
  rejectedMalformed: number;
  /** Deltas refused for now because their clock is too far ahead. */
  rejectedClock: number;
  /** Deltas refused by `canWrite`. */
  rejectedUnauthorized: number;
  /** Publishes that failed (no peer, not started); anti-entropy resends. */
  publishFailures: number;
  /** Digests published. */
  digestsSent: number;
  /** Delta messages published in answer to digests. */
  offersSent: number;
  /** Failed saves to the store. */
  saveErrors: number;
  /** Tombstones collected. */
  tombstonesCollected: number;
  /** Deltas kept in memory. */
  heldDeltas: number;
  /** Tombstones with their delta. */
  tombstones: number;
}

interface PeerInfo {
  version: VersionVector;
  seen: number;
}

const OPS = 1;
const DIGEST = 2;

/**
 * Keeps the shared context converged over a {@linkcode ContextTransport}.
 *
 * @example
 * ```ts ignore
 * import { ContextSync } from "@avi/p2p/context";
 * const sync = new ContextSync({ transport, emit: (ev) => console.log(ev) });
 * await sync.start();
 * await sync.updateContext({ avi: { device: { audio: { volume: 40 } } } });
 * console.log(sync.getContext("avi.device.audio.volume")); // 40
 * await sync.stop();
 * ```
 */
export class ContextSync {
  readonly #o: Required<Omit<ContextSyncOptions, "store" | "canWrite">> & {
    store?: ContextStore;
    canWrite?: (writer: PeerId, path: string) => boolean;
  };
  #doc: ContextDoc | undefined;
  #running = false;
  #unsubs: (() => void)[] = [];
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #interval: ReturnType<typeof setInterval> | undefined;
  #pending = new Set<Promise<unknown>>();
  #peers = new Map<string, PeerInfo>();
  #dirty = false;
  #saving: Promise<void> | undefined;
  #stats = {
    deltasMerged: 0,
    duplicates: 0,
    rejectedForged: 0,
    rejectedTooLarge: 0,
    rejectedMalformed: 0,
    rejectedClock: 0,
    rejectedUnauthorized: 0,
    publishFailures: 0,
    digestsSent: 0,
    offersSent: 0,
    saveErrors: 0,
    tombstonesCollected: 0,
  };

  /**
   * Creates the service; nothing runs until {@linkcode ContextSync.start}.
   * @param options Transport, event sink, store and bounds.
   * @throws {RangeError} A bound is not a positive number.
   */
  constructor(options: ContextSyncOptions) {
    this.#o = {
      topic: CONTEXT_TOPIC,
      antiEntropyIntervalMs: 5000,
      connectSyncDelayMs: 300,
      maxDeltaBytes: 65_536,
      maxMessageBytes: 262_144,
      maxClockSkewMs: 60_000,
      tombstoneHorizonMs: 604_800_000,
      now: Date.now,
      ...options,
    };
    for (
      const k of [
        "antiEntropyIntervalMs",
        "maxDeltaBytes",
        "maxMessageBytes",
        "tombstoneHorizonMs",
      ] as const
    ) {
      if (!(this.#o[k] > 0)) {
        throw new RangeError(`${k} must be a positive number`);
      }
    }
    if (!(this.#o.connectSyncDelayMs >= 0) || !(this.#o.maxClockSkewMs >= 0)) {
      throw new RangeError(
        "connectSyncDelayMs and maxClockSkewMs must be >= 0",
      );
    }
    if (this.#o.maxMessageBytes < this.#o.maxDeltaBytes + 1024) {
      throw new RangeError(
        "maxMessageBytes must exceed maxDeltaBytes by at least 1024",
      );
    }
  }

  /** Is the service running? */
  get running(): boolean {
    return this.#running;
  }

  /** Loads the store, subscribes, and starts anti-entropy. */
  async start(): Promise<void> {
    if (this.#running) return;
    const t = this.#o.transport;
    const docOptions = {
      replicaId: t.localPeerId,
      now: this.#o.now,
      maxSkewMs: this.#o.maxClockSkewMs,
      maxDeltaBytes: this.#o.maxDeltaBytes,
      tombstoneHorizonMs: this.#o.tombstoneHorizonMs,
    };
    const saved = await this.#o.store?.load();
    this.#doc = saved
      ? ContextDoc.restore(saved, docOptions)
      : new ContextDoc(docOptions);
    this.#running = true;
    this.#unsubs.push(
      t.subscribe(this.#o.topic, (m) => this.#track(this.#receive(m))),
    );
    this.#unsubs.push(t.onPeerConnected(() => {
      // Once soon, and once more after GossipSub has exchanged subscriptions.
      this.#scheduleDigest(this.#o.connectSyncDelayMs);
      this.#scheduleDigest(this.#o.connectSyncDelayMs + 1500);
    }));
    this.#interval = setInterval(
      () => this.#round(),
      this.#o.antiEntropyIntervalMs,
    );
    if (t.connectedPeers().length > 0) this.#scheduleDigest(0);
  }

  /** Stops timers, unsubscribes, waits for in-flight work, and flushes the store. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    clearInterval(this.#interval);
    for (const id of this.#timers) clearTimeout(id);
    this.#timers.clear();
    for (const u of this.#unsubs.splice(0)) {
      try {
        u();
      } catch { /* the transport may already be down */ }
    }
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
    if (this.#saving) await this.#saving.catch(() => {});
  }

  #docOrThrow(): ContextDoc {
    if (!this.#running || !this.#doc) throw new NotStartedError();
    return this.#doc;
  }

  // ---------------------------------------------------------- local changes

  /**
   * Applies an RFC 7396 merge patch, persists it, and gossips the delta.
   * @returns The dotted paths that changed.
   * @throws {NotStartedError} Not started.
   * @throws {InvalidPathError} A key is empty, contains a dot, or too deep.
   * @throws {TooLargeError} The delta is over `maxDeltaBytes`.
   */
  updateContext(patch: JsonObject): Promise<string[]> {
    return this.#local((doc) => doc.update(patch));
  }

  /**
   * Replaces the whole document with `data`.
   * @returns The changed paths.
   * @throws {NotStartedError} Not started.
   * @throws {InvalidPathError} Bad keys or values.
   * @throws {TooLargeError} The delta is over `maxDeltaBytes`.
   */
  replaceContext(data: JsonObject): Promise<string[]> {
    return this.#local((doc) => doc.replace(data));
  }

  /**
   * Sets the value at a dotted path (see {@linkcode ContextDoc.set}).
   * @returns The changed paths.
   * @throws {NotStartedError} Not started.
   * @throws {InvalidPathError} Bad path or value.
   */
  setPath(path: string, value: JsonValue): Promise<string[]> {
    return this.#local((doc) => doc.set(path, value));
  }

  /**
   * Deletes the value at a dotted path.
   * @returns The changed paths.
   * @throws {NotStartedError} Not started.
   * @throws {InvalidPathError} Bad path.
   */
  deletePath(path: string): Promise<string[]> {
    return this.#local((doc) => doc.delete(path));
  }

  async #local(
    change: (
      doc: ContextDoc,
    ) => { delta?: { writer: string; seq: number }; changedPaths: string[] },
  ): Promise<string[]> {
    const doc = this.#docOrThrow();
    const { delta, changedPaths } = change(doc);
    if (!delta) return [];
    const held = doc.deltasSince(
      { [delta.writer]: delta.seq - 1 },
      delta.writer,
    )
      .find((h) => h.delta.seq === delta.seq)!;
    held.proof = await this.#o.transport.sign(held.bytes);
    if (changedPaths.length > 0) {
      this.#o.emit({
        type: "contextUpdated",
        peerId: this.#o.transport.localPeerId,
        context: doc.toJSON(),
        changedPaths,
      });
    }
    this.#publish(encode([OPS, [[held.bytes, held.proof]], null]), false);
    await this.#persist(true);
    return changedPaths;
  }

  // ------------------------------------------------------------------ reads

  /**
   * The document, or the value at a dotted path.
   * @returns A copy; `undefined` when the path is absent.
   * @throws {NotStartedError} Not started.
   * @throws {InvalidPathError} Malformed path.
   */
  getContext(path?: string): JsonValue | undefined {
    return this.#docOrThrow().get(path ?? "");
  }

  /**
   * What `peerId` wrote that is still current in the merged document.
   * @throws {NotStartedError} Not started.
   */
  getPeerContext(peerId: PeerId): JsonObject {
    return this.#docOrThrow().writtenBy(peerId);
  }

  /** This node's version vector. @throws {NotStartedError} Not started. */
  version(): VersionVector {
    return this.#docOrThrow().version();
  }

  /** Counters (see {@linkcode ContextSyncStats}). */
  stats(): ContextSyncStats {
    const d = this.#doc?.stats() ?? { heldDeltas: 0, tombstones: 0 };
    return {
      ...this.#stats,
      heldDeltas: d.heldDeltas,
      tombstones: d.tombstones,
    };
  }

  /** Runs one anti-entropy round now (publishes a digest). */
  syncNow(): void {
    if (this.#running) this.#round();
  }

  // ---------------------------------------------------------------- network

  #track(p: Promise<unknown>): void {
    this.#pending.add(p);
    p.finally(() => this.#pending.delete(p));
  }

  #publish(data: Uint8Array, isOffer: boolean): void {
    if (!this.#running) return;
    if (isOffer) this.#stats.offersSent++;
    this.#track(
      this.#o.transport.publish(this.#o.topic, data).catch(() => {
        this.#stats.publishFailures++;
      }),
    );
  }

  #scheduleDigest(delay: number): void {
    if (!this.#running) return;
    const id = setTimeout(() => {
      this.#timers.delete(id);
      this.#sendDigest();
    }, delay);
    this.#timers.add(id);
  }

  #sendDigest(): void {
    const doc = this.#doc;
    if (!this.#running || !doc) return;
    this.#stats.digestsSent++;
    this.#publish(encode([DIGEST, Object.entries(doc.version())]), false);
  }

  #round(): void {
    const doc = this.#doc;
    if (!this.#running || !doc) return;
    this.#signMissing(doc);
    if (this.#o.transport.connectedPeers().length > 0) this.#sendDigest();
    // Garbage collection over the replicas we know of.
    const horizon = this.#o.now() - this.#o.tombstoneHorizonMs;
    const self = this.#o.transport.localPeerId as string;
    const known: VersionVector[] = [];
    const writers = new Set([
      ...Object.keys(doc.version()),
      ...this.#peers.keys(),
    ]);
    for (const w of writers) {
      if (w === self) continue;
      const info = this.#peers.get(w);
      if (info && info.seen < horizon) continue; // silent past the horizon: presumed gone
      known.push(info?.version ?? {});
    }
    const n = doc.collectGarbage(known);
    if (n > 0) {
      this.#stats.tombstonesCollected += n;
      this.#persist(false).catch(() => {});
    }
  }

  /** Signs own deltas whose signing failed (they are never sent unsigned). */
  #signMissing(doc: ContextDoc): void {
    const self = this.#o.transport.localPeerId as string;
    for (const held of doc.deltasSince({}, self)) {
      if (held.proof) continue;
      this.#track(
        this.#o.transport.sign(held.bytes).then((proof) => {
          held.proof = proof;
          return this.#persist(false);
        }).catch(() => {}),
      );
    }
  }

  async #receive(m: TransportMessage): Promise<void> {
    try {
      if (!this.#running) return;
      if (
        !(m.data instanceof Uint8Array) ||
        m.data.length > this.#o.maxMessageBytes
      ) {
        this.#stats.rejectedTooLarge++;
        return;
      }
      let msg: unknown;
      try {
        msg = decode(m.data);
      } catch {
        this.#stats.rejectedMalformed++;
        return;
      }
      if (!Array.isArray(msg)) {
        this.#stats.rejectedMalformed++;
        return;
      }
      if (msg[0] === DIGEST) this.#onDigest(m.from, msg[1]);
      else if (msg[0] === OPS) await this.#onOps(msg[1], msg[2]);
      else this.#stats.rejectedMalformed++;
    } catch {
      this.#stats.rejectedMalformed++; // never throw out of the receive loop
    }
  }

  #onDigest(from: PeerId, rows: unknown): void {
    const doc = this.#doc!;
    if (!Array.isArray(rows) || rows.length > 100_000) {
      this.#stats.rejectedMalformed++;
      return;
    }
    const version: Record<string, number> = {};
    for (const row of rows) {
      if (
        !Array.isArray(row) || typeof row[0] !== "string" ||
        !Number.isSafeInteger(row[1]) ||
        row[1] < 0
      ) {
        this.#stats.rejectedMalformed++;
        return;
      }
      version[row[0]] = row[1];
    }
    this.#peers.set(from, { version, seen: this.#o.now() });
    for (const offer of doc.offer(version)) this.#sendOffer(offer);
    // The sender has changes we lack: ask for them with our own digest.
    const own = doc.version();
    if (Object.entries(version).some(([w, n]) => n > (own[w] ?? 0))) {
      this.#sendDigest();
    }
  }

  #sendOffer(offer: Offer): void {
    // Our own newest deltas may not be signed yet: never claim a range over them.
    const complete = offer.deltas.every((d) => d.proof);
    const ready = offer.deltas.filter((d) => d.proof);
    // Split into messages under the size limit. Each message carries the
    // range it completes: (from, to] where every kept delta of that range is
    // in the message, and `to` never exceeds what we have fully seen.
    const limit = this.#o.maxMessageBytes - 256;
    const chunks: HeldDelta[][] = [[]];
    let size = 0;
    for (const d of ready) {
      const cost = d.bytes.length + d.proof!.length + 16;
      if (size + cost > limit && chunks[chunks.length - 1].length > 0) {
        chunks.push([]);
        size = 0;
      }
      chunks[chunks.length - 1].push(d);
      size += cost;
    }
    let from = offer.from;
    chunks.forEach((batch, i) => {
      const to = i === chunks.length - 1
        ? offer.to
        : Math.min(batch[batch.length - 1].delta.seq, offer.to);
      const range = complete && to > from ? [offer.writer, from, to] : null;
      if (batch.length === 0 && !range) return;
      this.#publish(
        encode([OPS, batch.map((d) => [d.bytes, d.proof]), range]),
        true,
      );
      if (range) from = to;
    });
  }

  async #onOps(items: unknown, range: unknown): Promise<void> {
    const doc = this.#doc!;
    if (!Array.isArray(items)) {
      this.#stats.rejectedMalformed++;
      return;
    }
    let allOk = true;
    let changed = false;
    for (const item of items) {
      if (!this.#running) return;
      const ok = await this.#onDelta(doc, item);
      if (ok === "changed") changed = true;
      else if (ok === false) allOk = false;
    }
    if (range !== null && range !== undefined) {
      if (
        Array.isArray(range) && typeof range[0] === "string" &&
        Number.isSafeInteger(range[1]) && Number.isSafeInteger(range[2])
      ) {
        if (allOk && doc.joinRange(range[0], range[1], range[2])) {
          changed = true;
        }
      } else this.#stats.rejectedMalformed++;
    }
    if (changed) this.#persist(false).catch(() => {});
  }

  /** @returns "changed" when merged, true when harmless, false when refused. */
  async #onDelta(doc: ContextDoc, item: unknown): Promise<"changed" | boolean> {
    if (
      !Array.isArray(item) || !(item[0] instanceof Uint8Array) ||
      !(item[1] instanceof Uint8Array)
    ) {
      this.#stats.rejectedMalformed++;
      return false;
    }
    const [bytes, proof] = item as [Uint8Array, Uint8Array];
    if (bytes.length > this.#o.maxDeltaBytes) {
      this.#stats.rejectedTooLarge++;
      return false;
    }
    let delta;
    try {
      delta = decodeDelta(bytes);
    } catch (error) {
      if (!(error instanceof InvalidPathError)) throw error;
      this.#stats.rejectedMalformed++;
      return false;
    }
    if (doc.hasSeen(delta.writer, delta.seq)) {
      this.#stats.duplicates++;
      return true;
    }
    const writer = delta.writer as PeerId;
    if (!(await this.#o.transport.verify(writer, bytes, proof))) {
      this.#stats.rejectedForged++;
      return false;
    }
    if (this.#o.canWrite) {
      for (const e of delta.entries) {
        if (!this.#o.canWrite(writer, e.path.join("."))) {
          this.#stats.rejectedUnauthorized++;
          return false;
        }
      }
    }
    if (!this.#running) return false;
    const result = doc.merge(bytes, proof);
    if (result.status === "clock-ahead") {
      this.#stats.rejectedClock++;
      return false;
    }
    if (result.status === "duplicate") {
      this.#stats.duplicates++;
      return true;
    }
    this.#stats.deltasMerged++;
    if (result.changedPaths.length > 0) {
      this.#o.emit({
        type: "contextUpdated",
        peerId: writer,
        context: doc.toJSON(),
        changedPaths: result.changedPaths,
      });
    }
    return "changed";
  }

  // ------------------------------------------------------------ persistence

  #persist(rethrow: boolean): Promise<void> {
    const store = this.#o.store;
    if (!store) return Promise.resolve();
    this.#dirty = true;
    if (!this.#saving) {
      this.#saving = (async () => {
        try {
          while (this.#dirty) {
            this.#dirty = false;
            try {
              await store.save(this.#doc!.snapshot());
            } catch (error) {
              this.#stats.saveErrors++;
              throw error;
            }
          }
        } finally {
          this.#saving = undefined;
        }
      })();
    }
    const p = this.#saving;
    return rethrow ? p : p.catch(() => {});
  }
}
