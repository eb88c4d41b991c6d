/**
 * Options of the embedded bridge: every default and every check, the fixed
 * bounds that are not options, and the device key table (inline or from a
 * JSON key file).
 *
 * @module
 */

import { ConfigError } from "../core/errors.ts";
import { fromHex } from "../core/hex.ts";
import { DEFAULT_RESERVED_TOPICS, type TopicRules } from "./permissions.ts";
import { hasWildcard, validatePattern } from "./topic_pattern.ts";
import { Limits, type ProtocolCrypto } from "../protocol/mod.ts";
import { nodeProtocolCrypto } from "./_node_crypto.ts";

/** One device's entry: its 32-byte key and, optionally, its own topic rules. */
export interface DeviceEntry extends TopicRules {
  /** The 32-byte pre-shared key, as bytes or 64 hex characters. */
  key: Uint8Array | string;
}

/** Device id → key (bytes or hex) or a full entry. */
export type DeviceTable = Record<string, Uint8Array | string | DeviceEntry>;

/**
 * Every bound and timer of the bridge. Each has a default (`@default`), each
 * is enforced.
 */
export interface BridgeLimits {
  /** Most live device sessions; a new handshake beyond it is refused. @default 1024 */
  maxSessions?: number;
  /** Most topics one device may subscribe to. @default 32 */
  maxSubscriptionsPerDevice?: number;
  /** Most messages kept for a sleeping device (oldest dropped). @default 64 */
  maxQueuedPerSleepingDevice?: number;
  /** Most frames waiting to be sent to one device (oldest dropped). @default 128 */
  maxOutboundPerDevice?: number;
  /** Most QoS 1 publishes of one device waiting for the mesh at once. @default 64 */
  maxInflightPerDevice?: number;
  /** QoS 1 message ids remembered per device (across sessions) for duplicate suppression. @default 512 */
  dedupWindow?: number;
  /** Most streams one device may have open. @default 4 */
  maxStreamsPerDevice?: number;
  /** Longest sleep a device may announce, in ms. @default 3600000 */
  maxSleepMs?: number;
  /** Keep-alive interval told to devices in the Welcome, in seconds. @default 30 */
  keepAliveSeconds?: number;
  /** Topic aliases a device may register per session. @default 16 */
  maxAliasesPerSession?: number;
  /** Datagrams per second accepted from one source address. @default 2000 */
  ratePerAddress?: number;
  /** Burst of datagrams from one source address. @default 500 */
  burstPerAddress?: number;
  /**
   * Messages per second accepted from one device (after authentication); a
   * frame carrying several messages takes one token for each. @default 2000
   */
  ratePerDevice?: number;
  /**
   * Burst of messages from one device. Keep it at least
   * `Limits.MAX_MESSAGES_PER_FRAME` (32), or a full frame never passes.
   * @default 500
   */
  burstPerDevice?: number;
  /**
   * Hellos answered per second, all sources together; first Hellos (no
   * cookie) and second Hellos (with a cookie) each have this budget.
   * @default 2000
   */
  handshakeRate?: number;
  /** Most source addresses / devices tracked by the rate limiters. @default 4096 */
  maxRateKeys?: number;
  /**
   * Most sensors one device keeps in the shared context
   * (`avi.sensors.<id>.<name>`; the names already there when the bridge
   * starts count). A reading of a new sensor beyond it is refused with Ack
   * `limit reached` and counted (`BridgeStats.sensorLimit`); the device's
   * existing sensors keep updating. Each sensor holds only its latest
   * reading, so one device keeps at most this many readings in the context.
   * @default 64
   */
  maxSensorsPerDevice?: number;
}

/** Options of `EmbeddedBridge.start`. */
export interface BridgeOptions extends BridgeLimits {
  /** UDP port to listen on. @default 8888 */
  udpPort?: number;
  /**
   * Multicast group joined for gateway discovery (SearchGw) when bound to
   * 0.0.0.0; `null` to join none. Unicast and broadcast SearchGw are
   * answered either way. @default "239.255.97.118"
   */
  discoveryGroup?: string | null;
  /** Address to bind. @default "0.0.0.0" */
  hostname?: string;
  /** The known devices and their keys. */
  devices: DeviceTable;
  /** Default topic rules for devices without their own. @default {publish: ["device/{id}/#"], subscribe: ["#"]} */
  defaultRules?: TopicRules;
  /** Reserved topics no device may use. @default DEFAULT_RESERVED_TOPICS */
  reservedTopics?: string[];
  /** Largest frame either side sends, in bytes. @default 1024 */
  maxFrameSize?: number;
  /**
   * Topics the bridge subscribes the mesh node to from the start, so that
   * devices' wildcard subscriptions (`home/#`) have something to match: a
   * wildcard subscription sees the messages of every topic the gateway node
   * is subscribed to (these, the devices' exact subscriptions, and the
   * application's own). @default []
   */
  meshTopics?: string[];
  /**
   * Sensor values are written into the shared context at most this often,
   * in ms (the latest value of each sensor wins), or at once when 64
   * readings wait (`CONTEXT_BATCH_READINGS`). A SensorUpdate is acked once
   * its value is applied, so this also delays its Ack (by at most this much
   * plus the write). @default 100
   */
  contextFlushMs?: number;
  /**
   * Carry device events (button, sensor) that pile up while a publish is in
   * flight, on any topics, as one mesh message: an envelope
   * (`AviP2pHandle.publishBatch`) that every node of this library unpacks
   * into one ordinary `message` event per device event, each payload one
   * JSON event object. Turn it off when nodes of the original Rust library
   * must receive device events (they do not read envelopes).
   * @default true
   */
  batchEvents?: boolean;
  /**
   * Most events in one envelope, from 1 to 1,024; an envelope also stops
   * before its payloads pass 256 KiB. @default 256
   */
  maxEventBatch?: number;
  /**
   * The protocol's crypto. @default native ChaCha20-Poly1305, HMAC and HKDF
   * from node:crypto (same results as the protocol's `nobleCrypto`).
   */
  crypto?: ProtocolCrypto;
}

/** The options with every default filled in. */
export type ResolvedLimits = Required<BridgeLimits>;

/** The defaults, as documented on {@linkcode BridgeLimits}. */
export const DEFAULT_LIMITS: Readonly<ResolvedLimits> = Object.freeze({
  maxSessions: 1024,
  maxSubscriptionsPerDevice: 32,
  maxQueuedPerSleepingDevice: 64,
  maxOutboundPerDevice: 128,
  maxInflightPerDevice: 64,
  dedupWindow: 512,
  maxStreamsPerDevice: 4,
  maxSleepMs: 3_600_000,
  keepAliveSeconds: 30,
  maxAliasesPerSession: 16,
  ratePerAddress: 2000,
  burstPerAddress: 500,
  ratePerDevice: 2000,
  burstPerDevice: 500,
  handshakeRate: 2000,
  maxRateKeys: 4096,
  maxSensorsPerDevice: 64,
});

/**
 * Fill in and check every limit.
 *
 * @param opts The caller's limits.
 * @returns Every limit, defaults filled in.
 * @throws {ConfigError} When a limit is not a positive integer.
 *
 * @example
 * ```ts
 * import { resolveLimits } from "./options.ts";
 * console.log(resolveLimits({ maxSessions: 10 }).maxSessions); // 10
 * ```
 */
export function resolveLimits(opts: BridgeLimits): ResolvedLimits {
  const out = { ...DEFAULT_LIMITS } as ResolvedLimits;
  for (const k of Object.keys(DEFAULT_LIMITS) as (keyof ResolvedLimits)[]) {
    const v = opts[k];
    if (v === undefined) continue;
    if (!Number.isInteger(v) || v < 1) {
      throw new ConfigError(k, `must be an integer >= 1, got ${v}`);
    }
    out[k] = v;
  }
  return out;
}

/**
 * Parse a key given as bytes or 64 hex characters.
 *
 * @param deviceId For the error message.
 * @param key The key.
 * @returns 32 bytes.
 * @throws {ConfigError} When it is not 32 bytes.
 *
 * @example
 * ```ts
 * import { parseKey } from "@avi/p2p/bridge";
 * console.log(parseKey("d1", "00".repeat(32)).length); // 32
 * ```
 */
export function parseKey(
  deviceId: string,
  key: Uint8Array | string,
): Uint8Array {
  if (key instanceof Uint8Array) {
    if (key.length !== 32) {
      throw new ConfigError(
        `devices.${deviceId}`,
        `key must be 32 bytes, got ${key.length}`,
      );
    }
    return key.slice();
  }
  if (typeof key !== "string" || !/^[0-9a-fA-F]{64}$/.test(key)) {
    throw new ConfigError(
      `devices.${deviceId}`,
      "key must be 64 hex characters",
    );
  }
  return fromHex(key);
}

/** A device entry after parsing. */
export interface ResolvedDevice {
  /** The device id. */
  id: string;
  /** The 32-byte key. */
  key: Uint8Array;
  /** Its own rules, if any. */
  rules?: TopicRules;
}

/**
 * Parse a device table.
 *
 * @param table Device id → key or entry.
 * @returns The parsed entries by id.
 * @throws {ConfigError} On a bad id or key.
 *
 * @example
 * ```ts
 * import { parseDeviceTable } from "@avi/p2p/bridge";
 * const t = parseDeviceTable({ "7": "11".repeat(32) });
 * console.log(t.get("7")?.key.length); // 32
 * ```
 */
export function parseDeviceTable(
  table: DeviceTable,
): Map<string, ResolvedDevice> {
  if (table === null || typeof table !== "object") {
    throw new ConfigError("devices", "must be an object of device id -> key");
  }
  const out = new Map<string, ResolvedDevice>();
  for (const [id, v] of Object.entries(table)) {
    if (
      !/^(0|[1-9][0-9]{0,15})$/.test(id) || !Number.isSafeInteger(Number(id))
    ) {
      throw new ConfigError(
        "devices",
        `device id "${id}" must be a decimal integer from 0 to 2^53-1`,
      );
    }
    if (v instanceof Uint8Array || typeof v === "string") {
      out.set(id, { id, key: parseKey(id, v) });
    } else if (v && typeof v === "object") {
      const rules: TopicRules = {};
      if (v.publish) rules.publish = [...v.publish];
      if (v.subscribe) rules.subscribe = [...v.subscribe];
      out.set(id, { id, key: parseKey(id, v.key), rules });
    } else {
      throw new ConfigError(
        `devices.${id}`,
        "must be a key or {key, publish?, subscribe?}",
      );
    }
  }
  return out;
}

/**
 * Check the text of a JSON key file: `{ "<deviceId>": "<64 hex>" |
 * {key, publish?, subscribe?} }` (the file reading itself is the adapter's:
 * `loadDeviceKeys`).
 *
 * @param text The file's text.
 * @param path For the error messages.
 * @returns The device table.
 * @throws {ConfigError} When the text is not valid JSON of that shape.
 */
export function parseDeviceKeyFile(text: string, path: string): DeviceTable {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError("keyFile", `${path} is not valid JSON`, { cause: e });
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new ConfigError("keyFile", `${path} must hold a JSON object`);
  }
  const table = json as DeviceTable;
  parseDeviceTable(table); // validate now, with a clear error
  return table;
}

// ---- every option resolved ----------------------------------------------

/** UDP port listened on by default. */
export const DEFAULT_UDP_PORT = 8888;

/** Address bound by default. */
export const DEFAULT_HOSTNAME = "0.0.0.0";

/** The multicast group devices send SearchGw to (docs/PROTOCOL.md 5.1). */
export const DISCOVERY_GROUP = "239.255.97.118";

/** `contextFlushMs` by default. */
export const DEFAULT_CONTEXT_FLUSH_MS = 100;

/** `maxEventBatch` by default, and its bound. */
export const DEFAULT_EVENT_BATCH = 256;
/** Largest `maxEventBatch` accepted. */
export const MAX_EVENT_BATCH = 1024;

/** Events kept for a slow consumer of `events()` by default. */
export const DEFAULT_EVENT_QUEUE = 256;

/** The bridge's options with every default filled in and every check passed. */
export interface ResolvedBridgeOptions {
  /** Every bound and timer. */
  limits: ResolvedLimits;
  /** The known devices, parsed. */
  devices: Map<string, ResolvedDevice>;
  /** UDP port to bind (0: any). */
  udpPort: number;
  /** Address to bind. */
  hostname: string;
  /** Multicast group for discovery, or null. */
  discoveryGroup: string | null;
  /** Rules of devices without their own. */
  defaultRules: TopicRules;
  /** Topics no device may use. */
  reservedTopics: readonly string[];
  /** Largest frame either side sends. */
  maxFrameSize: number;
  /** Topics the gateway node is subscribed to from the start. */
  meshTopics: string[];
  /** Most often sensor readings are written to the context, in ms. */
  contextFlushMs: number;
  /** Whether device events that pile up leave as one envelope. */
  batchEvents: boolean;
  /** Most events in one envelope. */
  maxEventBatch: number;
  /** The protocol's crypto. */
  crypto: ProtocolCrypto;
}

/**
 * Fill in and check every option of `EmbeddedBridge.start`, in this order:
 * limits, devices, `udpPort`, `maxFrameSize`, `maxEventBatch`,
 * `reservedTopics`, `meshTopics`.
 *
 * @param opts The caller's options.
 * @returns Every option, defaults filled in.
 * @throws {ConfigError} On the first bad option.
 * @throws {InvalidTopicError} On a malformed reserved topic pattern.
 */
export function resolveBridgeOptions(
  opts: BridgeOptions,
): ResolvedBridgeOptions {
  if (opts === null || typeof opts !== "object") {
    throw new ConfigError("options", "must be an object");
  }
  for (const key of Object.keys(opts)) {
    if (!BRIDGE_OPTION_KEYS.has(key)) {
      throw new ConfigError(key, "is not a bridge option (a typo?)");
    }
  }
  const limits = resolveLimits(opts);
  const devices = parseDeviceTable(opts.devices);
  const udpPort = opts.udpPort ?? DEFAULT_UDP_PORT;
  if (!Number.isInteger(udpPort) || udpPort < 0 || udpPort > 65535) {
    throw new ConfigError("udpPort", "must be an integer from 0 to 65535");
  }
  const maxFrameSize = opts.maxFrameSize ?? Limits.DEFAULT_MAX_FRAME;
  if (
    !Number.isInteger(maxFrameSize) || maxFrameSize < Limits.MIN_MAX_FRAME ||
    maxFrameSize > Limits.ABSOLUTE_MAX_FRAME
  ) {
    throw new ConfigError(
      "maxFrameSize",
      `must be an integer from ${Limits.MIN_MAX_FRAME} to ${Limits.ABSOLUTE_MAX_FRAME}`,
    );
  }
  const maxEventBatch = opts.maxEventBatch ?? DEFAULT_EVENT_BATCH;
  if (
    !Number.isInteger(maxEventBatch) || maxEventBatch < 1 ||
    maxEventBatch > MAX_EVENT_BATCH
  ) {
    throw new ConfigError(
      "maxEventBatch",
      `must be an integer from 1 to ${MAX_EVENT_BATCH}`,
    );
  }
  const contextFlushMs = opts.contextFlushMs ?? DEFAULT_CONTEXT_FLUSH_MS;
  if (
    !Number.isInteger(contextFlushMs) || contextFlushMs < 1 ||
    contextFlushMs > 60_000
  ) {
    throw new ConfigError(
      "contextFlushMs",
      "must be an integer from 1 to 60000",
    );
  }
  for (const p of opts.reservedTopics ?? []) validatePattern(p);
  const meshTopics = opts.meshTopics ?? [];
  for (const t of meshTopics) {
    if (typeof t !== "string" || t.length === 0 || hasWildcard(t)) {
      throw new ConfigError("meshTopics", `"${t}" must be a concrete topic`);
    }
  }
  return {
    limits,
    devices,
    udpPort,
    hostname: opts.hostname ?? DEFAULT_HOSTNAME,
    discoveryGroup: opts.discoveryGroup === undefined
      ? DISCOVERY_GROUP
      : opts.discoveryGroup,
    defaultRules: opts.defaultRules ?? {},
    reservedTopics: opts.reservedTopics ?? DEFAULT_RESERVED_TOPICS,
    maxFrameSize,
    meshTopics,
    contextFlushMs,
    batchEvents: opts.batchEvents ?? true,
    maxEventBatch,
    crypto: opts.crypto ?? nodeProtocolCrypto(),
  };
}

/** Every field {@linkcode BridgeOptions} has: any other is refused. */
const BRIDGE_OPTION_KEYS: ReadonlySet<string> = new Set([
  ...Object.keys(DEFAULT_LIMITS),
  "udpPort",
  "discoveryGroup",
  "hostname",
  "devices",
  "defaultRules",
  "reservedTopics",
  "maxFrameSize",
  "meshTopics",
  "contextFlushMs",
  "batchEvents",
  "maxEventBatch",
  "crypto",
]);

// ---- fixed bounds (not options) ------------------------------------------

/** Replies waiting for the socket (cookies, rejects, GwInfo), at most. */
export const MAX_PENDING_REPLIES = 1024;

/** Hello nonces remembered per device, to refuse a replayed Hello. */
export const NONCES_REMEMBERED = 8;

/** With no event batch sent for this long (ms), the next event leaves at once. */
export const BATCH_IDLE_MS = 15;

/** Device events waiting for the mesh, at most (beyond: refused). */
export const MAX_BATCH_QUEUE = 4096;

/** Payload bytes of one envelope, at most (one event always goes). */
export const MAX_BATCH_BYTES = 256 * 1024;

/**
 * Bytes one context change of sensor readings aims at, at most: the node
 * refuses a delta over 64 KiB (`maxDeltaBytes`), and a change is also
 * split in halves when the node still finds it too large.
 */
export const CONTEXT_WRITE_BYTES = 48 * 1024;

/** Allowance for a delta's header (writer id, sequence number, clock). */
export const DELTA_HEADER_BYTES = 512;

/** A sensor name a device may use. */
export const SENSOR_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * How often sessions are checked for expiry, in ms: a quarter of the
 * keep-alive, from 100 ms to 1 s.
 */
export function sweepInterval(limits: ResolvedLimits): number {
  return Math.max(100, Math.min(1000, limits.keepAliveSeconds * 250));
}

/**
 * The burst of each handshake budget (first Hellos, second Hellos): a
 * tenth of a second's rate, at least 1.
 */
export function handshakeBurst(limits: ResolvedLimits): number {
  return Math.max(1, Math.ceil(limits.handshakeRate / 10));
}
