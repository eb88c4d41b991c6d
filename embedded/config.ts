/**
 * The device client's configuration, {@linkcode AviEmbeddedConfig}: every
 * default and every check, in one place.
 *
 * @module
 */

import { Limits, type ProtocolCrypto } from "../protocol/mod.ts";
import { checkInt } from "./errors.ts";
import type { DeviceTimers, EmbeddedState, Endpoint } from "./types.ts";

/** Configuration of {@linkcode AviEmbedded}. */
export interface AviEmbeddedConfig {
  /** Device id, 0..2^53-1, known to the gateway. */
  deviceId: number;
  /** The device's 32-byte pre-shared key. */
  key: Uint8Array;
  /** Crypto implementation, e.g. `nobleCrypto({ random })`. */
  crypto: ProtocolCrypto;
  /** The gateway. When absent, `connect()` discovers one with SearchGw. */
  gateway?: Endpoint;
  /**
   * Where SearchGw goes when no gateway is configured.
   * @default { address: "239.255.97.118", port: 8888 }
   */
  discovery?: Endpoint;
  /**
   * Largest frame accepted, sent in the Hello (256..1472).
   * @default 1024
   */
  maxFrame?: number;
  /**
   * Scratch buffer for outgoing frames, at least `maxFrame` bytes.
   * @default a new buffer of `maxFrame` bytes
   */
  scratch?: Uint8Array;
  /**
   * Deadline of `connect()`, milliseconds.
   * @default 10000
   */
  connectTimeoutMs?: number;
  /**
   * First retransmission delay, milliseconds; doubles each time.
   * @default 1000
   */
  retryInitialMs?: number;
  /**
   * Largest retransmission delay, milliseconds.
   * @default 8000
   */
  retryMaxMs?: number;
  /**
   * Transmissions of a Ping or message, with nothing heard from the gateway
   * meanwhile, before the gateway is presumed lost (re-handshake).
   * @default 4
   */
  maxTransmissions?: number;
  /**
   * Unacknowledged data messages (QoS 1 publishes, button and sensor
   * events, stream starts) kept at once; each reserves `maxFrame` bytes.
   * @default 16
   */
  maxPending?: number;
  /**
   * Topics the device may be subscribed to.
   * @default 32
   */
  maxSubscriptions?: number;
  /**
   * Topic aliases per direction (0 disables uplink aliases).
   * @default 16
   */
  maxAliases?: number;
  /**
   * Uplink topics at least this long (UTF-8 bytes) get an alias, which QoS
   * 0 publishes use (a QoS 1 publish carries its topic, so that its
   * retransmissions repeat its bytes, in any session).
   * @default 16
   */
  aliasMinTopicBytes?: number;
  /**
   * Clock in milliseconds.
   * @default Date.now
   */
  now?: () => number;
  /**
   * Timers. `null` (or no global `setTimeout`): no timers at all; the device
   * loop calls `tick()` often enough (every 50-100 ms, say).
   * @default the global setTimeout/clearTimeout
   */
  timers?: DeviceTimers | null;
  /** Called on every state change. */
  onStateChange?: (state: EmbeddedState) => void;
  /** Called with stream data from the gateway (the bytes are valid during the call only). */
  onStreamData?: (streamId: number, seq: number, data: Uint8Array) => void;
  /** Called when the gateway closes a stream. */
  onStreamClose?: (streamId: number, code: number) => void;
  /** Called with an Error message or a refusal the gateway sent. */
  onError?: (code: number, detail: string) => void;
}

/** A config with its defaults filled in, checked. */
export interface ResolvedConfig {
  /** The crypto. */
  crypto: ProtocolCrypto;
  /** The clock. */
  now: () => number;
  /** The timers, or null (the device loop calls `tick()`). */
  timers: DeviceTimers | null;
  /** Largest frame accepted. */
  maxFrame: number;
  /** Scratch buffer for outgoing frames. */
  scratch: Uint8Array;
  /** First retransmission delay, ms. */
  retryInitial: number;
  /** Largest retransmission delay, ms. */
  retryMax: number;
  /** Transmissions before the gateway is presumed lost. */
  maxTx: number;
  /** Unacknowledged data messages kept at once. */
  maxPending: number;
  /** Topics the device may be subscribed to. */
  maxSubs: number;
  /** Topic aliases per direction. */
  maxAliases: number;
  /** Uplink topics at least this long get an alias. */
  aliasMin: number;
  /** Deadline of `connect()`, ms. */
  connectTimeout: number;
}

/**
 * Fills in the defaults and checks the config.
 * @param cfg The config.
 * @returns The config resolved.
 * @throws {RangeError} A number out of its range, or a short scratch buffer.
 * @throws {TypeError} No 32-byte key, or no crypto.
 */
export function resolveConfig(cfg: AviEmbeddedConfig): ResolvedConfig {
  checkInt(cfg.deviceId, 0, Number.MAX_SAFE_INTEGER, "deviceId");
  if (!(cfg.key instanceof Uint8Array) || cfg.key.length !== 32) {
    throw new TypeError("key must be a 32-byte Uint8Array");
  }
  if (!cfg.crypto) throw new TypeError("crypto is required");
  const g = globalThis as {
    setTimeout?: (fn: () => void, ms: number) => unknown;
    clearTimeout?: (h: unknown) => void;
  };
  const timers: DeviceTimers | null = cfg.timers !== undefined
    ? cfg.timers
    : (typeof g.setTimeout === "function" &&
        typeof g.clearTimeout === "function"
      ? {
        setTimeout: (fn, ms) => g.setTimeout!(fn, ms),
        clearTimeout: (h) => g.clearTimeout!(h),
      }
      : null);
  const maxFrame = cfg.maxFrame ?? Limits.DEFAULT_MAX_FRAME;
  checkInt(
    maxFrame,
    Limits.MIN_MAX_FRAME,
    Limits.ABSOLUTE_MAX_FRAME,
    "maxFrame",
  );
  const scratch = cfg.scratch ?? new Uint8Array(maxFrame);
  if (scratch.length < maxFrame) {
    throw new RangeError("scratch must be at least maxFrame bytes");
  }
  const r: ResolvedConfig = {
    crypto: cfg.crypto,
    now: cfg.now ?? Date.now,
    timers,
    maxFrame,
    scratch,
    retryInitial: cfg.retryInitialMs ?? 1000,
    retryMax: cfg.retryMaxMs ?? 8000,
    maxTx: cfg.maxTransmissions ?? 4,
    maxPending: cfg.maxPending ?? 16,
    maxSubs: cfg.maxSubscriptions ?? 32,
    maxAliases: cfg.maxAliases ?? 16,
    aliasMin: cfg.aliasMinTopicBytes ?? 16,
    connectTimeout: cfg.connectTimeoutMs ?? 10000,
  };
  checkInt(r.retryInitial, 1, 3_600_000, "retryInitialMs");
  checkInt(r.retryMax, r.retryInitial, 3_600_000, "retryMaxMs");
  checkInt(r.maxTx, 1, 100, "maxTransmissions");
  checkInt(r.maxPending, 1, 1024, "maxPending");
  checkInt(r.maxSubs, 0, 1024, "maxSubscriptions");
  checkInt(r.maxAliases, 0, 1024, "maxAliases");
  checkInt(r.connectTimeout, 1, 3_600_000, "connectTimeoutMs");
  return r;
}
