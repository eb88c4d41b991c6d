/**
 * The options of {@linkcode serveDashboard} and what it returns.
 *
 * @module
 */

import type { AviEvent, JsonObject, JsonValue } from "../mod.ts";
import type { BridgeEvent, BridgeStats, DeviceInfo } from "../bridge/mod.ts";
import type { PublishTap } from "./tap.ts";

/**
 * The calls the dashboard makes on a node's handle: `AviP2pHandle`
 * satisfies it.
 *
 * @example
 * ```ts ignore
 * import type { DashboardHandle } from "@avi/p2p/dashboard";
 * const handle: DashboardHandle = node.handle();
 * ```
 */
export interface DashboardHandle {
  /** The merged shared context. */
  getContext(): Promise<JsonObject>;
  /** The peers connected now. */
  connectedPeers(): Promise<string[]>;
  /** What the node knows of a peer. */
  peerInfo(
    peerId: string,
  ): Promise<{ agentVersion?: string; addresses: string[] }>;
  /** One round trip to a peer, ms. */
  ping(peerId: string, options?: { timeoutMs?: number }): Promise<number>;
  /** Subscribes the node to a topic. */
  subscribe(topic: string): Promise<void>;
  /** Unsubscribes it. */
  unsubscribe(topic: string): Promise<void>;
  /** The node's subscriptions. */
  subscriptions(): Promise<string[]>;
  /** A stream's counters. */
  streamStats(streamId: string): Promise<{
    peer: string;
    mode: string;
    direction: string;
    state: string;
    framesSent: number;
    framesReceived: number;
    lost: number;
    dropped: number;
    jitterMs: number;
    latencyMs: number;
  }>;
  /** Sets a dotted path of the shared context. */
  setContextPath(path: string, value: JsonValue): Promise<string[]>;
  /** Deletes a dotted path of the shared context. */
  deleteContextPath(path: string): Promise<string[]>;
}

/**
 * What the dashboard uses of a node: `AviP2p` satisfies it.
 *
 * @example
 * ```ts ignore
 * import { AviP2p } from "@avi/p2p";
 * import type { DashboardNode } from "@avi/p2p/dashboard";
 * const node: DashboardNode = await AviP2p.start({ nodeName: "kitchen" });
 * ```
 */
export interface DashboardNode {
  /** Its peer id. */
  readonly peerId: string;
  /** Its node name. */
  readonly nodeName: string;
  /** The multiaddrs it listens on. */
  readonly listenAddresses: string[];
  /** Whether it runs (not shut down). */
  readonly running: boolean;
  /** Its handle. */
  handle(): DashboardHandle;
  /** A new consumer of its events. */
  events(): AsyncIterableIterator<AviEvent>;
  /** Its counters (`MeshStats`): numbers, and groups of numbers. */
  stats(): object;
}

/**
 * What the dashboard reads of a gateway's bridge: an `EmbeddedBridge`
 * satisfies it.
 *
 * @example
 * ```ts
 * import type { DashboardBridge } from "@avi/p2p/dashboard";
 * const none: DashboardBridge = {
 *   devices: () => [],
 *   stats: () => {
 *     throw new Error("no bridge");
 *   },
 * };
 * ```
 */
export interface DashboardBridge {
  /** The devices with a live session. */
  devices(): DeviceInfo[];
  /** The bridge's counters. */
  stats(): BridgeStats;
  /**
   * A new consumer of the bridge's events (devices coming, going, sleeping).
   * Without it, the dashboard learns of devices by polling `devices()`.
   */
  events?(options?: { queueSize?: number }): AsyncIterableIterator<
    BridgeEvent
  >;
}

/**
 * The options of {@linkcode serveDashboard}.
 *
 * @example
 * ```ts
 * import type { DashboardOptions } from "@avi/p2p/dashboard";
 * const options: DashboardOptions = { port: 8080, readOnly: true };
 * ```
 */
export interface DashboardOptions {
  /** The gateway's bridge: device cards and the bridge's counters. */
  bridge?: DashboardBridge;
  /**
   * The tap the bridge's mesh was wrapped with ({@linkcode PublishTap}): the
   * device events the node publishes show in the message log and flash on
   * device cards.
   */
  tap?: PublishTap;
  /** The TCP port (0: any free port). @default 8080 */
  port?: number;
  /**
   * The address to bind. Any address other than the loopback (127.0.0.1,
   * ::1, localhost) requires a token: one is generated when none is given.
   * @default "127.0.0.1"
   */
  hostname?: string;
  /**
   * Required on every request when set (`Authorization: Bearer <token>`,
   * or `?token=` in the page's URL, which the page carries into its
   * requests). At least 16 characters.
   */
  token?: string;
  /** No context edits and no topic changes from the page. @default false */
  readOnly?: boolean;
  /** Topics to subscribe the node to at start, for the message log. @default [] */
  topics?: string[];
  /** Pages attached at once; more get 503. @default 8 */
  maxClients?: number;
  /**
   * Bytes waiting for one slow page before its updates are dropped (it gets
   * a fresh snapshot, and a note of what it missed, once it catches up).
   * @default 262144
   */
  clientBufferBytes?: number;
  /** How often changes go to the pages, ms. @default 250 */
  tickMs?: number;
  /** Called when a request fails inside the server (a bug or a stopping node). */
  onError?: (error: unknown) => void;
}

/**
 * A running dashboard.
 *
 * @example
 * ```ts ignore
 * const dashboard = await serveDashboard(node, { port: 0 });
 * console.log(`open ${dashboard.url}`);
 * await dashboard.close();
 * ```
 */
export interface DashboardServer {
  /** The bound address. */
  readonly hostname: string;
  /** The bound port. */
  readonly port: number;
  /** The token every request needs (generated or given), if any. */
  readonly token: string | undefined;
  /** The page's address, with the token. */
  readonly url: string;
  /** Whether the page may change anything. */
  readonly readOnly: boolean;
  /** Pages attached now. */
  readonly clients: number;
  /** Stops serving (attached pages' streams end) and stops listening to the node. */
  close(): Promise<void>;
}
