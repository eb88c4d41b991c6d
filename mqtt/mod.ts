/**
 * The mesh in an MQTT broker, the way Home Assistant (and anything else
 * that speaks MQTT) finds it: `@avi/p2p/mqtt`, a bridge that any node or
 * gateway runs (`avi gateway --mqtt mqtt://host:1883` on the command line).
 *
 * What it does (docs/HOME_ASSISTANT.md has the topics and a walk-through):
 *
 * - **Devices in Home Assistant** (MQTT discovery, retained, each with a
 *   stable `unique_id` and a `device` block whose `via_device` is this
 *   node): each sensor of each device behind the gateway as a `sensor`
 *   (temperature, humidity, battery: with `device_class`,
 *   `unit_of_measurement` and `state_class`; raw: a plain measurement) or a
 *   `binary_sensor` (status); each button as three device triggers (single,
 *   double, long). Availability: the bridge's own (`online`, last will
 *   `offline`) and each device's, following its session.
 * - **State**: each reading on its state topic as it arrives, retained (the
 *   mesh payload, timestamp included); each button press as a trigger event.
 * - **The shared context**: chosen paths (by default the volume and each
 *   light under `avi.lights`) as `number`, `switch`, `light` or `text`
 *   entities: a command becomes an `updateContext`, a change from the mesh
 *   updates the state topic (a command never comes back as a command).
 * - **Topics both ways**: mesh topics matching `mirror` patterns appear
 *   under `avi/...` and MQTT messages there go to the mesh, the payload
 *   unchanged; a message never returns to the side it came from.
 * - **The broker connection**: TLS and user name/password; reconnection
 *   with backoff; while the broker is down the latest state of each topic
 *   is kept (bounded) and every config and state is published again when
 *   it is back, and when Home Assistant announces itself
 *   (`homeassistant/status` = `online`). A device taken off the key table
 *   loses its entities (empty retained configs).
 *
 * @example
 * ```ts ignore
 * import { AviP2p } from "@avi/p2p";
 * import { EmbeddedBridge, loadDeviceKeys } from "@avi/p2p/bridge";
 * import { MqttBridge } from "@avi/p2p/mqtt";
 *
 * const node = await AviP2p.start({ nodeName: "gateway" });
 * const devices = await loadDeviceKeys("./devices.json");
 * const mqtt = await MqttBridge.start(node.handle(), {
 *   url: "mqtt://192.168.1.2:1883",
 *   username: "avi",
 *   password: Deno.env.get("MQTT_PASSWORD"),
 *   devices: Object.keys(devices),
 *   mirror: ["home/#"],
 * });
 * // The UDP bridge publishes through the MQTT bridge's view of the handle.
 * const bridge = await EmbeddedBridge.start(mqtt.mesh, { udpPort: 8888, devices });
 * mqtt.attachGateway(bridge);
 * ```
 *
 * @module
 */

export { type GatewaySource, MqttBridge } from "./bridge.ts";
export type { MqttBridgeStats } from "./stats.ts";
export type { MqttBridgeOptions, MqttTlsOptions } from "./options.ts";
export type { MqttMesh } from "./mesh_tap.ts";
export {
  type ContextComponent,
  type ContextEntityOptions,
  DEFAULT_CONTEXT_ENTITIES,
} from "./context_entities.ts";
export {
  type DeviceInfoOptions,
  SENSOR_CLASSES,
  type SensorKind,
  sensorKindOf,
  TRIGGER_TYPES,
} from "./discovery.ts";
// Types that the bridge's signatures mention, so that its docs are complete.
export type {
  BridgeEvent,
  BridgeLaggedEvent,
  BridgeMesh,
  DeviceAwakeEvent,
  DeviceConnectedEvent,
  DeviceGoneEvent,
  DeviceInfo,
  DeviceRefusedEvent,
  DeviceSleepingEvent,
  ReadingRefusedEvent,
} from "../bridge/mod.ts";
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
  PeerId,
  StartedEvent,
  StreamAcceptedEvent,
  StreamClosedEvent,
  StreamDataEvent,
  StreamId,
  StreamRejectedEvent,
  StreamRequestedEvent,
} from "../mod.ts";
