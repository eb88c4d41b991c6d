/**
 * The bridge's counters (every refusal is counted) and what it reports of a
 * connected device.
 *
 * @module
 */

/** A connected device, as reported by `EmbeddedBridge.devices()`. */
export interface DeviceInfo {
  /** The device id. */
  deviceId: string;
  /** Its current source, `"address:port"`. */
  address: string;
  /** The session id. */
  sessionId: number;
  /** When the session began (ms since the epoch). */
  connectedAt: number;
  /** When the last authenticated frame arrived (ms since the epoch). */
  lastSeen: number;
  /** Topics and patterns it is subscribed to. */
  subscriptions: string[];
  /** Whether it announced that it sleeps. */
  sleeping: boolean;
  /** Messages waiting for it (outbound queue plus sleep queue). */
  queued: number;
}

/** Counters of an `EmbeddedBridge`; every refusal is counted. */
export interface BridgeStats {
  /** Datagrams received. */
  datagrams: number;
  /** Datagrams that did not decode (frame or message). */
  malformed: number;
  /** Authenticated frames received that carried more than one message. */
  bundledIn: number;
  /** Frames sent that carried more than one message. */
  bundledOut: number;
  /** Datagrams dropped by a rate limit (per address, per device, handshakes). */
  rateLimited: number;
  /** Cookies sent (first Hellos, expired cookies, spoofed sources). */
  cookies: number;
  /** Hellos refused: unknown device or wrong key. */
  notAuthorised: number;
  /** Hellos refused because the nonce was already used. */
  replayedHellos: number;
  /** Sessions created. */
  sessions: number;
  /** Sessions refused because `maxSessions` was reached. */
  sessionLimit: number;
  /** Sealed frames for an unknown session. */
  unknownSession: number;
  /** Sealed frames refused by the replay window. */
  replayed: number;
  /** Sealed frames whose tag did not verify. */
  forged: number;
  /** Changes written to the shared context (each holds one or more sensor readings). */
  contextWrites: number;
  /**
   * Sensor readings refused because their data cannot be a context value
   * (a key with a dot, an empty key, `__proto__`, too deep, too large) or
   * because the node refused their change (device told `malformed`,
   * `too large` or `limit reached`).
   */
  contextRefused: number;
  /** Readings of a new sensor refused by `maxSensorsPerDevice` (device told `limit reached`). */
  sensorLimit: number;
  /** Mesh messages published for devices (an envelope counts once). */
  published: number;
  /** Mesh messages that carried more than one device event (envelopes). */
  batches: number;
  /** QoS 1 retransmissions recognised and acknowledged again. */
  duplicates: number;
  /** Device messages refused by the topic permissions. */
  notPermitted: number;
  /** Mesh calls that failed (publish, subscribe, context, streams). */
  meshErrors: number;
  /** Mesh messages delivered to devices. */
  delivered: number;
  /** Mesh events the bridge missed because it fell behind the node. */
  meshLagged: number;
  /** Mesh messages too large for a device (reported to it with an Error). */
  tooLarge: number;
  /** Frames dropped because a device's outbound queue was full. */
  outboundDropped: number;
  /** Messages dropped because a sleeping device's queue was full. */
  sleepDropped: number;
  /** Sessions expired for silence. */
  expired: number;
  /** Unexpected internal errors (should stay 0). */
  internalErrors: number;
}

/** Entries in each of the bridge's tables, each bounded by a limit of `BridgeLimits`. */
export interface BridgeTableSizes {
  /** Live device sessions. */
  sessions: number;
  /** Rate-limit buckets (per address and per device). */
  rateKeys: number;
  /** Replies waiting to be sent. */
  pendingReplies: number;
  /** Device messages waiting for the mesh. */
  pendingMeshCalls: number;
  /** Mesh topics the bridge subscribed to for devices. */
  meshTopics: number;
  /** Frames queued for devices (sleeping ones included). */
  queuedFrames: number;
}

/** What a new device table changed: device ids added, removed, and with a new key or permissions. */
export interface DeviceTableChange {
  /** Devices new in the table. */
  added: string[];
  /** Devices no longer in it (their sessions are ended). */
  removed: string[];
  /** Devices whose entry changed (their sessions are ended). */
  changed: string[];
}

/** Every counter at zero. */
export function newStats(): BridgeStats {
  return {
    datagrams: 0,
    malformed: 0,
    bundledIn: 0,
    bundledOut: 0,
    rateLimited: 0,
    cookies: 0,
    notAuthorised: 0,
    replayedHellos: 0,
    sessions: 0,
    sessionLimit: 0,
    unknownSession: 0,
    replayed: 0,
    forged: 0,
    contextWrites: 0,
    contextRefused: 0,
    sensorLimit: 0,
    published: 0,
    batches: 0,
    duplicates: 0,
    notPermitted: 0,
    meshErrors: 0,
    delivered: 0,
    meshLagged: 0,
    tooLarge: 0,
    outboundDropped: 0,
    sleepDropped: 0,
    expired: 0,
    internalErrors: 0,
  };
}
