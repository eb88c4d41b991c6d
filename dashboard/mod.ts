/**
 * A live web dashboard of the home mesh, served by any node or gateway: the
 * mesh as a graph (this node and its peers, names, addresses, state,
 * round-trip times), one card per device of a gateway (online, sleeping,
 * address, last seen, subscriptions, queued messages, each sensor's last
 * value with its unit; a button press flashes), the shared context as a
 * tree with who wrote each value and when, editable in place, a message log
 * (topic filter, pause, payload as text, JSON or hex), open streams, the
 * node's and the bridge's counters and a plot of messages per second.
 *
 * The page is plain ES modules with preact and htm vendored into the
 * package (nothing loads from elsewhere: it works on a LAN without
 * internet). It updates over one Server-Sent Events stream; the JSON API
 * (`GET /api/state`, `PUT /api/context`, ...) serves scripts and tests
 * alike. See docs/DASHBOARD.md.
 *
 * Security: it binds 127.0.0.1 by default; any other address requires a
 * token (generated when not given: see {@linkcode DashboardServer.url}),
 * and every request without it gets 401. `readOnly` turns editing off. No
 * key reaches the page: it sees peer ids, addresses, device ids, the shared
 * context and the messages this node sees.
 *
 * Bounded: the server keeps the last 500 messages, 300 s of message rate,
 * and per page at most `clientBufferBytes` waiting; a page that falls
 * behind loses updates (counted, and said on the page) and gets a fresh
 * snapshot when it catches up.
 *
 * @example
 * ```ts ignore
 * import { AviP2p } from "@avi/p2p";
 * import { serveDashboard } from "@avi/p2p/dashboard";
 * const node = await AviP2p.start({ nodeName: "kitchen" });
 * const dashboard = await serveDashboard(node, { port: 8080 });
 * console.log(`open ${dashboard.url}`);
 * ```
 *
 * @module
 */

import { startDashboard } from "./_server.ts";
import type {
  DashboardNode,
  DashboardOptions,
  DashboardServer,
} from "./options.ts";

export type {
  DashboardBridge,
  DashboardHandle,
  DashboardNode,
  DashboardOptions,
  DashboardServer,
} from "./options.ts";
export { type PublishListener, PublishTap } from "./tap.ts";
export type {
  Counters,
  DashboardSnapshot,
  DashboardUpdate,
  DeviceView,
  LagView,
  MessageView,
  PeerView,
  PressView,
  RateView,
  SelfView,
  StatsView,
  StreamView,
  WriteView,
} from "./types.ts";
// Types that the dashboard's signatures mention, so that its docs are complete.
export type {
  AviEvent,
  ContextUpdatedEvent,
  JsonObject,
  JsonValue,
  LaggedEvent,
  MessageEvent,
  PeerConnectedEvent,
  PeerDisconnectedEvent,
  PeerDiscoveredEvent,
  StartedEvent,
  StreamAcceptedEvent,
  StreamClosedEvent,
  StreamDataEvent,
  StreamRejectedEvent,
  StreamRequestedEvent,
} from "../mod.ts";
export type { PeerId, StreamId } from "../mod.ts";
export type {
  BridgeEvent,
  BridgeLaggedEvent,
  BridgeMesh,
  BridgeStats,
  DeviceAwakeEvent,
  DeviceConnectedEvent,
  DeviceGoneEvent,
  DeviceInfo,
  DeviceRefusedEvent,
  DeviceSleepingEvent,
  ReadingRefusedEvent,
} from "../bridge/mod.ts";

/**
 * Serves the dashboard of `node` (and of its bridge, on a gateway).
 *
 * On a gateway, wrap the bridge's mesh with a {@linkcode PublishTap} and
 * pass both, so that the device events the node publishes show on the page:
 *
 * ```ts ignore
 * const tap = new PublishTap();
 * const bridge = await EmbeddedBridge.start(tap.wrap(node.handle()), options);
 * const dashboard = await serveDashboard(node, { bridge, tap, port: 8080 });
 * ```
 *
 * @param node The running node (an `AviP2p`).
 * @param options Where to listen, the token, the bridge; see {@linkcode DashboardOptions}.
 * @returns The running server; {@linkcode DashboardServer.close} stops it
 * (before the node shuts down).
 * @throws {Deno.errors.AddrInUse} The port is taken.
 * @throws {TypeError} An empty token.
 *
 * @example
 * ```ts ignore
 * import { AviP2p } from "@avi/p2p";
 * import { serveDashboard } from "@avi/p2p/dashboard";
 * const node = await AviP2p.start({ nodeName: "living-room" });
 * // Reachable from the LAN: a token is generated and part of the URL.
 * const dashboard = await serveDashboard(node, {
 *   hostname: "0.0.0.0",
 *   port: 8080,
 *   readOnly: true,
 * });
 * console.log(dashboard.url); // http://127.0.0.1:8080/?token=...
 * await dashboard.close();
 * await node.shutdown();
 * ```
 */
export function serveDashboard(
  node: DashboardNode,
  options: DashboardOptions = {},
): Promise<DashboardServer> {
  return startDashboard(node, options);
}
