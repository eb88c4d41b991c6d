/**
 * The events an {@linkcode EmbeddedBridge} emits, and the bounded queue that
 * carries them to each consumer (a slow consumer loses the oldest events and
 * gets a `lagged` event; it never slows the bridge).
 *
 * @module
 */

import { EventStream } from "../core/event_queue.ts";

/** A device completed a handshake (a new session). */
export interface DeviceConnectedEvent {
  /** Discriminator. */
  type: "deviceConnected";
  /** The device id. */
  deviceId: string;
  /** Its source, `"address:port"`. */
  address: string;
  /** The new session id. */
  sessionId: number;
}

/** A device's session ended. */
export interface DeviceGoneEvent {
  /** Discriminator. */
  type: "deviceGone";
  /** The device id. */
  deviceId: string;
  /**
   * Why: `timeout` (silent for 3 × keep-alive), `disconnected` (it said
   * so), `replaced` (it made a new session; a `deviceConnected` follows),
   * `closed` (the bridge closed), `removed` (taken off the device table, or
   * its key or rules changed: see `EmbeddedBridge.setDevices`).
   */
  reason: "timeout" | "disconnected" | "replaced" | "closed" | "removed";
}

/** A device announced it sleeps. */
export interface DeviceSleepingEvent {
  /** Discriminator. */
  type: "deviceSleeping";
  /** The device id. */
  deviceId: string;
  /** The announced duration. */
  seconds: number;
}

/** A sleeping device woke (sent a frame). */
export interface DeviceAwakeEvent {
  /** Discriminator. */
  type: "deviceAwake";
  /** The device id. */
  deviceId: string;
  /** Messages delivered from its sleep queue. */
  delivered: number;
}

/**
 * A device's sensor reading was refused: neither published nor written to
 * the shared context. The device got an Ack with `code` (if it asked for
 * one).
 */
export interface ReadingRefusedEvent {
  /** Discriminator. */
  type: "readingRefused";
  /** The device id. */
  deviceId: string;
  /** The sensor name. */
  sensor: string;
  /**
   * The Ack code (docs/PROTOCOL.md 7): `malformed` (its data cannot be a
   * context value: a key with a dot, an empty key, `__proto__`, too deep),
   * `too large`, or `limit reached` (`maxSensorsPerDevice`, or the node's
   * context quota).
   */
  code: number;
  /** Why, in words (the context's own message where there is one). */
  reason: string;
}

/**
 * A handshake was refused (after the cookie round trip, so `address` is the
 * device's real source): an unknown device or a wrong key, a replayed
 * Hello, or no session left.
 */
export interface DeviceRefusedEvent {
  /** Discriminator. */
  type: "deviceRefused";
  /** The device id the Hello claimed (not proven). */
  deviceId: string;
  /** The source address, `host:port`. */
  address: string;
  /** `not authorised` (unknown device or wrong key), `replayed`, `session limit`. */
  reason: "not authorised" | "replayed" | "session limit";
}

/** This consumer fell behind; `dropped` events were lost for it. */
export interface BridgeLaggedEvent {
  /** Discriminator. */
  type: "lagged";
  /** Events lost. */
  dropped: number;
}

/**
 * Every bridge event, discriminated on `type`.
 *
 * @example
 * ```ts
 * import type { BridgeEvent } from "@avi/p2p/bridge";
 * const show = (e: BridgeEvent) =>
 *   e.type === "deviceConnected" ? `+${e.deviceId}` : e.type;
 * ```
 */
export type BridgeEvent =
  | DeviceConnectedEvent
  | DeviceGoneEvent
  | DeviceSleepingEvent
  | DeviceAwakeEvent
  | ReadingRefusedEvent
  | DeviceRefusedEvent
  | BridgeLaggedEvent;

const lagged = (dropped: number): BridgeEvent => ({ type: "lagged", dropped });

/**
 * One consumer's bounded queue: the shared {@linkcode EventStream} with the
 * count bound only (a slow consumer loses the oldest events, then gets one
 * {@linkcode BridgeLaggedEvent}). @internal
 */
export class BridgeEventStream extends EventStream<BridgeEvent> {
  /**
   * @param cap The most events queued.
   * @param onEnd Called once, when the stream ends.
   */
  constructor(cap: number, onEnd: () => void) {
    super(cap, lagged, onEnd);
  }
}
