/**
 * {@linkcode ContextSync}: keeps a {@linkcode ContextDoc} converged across the
 * mesh over an injected {@linkcode ContextTransport}.
 *
 * ## Writers
 * A node writes as `<peerId>/<epoch>` (see `writer.ts`), with a new epoch
 * each time the service starts: a node whose replica was lost, damaged or
 * restored from an older copy starts a new sequence and never reuses a
 * number its peers have already seen from it.
 *
 * ## Protocol (MessagePack messages)
 * On the gossip topic, only fresh changes: `[1, [[delta, signature]], null]`.
 * Each delta is signed by its writer's key, so a delta relayed by a third
 * node still proves its writer.
 *
 * Anti-entropy runs between connected neighbours over direct messages
 * ({@linkcode ContextTransport.send}), never over gossip:
 * - `[2, [[writer, n], ...]]`: a digest, the sender's version vector, sent to
 *   each connected peer after it connects and every `antiEntropyIntervalMs`.
 * - `[1, [[delta, signature], ...], range, more, head]`: the answer, sent to
 *   the asking peer alone. `range` (`[writer, from, to]` or `null`) says the
 *   sender has seen all of that writer's changes up to `to` and that the
 *   answer holds every one of them it still keeps in `(from, to]` (the others
 *   were superseded). `head` (`[delta, signature]` or `null`) is the writer's
 *   newest delta when it was superseded: not merged, only the proof that the
 *   writer got that far. A receiver that had seen up to `from` then
 *   records up to `to`, but never beyond the newest signed delta of that
 *   writer it holds (see {@linkcode ContextDoc.joinRange}). `more` (1) says
 *   the answer was cut at `maxAnswerBytes`: the receiver asks again.
 *
 * A peer's digests are answered at most once per `answerIntervalMs` (a
 * digest that arrives sooner waits, and only the latest one is answered),
 * and one answer holds at most `maxAnswerBytes`. What the service keeps per
 * peer (its last version vector, restricted to writers this node knows) is
 * kept only while the peer is connected.
 *
 * A delta is rejected and counted when its signature is not its writer's
 * (`rejectedForged`), it or its message is over the size limit
 * (`rejectedTooLarge`), it cannot be decoded (`rejectedMalformed`), its clock
 * is too far ahead (`rejectedClock`; offered again later), `canWrite`
 * refuses one of its paths (`rejectedUnauthorized`), or its writer already
 * holds `maxWriterBytes` (`rejectedQuota`). Nothing from the network ever
 * throws out of the receive loop.
 *
 * Trust: no node can forge or alter another writer's change (every delta is
 * checked against its writer's key, whoever relays it), and no node can make
 * others skip a writer's future changes (a range is capped at that writer's
 * newest signed delta). A connected neighbour that lies can still make a
 * receiver skip some of a writer's past changes (below the newest one it
 * proves), as only the changes still kept travel in answers. Clocks are bounded by
 * `maxClockSkewMs`: a writer whose clock runs ahead by less than that wins
 * ties for that long.
 *
 * @module
 */

import { decode, encode } from "./_msgpack.ts";
import { InvalidPathError, NotStartedError } from "../core/errors.ts";
import type {
  ContextUpdatedEvent,
  JsonObject,
  JsonValue,
} from "../core/events.ts";
import type { PeerId } from "../core/peer_id.ts";
import { ContextDoc, type HeldDelta, type Offer } from "./doc.ts";
import { decodeDelta, MAX_SEQ } from "./delta.ts";
import { newWriterId, writerPeer } from "./writer.ts";
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
   * The most bytes of kept deltas one writer may have (see
   * {@linkcode ContextDoc}): a local change past it rejects with
   * `TooLargeError`, a remote one is refused and counted. @default 4_194_304
   */
  maxWriterBytes?: number;
  /** A peer's digests are answered at most once per this many ms. @default 1000 */
  answerIntervalMs?: number;
  /**
   * The most bytes of deltas one answer to a digest holds; the rest follows
   * in the next answers. @default 1_048_576
   */
  maxAnswerBytes?: number;
  /**
   * Tombstone horizon (see {@linkcode ContextDoc}); a peer silent for longer
   * stops counting for garbage collection. @default 604_800_000 (7 days)
   */
  tombstoneHorizonMs?: number;
  /**
   * May `writer` (the peer id of a delta's writer) write `path` (dotted,
   * `""` for the root)? A remote delta with any refused path is rejected and
   * counted (e.g. a gateway may write only its devices' sensor paths).
   * @default every writer may write every path
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
  /** Deltas refused because their writer holds `maxWriterBytes` already. */
  rejectedQuota: number;
  /**
   * Anti-entropy messages refused: a digest or a range sent on the gossip
   * topic (they are only believed from a connected neighbour, directly), or
   * a direct message from a peer that is not connected.
   */
  rejectedIndirect: number;
  /** Digests that waited for the answer interval (answered later, once). */
  digestsDeferred: number;
  /** Publishes that failed (no peer, not started); anti-entropy resends. */
  publishFailures: number;
  /** Digests published. */
  digestsSent: number;
  /** Delta messages sent in answer to digests. */
  offersSent: number;
  /** Answers cut at `maxAnswerBytes` (the rest follows). */
  answersCut: number;
  /** Failed saves to the store. */
  saveErrors: number;
  /** Tombstones collected. */
  tombstonesCollected: number;
  /** Deltas kept in memory. */
  heldDeltas: number;
  /** Tombstones with their delta. */
  tombstones: number;
  /** Peers whose anti-entropy state is kept (connected peers that sent a digest). */
  peerStates: number;
}

/** What the service keeps about a connected peer. */
interface PeerState {
  /** Its last digest, restricted to writers this node knows. */
  version: VersionVector;
  /** Its last digest named changes of writers this node does not know. */
  ahead: boolean;
  /** When it was last answered (ms), and the digest waiting for its turn. */
  answeredAt: number;
  waiting?: VersionVector;
  timer?: ReturnType<typeof setTimeout>;
  /** When this node last sent it a digest in reply to one (ms). */
  askedAt: number;
  /** The number of the last digest heard from it (see `catchUp`). */
  heard: number;
}

const OPS = 1;
const DIGEST = 2;
/** The most rows a digest may have. */
const MAX_DIGEST_ROWS = 100_000;
/** The most peers whose anti-entropy state is kept at once. */
const MAX_PEER_STATES = 256;
/** Log records (see ContextStore.append): a merged delta, a joined range, a proven head. */
const LOG_DELTA = 0;
const LOG_RANGE = 1;
const LOG_HEAD = 2;
/** The log is compacted into a snapshot once it is larger than this and the snapshot. */
const MIN_COMPACT_BYTES = 1_048_576;

/** One message of an answer: kept deltas, the range they complete, the head. */
type Part = [HeldDelta[], [string, number, number] | null, HeldDelta?];

/** Stands for a peer that has changes this node does not know of. */
const AHEAD_OF_US: VersionVector = { "\u0000ahead": 1 };

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
  #peers = new Map<string, PeerState>();
  #heard = 0;
  #disk: Promise<void> = Promise.resolve();
  #snapshotRun: Promise<void> | undefined;
  #snapshotBytes = 0;
  #logBytes = 0;
  #stats = {
    deltasMerged: 0,
    duplicates: 0,
    rejectedForged: 0,
    rejectedTooLarge: 0,
    rejectedMalformed: 0,
    rejectedClock: 0,
    rejectedUnauthorized: 0,
    rejectedQuota: 0,
    rejectedIndirect: 0,
    digestsDeferred: 0,
    publishFailures: 0,
    digestsSent: 0,
    offersSent: 0,
    answersCut: 0,
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
      maxWriterBytes: 4_194_304,
      answerIntervalMs: 1000,
      maxAnswerBytes: 1_048_576,
      tombstoneHorizonMs: 604_800_000,
      now: Date.now,
      ...options,
    };
    for (
      const k of [
        "antiEntropyIntervalMs",
        "maxDeltaBytes",
        "maxMessageBytes",
        "maxWriterBytes",
        "maxAnswerBytes",
        "tombstoneHorizonMs",
      ] as const
    ) {
      if (!(this.#o[k] > 0)) {
        throw new RangeError(`${k} must be a positive number`);
      }
    }
    for (
      const k of [
        "connectSyncDelayMs",
        "maxClockSkewMs",
        "answerIntervalMs",
      ] as const
    ) {
      if (!(this.#o[k] >= 0)) throw new RangeError(`${k} must be >= 0`);
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
      // A new epoch each start: see "Writers" in the module doc.
      replicaId: newWriterId(t.localPeerId, this.#o.now()),
      now: this.#o.now,
      maxSkewMs: this.#o.maxClockSkewMs,
      maxDeltaBytes: this.#o.maxDeltaBytes,
      maxWriterBytes: this.#o.maxWriterBytes,
      tombstoneHorizonMs: this.#o.tombstoneHorizonMs,
    };
    const store = this.#o.store;
    const saved = await store?.load();
    const log = (await store?.loadLog?.()) ?? [];
    const doc = this.#doc = saved
      ? ContextDoc.restore(saved, docOptions)
      : new ContextDoc(docOptions);
    for (const record of log) replay(doc, record);
    this.#snapshotBytes = saved?.length ?? 0;
    this.#logBytes = log.reduce((n, r) => n + r.length, 0);
    this.#running = true;
    this.#unsubs.push(
      t.subscribe(this.#o.topic, (m) => this.#track(this.#receive(m, false))),
    );
    this.#unsubs.push(
      t.onDirect((m) => this.#track(this.#receive(m, true))),
    );
    this.#unsubs.push(t.onPeerConnected((peer) => {
      // Once soon, and once more in case its service was not up yet.
      this.#scheduleDigest(peer, this.#o.connectSyncDelayMs);
      this.#scheduleDigest(peer, this.#o.connectSyncDelayMs + 1500);
    }));
    this.#interval = setInterval(
      () => this.#round(),
      this.#o.antiEntropyIntervalMs,
    );
    for (const peer of t.connectedPeers()) this.#scheduleDigest(peer, 0);
  }

  /** This node's writer id in this run: its peer id and a fresh epoch. */
  get writerId(): string {
    return this.#docOrThrow().replicaId;
  }

  /** Stops timers, unsubscribes, waits for in-flight work, and flushes the store. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    clearInterval(this.#interval);
    for (const id of this.#timers) clearTimeout(id);
    this.#timers.clear();
    for (const p of this.#peers.values()) clearTimeout(p.timer);
    this.#peers.clear();
    for (const u of this.#unsubs.splice(0)) {
      try {
        u();
      } catch { /* the transport may already be down */ }
    }
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
    // A clean stop leaves one snapshot and no log: the next start is quick.
    if (this.#logBytes > 0) await this.#persist(false);
    await this.#disk;
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
   * @throws {TooLargeError} The delta is over `maxDeltaBytes`, or this
   * node's kept changes would pass `maxWriterBytes`.
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
    const held = doc.head(delta.writer)!;
    held.proof = await this.#o.transport.sign(held.bytes);
    if (changedPaths.length > 0) {
      this.#o.emit({
        type: "contextUpdated",
        peerId: this.#o.transport.localPeerId,
        context: doc.toJSON(),
        changedPaths,
      });
    }
    this.#publish(encode([OPS, [[held.bytes, held.proof]], null]));
    await this.#record([LOG_DELTA, held.bytes, held.proof], true);
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
      peerStates: this.#peers.size,
    };
  }

  /** Runs one anti-entropy round now (publishes a digest). */
  syncNow(): void {
    if (this.#running) this.#round();
  }

  /**
   * Catches up with every connected peer: sends each a digest that asks
   * for its own in return, and resolves once each has sent one (after this
   * call) that names nothing this node lacks. Asks again every
   * `answerIntervalMs` (at least 250 ms) until then.
   *
   * @param timeoutMs How long to try.
   * @returns `true` when caught up with every connected peer (at once when
   * none is connected), `false` at the timeout.
   * @throws {NotStartedError} Not started.
   */
  async catchUp(timeoutMs: number): Promise<boolean> {
    this.#docOrThrow();
    const deadline = Date.now() + timeoutMs;
    const mark = this.#heard;
    const every = Math.max(250, this.#o.answerIntervalMs);
    let askedAt = -Infinity;
    while (this.#running) {
      const peers = this.#o.transport.connectedPeers();
      const done = peers.every((p) => {
        const s = this.#peers.get(p);
        return s !== undefined && s.heard > mark && !s.ahead;
      });
      if (done) return true;
      if (Date.now() >= deadline) return false;
      if (Date.now() - askedAt >= every) {
        askedAt = Date.now();
        for (const p of peers) this.#sendDigest(p, true);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new NotStartedError();
  }

  // ---------------------------------------------------------------- network

  #track(p: Promise<unknown>): void {
    this.#pending.add(p);
    p.finally(() => this.#pending.delete(p));
  }

  #publish(data: Uint8Array): void {
    if (!this.#running) return;
    this.#track(
      this.#o.transport.publish(this.#o.topic, data).catch(() => {
        this.#stats.publishFailures++;
      }),
    );
  }

  #send(peer: PeerId, data: Uint8Array): void {
    if (!this.#running) return;
    this.#track(
      this.#o.transport.send(peer, data).catch(() => {
        this.#stats.publishFailures++;
      }),
    );
  }

  #scheduleDigest(peer: PeerId, delay: number): void {
    if (!this.#running) return;
    const id = setTimeout(() => {
      this.#timers.delete(id);
      this.#sendDigest(peer);
    }, delay);
    this.#timers.add(id);
  }

  /** `reply`: ask the peer for its own digest in return (see `catchUp`). */
  #sendDigest(peer: PeerId, reply = false): void {
    const doc = this.#doc;
    if (!this.#running || !doc) return;
    this.#stats.digestsSent++;
    this.#send(
      peer,
      encode([DIGEST, Object.entries(doc.version()), reply ? 1 : 0]),
    );
  }

  #round(): void {
    const doc = this.#doc;
    if (!this.#running || !doc) return;
    this.#signMissing(doc);
    const connected = new Set<string>(this.#o.transport.connectedPeers());
    // Anti-entropy state is kept for connected peers only.
    for (const [peer, state] of this.#peers) {
      if (!connected.has(peer)) {
        clearTimeout(state.timer);
        this.#peers.delete(peer);
      }
    }
    for (const peer of connected) this.#sendDigest(peer as PeerId);
    // Garbage collection over the replicas we know of: every peer that has
    // written, with its last digest if it is connected (else nothing known,
    // which keeps its tombstones until the horizon).
    const selfPeer = this.#o.transport.localPeerId as string;
    const known: VersionVector[] = [];
    const seen = new Set<string>();
    for (const w of [...Object.keys(doc.version()), ...this.#peers.keys()]) {
      const peer = writerPeer(w);
      if (peer === selfPeer || seen.has(peer)) continue;
      seen.add(peer);
      const state = this.#peers.get(peer);
      // A peer that has changes we do not know of is never dominated.
      known.push(
        state === undefined ? {} : state.ahead ? AHEAD_OF_US : state.version,
      );
    }
    const writers = Object.keys(doc.version()).length;
    const n = doc.collectGarbage(known); // also retires finished writers
    this.#stats.tombstonesCollected += n;
    if (n > 0 || Object.keys(doc.version()).length !== writers) {
      this.#persist(false).catch(() => {});
    }
  }

  /** Signs own deltas whose signing failed (they are never sent unsigned). */
  #signMissing(doc: ContextDoc): void {
    const self = doc.replicaId;
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

  async #receive(m: TransportMessage, direct: boolean): Promise<void> {
    try {
      if (!this.#running) return;
      if (
        !(m.data instanceof Uint8Array) ||
        m.data.length > this.#o.maxMessageBytes
      ) {
        this.#stats.rejectedTooLarge++;
        return;
      }
      if (direct && !this.#o.transport.connectedPeers().includes(m.from)) {
        this.#stats.rejectedIndirect++;
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
      if (msg[0] === DIGEST) {
        if (direct) this.#onDigest(m.from, msg[1], msg[2] === 1);
        else this.#stats.rejectedIndirect++;
      } else if (msg[0] === OPS) {
        await this.#onOps(msg[1], msg[2], msg[4], direct ? m.from : undefined);
        if (direct && msg[3] === 1 && this.#running) {
          this.#sendDigest(m.from); // the answer was cut: ask for the rest
        }
      } else this.#stats.rejectedMalformed++;
    } catch {
      this.#stats.rejectedMalformed++; // never throw out of the receive loop
    }
  }

  #onDigest(from: PeerId, rows: unknown, reply: boolean): void {
    const doc = this.#doc!;
    if (!Array.isArray(rows) || rows.length > MAX_DIGEST_ROWS) {
      this.#stats.rejectedMalformed++;
      return;
    }
    const own = doc.version();
    // Only writers we know are kept: nothing else can be offered.
    const version: Record<string, number> = {};
    let ahead = false;
    for (const row of rows) {
      if (
        !Array.isArray(row) || typeof row[0] !== "string" ||
        !Number.isSafeInteger(row[1]) || row[1] < 0 || row[1] > MAX_SEQ
      ) {
        this.#stats.rejectedMalformed++;
        return;
      }
      const [w, n] = row as [string, number];
      if (n > (own[w] ?? 0)) ahead = true;
      if (own[w] !== undefined) version[w] = n;
    }
    let state = this.#peers.get(from);
    if (state === undefined) {
      if (this.#peers.size >= MAX_PEER_STATES) {
        this.#stats.rejectedIndirect++;
        return;
      }
      state = {
        version,
        ahead,
        answeredAt: -Infinity,
        askedAt: -Infinity,
        heard: 0,
      };
      this.#peers.set(from, state);
    }
    state.version = version;
    state.ahead = ahead;
    state.heard = ++this.#heard;
    this.#answerWhenDue(from, state, version);
    // The sender has changes we lack, or asks for our digest (catchUp):
    // send it (at most once per interval, so two nodes never ping-pong).
    const now = this.#o.now();
    if (
      (ahead || reply) && now - state.askedAt >= this.#o.answerIntervalMs
    ) {
      state.askedAt = now;
      this.#sendDigest(from);
    }
  }

  /** Answers `version` now, or once `answerIntervalMs` has passed since the last answer. */
  #answerWhenDue(peer: PeerId, state: PeerState, version: VersionVector): void {
    const wait = state.answeredAt + this.#o.answerIntervalMs - this.#o.now();
    if (wait <= 0 && state.timer === undefined) {
      state.answeredAt = this.#o.now();
      this.#answer(peer, version);
      return;
    }
    this.#stats.digestsDeferred++;
    state.waiting = version; // only the latest digest is answered
    if (state.timer !== undefined) return;
    state.timer = setTimeout(() => {
      state.timer = undefined;
      const v = state.waiting;
      state.waiting = undefined;
      if (!v || !this.#running || this.#peers.get(peer) !== state) return;
      state.answeredAt = this.#o.now();
      this.#answer(peer, v);
    }, Math.max(0, wait));
  }

  /** Sends `peer` what it lacks, at most `maxAnswerBytes` of deltas. */
  #answer(peer: PeerId, version: VersionVector): void {
    const messages: Part[] = [];
    let budget = this.#o.maxAnswerBytes;
    let cut = false;
    for (const offer of this.#doc!.offer(version)) {
      const parts = this.#splitOffer(offer);
      for (const part of parts) {
        const cost = part[0].reduce((n, d) => n + d.bytes.length, 0);
        if (cost > budget && messages.length > 0) {
          cut = true;
          break;
        }
        budget -= cost;
        messages.push(part);
      }
      if (cut) break;
    }
    if (cut) this.#stats.answersCut++;
    messages.forEach(([batch, range, head], i) => {
      this.#stats.offersSent++;
      const more = cut && i === messages.length - 1 ? 1 : 0;
      this.#send(
        peer,
        encode([
          OPS,
          batch.map((d) => [d.bytes, d.proof]),
          range,
          more,
          head ? [head.bytes, head.proof] : null,
        ]),
      );
    });
  }

  /**
   * One writer's offer as messages under the size limit. Each carries the
   * range it completes: (from, to] where every kept delta of that range is
   * in the message, and `to` never exceeds what we have fully seen.
   */
  #splitOffer(offer: Offer): Part[] {
    // Our own newest deltas may not be signed yet: never claim a range over them.
    const complete = offer.deltas.every((d) => d.proof) &&
      (offer.head === undefined || offer.head.proof !== undefined);
    const ready = offer.deltas.filter((d) => d.proof);
    const limit = Math.min(
      this.#o.maxMessageBytes - 256,
      this.#o.maxAnswerBytes,
    );
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
    const out: Part[] = [];
    let from = offer.from;
    chunks.forEach((batch, i) => {
      const last = i === chunks.length - 1;
      const to = last
        ? offer.to
        : Math.min(batch[batch.length - 1].delta.seq, offer.to);
      const range: [string, number, number] | null = complete && to > from
        ? [offer.writer, from, to]
        : null;
      if (batch.length === 0 && !range) return;
      out.push([batch, range, last && range ? offer.head : undefined]);
      if (range) from = to;
    });
    return out;
  }

  /** `via`: the neighbour that sent an answer directly; undefined for gossip. */
  async #onOps(
    items: unknown,
    range: unknown,
    head: unknown,
    via: PeerId | undefined,
  ): Promise<void> {
    const doc = this.#doc!;
    if (!Array.isArray(items)) {
      this.#stats.rejectedMalformed++;
      return;
    }
    let allOk = true;
    for (const item of items) {
      if (!this.#running) return;
      if (!(await this.#onDelta(doc, item))) allOk = false;
    }
    if (range !== null && range !== undefined) {
      if (via === undefined) {
        this.#stats.rejectedIndirect++; // ranges only from a neighbour's answer
      } else if (
        Array.isArray(range) && typeof range[0] === "string" &&
        Number.isSafeInteger(range[1]) && Number.isSafeInteger(range[2]) &&
        range[1] >= 0 && range[2] <= MAX_SEQ
      ) {
        if (head != null && !(await this.#proveHead(doc, range[0], head))) {
          allOk = false;
        }
        if (allOk && doc.joinRange(range[0], range[1], range[2])) {
          this.#record([LOG_RANGE, range[0], range[1], range[2]], false);
        }
      } else this.#stats.rejectedMalformed++;
    }
  }

  /** Checks and records an answer's head (see `Offer.head`); false when refused. */
  async #proveHead(
    doc: ContextDoc,
    writer: string,
    item: unknown,
  ): Promise<boolean> {
    if (
      !Array.isArray(item) || !(item[0] instanceof Uint8Array) ||
      !(item[1] instanceof Uint8Array) || item[0].length > this.#o.maxDeltaBytes
    ) {
      this.#stats.rejectedMalformed++;
      return false;
    }
    const [bytes, proof] = item as [Uint8Array, Uint8Array];
    let delta;
    try {
      delta = decodeDelta(bytes);
    } catch (error) {
      if (!(error instanceof InvalidPathError)) throw error;
      this.#stats.rejectedMalformed++;
      return false;
    }
    if (delta.writer !== writer) {
      this.#stats.rejectedMalformed++;
      return false;
    }
    if (delta.seq <= doc.top(writer)) return true;
    const peer = writerPeer(writer) as PeerId;
    if (!(await this.#o.transport.verify(peer, bytes, proof))) {
      this.#stats.rejectedForged++;
      return false;
    }
    if (doc.proveHead(bytes, proof)) {
      this.#record([LOG_HEAD, bytes, proof], false);
    }
    return true;
  }

  /** @returns true when merged or harmless, false when refused. */
  async #onDelta(doc: ContextDoc, item: unknown): Promise<boolean> {
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
    const peer = writerPeer(delta.writer) as PeerId;
    if (!(await this.#o.transport.verify(peer, bytes, proof))) {
      this.#stats.rejectedForged++;
      return false;
    }
    if (this.#o.canWrite) {
      for (const e of delta.entries) {
        if (!this.#o.canWrite(peer, e.path.join("."))) {
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
    if (result.status === "quota") {
      this.#stats.rejectedQuota++;
      return false;
    }
    if (result.status === "duplicate") {
      this.#stats.duplicates++;
      return true;
    }
    this.#stats.deltasMerged++;
    this.#record([LOG_DELTA, bytes, proof], false);
    if (result.changedPaths.length > 0) {
      this.#o.emit({
        type: "contextUpdated",
        peerId: peer,
        context: doc.toJSON(),
        changedPaths: result.changedPaths,
      });
    }
    return true;
  }

  // ------------------------------------------------------------ persistence

  /**
   * Saves a whole snapshot (taken when its turn comes, so one queued save
   * covers every change made before it runs), which empties the log.
   */
  #persist(rethrow: boolean): Promise<void> {
    const store = this.#o.store;
    if (!store) return Promise.resolve();
    if (this.#snapshotRun === undefined) {
      this.#snapshotRun = this.#onDisk(async () => {
        this.#snapshotRun = undefined;
        const snapshot = this.#doc!.snapshot();
        this.#logBytes = 0;
        await store.save(snapshot);
        this.#snapshotBytes = snapshot.length;
      });
    }
    const p = this.#snapshotRun;
    return rethrow ? p : p.catch(() => {});
  }

  /**
   * Records one change: one append to the store's log, or a snapshot when
   * the store keeps no log or the log has outgrown the snapshot.
   */
  #record(record: unknown[], rethrow: boolean): Promise<void> {
    const store = this.#o.store;
    if (!store) return Promise.resolve();
    if (
      !store.append ||
      this.#logBytes > Math.max(MIN_COMPACT_BYTES, this.#snapshotBytes)
    ) {
      return this.#persist(rethrow);
    }
    const bytes = encode(record);
    this.#logBytes += bytes.length;
    const p = this.#onDisk(() => store.append!(bytes));
    return rethrow ? p : p.catch(() => {});
  }

  /** Runs store operations one at a time, in call order. */
  #onDisk(job: () => Promise<void>): Promise<void> {
    const run = this.#disk.then(job).catch((error) => {
      this.#stats.saveErrors++;
      throw error;
    });
    this.#disk = run.catch(() => {});
    return run;
  }
}

/** Applies one log record to a replica being restored (a bad one is skipped). */
function replay(doc: ContextDoc, record: Uint8Array): void {
  try {
    const r = decode(record) as unknown[];
    if (!Array.isArray(r)) return;
    const [kind, a, b, c] = r;
    if (kind === LOG_DELTA && a instanceof Uint8Array) {
      doc.merge(a, b instanceof Uint8Array ? b : undefined);
    } else if (
      kind === LOG_RANGE && typeof a === "string" && Number.isSafeInteger(b) &&
      Number.isSafeInteger(c)
    ) {
      doc.joinRange(a, b as number, c as number);
    } else if (kind === LOG_HEAD && a instanceof Uint8Array) {
      doc.proveHead(a, b instanceof Uint8Array ? b : undefined);
    }
  } catch { /* a record that no longer applies: peers resend what matters */ }
}
