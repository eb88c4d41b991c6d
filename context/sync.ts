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
 * The service is here (options, start and stop, local changes, reads, and
 * what it does with each message received); anti-entropy is in
 * `_anti_entropy.ts`, and persistence (the snapshot, the log, replay and
 * compaction) in `_persistence.ts`.
 *
 * @module
 */

import { readSignedItem } from "./_signed.ts";
import { decode, encode } from "./_msgpack.ts";
import { NotStartedError } from "../core/errors.ts";
import type { JsonObject, JsonValue } from "../core/events.ts";
import type { PeerId } from "../core/peer_id.ts";
import type { ContextDoc } from "./doc.ts";
import { newWriterId, writerPeer } from "./writer.ts";
import type { ContextStore } from "./store.ts";
import type { TransportMessage } from "./transport.ts";
import type { VersionVector } from "./version_vector.ts";
import { AntiEntropy, DIGEST, OPS } from "./_anti_entropy.ts";
import { Persistence } from "./_persistence.ts";
import type { ContextSyncOptions, ContextSyncStats } from "./types.ts";

export type { ContextSyncOptions, ContextSyncStats } from "./types.ts";

/** The gossip topic of the shared context. */
export const CONTEXT_TOPIC = "avi-context/1";

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
  readonly #disk: Persistence;
  readonly #ae: AntiEntropy;
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
    this.#disk = new Persistence(this.#o.store, () => this.#stats.saveErrors++);
    this.#ae = new AntiEntropy(this.#o, this.#stats, {
      doc: () => this.#doc,
      running: () => this.#running,
      send: (peer, data) => this.#send(peer, data),
      disk: this.#disk,
    });
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
    this.#doc = await this.#disk.load(docOptions);
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
    this.#ae.clear();
    for (const u of this.#unsubs.splice(0)) {
      try {
        u();
      } catch { /* the transport may already be down */ }
    }
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
    await this.#disk.flush();
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
        context: doc.view(),
        changedPaths,
      });
    }
    this.#publish(encode([OPS, [[held.bytes, held.proof]], null]));
    await this.#disk.recordDelta(held.bytes, held.proof, true);
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
      peerStates: this.#ae.peerCount,
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
    return await this.#ae.catchUp(timeoutMs);
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
      this.#ae.sendDigest(peer);
    }, delay);
    this.#timers.add(id);
  }

  #round(): void {
    const doc = this.#doc;
    if (!this.#running || !doc) return;
    this.#signMissing(doc);
    const connected = new Set<string>(this.#o.transport.connectedPeers());
    // Anti-entropy state is kept for connected peers only.
    this.#ae.keepOnly(connected);
    for (const peer of connected) this.#ae.sendDigest(peer as PeerId);
    // Garbage collection over the replicas we know of.
    const known = this.#ae.knownVersions(doc, this.#o.transport.localPeerId);
    const writers = Object.keys(doc.version()).length;
    const n = doc.collectGarbage(known); // also retires finished writers
    this.#stats.tombstonesCollected += n;
    if (n > 0 || Object.keys(doc.version()).length !== writers) {
      this.#disk.save(false).catch(() => {});
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
          return this.#disk.save(false);
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
        if (direct) this.#ae.onDigest(m.from, msg[1], msg[2] === 1);
        else this.#stats.rejectedIndirect++;
      } else if (msg[0] === OPS) {
        await this.#onOps(msg[1], msg[2], msg[4], direct ? m.from : undefined);
        if (direct && msg[3] === 1 && this.#running) {
          this.#ae.sendDigest(m.from); // the answer was cut: ask for the rest
        }
      } else this.#stats.rejectedMalformed++;
    } catch {
      this.#stats.rejectedMalformed++; // never throw out of the receive loop
    }
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
      await this.#ae.onRange(doc, range, head, allOk, via);
    }
  }

  /** @returns true when merged or harmless, false when refused. */
  async #onDelta(doc: ContextDoc, item: unknown): Promise<boolean> {
    const read = readSignedItem(item, this.#o.maxDeltaBytes);
    if (typeof read === "string") {
      this.#stats[read]++;
      return false;
    }
    const { bytes, proof, delta } = read;
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
    this.#disk.recordDelta(bytes, proof, false);
    if (result.changedPaths.length > 0) {
      this.#o.emit({
        type: "contextUpdated",
        peerId: peer,
        context: doc.view(),
        changedPaths: result.changedPaths,
      });
    }
    return true;
  }
}
