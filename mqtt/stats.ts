/**
 * The counters an `MqttBridge` reports.
 *
 * @module
 */

/** Counters of an `MqttBridge` (its `stats()`). */
export interface MqttBridgeStats {
  /** Connected to the broker now. */
  connected: boolean;
  /** Connections made (the first and every reconnection). */
  connects: number;
  /** Connections lost. */
  disconnects: number;
  /** Messages handed to the broker connection. */
  published: number;
  /** Discovery configs announced now. */
  discoveryTopics: number;
  /** State topics held for republishing (latest value each). */
  states: number;
  /** State topics forgotten because `maxStates` was reached. */
  statesDropped: number;
  /** Button events and mirrored messages dropped while the broker was down. */
  eventsDropped: number;
  /** Commands from MQTT applied to the shared context. */
  commands: number;
  /** Commands refused (malformed, or the context refused the change). */
  commandsRefused: number;
  /** Mesh messages mirrored to MQTT. */
  mirroredOut: number;
  /** MQTT messages mirrored to the mesh. */
  mirroredIn: number;
  /** Mirrored messages refused (a topic MQTT cannot carry, or the mesh refused it). */
  mirrorRefused: number;
  /** MQTT messages not mirrored back because they came from a mesh. */
  echoesSuppressed: number;
  /** Re-announcements asked for by Home Assistant's birth message. */
  reannounces: number;
  /** Mesh events this bridge missed because it fell behind the node. */
  meshLagged: number;
}
