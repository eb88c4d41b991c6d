/**
 * The embedded bridge: a UDP gateway between microcontrollers speaking the
 * device protocol (docs/PROTOCOL.md) and the mesh.
 *
 * Requires `--allow-net` and `--unstable-net` (`Deno.listenDatagram`);
 * {@linkcode EmbeddedBridge.start} says so with an `UnstableApiError`.
 *
 * What it does:
 * - the gateway end of the handshake (stateless cookie, per-device keys),
 *   sealed frames with a replay window, sessions by id whose address follows
 *   authenticated frames, keep-alive and expiry after 3 × keep-alive, the
 *   "unknown session" answer that makes devices re-handshake;
 * - pub/sub with reference-counted mesh subscriptions, per-device topic
 *   permissions ({@linkcode DevicePermissions}: by default a device publishes
 *   under `device/<id>/#` only and subscribes to anything; nobody touches the
 *   context topics or another device's topics), QoS 1 acked only after the
 *   mesh accepted the message, duplicates published once;
 * - device events: ButtonPress → `device/<id>/button` as JSON
 *   `{button_id, type, data, ts}`; SensorUpdate → `device/<id>/sensor/<name>`
 *   as JSON `{name, data: {value, unit, custom}, ts}`, and the same object in
 *   the shared context at `avi.sensors.<id>.<name>` (written at most every
 *   `contextFlushMs`, replacing the sensor's previous reading, in changes
 *   split under the node's delta bound; at most `maxSensorsPerDevice`
 *   sensors per device). A SensorUpdate is acked only once it was published
 *   **and** applied to the gateway node's context; a reading whose data
 *   cannot be a context value (a key with a dot, an empty key, too deep) is
 *   refused alone (Ack `malformed`, a `readingRefused` event), never the
 *   batch it would have joined. Every mesh message payload is one event
 *   object.
 *   Under load, events that pile up (on any topics) travel as one signed
 *   envelope (`batchEvents`, `AviP2pHandle.publishBatch`) that receiving
 *   nodes unpack into ordinary `message` events, one per device event;
 * - device streams relayed to mesh streams, sleeping devices with a bounded
 *   queue, gateway discovery answers;
 * - every table bounded and every rate limited ({@linkcode BridgeLimits},
 *   defaults in {@linkcode DEFAULT_LIMITS}); a slow device never blocks the
 *   mesh (its outbound queue drops the oldest, counted) and a slow mesh never
 *   blocks the devices (QoS 1 beyond `maxInflightPerDevice` is left for the
 *   device to retransmit).
 *
 * Wildcard subscriptions (`home/#`) match the messages of every topic the
 * gateway node is subscribed to: devices' exact subscriptions, `meshTopics`,
 * and the application's own. The gateway's crypto is native (node:crypto),
 * with the same results as the protocol's pure-JS `nobleCrypto`.
 *
 * @example
 * ```ts ignore
 * import { AviP2p } from "@avi/p2p";
 * import { EmbeddedBridge, loadDeviceKeys } from "@avi/p2p/bridge";
 * const node = await AviP2p.start({ nodeName: "gateway" });
 * const bridge = await EmbeddedBridge.start(node.handle(), {
 *   udpPort: 8888,
 *   devices: await loadDeviceKeys("./devices.json"),
 * });
 * for await (const ev of bridge.events()) console.log(ev.type);
 * ```
 *
 * @module
 */

export { EmbeddedBridge, loadDeviceKeys } from "./deno_udp.ts";
export type {
  BridgeStats,
  BridgeTableSizes,
  DeviceInfo,
  DeviceTableChange,
} from "./stats.ts";
export type {
  BridgeEvent,
  BridgeLaggedEvent,
  DeviceAwakeEvent,
  DeviceConnectedEvent,
  DeviceGoneEvent,
  DeviceRefusedEvent,
  DeviceSleepingEvent,
  ReadingRefusedEvent,
} from "./bridge_events.ts";
export type { BridgeMesh } from "./mesh_port.ts";
export {
  type BridgeLimits,
  type BridgeOptions,
  DEFAULT_LIMITS,
  type DeviceEntry,
  type DeviceTable,
  parseDeviceTable,
  parseKey,
  type ResolvedDevice,
  type ResolvedLimits,
} from "./options.ts";
export {
  DEFAULT_PUBLISH,
  DEFAULT_RESERVED_TOPICS,
  DEFAULT_SUBSCRIBE,
  DevicePermissions,
  type TopicRules,
} from "./permissions.ts";
export { hasWildcard, validatePattern } from "./topic_pattern.ts";
export { buttonTopic, sensorTopic } from "./device_events.ts";
// Types that the bridge's signatures mention, so that its docs are complete.
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
} from "../core/events.ts";
export type { PeerId, StreamId } from "../core/peer_id.ts";
export type {
  PressType,
  ProtocolCrypto,
  SensorValue,
} from "../protocol/mod.ts";
