/**
 * The options of {@linkcode MqttBridge}, their defaults and their checks.
 *
 * @module
 */

import { ConfigError } from "../mod.ts";
import {
  type ContextEntityOptions,
  DEFAULT_CONTEXT_ENTITIES,
} from "./context_entities.ts";
import type { DeviceInfoOptions } from "./discovery.ts";
import { patternProblem, safeId } from "./topics.ts";

/** TLS settings of the broker connection (PEM text, not file names). */
export interface MqttTlsOptions {
  /** CA certificate(s) to trust instead of the system's. */
  ca?: string | string[];
  /** A client certificate, for brokers that authenticate clients by it. */
  cert?: string;
  /** The client certificate's private key. */
  key?: string;
  /** Check the broker's certificate and name. @default true */
  rejectUnauthorized?: boolean;
  /** The name to check the certificate against (default: the URL's host). */
  servername?: string;
}

/** Options of {@linkcode MqttBridge.start}. Only `url` is required. */
export interface MqttBridgeOptions {
  /**
   * The broker: `mqtt://host:1883`, `mqtts://host:8883` (TLS), `ws://` or
   * `wss://`. A `user:password@` in it is used as the credentials.
   */
  url: string;
  /** The user name. */
  username?: string;
  /** The password. */
  password?: string;
  /** TLS settings (for `mqtts://` and `wss://`). */
  tls?: MqttTlsOptions;
  /** The MQTT client id. @default `avi-<nodeId>` */
  clientId?: string;
  /**
   * MQTT protocol version: 5 (the default) or 4 (3.1.1). With 5, the bridge
   * never gets its own mirrored messages back (No Local); with 4 it
   * recognises them by topic and payload.
   */
  protocolVersion?: 4 | 5;
  /** Keep-alive in seconds. @default 30 */
  keepaliveSeconds?: number;
  /**
   * This node's id in topics and unique ids (`[a-zA-Z0-9_-]`, at most 64).
   * Keep it stable: Home Assistant knows entities by it. @default the last
   * 10 characters of the node's peer id (stable with a persistent identity)
   */
  nodeId?: string;
  /** The name of the node's device in Home Assistant. @default `Avi <nodeId>` */
  nodeName?: string;
  /** Home Assistant's discovery prefix. @default "homeassistant" */
  discoveryPrefix?: string;
  /** Home Assistant's status topic (its birth message: `online`). @default "homeassistant/status" */
  haStatusTopic?: string;
  /** Where state, command and availability topics live. @default `avi-p2p/<nodeId>` */
  baseTopic?: string;
  /**
   * Mesh topics mirrored both ways (MQTT-style patterns: `home/#`,
   * `home/+/light`). A mesh message on a matching topic is published to
   * `<mirrorPrefix>/<topic>`, and an MQTT message on
   * `<mirrorPrefix>/<topic>` whose topic matches is published to the mesh,
   * the payload unchanged both ways. Exact topics are subscribed to in the
   * mesh; a pattern matches the topics the node is subscribed to anyway.
   * @default []
   */
  mirror?: string[];
  /** The MQTT prefix of mirrored topics. @default "avi" */
  mirrorPrefix?: string;
  /**
   * Context paths exposed as entities. @default the volume
   * (`avi.device.audio.volume`, a number 0..100) and each light under
   * `avi.lights`
   */
  context?: (string | ContextEntityOptions)[];
  /**
   * The ids of the gateway's devices (its key table), when this node runs
   * the UDP bridge: only these devices get entities, and one taken off the
   * table loses them. Without it, every device found in the shared context
   * (`avi.sensors.<id>`) gets entities.
   */
  devices?: string[];
  /** Names, models and areas of devices in Home Assistant, by device id. */
  deviceInfo?: Record<string, DeviceInfoOptions>;
  /** The most state topics kept for republishing (latest value each). @default 10000 */
  maxStates?: number;
  /** First reconnection delay, ms (doubles up to `reconnectMaxMs`). @default 500 */
  reconnectInitialMs?: number;
  /** Longest reconnection delay, ms. @default 30000 */
  reconnectMaxMs?: number;
  /** Connection timeout, ms. @default 10000 */
  connectTimeoutMs?: number;
  /** Called with what the bridge has to say (connected, lost, refused commands). */
  onLog?: (level: "info" | "warn", message: string) => void;
}

/** The options with every default filled in. @internal */
export interface ResolvedMqttOptions {
  url: string;
  username?: string;
  password?: string;
  tls: MqttTlsOptions;
  clientId: string;
  protocolVersion: 4 | 5;
  keepaliveSeconds: number;
  nodeId: string;
  nodeName: string;
  discoveryPrefix: string;
  haStatusTopic: string;
  baseTopic: string;
  mirror: string[];
  mirrorPrefix: string;
  context: ContextEntityOptions[];
  devices?: string[];
  deviceInfo: Record<string, DeviceInfoOptions>;
  maxStates: number;
  reconnectInitialMs: number;
  reconnectMaxMs: number;
  connectTimeoutMs: number;
  onLog: (level: "info" | "warn", message: string) => void;
}

const KNOWN = new Set([
  "url",
  "username",
  "password",
  "tls",
  "clientId",
  "protocolVersion",
  "keepaliveSeconds",
  "nodeId",
  "nodeName",
  "discoveryPrefix",
  "haStatusTopic",
  "baseTopic",
  "mirror",
  "mirrorPrefix",
  "context",
  "devices",
  "deviceInfo",
  "maxStates",
  "reconnectInitialMs",
  "reconnectMaxMs",
  "connectTimeoutMs",
  "onLog",
]);

function topicPrefix(field: string, v: unknown): string {
  if (
    typeof v !== "string" || v === "" || v.startsWith("/") || v.endsWith("/") ||
    /[+#]/.test(v) || v.includes("\u0000")
  ) {
    throw new ConfigError(
      field,
      "must be a topic without wildcards, not starting or ending with /",
    );
  }
  return v;
}

function whole(field: string, v: unknown, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new ConfigError(field, `must be a whole number ${min}..${max}`);
  }
  return v;
}

/** Whether one topic prefix is the other or lies under it. */
function overlaps(a: string, b: string): boolean {
  return a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
}

/**
 * Checks the options and fills in the defaults.
 *
 * @param o The options.
 * @param peerId The node's peer id (the default node id comes from it).
 * @throws {ConfigError} On an unknown option or a bad value.
 * @internal
 */
export function resolveMqttOptions(
  o: MqttBridgeOptions,
  peerId: string,
): ResolvedMqttOptions {
  if (o === null || typeof o !== "object") {
    throw new ConfigError("options", "must be an object");
  }
  for (const k of Object.keys(o)) {
    if (!KNOWN.has(k)) {
      throw new ConfigError(k, "is not an MQTT bridge option");
    }
  }
  let url: URL;
  try {
    url = new URL(o.url);
  } catch {
    throw new ConfigError("url", `must be a URL such as mqtt://host:1883`);
  }
  if (
    !["mqtt:", "mqtts:", "ws:", "wss:", "tcp:", "ssl:"].includes(url.protocol)
  ) {
    throw new ConfigError(
      "url",
      `must start with mqtt://, mqtts://, ws:// or wss:// (got ${url.protocol})`,
    );
  }
  const nodeId = o.nodeId ?? safeId(peerId.slice(-10));
  if (typeof nodeId !== "string" || !/^[a-zA-Z0-9_-]{1,64}$/.test(nodeId)) {
    throw new ConfigError("nodeId", "must be 1..64 of [a-zA-Z0-9_-]");
  }
  const discoveryPrefix = topicPrefix(
    "discoveryPrefix",
    o.discoveryPrefix ?? "homeassistant",
  );
  const baseTopic = topicPrefix(
    "baseTopic",
    o.baseTopic ?? `avi-p2p/${nodeId}`,
  );
  const mirrorPrefix = topicPrefix("mirrorPrefix", o.mirrorPrefix ?? "avi");
  const haStatusTopic = topicPrefix(
    "haStatusTopic",
    o.haStatusTopic ?? `${discoveryPrefix}/status`,
  );
  // A mirrored topic must never be one of the bridge's own: they would
  // travel into the mesh (and back).
  for (
    const [field, p] of [
      ["baseTopic", baseTopic],
      ["discoveryPrefix", discoveryPrefix],
      ["haStatusTopic", haStatusTopic],
    ] as const
  ) {
    if (overlaps(p, mirrorPrefix)) {
      throw new ConfigError(
        field,
        `must not overlap mirrorPrefix "${mirrorPrefix}" (mirrored topics would include the bridge's own)`,
      );
    }
  }
  if (overlaps(baseTopic, discoveryPrefix)) {
    throw new ConfigError("baseTopic", "must not lie under discoveryPrefix");
  }
  const mirror = o.mirror ?? [];
  if (!Array.isArray(mirror)) {
    throw new ConfigError("mirror", "must be a list of topic patterns");
  }
  for (const p of mirror) {
    const problem = patternProblem(p);
    if (problem) throw new ConfigError("mirror", problem);
  }
  const context = (o.context ?? [...DEFAULT_CONTEXT_ENTITIES]).map((c) =>
    typeof c === "string" ? { path: c } : c
  );
  if (!Array.isArray(o.context ?? [])) {
    throw new ConfigError("context", "must be a list of paths");
  }
  for (const c of context) {
    const path = c?.path;
    const base = typeof path === "string" && path.endsWith(".*")
      ? path.slice(0, -2)
      : path;
    if (
      typeof base !== "string" || base === "" ||
      base.split(".").some((k) => k === "" || k === "*")
    ) {
      throw new ConfigError(
        "context",
        `${
          JSON.stringify(path)
        } is not a dotted path (a.b.c, or a.b.* for each key under a.b)`,
      );
    }
    if (
      c.component !== undefined &&
      !["number", "switch", "light", "text", "sensor"].includes(c.component)
    ) {
      throw new ConfigError(
        "context",
        `${path}: component must be number, switch, light, text or sensor`,
      );
    }
  }
  if (o.devices !== undefined) {
    if (
      !Array.isArray(o.devices) ||
      o.devices.some((d) => typeof d !== "string" || !/^[0-9]+$/.test(d))
    ) {
      throw new ConfigError("devices", "must be a list of decimal device ids");
    }
  }
  const tls = o.tls ?? {};
  if (tls === null || typeof tls !== "object") {
    throw new ConfigError("tls", "must be an object");
  }
  const reconnectInitialMs = whole(
    "reconnectInitialMs",
    o.reconnectInitialMs ?? 500,
    10,
    600_000,
  );
  const reconnectMaxMs = whole(
    "reconnectMaxMs",
    o.reconnectMaxMs ?? 30_000,
    reconnectInitialMs,
    3_600_000,
  );
  const protocolVersion = o.protocolVersion ?? 5;
  if (protocolVersion !== 4 && protocolVersion !== 5) {
    throw new ConfigError("protocolVersion", "must be 4 (3.1.1) or 5");
  }
  return {
    url: o.url,
    username: o.username,
    password: o.password,
    tls,
    clientId: o.clientId ?? `avi-${nodeId}`,
    protocolVersion,
    keepaliveSeconds: whole(
      "keepaliveSeconds",
      o.keepaliveSeconds ?? 30,
      1,
      65_535,
    ),
    nodeId,
    nodeName: o.nodeName ?? `Avi ${nodeId}`,
    discoveryPrefix,
    haStatusTopic,
    baseTopic,
    mirror,
    mirrorPrefix,
    context,
    devices: o.devices,
    deviceInfo: o.deviceInfo ?? {},
    maxStates: whole("maxStates", o.maxStates ?? 10_000, 1, 10_000_000),
    reconnectInitialMs,
    reconnectMaxMs,
    connectTimeoutMs: whole(
      "connectTimeoutMs",
      o.connectTimeoutMs ?? 10_000,
      100,
      600_000,
    ),
    onLog: o.onLog ?? (() => {}),
  };
}
