/**
 * The dashboard's picture of the node: peers, devices, the shared context,
 * messages, streams, counters and the message rate, fed by the node's
 * events, the bridge's events and a {@linkcode PublishTap}, and polled for
 * what has no event (round-trip times, counters, device details) while a
 * page is attached.
 *
 * Every table is bounded (see {@linkcode BOUNDS}); when nothing is attached
 * the model only keeps its tables up to date (no polling, no deltas).
 *
 * @module
 */

import type { AviEvent, JsonObject, JsonValue } from "../mod.ts";
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
  DeviceView,
  LagView,
  MessageView,
  PeerView,
  RateView,
  StatsView,
  StreamView,
  WriteView,
} from "./types.ts";

/** The bounds of the model's tables. */
export const BOUNDS = {
  /** Peers kept (disconnected ones go first). */
  peers: 256,
  /** Devices kept (offline ones go first). */
  devices: 1024,
  /** Messages kept for a page that connects. */
  messages: 500,
  /** Messages sent to pages per tick (the rest are counted, not sent). */
  messagesPerTick: 100,
  /** Payload bytes kept per message. */
  payloadBytes: 512,
  /** Context paths whose writer is remembered. */
  writes: 5000,
  /** Changed context paths sent one by one per tick (more: the whole document). */
  contextPathsPerTick: 500,
  /** Seconds of message rate kept. */
  rateSeconds: 300,
  /** Streams shown. */
  streams: 64,
  /** Topics the page may have the node subscribe to. */
  watched: 32,
} as const;

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

function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return btoa(s);
}

/** The value at a dotted path, or undefined. */
export function valueAt(doc: JsonValue, path: string): JsonValue | undefined {
  let v: JsonValue | undefined = doc;
  for (const key of path.split(".")) {
    if (v === null || typeof v !== "object" || Array.isArray(v)) {
      return undefined;
    }
    if (!Object.hasOwn(v, key)) return undefined;
    v = (v as Record<string, JsonValue>)[key];
  }
  return v;
}

/** Drops `map`'s oldest entries (insertion order) that `droppable` allows, down to `max`. */
function trim<V>(
  map: Map<string, V>,
  max: number,
  droppable: (v: V) => boolean,
) {
  if (map.size <= max) return;
  for (const [k, v] of map) {
    if (map.size <= max) return;
    if (droppable(v)) map.delete(k);
  }
  for (const k of map.keys()) {
    if (map.size <= max) return;
    map.delete(k);
  }
}

const BUTTON = /^device\/([^/]+)\/button$/;
const DEVICE = /^device\/([^/]+)\//;

/** Counts per whole second over a window, for the rate plot. */
class RateCounter {
  readonly #secs: number;
  #in: number[];
  #out: number[];
  /** The second `#in[#secs - 1]` counts. */
  #end: number;

  constructor(secs: number, now: number) {
    this.#secs = secs;
    this.#in = new Array(secs).fill(0);
    this.#out = new Array(secs).fill(0);
    this.#end = Math.floor(now / 1000);
  }

  #advance(sec: number) {
    const d = sec - this.#end;
    if (d <= 0) return;
    if (d >= this.#secs) {
      this.#in.fill(0);
      this.#out.fill(0);
    } else {
      this.#in.splice(0, d);
      this.#out.splice(0, d);
      for (let i = 0; i < d; i++) {
        this.#in.push(0);
        this.#out.push(0);
      }
    }
    this.#end = sec;
  }

  count(now: number, mine: boolean) {
    this.#advance(Math.floor(now / 1000));
    (mine ? this.#out : this.#in)[this.#secs - 1]++;
  }

  /**
   * The complete seconds after `after` (every kept one when undefined), up
   * to the last complete second.
   */
  view(now: number, after?: number): RateView {
    this.#advance(Math.floor(now / 1000));
    const last = this.#end - 1;
    const k = after === undefined
      ? this.#secs - 1
      : Math.min(this.#secs - 1, last - after);
    if (k <= 0) return { end: last, in: [], out: [] };
    const from = this.#secs - 1 - k;
    return {
      end: last,
      in: this.#in.slice(from, this.#secs - 1),
      out: this.#out.slice(from, this.#secs - 1),
    };
  }
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

  #peers = new Map<string, PeerView>();
  #devices = new Map<string, DeviceView>();
  #context: JsonObject = {};
  #writes = new Map<string, WriteView>();
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
  #dirtyPeers = new Set<string>();
  #gonePeers = new Set<string>();
  #dirtyDevices = new Set<string>();
  #dirtyPaths = new Set<string>();
  #contextFull = false;
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
    this.#context = await this.#h.getContext();
    for (const id of await this.#h.connectedPeers()) {
      this.#peerUp(id, undefined);
    }
    this.#pollDevices();
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
    this.#dirtyPeers.clear();
    this.#gonePeers.clear();
    this.#dirtyDevices.clear();
    this.#dirtyPaths.clear();
    this.#contextFull = false;
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
      peers: [...this.#peers.values()],
      devices: [...this.#devices.values()],
      context: this.#context,
      writes: Object.fromEntries(this.#writes),
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
    if (this.#dirtyPeers.size > 0) {
      u.peers = [...this.#dirtyPeers].map((id) => this.#peers.get(id))
        .filter((p): p is PeerView => p !== undefined);
      this.#dirtyPeers.clear();
      any = true;
    }
    if (this.#gonePeers.size > 0) {
      u.peersGone = [...this.#gonePeers];
      this.#gonePeers.clear();
      any = true;
    }
    if (this.#dirtyDevices.size > 0) {
      u.devices = [...this.#dirtyDevices].map((id) => this.#devices.get(id))
        .filter((d): d is DeviceView => d !== undefined);
      this.#dirtyDevices.clear();
      any = true;
    }
    if (this.#contextFull || this.#dirtyPaths.size > 0) {
      const writes: Record<string, WriteView> = {};
      if (this.#contextFull) {
        u.context = { full: this.#context };
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
          set.push([p, valueAt(this.#context, p) ?? null]);
        }
        u.context = { set };
      }
      u.writes = writes;
      this.#dirtyPaths.clear();
      this.#contextFull = false;
      any = true;
    }
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
        if (!this.#peers.has(ev.peerId)) {
          this.#setPeer({
            peerId: ev.peerId,
            addresses: [],
            connected: false,
            since: Date.now(),
          });
        }
        break;
      case "peerConnected":
        this.#peerUp(ev.peerId, ev.address);
        break;
      case "peerDisconnected": {
        const p = this.#peers.get(ev.peerId);
        if (p) {
          this.#setPeer({
            ...p,
            connected: false,
            remoteAddress: undefined,
            since: Date.now(),
          });
        }
        break;
      }
      case "contextUpdated":
        this.#onContext(ev.peerId, ev.context, ev.changedPaths);
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
        this.#h.getContext().then((c) => {
          this.#context = c;
          if (this.#active) this.#contextFull = true;
        }, () => {});
        break;
    }
  }

  async #bridgeLoop(events: AsyncIterableIterator<BridgeEvent>): Promise<void> {
    try {
      for await (const ev of events) {
        if (this.#closed) break;
        this.#onBridgeEvent(ev);
      }
    } catch { /* the bridge closed */ }
  }

  #onBridgeEvent(ev: BridgeEvent): void {
    switch (ev.type) {
      case "deviceConnected": {
        const d = this.#device(ev.deviceId);
        d.online = true;
        d.sleeping = false;
        d.address = ev.address;
        d.sessionId = ev.sessionId;
        d.connectedAt = d.lastSeen = Date.now();
        d.goneReason = undefined;
        this.#touchDevice(d.deviceId);
        this.#pollDevices();
        break;
      }
      case "deviceGone": {
        const d = this.#devices.get(ev.deviceId);
        if (!d) break;
        if (ev.reason !== "replaced") d.online = false;
        d.goneReason = ev.reason;
        this.#touchDevice(d.deviceId);
        break;
      }
      case "deviceSleeping": {
        const d = this.#device(ev.deviceId);
        d.sleeping = true;
        this.#touchDevice(d.deviceId);
        break;
      }
      case "deviceAwake": {
        const d = this.#device(ev.deviceId);
        d.sleeping = false;
        this.#touchDevice(d.deviceId);
        break;
      }
      case "lagged":
        this.#lag.bridgeEvents += ev.dropped;
        this.#pollDevices();
        break;
    }
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
    if (!mine || !topic.startsWith("device/")) return;
    const id = DEVICE.exec(topic)?.[1];
    if (id === undefined) return;
    const d = this.#devices.get(id);
    if (!d) return;
    d.events++;
    if (BUTTON.test(topic)) {
      d.presses++;
      const press: DeviceView["lastPress"] = { ts: now };
      try {
        const j = JSON.parse(new TextDecoder().decode(data));
        if (typeof j?.button_id === "number") press.buttonId = j.button_id;
        if (typeof j?.type === "string") press.type = j.type;
      } catch { /* not the bridge's JSON */ }
      d.lastPress = press;
    }
    d.lastSeen = now;
    this.#touchDevice(id);
  }

  #onContext(writer: string, doc: JsonObject, changed: string[]): void {
    this.#context = doc;
    const at = Date.now();
    for (const p of changed) {
      this.#writes.delete(p);
      this.#writes.set(p, { by: writer, at });
      if (this.#active && !this.#contextFull) {
        this.#dirtyPaths.add(p);
        if (this.#dirtyPaths.size > BOUNDS.contextPathsPerTick) {
          this.#contextFull = true;
          this.#dirtyPaths.clear();
        }
      }
    }
    trim(this.#writes, BOUNDS.writes, () => true);
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

  // ---- peers and devices ---------------------------------------------------

  #setPeer(p: PeerView): void {
    if (p.remoteAddress === undefined) delete p.remoteAddress;
    this.#peers.set(p.peerId, p);
    if (this.#active) {
      this.#dirtyPeers.add(p.peerId);
      this.#gonePeers.delete(p.peerId);
    }
    if (this.#peers.size > BOUNDS.peers) {
      const before = new Set(this.#peers.keys());
      trim(this.#peers, BOUNDS.peers, (v) => !v.connected);
      for (const id of before) {
        if (!this.#peers.has(id) && this.#active) {
          this.#gonePeers.add(id);
          this.#dirtyPeers.delete(id);
        }
      }
    }
  }

  #peerUp(id: string, address: string | undefined): void {
    const p = this.#peers.get(id);
    this.#setPeer({
      peerId: id,
      addresses: p?.addresses ?? [],
      name: p?.name,
      rttMs: p?.rttMs,
      connected: true,
      remoteAddress: address ?? p?.remoteAddress,
      since: p?.connected ? p.since : Date.now(),
    });
    if (p?.name === undefined) this.#refreshPeer(id);
  }

  async #refreshPeer(id: string): Promise<void> {
    const info = await this.#h.peerInfo(id).catch(() => undefined);
    const p = this.#peers.get(id);
    if (!info || !p) return;
    const name = info.agentVersion ?? p.name;
    const addresses = info.addresses;
    if (
      name === p.name &&
      JSON.stringify(addresses) === JSON.stringify(p.addresses)
    ) return;
    this.#setPeer({ ...p, name, addresses });
  }

  #device(id: string): DeviceView {
    let d = this.#devices.get(id);
    if (!d) {
      d = {
        deviceId: id,
        online: false,
        address: "",
        sessionId: 0,
        connectedAt: 0,
        lastSeen: 0,
        subscriptions: [],
        sleeping: false,
        queued: 0,
        events: 0,
        presses: 0,
      };
      this.#devices.set(id, d);
      trim(this.#devices, BOUNDS.devices, (v) => !v.online);
    }
    return d;
  }

  #touchDevice(id: string): void {
    if (this.#active) this.#dirtyDevices.add(id);
  }

  /** Takes the bridge's device list (details that have no event). */
  #pollDevices(): void {
    const bridge = this.#o.bridge;
    if (!bridge) return;
    let list;
    try {
      list = bridge.devices();
    } catch {
      return; // closed
    }
    const seen = new Set<string>();
    for (const info of list) {
      seen.add(info.deviceId);
      const d = this.#device(info.deviceId);
      const subs = info.subscriptions.join("\n");
      if (
        d.online && d.address === info.address &&
        d.sessionId === info.sessionId && d.lastSeen === info.lastSeen &&
        d.sleeping === info.sleeping && d.queued === info.queued &&
        d.subscriptions.join("\n") === subs
      ) continue;
      d.online = true;
      d.address = info.address;
      d.sessionId = info.sessionId;
      d.connectedAt = info.connectedAt;
      d.lastSeen = Math.max(d.lastSeen, info.lastSeen);
      d.subscriptions = [...info.subscriptions];
      d.sleeping = info.sleeping;
      d.queued = info.queued;
      this.#touchDevice(d.deviceId);
    }
    for (const d of this.#devices.values()) {
      if (d.online && !seen.has(d.deviceId)) {
        d.online = false;
        this.#touchDevice(d.deviceId);
      }
    }
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
      this.#pollDevices();
      await this.#pollStreams();
      if (n % PEERS_EVERY === 0) await this.#pollPeers();
      if (n % PING_EVERY === 0) await this.#pingPeers();
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

  async #pollPeers(): Promise<void> {
    const ids = new Set<string>(await this.#h.connectedPeers());
    for (const id of ids) {
      const p = this.#peers.get(id);
      if (!p || !p.connected) this.#peerUp(id, undefined);
      else await this.#refreshPeer(id);
    }
    for (const p of this.#peers.values()) {
      if (p.connected && !ids.has(p.peerId)) {
        this.#setPeer({
          ...p,
          connected: false,
          remoteAddress: undefined,
          since: Date.now(),
        });
      }
    }
  }

  async #pingPeers(): Promise<void> {
    const up = [...this.#peers.values()].filter((p) => p.connected);
    await Promise.all(up.map(async (p) => {
      const rtt = await this.#h.ping(p.peerId, { timeoutMs: 2000 }).catch(
        () => undefined,
      );
      const now = this.#peers.get(p.peerId);
      if (rtt === undefined || !now) return;
      this.#setPeer({ ...now, rttMs: Math.round(rtt * 10) / 10 });
    }));
  }
}
