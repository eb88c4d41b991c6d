/**
 * The dashboard's picture of the node: peers, devices, the shared context,
 * messages, streams, counters and the message rate, fed by the node's
 * events, the bridge's events and a {@linkcode PublishTap}, and polled for
 * what has no event (round-trip times, counters, device details) while a
 * page is attached.
 *
 * Every table is bounded (see {@linkcode BOUNDS}); when nothing is attached
 * the model only keeps its tables up to date (no polling, no deltas).
 * Peers, devices and the context tree are kept by their own tables
 * (`_peers.ts`, `_devices.ts`, `_context.ts`); the messages, streams,
 * counters and rate here.
 *
 * @module
 */

import type { AviEvent } from "../mod.ts";
import type { BridgeEvent } from "../bridge/mod.ts";
import type {
  DashboardBridge,
  DashboardHandle,
  DashboardNode,
} from "./options.ts";
import type { PublishTap } from "./tap.ts";
import type {
  Counters,
  DashboardSnapshot,
  DashboardUpdate,
  LagView,
  MessageView,
  StatsView,
  StreamView,
} from "./types.ts";
import { BOUNDS, RateCounter, toBase64, trim } from "./_tables.ts";
import { ContextTree } from "./_context.ts";
import { DeviceTable } from "./_devices.ts";
import { PeerTable } from "./_peers.ts";

export { BOUNDS, valueAt } from "./_tables.ts";

const POLL_MS = 1000;
const PEERS_EVERY = 3; // polls
const PING_EVERY = 5; // polls
const CLOSED_STREAM_MS = 30_000;

interface StoredMessage {
  seq: number;
  ts: number;
  from: string;
  topic: string;
  size: number;
  head: Uint8Array;
  mine: boolean;
}

/** Options of the model. */
export interface ModelOptions {
  bridge?: DashboardBridge;
  tap?: PublishTap;
  readOnly: boolean;
  /** Topics to subscribe the node to at start, for the message log. */
  topics: string[];
}

/** The dashboard's picture of one node. */
export class DashboardModel {
  readonly #node: DashboardNode;
  readonly #h: DashboardHandle;
  readonly #o: ModelOptions;
  readonly #startedAt = Date.now();
  #closed = false;

  readonly #peers: PeerTable;
  readonly #devices: DeviceTable;
  readonly #context = new ContextTree();
  #messages: (StoredMessage | undefined)[] = new Array(BOUNDS.messages);
  #seq = 0;
  #rate: RateCounter;
  #streams = new Map<string, StreamView & { closedAt?: number }>();
  #watched = new Set<string>();
  /** Topics the dashboard subscribed (not the node's own). */
  #subscribedByUs = new Set<string>();
  #stats: StatsView;
  #lag: LagView = { nodeEvents: 0, bridgeEvents: 0, messagesSkipped: 0 };

  // What changed since the last update (kept only while active).
  #active = false;
  #sentSeq = 0;
  #sentRateEnd: number | undefined;
  #sentStats = "";
  #sentStreams = "";
  #sentLag = "";
  #watchedDirty = false;

  #nodeEvents: AsyncIterableIterator<AviEvent> | undefined;
  #bridgeEvents: AsyncIterableIterator<BridgeEvent> | undefined;
  #untap: (() => void) | undefined;
  #loops: Promise<void>[] = [];
  #poll: ReturnType<typeof setInterval> | undefined;
  #polls = 0;
  #polling = false;

  constructor(node: DashboardNode, options: ModelOptions) {
    this.#node = node;
    this.#h = node.handle();
    this.#o = options;
    this.#peers = new PeerTable(this.#h);
    this.#devices = new DeviceTable(options.bridge, this.#lag);
    this.#rate = new RateCounter(BOUNDS.rateSeconds, Date.now());
    this.#stats = this.#readStats();
  }

  /** Starts listening; resolves once the first picture is taken. */
  async start(): Promise<void> {
    // Events first, so that nothing between the reads and the loop is lost.
    this.#nodeEvents = this.#node.events();
    this.#bridgeEvents = this.#o.bridge?.events?.({ queueSize: 1024 });
    this.#untap = this.#o.tap?.listen((topic, data) =>
      this.#onMessage(this.#node.peerId, topic, data, true)
    );
    this.#loops.push(this.#nodeLoop(this.#nodeEvents));
    if (this.#bridgeEvents) {
      this.#loops.push(this.#bridgeLoop(this.#bridgeEvents));
    }
    this.#context.doc = await this.#h.getContext();
    for (const id of await this.#h.connectedPeers()) {
      this.#peers.up(id, undefined);
    }
    this.#devices.poll();
    for (const t of this.#o.topics) await this.watch(t);
  }

  /** Stops listening and unsubscribes what the dashboard subscribed. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#poll);
    this.#untap?.();
    await this.#nodeEvents?.return?.();
    await this.#bridgeEvents?.return?.();
    await Promise.allSettled(this.#loops);
    for (const t of this.#subscribedByUs) {
      await this.#h.unsubscribe(t).catch(() => {});
    }
  }

  /** Whether a page is attached: polls run and deltas are collected. */
  setActive(active: boolean): void {
    if (active === this.#active || this.#closed) return;
    this.#active = active;
    this.#peers.setActive(active);
    this.#devices.setActive(active);
    this.#context.setActive(active);
    this.#sentSeq = this.#seq;
    this.#sentRateEnd = undefined;
    if (active) {
      this.#poll = setInterval(() => this.#tickPoll(), POLL_MS);
      this.#tickPoll();
    } else {
      clearInterval(this.#poll);
      this.#poll = undefined;
    }
  }

  // ---- watched topics ------------------------------------------------------

  /**
   * Subscribes the node to `topic` for the message log.
   * @throws {RangeError} Beyond {@linkcode BOUNDS.watched} topics.
   */
  async watch(topic: string): Promise<void> {
    if (this.#watched.has(topic)) return;
    if (this.#watched.size >= BOUNDS.watched) {
      throw new RangeError(`at most ${BOUNDS.watched} watched topics`);
    }
    const already = new Set(await this.#h.subscriptions());
    if (!already.has(topic)) {
      await this.#h.subscribe(topic);
      this.#subscribedByUs.add(topic);
    }
    this.#watched.add(topic);
    this.#watchedDirty = true;
  }

  /** Stops watching `topic` (the node stays subscribed if it was before). */
  async unwatch(topic: string): Promise<void> {
    if (!this.#watched.delete(topic)) return;
    this.#watchedDirty = true;
    if (this.#subscribedByUs.delete(topic)) {
      await this.#h.unsubscribe(topic).catch(() => {});
    }
  }

  // ---- the whole picture and the deltas ------------------------------------

  /** Everything, for a page that connects. */
  snapshot(): DashboardSnapshot {
    const now = Date.now();
    return {
      self: {
        peerId: this.#node.peerId,
        name: this.#node.nodeName,
        listenAddresses: this.#node.listenAddresses,
        gateway: this.#o.bridge !== undefined,
        readOnly: this.#o.readOnly,
        startedAt: this.#startedAt,
      },
      now,
      peers: this.#peers.views(),
      devices: this.#devices.views(),
      context: this.#context.doc,
      writes: this.#context.writes(),
      messages: this.#messageViews(BOUNDS.messagesPerTick, 0),
      watched: [...this.#watched],
      streams: this.#streamViews(),
      stats: this.#stats,
      rate: this.#rate.view(now),
      lag: { ...this.#lag },
    };
  }

  /**
   * What changed since the previous call (undefined: nothing). Called once
   * per tick while active; the result goes to every attached page.
   */
  collect(): DashboardUpdate | undefined {
    const now = Date.now();
    const u: DashboardUpdate = { now };
    let any = false;
    if (this.#peers.collect(u)) any = true;
    if (this.#devices.collect(u)) any = true;
    if (this.#context.collect(u)) any = true;
    if (this.#seq > this.#sentSeq) {
      const fresh = this.#seq - this.#sentSeq;
      const n = Math.min(fresh, BOUNDS.messagesPerTick);
      this.#lag.messagesSkipped += fresh - n;
      u.messages = this.#messageViews(n, this.#sentSeq);
      this.#sentSeq = this.#seq;
      any = true;
    }
    if (this.#watchedDirty) {
      u.watched = [...this.#watched];
      this.#watchedDirty = false;
      any = true;
    }
    const streams = this.#streamViews();
    const streamsKey = JSON.stringify(streams);
    if (streamsKey !== this.#sentStreams) {
      u.streams = streams;
      this.#sentStreams = streamsKey;
      any = true;
    }
    const statsKey = JSON.stringify(this.#stats);
    if (statsKey !== this.#sentStats) {
      u.stats = this.#stats;
      this.#sentStats = statsKey;
      any = true;
    }
    const rate = this.#rate.view(
      now,
      this.#sentRateEnd ?? Math.floor(now / 1000) - 2,
    );
    if (rate.in.length > 0) {
      u.rate = rate;
      this.#sentRateEnd = rate.end;
      any = true;
    }
    const lagKey = JSON.stringify(this.#lag);
    if (lagKey !== this.#sentLag) {
      u.lag = { ...this.#lag };
      this.#sentLag = lagKey;
      any = true;
    }
    return any ? u : undefined;
  }

  #messageViews(max: number, afterSeq: number): MessageView[] {
    const out: MessageView[] = [];
    const first = Math.max(afterSeq + 1, this.#seq - max + 1, 1);
    for (let s = first; s <= this.#seq; s++) {
      const m = this.#messages[s % BOUNDS.messages];
      if (!m || m.seq !== s) continue;
      out.push({
        seq: m.seq,
        ts: m.ts,
        from: m.from,
        topic: m.topic,
        size: m.size,
        data: toBase64(m.head),
        mine: m.mine,
      });
    }
    return out;
  }

  #streamViews(): StreamView[] {
    return [...this.#streams.values()].map(({ closedAt: _, ...s }) => s);
  }

  // ---- feeds ---------------------------------------------------------------

  async #nodeLoop(events: AsyncIterableIterator<AviEvent>): Promise<void> {
    try {
      for await (const ev of events) {
        if (this.#closed) break;
        this.#onNodeEvent(ev);
      }
    } catch { /* the node stopped */ }
  }

  #onNodeEvent(ev: AviEvent): void {
    switch (ev.type) {
      case "message":
        this.#onMessage(ev.from, ev.topic, ev.data, false);
        break;
      case "peerDiscovered":
        this.#peers.discovered(ev.peerId);
        break;
      case "peerConnected":
        this.#peers.up(ev.peerId, ev.address);
        break;
      case "peerDisconnected":
        this.#peers.down(ev.peerId);
        break;
      case "contextUpdated":
        this.#context.onUpdate(ev.peerId, ev.context, ev.changedPaths);
        break;
      case "streamRequested":
      case "streamAccepted":
      case "streamRejected":
      case "streamClosed":
        this.#onStream(ev);
        break;
      case "lagged":
        this.#lag.nodeEvents += ev.dropped;
        // Events were lost: take the context again.
        this.#h.getContext().then((c) => this.#context.reload(c), () => {});
        break;
    }
  }

  async #bridgeLoop(events: AsyncIterableIterator<BridgeEvent>): Promise<void> {
    try {
      for await (const ev of events) {
        if (this.#closed) break;
        this.#devices.onBridgeEvent(ev);
      }
    } catch { /* the bridge closed */ }
  }

  #onMessage(
    from: string,
    topic: string,
    data: Uint8Array,
    mine: boolean,
  ): void {
    const now = Date.now();
    const seq = ++this.#seq;
    this.#messages[seq % BOUNDS.messages] = {
      seq,
      ts: now,
      from,
      topic,
      size: data.length,
      head: data.slice(0, BOUNDS.payloadBytes),
      mine,
    };
    this.#rate.count(now, mine);
    if (mine) this.#devices.onPublished(topic, data, now);
  }

  #onStream(
    ev: Extract<
      AviEvent,
      {
        type:
          | "streamRequested"
          | "streamAccepted"
          | "streamRejected"
          | "streamClosed";
      }
    >,
  ): void {
    const id = ev.streamId;
    const s = this.#streams.get(id);
    if (ev.type === "streamRequested") {
      this.#streams.set(id, {
        id,
        peer: ev.from,
        mode: ev.mode,
        direction: "inbound",
        state: "pending",
        framesSent: 0,
        framesReceived: 0,
        lost: 0,
        dropped: 0,
        jitterMs: 0,
        latencyMs: 0,
      });
    } else if (ev.type === "streamAccepted") {
      this.#streams.set(id, {
        id,
        peer: ev.peerId,
        mode: s?.mode ?? "",
        direction: s?.direction ?? "outbound",
        state: "open",
        framesSent: s?.framesSent ?? 0,
        framesReceived: s?.framesReceived ?? 0,
        lost: s?.lost ?? 0,
        dropped: s?.dropped ?? 0,
        jitterMs: s?.jitterMs ?? 0,
        latencyMs: s?.latencyMs ?? 0,
      });
    } else if (s) {
      s.state = "closed";
      s.closedAt = Date.now();
    }
    trim(this.#streams, BOUNDS.streams, (v) => v.state === "closed");
  }

  // ---- polling while a page is attached ------------------------------------

  #readStats(): StatsView {
    const out: StatsView = { mesh: this.#node.stats() as Counters };
    try {
      if (this.#o.bridge) {
        out.bridge = this.#o.bridge.stats() as unknown as Counters;
      }
    } catch { /* closed */ }
    return out;
  }

  async #tickPoll(): Promise<void> {
    if (this.#polling || this.#closed) return;
    this.#polling = true;
    const n = this.#polls++;
    try {
      if (this.#node.running) this.#stats = this.#readStats();
      this.#devices.poll();
      await this.#pollStreams();
      if (n % PEERS_EVERY === 0) await this.#peers.poll();
      if (n % PING_EVERY === 0) await this.#peers.ping();
    } catch {
      /* the node is stopping */
    } finally {
      this.#polling = false;
    }
  }

  async #pollStreams(): Promise<void> {
    const now = Date.now();
    for (const [id, s] of this.#streams) {
      if (s.state === "closed") {
        if (now - (s.closedAt ?? now) > CLOSED_STREAM_MS) {
          this.#streams.delete(id);
        }
        continue;
      }
      const st = await this.#h.streamStats(id).catch(() => undefined);
      if (!st) continue;
      Object.assign(s, {
        peer: st.peer,
        mode: st.mode,
        direction: st.direction,
        state: st.state,
        framesSent: st.framesSent,
        framesReceived: st.framesReceived,
        lost: st.lost,
        dropped: st.dropped,
        jitterMs: Math.round(st.jitterMs * 100) / 100,
        latencyMs: Math.round(st.latencyMs * 100) / 100,
      });
      if (st.state === "closed") s.closedAt = now;
    }
  }
}
