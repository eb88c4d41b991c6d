/**
 * Anti-entropy for `ContextSync`: what it keeps per connected peer, the
 * digests it sends, its answers to theirs (at most one per
 * `answerIntervalMs`, at most `maxAnswerBytes` each, cut into messages
 * under `maxMessageBytes`), the ranges and heads of the answers it
 * receives, `catchUp`, and the version vectors garbage collection counts
 * on. The messages are described in the module doc of `sync.ts`.
 *
 * @module
 */

import { readSignedItem } from "./_signed.ts";
import { encode } from "./_msgpack.ts";
import { NotStartedError } from "../core/errors.ts";
import type { PeerId } from "../core/peer_id.ts";
import type { ContextDoc } from "./doc.ts";
import { MAX_SEQ } from "./delta.ts";
import { writerPeer } from "./writer.ts";
import type { VersionVector } from "./version_vector.ts";
import type { Persistence } from "./_persistence.ts";
import type {
  ContextSyncOptions,
  ContextSyncStats,
  HeldDelta,
  Offer,
} from "./types.ts";

/** Message tags: deltas (a gossip change or an answer), a digest. */
export const OPS = 1;
export const DIGEST = 2;
/** The most rows a digest may have. */
const MAX_DIGEST_ROWS = 100_000;
/** The most peers whose anti-entropy state is kept at once. */
const MAX_PEER_STATES = 256;

/** One message of an answer: kept deltas, the range they complete, the head. */
type Part = [HeldDelta[], [string, number, number] | null, HeldDelta?];

/** Stands for a peer that has changes this node does not know of. */
const AHEAD_OF_US: VersionVector = { "\u0000ahead": 1 };

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

/** The service's options anti-entropy reads. */
export type AntiEntropyOptions = Readonly<
  Pick<
    Required<ContextSyncOptions>,
    | "transport"
    | "answerIntervalMs"
    | "maxAnswerBytes"
    | "maxMessageBytes"
    | "maxDeltaBytes"
    | "now"
  >
>;

/** The service's counters anti-entropy moves. */
export type AntiEntropyCounters = Pick<
  ContextSyncStats,
  | "digestsSent"
  | "digestsDeferred"
  | "offersSent"
  | "answersCut"
  | "rejectedMalformed"
  | "rejectedTooLarge"
  | "rejectedIndirect"
  | "rejectedForged"
>;

/** What anti-entropy uses of the running service. */
export interface AntiEntropyLink {
  /** The replica while the service runs. */
  doc(): ContextDoc | undefined;
  /** Is the service running? */
  running(): boolean;
  /** Sends a direct message (failures are counted by the service). */
  send(peer: PeerId, data: Uint8Array): void;
  /** Where joined ranges and proven heads are recorded. */
  readonly disk: Persistence;
}

/** Anti-entropy with the connected peers of one service. */
export class AntiEntropy {
  readonly #o: AntiEntropyOptions;
  readonly #stats: AntiEntropyCounters;
  readonly #link: AntiEntropyLink;
  #peers = new Map<string, PeerState>();
  #heard = 0;

  /**
   * @param options The service's options.
   * @param stats The service's counters.
   * @param link The service.
   */
  constructor(
    options: AntiEntropyOptions,
    stats: AntiEntropyCounters,
    link: AntiEntropyLink,
  ) {
    this.#o = options;
    this.#stats = stats;
    this.#link = link;
  }

  /** Peers whose state is kept. */
  get peerCount(): number {
    return this.#peers.size;
  }

  /** Forgets every peer (the service stops). */
  clear(): void {
    for (const p of this.#peers.values()) clearTimeout(p.timer);
    this.#peers.clear();
  }

  /** Forgets the peers that are not in `connected`. */
  keepOnly(connected: ReadonlySet<string>): void {
    for (const [peer, state] of this.#peers) {
      if (!connected.has(peer)) {
        clearTimeout(state.timer);
        this.#peers.delete(peer);
      }
    }
  }

  /**
   * The version vectors of the replicas this node knows of, for garbage
   * collection: every peer that has written (other than `selfPeer`), with
   * its last digest if it is connected (else nothing known, which keeps its
   * tombstones until the horizon).
   */
  knownVersions(doc: ContextDoc, selfPeer: string): VersionVector[] {
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
    return known;
  }

  /** `reply`: ask the peer for its own digest in return (see `catchUp`). */
  sendDigest(peer: PeerId, reply = false): void {
    const doc = this.#link.doc();
    if (!this.#link.running() || !doc) return;
    this.#stats.digestsSent++;
    this.#link.send(
      peer,
      encode([DIGEST, Object.entries(doc.version()), reply ? 1 : 0]),
    );
  }

  /** A digest from a connected neighbour: keeps its state, answers it when due. */
  onDigest(from: PeerId, rows: unknown, reply: boolean): void {
    const doc = this.#link.doc()!;
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
      this.sendDigest(from);
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
      if (!v || !this.#link.running() || this.#peers.get(peer) !== state) {
        return;
      }
      state.answeredAt = this.#o.now();
      this.#answer(peer, v);
    }, Math.max(0, wait));
  }

  /** Sends `peer` what it lacks, at most `maxAnswerBytes` of deltas. */
  #answer(peer: PeerId, version: VersionVector): void {
    const messages: Part[] = [];
    let budget = this.#o.maxAnswerBytes;
    let cut = false;
    for (const offer of this.#link.doc()!.offer(version)) {
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
      this.#link.send(
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

  /**
   * An answer's range and head, once its deltas were merged (`allOk`: none
   * was refused). `via`: the neighbour that sent the answer directly;
   * undefined for gossip, where ranges are refused.
   */
  async onRange(
    doc: ContextDoc,
    range: unknown,
    head: unknown,
    allOk: boolean,
    via: PeerId | undefined,
  ): Promise<void> {
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
        this.#link.disk.recordRange(range[0], range[1], range[2]);
      }
    } else this.#stats.rejectedMalformed++;
  }

  /** Checks and records an answer's head (see `Offer.head`); false when refused. */
  async #proveHead(
    doc: ContextDoc,
    writer: string,
    item: unknown,
  ): Promise<boolean> {
    const read = readSignedItem(item, this.#o.maxDeltaBytes);
    if (typeof read === "string") {
      this.#stats[read]++;
      return false;
    }
    const { bytes, proof, delta } = read;
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
      this.#link.disk.recordHead(bytes, proof);
    }
    return true;
  }

  /** See `ContextSync.catchUp` (the caller checked that the service runs). */
  async catchUp(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    const mark = this.#heard;
    const every = Math.max(250, this.#o.answerIntervalMs);
    let askedAt = -Infinity;
    while (this.#link.running()) {
      const peers = this.#o.transport.connectedPeers();
      const done = peers.every((p) => {
        const s = this.#peers.get(p);
        return s !== undefined && s.heard > mark && !s.ahead;
      });
      if (done) return true;
      if (Date.now() >= deadline) return false;
      if (Date.now() - askedAt >= every) {
        askedAt = Date.now();
        for (const p of peers) this.sendDigest(p, true);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new NotStartedError();
  }
}
