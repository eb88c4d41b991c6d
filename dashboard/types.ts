/**
 * The shapes the dashboard's JSON API and event stream carry: a full
 * {@linkcode DashboardSnapshot} when a page connects (and `GET /api/state`),
 * then one {@linkcode DashboardUpdate} per tick with what changed.
 *
 * @module
 */

import type { JsonObject, JsonValue } from "../mod.ts";
import type { DeviceInfo } from "../bridge/mod.ts";

/**
 * Counters by name: numbers, and groups of counters.
 *
 * @example
 * ```ts
 * import type { Counters } from "@avi/p2p/dashboard";
 * const c: Counters = { eventsEmitted: 3, context: { deltasMerged: 1 } };
 * ```
 */
export type Counters = { [name: string]: number | Counters };

/**
 * The node serving the dashboard.
 *
 * @example
 * ```ts
 * import type { SelfView } from "@avi/p2p/dashboard";
 * const title = (s: SelfView) => s.gateway ? `${s.name} (gateway)` : s.name;
 * ```
 */
export interface SelfView {
  /** Its peer id. */
  peerId: string;
  /** Its node name. */
  name: string;
  /** The multiaddrs it listens on. */
  listenAddresses: string[];
  /** Whether it runs a bridge (device cards). */
  gateway: boolean;
  /** Whether the page may change anything (context edits, watched topics). */
  readOnly: boolean;
  /** When the dashboard started, ms since the Unix epoch. */
  startedAt: number;
}

/**
 * A peer in view of this node.
 *
 * @example
 * ```ts
 * import type { PeerView } from "@avi/p2p/dashboard";
 * const label = (p: PeerView) => `${p.name ?? p.peerId}: ${p.rttMs ?? "?"} ms`;
 * ```
 */
export interface PeerView {
  /** Its peer id. */
  peerId: string;
  /** Its node name (Identify agent version), once known. */
  name?: string;
  /** Its known listen addresses. */
  addresses: string[];
  /** The remote address of the connection, while connected. */
  remoteAddress?: string;
  /** Whether a connection to it is open now. */
  connected: boolean;
  /** The last round-trip time measured, ms. */
  rttMs?: number;
  /** When `connected` last changed, ms since the Unix epoch. */
  since: number;
}

/**
 * The last button press of a device.
 *
 * @example
 * ```ts
 * import type { PressView } from "@avi/p2p/dashboard";
 * const said = (p: PressView) => `${p.type} press of button ${p.buttonId}`;
 * ```
 */
export interface PressView {
  /** When the gateway published it, ms since the Unix epoch. */
  ts: number;
  /** The button. */
  buttonId?: number;
  /** `single`, `double` or `long`. */
  type?: string;
}

/**
 * A device of the gateway, online or seen since the dashboard started.
 *
 * @example
 * ```ts
 * import type { DeviceView } from "@avi/p2p/dashboard";
 * const online = (ds: DeviceView[]) => ds.filter((d) => d.online).length;
 * ```
 */
export interface DeviceView extends DeviceInfo {
  /** Whether it has a session now. */
  online: boolean;
  /** Why its last session ended (`timeout`, `disconnected`, ...). */
  goneReason?: string;
  /** Messages published for it since the dashboard started. */
  events: number;
  /** Button presses since the dashboard started. */
  presses: number;
  /** Its last button press. */
  lastPress?: PressView;
}

/**
 * One pub/sub message, received or published by this node.
 *
 * @example
 * ```ts
 * import type { MessageView } from "@avi/p2p/dashboard";
 * const text = (m: MessageView) => atob(m.data);
 * ```
 */
export interface MessageView {
  /** Its order among the messages the dashboard saw (from 1). */
  seq: number;
  /** When, ms since the Unix epoch. */
  ts: number;
  /** Its signed author (this node's id for what it published). */
  from: string;
  /** Its topic. */
  topic: string;
  /** The payload's full length in bytes. */
  size: number;
  /** Base64 of the payload's first bytes (at most 512). */
  data: string;
  /** Whether this node published it (a bridge's device event). */
  mine: boolean;
}

/**
 * An open (or lately closed) stream of this node.
 *
 * @example
 * ```ts
 * import type { StreamView } from "@avi/p2p/dashboard";
 * const lossy = (s: StreamView) => s.lost > 0;
 * ```
 */
export interface StreamView {
  /** The stream id. */
  id: string;
  /** The other end. */
  peer: string;
  /** `reliable` or `realtime`. */
  mode: string;
  /** `outbound` (this node asked) or `inbound`. */
  direction: string;
  /** `pending`, `open` or `closed`. */
  state: string;
  /** Frames sent. */
  framesSent: number;
  /** Frames received. */
  framesReceived: number;
  /** Frames lost (gaps in the peer's numbering). */
  lost: number;
  /** Frames dropped from this node's bounded queues. */
  dropped: number;
  /** Interarrival jitter, ms. */
  jitterMs: number;
  /** One-way latency estimate, ms. */
  latencyMs: number;
}

/**
 * Who last wrote a context path, as far as this dashboard saw.
 *
 * @example
 * ```ts
 * import type { WriteView } from "@avi/p2p/dashboard";
 * const when = (w: WriteView) => new Date(w.at).toISOString();
 * ```
 */
export interface WriteView {
  /** The writer's peer id. */
  by: string;
  /** When this node applied it, ms since the Unix epoch. */
  at: number;
}

/**
 * Messages per second, one count per second up to `end`.
 *
 * @example
 * ```ts
 * import type { RateView } from "@avi/p2p/dashboard";
 * const now = (r: RateView) => (r.in.at(-1) ?? 0) + (r.out.at(-1) ?? 0);
 * ```
 */
export interface RateView {
  /** The last second counted (whole seconds since the Unix epoch). */
  end: number;
  /** Messages received from the mesh, per second, oldest first. */
  in: number[];
  /** Messages this node published (device events), per second. */
  out: number[];
}

/**
 * What was lost on the way to the page, counted since the start.
 *
 * @example
 * ```ts
 * import type { LagView } from "@avi/p2p/dashboard";
 * const behind = (l: LagView) => l.nodeEvents + l.bridgeEvents > 0;
 * ```
 */
export interface LagView {
  /** Node events the dashboard missed because it fell behind the node. */
  nodeEvents: number;
  /** Bridge events it missed. */
  bridgeEvents: number;
  /** Messages received faster than a tick could carry (not sent to pages). */
  messagesSkipped: number;
}

/**
 * The counters of the node and its bridge.
 *
 * @example
 * ```ts
 * import type { StatsView } from "@avi/p2p/dashboard";
 * const published = (s: StatsView) => s.bridge?.published;
 * ```
 */
export interface StatsView {
  /** The node's counters (`AviP2p.stats()`). */
  mesh: Counters;
  /** The bridge's counters (`EmbeddedBridge.stats()`), on a gateway. */
  bridge?: Counters;
}

/**
 * Everything the page shows, at once.
 *
 * @example
 * ```ts
 * import type { DashboardSnapshot } from "@avi/p2p/dashboard";
 * const cards = (s: DashboardSnapshot) => s.devices.map((d) => d.deviceId);
 * ```
 */
export interface DashboardSnapshot {
  /** This node. */
  self: SelfView;
  /** The server's clock, ms since the Unix epoch. */
  now: number;
  /** The peers in view (connected, or seen since the start). */
  peers: PeerView[];
  /** The gateway's devices (empty on a plain node). */
  devices: DeviceView[];
  /** The shared context, as merged on this node. */
  context: JsonObject;
  /** Who wrote each changed path, by dotted path. */
  writes: Record<string, WriteView>;
  /** The latest messages, oldest first. */
  messages: MessageView[];
  /** Topics the dashboard subscribed the node to. */
  watched: string[];
  /** Open and lately closed streams. */
  streams: StreamView[];
  /** Counters. */
  stats: StatsView;
  /** Messages per second over the last minutes. */
  rate: RateView;
  /** What was lost on the way. */
  lag: LagView;
  /**
   * On a snapshot sent because this page fell behind: how many updates it
   * missed (the server dropped them rather than buffer them).
   */
  droppedUpdates?: number;
}

/**
 * What changed since the previous update; absent fields did not change.
 *
 * @example
 * ```ts
 * import type { DashboardUpdate } from "@avi/p2p/dashboard";
 * const changed = (u: DashboardUpdate) => u.devices?.length ?? 0;
 * ```
 */
export interface DashboardUpdate {
  /** The server's clock, ms since the Unix epoch. */
  now: number;
  /** Peers that changed or appeared. */
  peers?: PeerView[];
  /** Peers no longer shown. */
  peersGone?: string[];
  /** Devices that changed or appeared. */
  devices?: DeviceView[];
  /**
   * Context changes: `set` lists `[path, value]` (`null`: deleted); `full`
   * replaces the whole document (after many changes at once).
   */
  context?: { set?: [string, JsonValue | null][]; full?: JsonObject };
  /** Writers of the changed paths. */
  writes?: Record<string, WriteView>;
  /** New messages, oldest first. */
  messages?: MessageView[];
  /** Topics the dashboard subscribed the node to. */
  watched?: string[];
  /** Every open and lately closed stream. */
  streams?: StreamView[];
  /** Counters. */
  stats?: StatsView;
  /** Seconds completed since the previous update. */
  rate?: RateView;
  /** What was lost on the way. */
  lag?: LagView;
}
