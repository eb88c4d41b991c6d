/**
 * The UDP gateway between devices (docs/PROTOCOL.md) and the mesh.
 *
 * Requires `--allow-net` and `--unstable-net` (Deno.listenDatagram).
 *
 * @module
 */

import { ConfigError, UnstableApiError } from "../core/errors.ts";
import type { AviEvent, JsonObject, JsonValue } from "../core/events.ts";
import { ContextDoc, encodeDelta } from "../context/mod.ts";
import {
  answerHello,
  decodeFrame,
  decodeMessages,
  encodeGwInfo,
  encodeReject,
  ErrorCode,
  FrameDecodeError,
  FrameEncodeError,
  type HelloFrame,
  Limits,
  type Message,
  type ProtocolCrypto,
  type SealedFrame,
  type SecureSession,
  utf8Length,
} from "../protocol/mod.ts";
import { AckMemory, fnv1a } from "./ack_memory.ts";
import { nodeProtocolCrypto } from "./_node_crypto.ts";
import { BoundedQueue } from "./bounded_queue.ts";
import { type BridgeEvent, BridgeEventStream } from "./bridge_events.ts";
import {
  buttonJson,
  buttonTopic,
  sensorJson,
  sensorTopic,
} from "./device_events.ts";
import type { BridgeMesh } from "./mesh_port.ts";
import {
  type BridgeOptions,
  parseDeviceTable,
  type ResolvedDevice,
  type ResolvedLimits,
  resolveLimits,
} from "./options.ts";
import { DEFAULT_RESERVED_TOPICS, DevicePermissions } from "./permissions.ts";
import { RateLimiter, TokenBucket } from "./rate_limit.ts";
import { RefCountedSubscriptions } from "./ref_subscriptions.ts";
import { hasWildcard, matchTopic, validatePattern } from "./topic_pattern.ts";

/** A connected device, as reported by {@linkcode EmbeddedBridge.devices}. */
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

/** Counters of an {@linkcode EmbeddedBridge}; every refusal is counted. */
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

interface StreamState {
  meshId: string | undefined;
  opening: boolean;
  nextSeqIn: number;
  lost: number;
  reordered: number;
  seqOut: number;
}

interface QueuedEvent {
  d: Device;
  topic: string;
  data: Uint8Array;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** With no batch sent for this long (ms), the next event leaves at once. */
const BATCH_IDLE_MS = 15;

/** Device events waiting for the mesh, at most (beyond: refused). */
const MAX_BATCH_QUEUE = 4096;

/** Payload bytes of one envelope, at most (one event always goes). */
const MAX_BATCH_BYTES = 256 * 1024;

/** Events in one envelope by default. */
const DEFAULT_EVENT_BATCH = 256;

/**
 * Bytes one context change of sensor readings aims at, at most: the node
 * refuses a delta over 64 KiB (`maxDeltaBytes`), and a change is also
 * split in halves when the node still finds it too large.
 */
const CONTEXT_WRITE_BYTES = 48 * 1024;

/** Allowance for a delta's header (writer id, sequence number, clock). */
const DELTA_HEADER_BYTES = 512;

/** What the bridge knows of one sensor of a device in the shared context. */
interface SensorState {
  /** The value last applied at `avi.sensors.<id>.<name>` (undefined: none known). */
  last: JsonValue | undefined;
  /** Upper bound of the delta bytes of `last` (what deleting its keys costs). */
  lastBytes: number;
}

/** A reading waiting for its context write (the latest of its sensor). */
interface PendingReading {
  d: Device;
  name: string;
  json: JsonObject;
  /** Upper bound of the delta bytes of `json` alone. */
  bytes: number;
  /** The readings of this sensor in this window, acked once it is applied. */
  waiters: { resolve: () => void; reject: (e: unknown) => void }[];
}

/** A sensor reading refused; `code` is the Ack the device gets. */
class ReadingRefused extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.name = "ReadingRefused";
    this.code = code;
  }
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * What writing `value` at `avi.sensors.<deviceId>.<name>` costs, as the
 * bytes of its delta in an empty replica (an upper bound: a replica that
 * already holds some of it writes fewer entries). The context's own checks
 * decide whether it can be a context value at all.
 *
 * @throws {InvalidPathError} A key with a dot, an empty key, `__proto__`,
 * a key too long, nesting too deep.
 * @throws {TooLargeError} One delta could not hold it.
 */
function contextCost(deviceId: string, name: string, value: JsonValue): number {
  const scratch = new ContextDoc({ replicaId: "bridge", initial: {} });
  const { delta } = scratch.update({
    avi: { sensors: { [deviceId]: { [name]: value } } },
  });
  return delta ? encodeDelta(delta).length : 0;
}

/**
 * The merge patch (RFC 7396) that turns `prev` into `next`: keys of `prev`
 * missing from `next` become `null` (deleted), so that a sensor's context
 * value is its latest reading, not every key it ever sent.
 */
function replacePatch(prev: JsonValue | undefined, next: JsonValue): JsonValue {
  if (!isObject(next) || !isObject(prev)) return next;
  const out: JsonObject = {};
  for (const k of Object.keys(prev)) {
    if (!Object.hasOwn(next, k)) out[k] = null;
  }
  for (const [k, v] of Object.entries(next)) {
    out[k] = replacePatch(Object.hasOwn(prev, k) ? prev[k] : undefined, v);
  }
  return out;
}

interface Device {
  id: string;
  numId: number;
  key: Uint8Array;
  perms: DevicePermissions;
  session: Session | undefined;
  topics: Set<string>;
  patterns: Set<string>;
  acks: AckMemory;
  recentNonces: string[];
  streams: Map<number, StreamState>;
  sleepQueue: BoundedQueue<Message> | undefined;
  inflight: number;
  /** Its sensors in the shared context (loaded at its first reading). */
  sensors: Map<string, SensorState> | undefined;
  sensorsLoading: Promise<Map<string, SensorState>> | undefined;
}

interface Session {
  id: number;
  device: Device;
  secure: SecureSession;
  addr: Deno.NetAddr;
  connectedAt: number;
  lastHeard: number;
  sleepingUntil: number;
  nonceHex: string;
  welcome: Uint8Array;
  aliases: Map<number, string>;
  out: BoundedQueue<Message>;
  closed: boolean;
}

const UTF8 = new TextEncoder();

/** The multicast group devices send SearchGw to (docs/PROTOCOL.md 5.1). */
const DISCOVERY_GROUP = "239.255.97.118";

/** Sends in flight at once on the gateway's socket. */
const SEND_WINDOW = 64;
/** Concurrent receive calls on the gateway's socket. */
const RECEIVERS = 4;

const SENSOR_NAME = /^[A-Za-z0-9_-]{1,64}$/;

function hex(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += (x < 16 ? "0" : "") + x.toString(16);
  return s;
}

function addrKey(a: Deno.NetAddr): string {
  return `${a.hostname}:${a.port}`;
}

/**
 * The embedded bridge: a UDP gateway that lets devices speaking
 * docs/PROTOCOL.md take part in the mesh.
 *
 * Requires `--allow-net` and `--unstable-net`.
 *
 * @example
 * ```ts ignore
 * import { AviP2p } from "@avi/p2p";
 * import { EmbeddedBridge } from "@avi/p2p/bridge";
 * const node = await AviP2p.start({ nodeName: "gateway" });
 * const bridge = await EmbeddedBridge.start(node.handle(), {
 *   udpPort: 8888,
 *   devices: { "7": "11".repeat(32) },
 * });
 * for await (const ev of bridge.events()) console.log(ev);
 * ```
 */
export class EmbeddedBridge {
  /** The UDP port the bridge listens on. */
  readonly port: number;
  /** The gateway id sent in Welcome and GwInfo (random at start). */
  readonly gatewayId: number;
  readonly #stats: BridgeStats = {
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
  #mesh: BridgeMesh;
  #conn: Deno.DatagramConn;
  #crypto: ProtocolCrypto;
  #limits: ResolvedLimits;
  #maxFrame: number;
  #cookieSecret = new Uint8Array(32);
  #devices = new Map<string, Device>();
  #sessions = new Map<number, Session>();
  #refs: RefCountedSubscriptions;
  #patternDevices = new Set<Device>();
  #addrLimiter: RateLimiter;
  #deviceLimiter: RateLimiter;
  #cookieBucket: TokenBucket;
  #helloBucket: TokenBucket;
  #raw: BoundedQueue<[Uint8Array, Deno.NetAddr]>;
  #ready = new Set<Session>();
  #pumping = false;
  #closed = false;
  #recvLoop: Promise<void>;
  #meshLoop: Promise<void>;
  #meshEvents: AsyncIterableIterator<AviEvent>;
  #sweep: ReturnType<typeof setInterval>;
  #listeners = new Set<BridgeEventStream>();
  #pending = new Set<Promise<unknown>>();
  #meshStreams = new Map<string, [Device, number]>();
  #ownTopics: string[] = [];
  #multicast: Deno.MulticastV4Membership | undefined;
  #contextFlushMs: number;
  #batching: boolean;
  #maxEventBatch: number;

  private constructor(
    mesh: BridgeMesh,
    conn: Deno.DatagramConn,
    devices: Map<string, ResolvedDevice>,
    opts: BridgeOptions,
    limits: ResolvedLimits,
  ) {
    this.#mesh = mesh;
    this.#conn = conn;
    this.port = (conn.addr as Deno.NetAddr).port;
    this.#limits = limits;
    this.#crypto = opts.crypto ?? nodeProtocolCrypto();
    crypto.getRandomValues(this.#cookieSecret);
    this.gatewayId = crypto.getRandomValues(new Uint32Array(1))[0];
    this.#maxFrame = opts.maxFrameSize ?? Limits.DEFAULT_MAX_FRAME;
    this.#contextFlushMs = opts.contextFlushMs ?? 100;
    this.#batching = opts.batchEvents ?? true;
    this.#maxEventBatch = opts.maxEventBatch ?? DEFAULT_EVENT_BATCH;
    const reserved = opts.reservedTopics ?? DEFAULT_RESERVED_TOPICS;
    for (const d of devices.values()) {
      this.#devices.set(d.id, {
        id: d.id,
        numId: Number(d.id),
        key: d.key,
        perms: new DevicePermissions(
          d.id,
          d.rules ?? opts.defaultRules ?? {},
          reserved,
        ),
        session: undefined,
        topics: new Set(),
        patterns: new Set(),
        acks: new AckMemory(limits.dedupWindow),
        recentNonces: [],
        streams: new Map(),
        sleepQueue: undefined,
        inflight: 0,
        sensors: undefined,
        sensorsLoading: undefined,
      });
    }
    // A topic the application itself already subscribed to through the same
    // handle stays the application's: the bridge never unsubscribes it.
    const external = new Set<string>();
    this.#refs = new RefCountedSubscriptions({
      subscribe: async (t) => {
        const have = await mesh.subscriptions?.();
        if (have?.includes(t)) {
          external.add(t);
          return;
        }
        await mesh.subscribe(t);
      },
      unsubscribe: async (t) => {
        if (external.delete(t)) return;
        await mesh.unsubscribe(t);
      },
    });
    this.#addrLimiter = new RateLimiter({
      rate: limits.ratePerAddress,
      burst: limits.burstPerAddress,
      maxKeys: limits.maxRateKeys,
    });
    this.#deviceLimiter = new RateLimiter({
      rate: limits.ratePerDevice,
      burst: limits.burstPerDevice,
      maxKeys: limits.maxRateKeys,
    });
    // Two budgets: first Hellos (no cookie, spoofable) cannot starve the
    // second Hellos of devices that already hold a cookie.
    const burst = Math.max(1, Math.ceil(limits.handshakeRate / 10));
    this.#cookieBucket = new TokenBucket(
      limits.handshakeRate,
      burst,
      Date.now(),
    );
    this.#helloBucket = new TokenBucket(
      limits.handshakeRate,
      burst,
      Date.now(),
    );
    this.#raw = new BoundedQueue(1024);
    this.#meshEvents = mesh.events();
    this.#recvLoop = Promise.all(
      Array.from({ length: RECEIVERS }, () => this.#receive()),
    ).then(() => {});
    this.#meshLoop = this.#consumeMesh();
    const tick = Math.max(100, Math.min(1000, limits.keepAliveSeconds * 250));
    this.#sweep = setInterval(() => this.#expire(), tick);
  }

  /**
   * Start a bridge on a mesh node.
   *
   * @param mesh The node's handle (or anything with the {@linkcode BridgeMesh} calls).
   * @param options Port, device keys, limits.
   * @returns The running bridge.
   * @throws {UnstableApiError} Without `--unstable-net`.
   * @throws {ConfigError} On a bad option.
   */
  static start(
    mesh: BridgeMesh,
    options: BridgeOptions,
  ): Promise<EmbeddedBridge> {
    // deno-lint-ignore no-explicit-any
    if (typeof (Deno as any).listenDatagram !== "function") {
      return Promise.reject(
        new UnstableApiError("Deno.listenDatagram", "--unstable-net"),
      );
    }
    try {
      const limits = resolveLimits(options);
      const devices = parseDeviceTable(options.devices);
      const port = options.udpPort ?? 8888;
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        throw new ConfigError("udpPort", "must be an integer from 0 to 65535");
      }
      const mf = options.maxFrameSize ?? Limits.DEFAULT_MAX_FRAME;
      if (
        !Number.isInteger(mf) || mf < Limits.MIN_MAX_FRAME ||
        mf > Limits.ABSOLUTE_MAX_FRAME
      ) {
        throw new ConfigError(
          "maxFrameSize",
          `must be an integer from ${Limits.MIN_MAX_FRAME} to ${Limits.ABSOLUTE_MAX_FRAME}`,
        );
      }
      const mb = options.maxEventBatch ?? DEFAULT_EVENT_BATCH;
      if (!Number.isInteger(mb) || mb < 1 || mb > 1024) {
        throw new ConfigError(
          "maxEventBatch",
          "must be an integer from 1 to 1024",
        );
      }
      for (const p of options.reservedTopics ?? []) validatePattern(p);
      for (const t of options.meshTopics ?? []) {
        if (typeof t !== "string" || t.length === 0 || hasWildcard(t)) {
          throw new ConfigError(
            "meshTopics",
            `"${t}" must be a concrete topic`,
          );
        }
      }
      const conn = Deno.listenDatagram({
        transport: "udp",
        hostname: options.hostname ?? "0.0.0.0",
        port,
      });
      const bridge = new EmbeddedBridge(mesh, conn, devices, options, limits);
      const group = options.discoveryGroup === undefined
        ? DISCOVERY_GROUP
        : options.discoveryGroup;
      const host = options.hostname ?? "0.0.0.0";
      if (group !== null && host === "0.0.0.0") {
        // Best effort: a host without a multicast route still gets unicast
        // and broadcast SearchGw.
        conn.joinMulticastV4(group, "0.0.0.0").then(
          (m) => (bridge.#multicast = m),
          () => {},
        );
      }
      const topics = options.meshTopics ?? [];
      bridge.#ownTopics = topics;
      return Promise.all(
        topics.map((t) => bridge.#refs.acquire(t, "\u0000bridge")),
      ).then(() => bridge, async (e) => {
        await bridge.close();
        throw e;
      });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * The devices with a live session.
   *
   * @returns One entry per connected device.
   */
  devices(): DeviceInfo[] {
    const out: DeviceInfo[] = [];
    for (const s of this.#sessions.values()) {
      const d = s.device;
      out.push({
        deviceId: d.id,
        address: addrKey(s.addr),
        sessionId: s.id,
        connectedAt: s.connectedAt,
        lastSeen: s.lastHeard,
        subscriptions: [...d.topics, ...d.patterns],
        sleeping: s.sleepingUntil > 0,
        queued: s.out.length + (d.sleepQueue?.length ?? 0),
      });
    }
    return out;
  }

  /**
   * Current sizes of the bridge's tables (each bounded by a limit of
   * {@linkcode BridgeLimits}): for monitoring, and for tests that check the
   * bounds hold under attack.
   *
   * @returns Entries per table.
   */
  tableSizes(): {
    sessions: number;
    rateKeys: number;
    pendingReplies: number;
    pendingMeshCalls: number;
    meshTopics: number;
    queuedFrames: number;
  } {
    let queued = 0;
    for (const s of this.#sessions.values()) queued += s.out.length;
    for (const d of this.#devices.values()) queued += d.sleepQueue?.length ?? 0;
    return {
      sessions: this.#sessions.size,
      rateKeys: this.#addrLimiter.size + this.#deviceLimiter.size,
      pendingReplies: this.#raw.length,
      pendingMeshCalls: this.#pending.size,
      meshTopics: this.#refs.topics().length,
      queuedFrames: queued,
    };
  }

  /** A snapshot of the counters. */
  stats(): BridgeStats {
    return { ...this.#stats };
  }

  /**
   * The bridge's events (device connected, gone, sleeping, awake). Each call
   * returns a new consumer with its own bounded queue.
   *
   * @param options `queueSize`: events kept for a slow consumer. @default 256
   * @returns An async iterator; `return()` (or `break`) ends it.
   */
  events(
    options: { queueSize?: number } = {},
  ): AsyncIterableIterator<BridgeEvent> {
    const s: BridgeEventStream = new BridgeEventStream(
      options.queueSize ?? 256,
      () => this.#listeners.delete(s),
    );
    if (this.#closed) s.end();
    else this.#listeners.add(s);
    return s;
  }

  #emit(e: BridgeEvent): void {
    for (const l of this.#listeners) l.push(e);
  }

  // ---- receiving ---------------------------------------------------------

  async #receive(): Promise<void> {
    while (!this.#closed) {
      let data: Uint8Array, from: Deno.Addr;
      try {
        [data, from] = await this.#conn.receive();
      } catch {
        if (this.#closed) return;
        continue;
      }
      try {
        this.#onDatagram(data, from as Deno.NetAddr);
      } catch {
        this.#stats.internalErrors++;
      }
    }
  }

  #onDatagram(data: Uint8Array, from: Deno.NetAddr): void {
    this.#stats.datagrams++;
    const now = Date.now();
    const key = addrKey(from);
    if (!this.#addrLimiter.allow(key, now)) {
      this.#stats.rateLimited++;
      return;
    }
    let f;
    try {
      f = decodeFrame(data, { maxFrame: this.#maxFrame });
    } catch (e) {
      this.#stats.malformed++;
      if (
        e instanceof FrameDecodeError &&
        e.code === ErrorCode.UNSUPPORTED_VERSION && data.length >= 7
      ) {
        this.#sendRaw(encodeReject(ErrorCode.UNSUPPORTED_VERSION, 0), from);
      }
      return;
    }
    switch (f.kind) {
      case "hello":
        return this.#onHello(f, data, from, key, now);
      case "sealed":
        return this.#onSealed(f, from, now);
      case "searchGw":
        this.#sendRaw(
          encodeGwInfo({
            nonce: f.nonce,
            port: this.port,
            gatewayId: this.gatewayId,
          }),
          from,
        );
        return;
      default:
        // Cookie, Welcome, GwInfo, Reject: not for a gateway.
        this.#stats.malformed++;
    }
  }

  #onHello(
    f: HelloFrame,
    raw: Uint8Array,
    from: Deno.NetAddr,
    key: string,
    now: number,
  ): void {
    let zero = true;
    for (let i = 0; i < f.cookie.length; i++) {
      if (f.cookie[i] !== 0) {
        zero = false;
        break;
      }
    }
    if (!(zero ? this.#cookieBucket : this.#helloBucket).take(now)) {
      this.#stats.rateLimited++;
      return;
    }
    let resend: Session | undefined;
    let sid: number;
    do {
      sid = crypto.getRandomValues(new Uint32Array(1))[0];
    } while (sid === 0 || this.#sessions.has(sid));
    const outcome = answerHello(this.#crypto, f, raw, {
      cookieSecret: this.#cookieSecret,
      now: Math.floor(now / 1000),
      source: key,
      lookupKey: (id) => this.#devices.get(String(id))?.key,
      sessionId: sid,
      maxFrame: this.#maxFrame,
      keepAliveSeconds: this.#limits.keepAliveSeconds,
      gatewayId: this.gatewayId,
      isReplay: (id, nonce) => {
        const d = this.#devices.get(String(id));
        if (d === undefined) return false;
        const h = hex(nonce);
        if (d.session && d.session.nonceHex === h) {
          resend = d.session;
          return true;
        }
        return d.recentNonces.includes(h);
      },
    });
    if (outcome.action === "cookie") {
      this.#stats.cookies++;
      this.#sendRaw(outcome.reply, from);
      return;
    }
    if (outcome.action === "reject") {
      if (resend !== undefined) {
        // The Welcome was lost: the same Hello again gets the same Welcome.
        resend.addr = from;
        this.#sendRaw(resend.welcome, from);
        return;
      }
      if (outcome.code === ErrorCode.REPLAYED) this.#stats.replayedHellos++;
      else this.#stats.notAuthorised++;
      this.#sendRaw(outcome.reply, from);
      return;
    }
    const d = this.#devices.get(String(outcome.deviceId))!;
    if (
      d.session === undefined && this.#sessions.size >= this.#limits.maxSessions
    ) {
      this.#stats.sessionLimit++;
      this.#sendRaw(encodeReject(ErrorCode.LIMIT_REACHED, 0), from);
      return;
    }
    const nonceHex = hex(outcome.clientNonce);
    d.recentNonces.push(nonceHex);
    if (d.recentNonces.length > 8) d.recentNonces.shift();
    const old = d.session;
    if (old !== undefined) {
      this.#endSession(old, "replaced", false);
    }
    const s: Session = {
      id: sid,
      device: d,
      secure: outcome.session,
      addr: from,
      connectedAt: now,
      lastHeard: now,
      sleepingUntil: 0,
      nonceHex,
      welcome: outcome.reply.slice(),
      aliases: new Map(),
      out: new BoundedQueue(this.#limits.maxOutboundPerDevice),
      closed: false,
    };
    d.session = s;
    this.#sessions.set(sid, s);
    this.#stats.sessions++;
    this.#sendRaw(outcome.reply, from);
    this.#emit({
      type: "deviceConnected",
      deviceId: d.id,
      address: key,
      sessionId: sid,
    });
  }

  #onSealed(f: SealedFrame, from: Deno.NetAddr, now: number): void {
    const s = this.#sessions.get(f.sessionId);
    if (s === undefined) {
      this.#stats.unknownSession++;
      this.#sendRaw(encodeReject(ErrorCode.UNKNOWN_SESSION, f.sessionId), from);
      return;
    }
    const pt = s.secure.open(f);
    if (typeof pt === "number") {
      if (pt === ErrorCode.REPLAYED) this.#stats.replayed++;
      else this.#stats.forged++;
      return;
    }
    // Authenticated: the session follows the device's address.
    s.addr = from;
    s.lastHeard = now;
    const d = s.device;
    // One frame may carry several messages (docs/PROTOCOL.md 4); each is
    // handled as if it came alone, in order.
    let ms: Message[];
    const ends: number[] = [];
    try {
      ms = decodeMessages(pt, 0, pt.length, ends);
    } catch {
      this.#stats.malformed++;
      return;
    }
    // The device's budget counts messages, not frames.
    if (!this.#deviceLimiter.allow(d.id, now, ms.length)) {
      this.#stats.rateLimited++;
      return;
    }
    if (ms.length > 1) this.#stats.bundledIn++;
    if (s.sleepingUntil > 0) this.#wake(s);
    for (let i = 0; i < ms.length; i++) {
      this.#onMessage(
        s,
        ms[i],
        pt.subarray(i === 0 ? 0 : ends[i - 1], ends[i]),
      );
    }
  }

  #onMessage(s: Session, m: Message, pt: Uint8Array): void {
    const d = s.device;
    switch (m.type) {
      case "ping":
        this.#queue(s, { type: "pong" });
        return;
      case "pong":
      case "ack":
      case "regAck":
        return;
      case "subscribe":
        return this.#onSubscribe(s, m.msgId, m.topic);
      case "unsubscribe":
        this.#releaseTopic(d, m.topic);
        this.#queue(s, { type: "unsubscribeAck", msgId: m.msgId, code: 0 });
        return;
      case "register": {
        let code: number = ErrorCode.OK;
        if (hasWildcard(m.topic) || m.topic.length === 0) {
          code = ErrorCode.MALFORMED;
        } else if (
          !s.aliases.has(m.alias) &&
          s.aliases.size >= this.#limits.maxAliasesPerSession
        ) {
          code = ErrorCode.LIMIT_REACHED;
        } else s.aliases.set(m.alias, m.topic);
        this.#queue(s, {
          type: "regAck",
          msgId: m.msgId,
          alias: m.alias,
          code,
        });
        return;
      }
      case "publish": {
        const topic = typeof m.topic === "number"
          ? s.aliases.get(m.topic)
          : m.topic;
        if (topic === undefined) {
          if (m.qos === 1) {
            this.#ack(s, m.msgId, ErrorCode.UNKNOWN_ALIAS);
          }
          return;
        }
        if (hasWildcard(topic) || topic.length === 0) {
          if (m.qos === 1) this.#ack(s, m.msgId, ErrorCode.MALFORMED);
          return;
        }
        if (!d.perms.canPublish(topic)) {
          this.#stats.notPermitted++;
          if (m.qos === 1) this.#ack(s, m.msgId, ErrorCode.NOT_PERMITTED);
          return;
        }
        const data = m.data.slice();
        this.#deliverQos(
          s,
          m.qos === 1 ? m.msgId : 0,
          pt,
          () => this.#publish(d, topic, data),
        );
        return;
      }
      case "buttonPress": {
        const topic = buttonTopic(d.id);
        const json = buttonJson(
          m.buttonId,
          m.pressType,
          m.customData,
          Date.now(),
        );
        this.#deliverQos(
          s,
          m.msgId,
          pt,
          () => this.#publishEvent(d, topic, json),
        );
        return;
      }
      case "sensorUpdate": {
        if (!SENSOR_NAME.test(m.name)) {
          if (m.msgId !== 0) this.#ack(s, m.msgId, ErrorCode.MALFORMED);
          return;
        }
        const name = m.name;
        const topic = sensorTopic(d.id, name);
        const json = sensorJson(name, m.value, m.customData, Date.now());
        this.#deliverQos(
          s,
          m.msgId,
          pt,
          () => this.#sensorReading(d, name, topic, json),
        );
        return;
      }
      case "disconnect":
        if (m.sleepSeconds === 0) {
          this.#endSession(s, "disconnected", true);
        } else {
          const ms = Math.min(m.sleepSeconds * 1000, this.#limits.maxSleepMs);
          s.sleepingUntil = Date.now() + ms;
          d.sleepQueue ??= new BoundedQueue(
            this.#limits.maxQueuedPerSleepingDevice,
          );
          this.#emit({
            type: "deviceSleeping",
            deviceId: d.id,
            seconds: m.sleepSeconds,
          });
        }
        return;
      case "streamStart":
        return this.#onStreamStart(
          s,
          m.msgId,
          m.streamId,
          m.targetPeer,
          m.reason,
        );
      case "streamData":
        return this.#onStreamData(s, m.streamId, m.seq, m.data);
      case "streamClose":
        return this.#onStreamClose(s, m.streamId);
      case "error":
        return;
      default:
        // Gateway-to-device types sent by a device.
        this.#stats.malformed++;
    }
  }

  #ack(s: Session, msgId: number, code: number): void {
    this.#queue(s, { type: "ack", msgId, code });
  }

  /**
   * Deliver a device message once: QoS 1 (msgId ≠ 0) goes through the ack
   * memory, the ack goes out only after `run` resolved (Ack 0), or with the
   * code of its failure. `unavailable` is forgotten, so that a
   * retransmission tries again; any other code is the answer for good.
   */
  #deliverQos(
    s: Session,
    msgId: number,
    pt: Uint8Array,
    run: () => Promise<void>,
  ): void {
    const d = s.device;
    if (msgId === 0) {
      this.#track(run().catch(() => {}));
      return;
    }
    // The fingerprint covers the whole message (its msgId included).
    const fp = fnv1a(pt);
    const st = d.acks.begin(msgId, fp);
    if (st.state === "done") {
      this.#stats.duplicates++;
      this.#ack(d.session ?? s, msgId, st.code);
      return;
    }
    if (st.state === "pending") {
      this.#stats.duplicates++;
      return;
    }
    if (d.inflight >= this.#limits.maxInflightPerDevice) {
      // Too many in flight: forget it; the device retransmits later.
      d.acks.finish(msgId, fp, 0, true);
      this.#stats.rateLimited++;
      return;
    }
    d.inflight++;
    this.#track(
      run().then(
        () => {
          d.acks.finish(msgId, fp, ErrorCode.OK);
          if (d.session) this.#ack(d.session, msgId, ErrorCode.OK);
        },
        (e) => {
          const code = e instanceof ReadingRefused
            ? e.code
            : e?.name === "TooLargeError"
            ? ErrorCode.TOO_LARGE
            : e?.name === "InvalidTopicError"
            ? ErrorCode.MALFORMED
            : ErrorCode.UNAVAILABLE;
          // Unavailable: forget, so that a retransmission tries again.
          d.acks.finish(msgId, fp, code, code === ErrorCode.UNAVAILABLE);
          if (d.session) this.#ack(d.session, msgId, code);
        },
      ).finally(() => d.inflight--),
    );
  }

  async #publish(d: Device, topic: string, data: Uint8Array): Promise<void> {
    try {
      await this.#mesh.publish(topic, data);
    } catch (e) {
      this.#stats.meshErrors++;
      throw e;
    }
    this.#stats.published++;
    // The mesh does not hand a node its own messages: devices on this
    // gateway that want the topic get it here.
    this.#deliver(topic, data, d);
  }

  #evQueue: QueuedEvent[] = [];
  #evBusy = false;
  #evLast = 0;
  #evLastSize = 0;
  #evTimer: ReturnType<typeof setTimeout> | undefined;

  /**
   * Publish a device event (button, sensor) as JSON, one event per mesh
   * message payload. While an earlier publish is in flight, later events
   * (on any topics) wait and then leave together as one envelope
   * (`publishBatch`, at most `maxEventBatch` events), so a busy gateway costs
   * one signed gossip message per batch, not per event; subscribers still
   * get one ordinary `message` event per device event. A quiet gateway sends
   * each event at once, as a plain message on its topic.
   */
  #publishEvent(d: Device, topic: string, json: JsonObject): Promise<void> {
    const data = UTF8.encode(JSON.stringify(json));
    if (!this.#batching || this.#mesh.publishBatch === undefined) {
      return this.#publish(d, topic, data);
    }
    if (this.#evQueue.length >= MAX_BATCH_QUEUE) {
      this.#stats.rateLimited++;
      return Promise.reject(new Error("event queue full"));
    }
    return new Promise<void>((resolve, reject) => {
      this.#evQueue.push({ d, topic, data, resolve, reject });
      if (!this.#evBusy && this.#evTimer === undefined) {
        if (
          this.#evLastSize <= 1 ||
          performance.now() - this.#evLast > BATCH_IDLE_MS
        ) {
          // Quiet, or no burst going on: send at once.
          this.#flushEvents();
        } else {
          // A burst (the last message carried several events): linger until
          // the loop has handled this turn's other datagrams, so that the
          // burst leaves in few messages.
          this.#evTimer = setTimeout(() => {
            this.#evTimer = undefined;
            if (!this.#evBusy) this.#flushEvents();
          }, 0);
        }
      }
    });
  }

  #flushEvents(): void {
    const q = this.#evQueue;
    let n = 0;
    for (let bytes = 0; n < q.length && n < this.#maxEventBatch; n++) {
      bytes += q[n].topic.length + q[n].data.length;
      if (bytes > MAX_BATCH_BYTES && n > 0) break;
    }
    const items = q.splice(0, n);
    if (items.length === 0) return;
    this.#evBusy = true;
    this.#evLast = performance.now();
    this.#evLastSize = items.length;
    let sent: Promise<void>;
    if (items.length === 1) {
      sent = this.#publish(items[0].d, items[0].topic, items[0].data);
    } else {
      this.#stats.batches++;
      sent = this.#publishEnvelope(items);
    }
    sent.then(
      () => items.forEach((i) => i.resolve()),
      (e) => items.forEach((i) => i.reject(e)),
    ).finally(() => {
      this.#evBusy = false;
      if (this.#evQueue.length > 0) this.#flushEvents();
    });
  }

  async #publishEnvelope(items: QueuedEvent[]): Promise<void> {
    try {
      await this.#mesh.publishBatch!(
        items.map((i) => ({ topic: i.topic, data: i.data })),
      );
    } catch (e) {
      this.#stats.meshErrors++;
      throw e;
    }
    this.#stats.published++;
    // The mesh does not hand a node its own messages.
    for (const i of items) this.#deliver(i.topic, i.data, i.d);
  }

  // ---- sensor readings and the shared context ---------------------------

  #contextPending = new Map<string, PendingReading>();
  #contextTimer: ReturnType<typeof setTimeout> | undefined;
  #contextChain: Promise<void> = Promise.resolve();

  /**
   * A SensorUpdate: published on `device/<id>/sensor/<name>` and written to
   * the shared context at `avi.sensors.<id>.<name>`.
   *
   * What an Ack means (docs/PROTOCOL.md 4.1): Ack 0 is sent only once the
   * reading was accepted by the mesh **and** applied to the gateway node's
   * replica of the shared context (`updateContext` resolved: applied, saved
   * when the node persists, sent to its peers). A later reading of the same
   * sensor in the same `contextFlushMs` window may have replaced it there
   * (the latest wins), never an older one. A reading whose data cannot be a
   * context value (checked by the context's own rules before it joins a
   * batch), or of a new sensor beyond `maxSensorsPerDevice`, is refused
   * (`malformed`, `too large`, `limit reached`): neither published nor
   * written, counted, and reported as a `readingRefused` event. When the
   * context write itself fails, only the readings of that write get the
   * failure (`unavailable`: try again; they may have been published).
   *
   * Without `updateContext` on the mesh, the reading is only published.
   */
  async #sensorReading(
    d: Device,
    name: string,
    topic: string,
    json: JsonObject,
  ): Promise<void> {
    if (!this.#mesh.updateContext) return this.#publishEvent(d, topic, json);
    const bytes = await this.#admitReading(d, name, json);
    const written = this.#contextWrite(d, name, json, bytes);
    const published = this.#publishEvent(d, topic, json);
    await Promise.all([published, written]);
  }

  /**
   * Check a reading before it joins a batch: the device's sensor bound,
   * then the context's rules for its data.
   *
   * @returns The upper bound of its delta bytes.
   * @throws {ReadingRefused} When it is refused.
   */
  async #admitReading(
    d: Device,
    name: string,
    json: JsonObject,
  ): Promise<number> {
    const sensors = d.sensors ?? await this.#loadSensors(d);
    const max = this.#limits.maxSensorsPerDevice;
    if (!sensors.has(name) && sensors.size >= max) {
      this.#stats.sensorLimit++;
      throw this.#refuse(
        d,
        name,
        ErrorCode.LIMIT_REACHED,
        `device ${d.id} already keeps ${sensors.size} sensors in the context ` +
          `(maxSensorsPerDevice ${max})`,
      );
    }
    let bytes: number;
    try {
      bytes = contextCost(d.id, name, json);
    } catch (e) {
      this.#stats.contextRefused++;
      throw this.#refuse(
        d,
        name,
        (e as Error)?.name === "TooLargeError"
          ? ErrorCode.TOO_LARGE
          : ErrorCode.MALFORMED,
        `its data cannot be a context value: ${(e as Error)?.message ?? e}`,
      );
    }
    if (!sensors.has(name)) {
      sensors.set(name, { last: undefined, lastBytes: 0 });
    }
    return bytes;
  }

  #refuse(d: Device, name: string, code: number, reason: string): Error {
    this.#emit({
      type: "readingRefused",
      deviceId: d.id,
      sensor: name,
      code,
      reason,
    });
    return new ReadingRefused(code, reason);
  }

  /**
   * The device's sensors already in the context (`avi.sensors.<id>`), read
   * once, at its first reading: they count against `maxSensorsPerDevice`
   * and are replaced by the next reading of the same sensor.
   */
  #loadSensors(d: Device): Promise<Map<string, SensorState>> {
    d.sensorsLoading ??= (async () => {
      const sensors = new Map<string, SensorState>();
      let found: JsonValue | undefined;
      try {
        found = await this.#mesh.getContext?.(`avi.sensors.${d.id}`);
      } catch {
        this.#stats.meshErrors++;
      }
      if (isObject(found)) {
        for (const [name, last] of Object.entries(found)) {
          let lastBytes = 0;
          try {
            lastBytes = contextCost(d.id, name, last);
          } catch { /* written by an older rule set: cost unknown */ }
          sensors.set(name, { last, lastBytes });
        }
      }
      d.sensors = sensors;
      return sensors;
    })();
    return d.sensorsLoading;
  }

  /**
   * Queue a checked reading for the context; resolves once it (or a later
   * reading of the same sensor) is applied. Readings are written at most
   * every `contextFlushMs` (latest value per sensor wins), so that a burst
   * costs few context changes, not one per reading.
   */
  #contextWrite(
    d: Device,
    name: string,
    json: JsonObject,
    bytes: number,
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const key = `${d.id}/${name}`;
      const p = this.#contextPending.get(key);
      if (p) {
        p.json = json;
        p.bytes = bytes;
        p.waiters.push({ resolve, reject });
      } else {
        this.#contextPending.set(key, {
          d,
          name,
          json,
          bytes,
          waiters: [{ resolve, reject }],
        });
      }
      if (this.#closed) void this.#flushContext();
      else {
        this.#contextTimer ??= setTimeout(
          () => void this.#flushContext(),
          this.#contextFlushMs,
        );
      }
    });
  }

  /** Write what is pending (after the writes already under way); never rejects. */
  #flushContext(): Promise<void> {
    if (this.#contextTimer !== undefined) clearTimeout(this.#contextTimer);
    this.#contextTimer = undefined;
    if (this.#contextPending.size > 0) {
      const items = [...this.#contextPending.values()];
      this.#contextPending.clear();
      this.#contextChain = this.#contextChain.then(() =>
        this.#writeReadings(items).catch((e) => {
          this.#stats.internalErrors++;
          for (const it of items) for (const w of it.waiters) w.reject(e);
        })
      );
      this.#track(this.#contextChain);
    }
    return this.#contextChain;
  }

  /** The bytes `it` may cost in a change: its entries, and deleting the keys of the value it replaces. */
  #costOf(it: PendingReading): number {
    return it.bytes + (it.d.sensors?.get(it.name)?.lastBytes ?? 0);
  }

  /** Write readings in changes of at most `CONTEXT_WRITE_BYTES` each, one after the other. */
  async #writeReadings(items: PendingReading[]): Promise<void> {
    let chunk: PendingReading[] = [];
    let size = DELTA_HEADER_BYTES;
    for (const it of items) {
      const cost = this.#costOf(it);
      if (chunk.length > 0 && size + cost > CONTEXT_WRITE_BYTES) {
        await this.#writeChunk(chunk);
        chunk = [];
        size = DELTA_HEADER_BYTES;
      }
      chunk.push(it);
      size += cost;
    }
    if (chunk.length > 0) await this.#writeChunk(chunk);
  }

  /**
   * One context change. If the node refuses it for its content (a delta
   * over the node's bound, or a path it does not take), the change is split
   * in halves and each tried again, down to single readings, so that only
   * the readings at fault are refused. Any other failure (the node's quota
   * for its own writes, a stopped node) costs the readings of this change
   * only.
   */
  async #writeChunk(items: PendingReading[]): Promise<void> {
    const sensors: Record<string, JsonObject> = {};
    for (const it of items) {
      (sensors[it.d.id] ??= {})[it.name] = replacePatch(
        it.d.sensors?.get(it.name)?.last,
        it.json,
      );
    }
    try {
      await this.#mesh.updateContext!({ avi: { sensors } });
    } catch (e) {
      const err = e as { name?: string; message?: string; size?: unknown };
      const estimate = items.reduce(
        (n, it) => n + this.#costOf(it),
        DELTA_HEADER_BYTES,
      );
      // A delta over the bound is at most our estimate; the node's quota
      // for its own writes counts what it already holds as well.
      const deltaTooLarge = err?.name === "TooLargeError" &&
        !(typeof err.size === "number" && err.size > estimate);
      if (
        items.length > 1 &&
        (deltaTooLarge || err?.name === "InvalidPathError")
      ) {
        const half = items.length >> 1;
        await this.#writeChunk(items.slice(0, half));
        await this.#writeChunk(items.slice(half));
        return;
      }
      let code: number = ErrorCode.UNAVAILABLE;
      if (err?.name === "InvalidPathError") code = ErrorCode.MALFORMED;
      else if (deltaTooLarge) code = ErrorCode.TOO_LARGE;
      else if (err?.name === "TooLargeError") code = ErrorCode.LIMIT_REACHED;
      const reason = `the context refused it: ${err?.message ?? e}`;
      if (code === ErrorCode.UNAVAILABLE) this.#stats.meshErrors++;
      else this.#stats.contextRefused += items.length;
      for (const it of items) {
        const refused = code === ErrorCode.UNAVAILABLE
          ? new ReadingRefused(code, reason)
          : this.#refuse(it.d, it.name, code, reason);
        for (const w of it.waiters) w.reject(refused);
      }
      return;
    }
    this.#stats.contextWrites++;
    for (const it of items) {
      const st = it.d.sensors?.get(it.name);
      if (st) {
        st.last = it.json;
        st.lastBytes = it.bytes;
      }
      for (const w of it.waiters) w.resolve();
    }
  }

  #track(p: Promise<unknown>): void {
    this.#pending.add(p);
    p.finally(() => this.#pending.delete(p));
  }

  // ---- subscriptions -----------------------------------------------------

  #onSubscribe(s: Session, msgId: number, topic: string): void {
    const d = s.device;
    const reply = (code: number) =>
      this.#queue(d.session ?? s, { type: "subscribeAck", msgId, code });
    try {
      validatePattern(topic);
    } catch {
      return reply(ErrorCode.MALFORMED);
    }
    if (!d.perms.canSubscribe(topic)) {
      this.#stats.notPermitted++;
      return reply(ErrorCode.NOT_PERMITTED);
    }
    if (d.topics.has(topic) || d.patterns.has(topic)) return reply(0);
    if (
      d.topics.size + d.patterns.size >= this.#limits.maxSubscriptionsPerDevice
    ) {
      return reply(ErrorCode.LIMIT_REACHED);
    }
    if (hasWildcard(topic)) {
      d.patterns.add(topic);
      this.#patternDevices.add(d);
      return reply(0);
    }
    d.topics.add(topic);
    this.#track(
      this.#refs.acquire(topic, d.id).then(
        () => reply(0),
        () => {
          this.#stats.meshErrors++;
          d.topics.delete(topic);
          reply(ErrorCode.UNAVAILABLE);
        },
      ),
    );
  }

  #releaseTopic(d: Device, topic: string): void {
    if (d.patterns.delete(topic)) {
      if (d.patterns.size === 0) this.#patternDevices.delete(d);
      return;
    }
    if (d.topics.delete(topic)) {
      this.#track(this.#refs.release(topic, d.id));
    }
  }

  #releaseAll(d: Device): void {
    for (const t of [...d.topics, ...d.patterns]) this.#releaseTopic(d, t);
  }

  // ---- mesh → devices ------------------------------------------------------

  async #consumeMesh(): Promise<void> {
    for (;;) {
      let r: IteratorResult<AviEvent>;
      try {
        r = await this.#meshEvents.next();
      } catch {
        return;
      }
      if (r.done || this.#closed) return;
      const ev = r.value;
      try {
        if (ev.type === "message") this.#deliver(ev.topic, ev.data, undefined);
        else if (ev.type === "lagged") this.#stats.meshLagged += ev.dropped;
        else if (ev.type === "streamData") {
          this.#onMeshStreamData(ev.streamId, ev.data);
        } else if (ev.type === "streamClosed") {
          this.#onMeshStreamClosed(ev.streamId);
        }
      } catch {
        this.#stats.internalErrors++;
      }
    }
  }

  /** Send a mesh message to every device that wants it. */
  #deliver(topic: string, data: Uint8Array, _from: Device | undefined): void {
    const holders = this.#refs.holders(topic);
    const targets: Device[] = [];
    for (const id of holders) {
      const d = this.#devices.get(id);
      if (d && d.topics.has(topic)) targets.push(d);
    }
    for (const d of this.#patternDevices) {
      if (d.topics.has(topic)) continue;
      for (const p of d.patterns) {
        if (matchTopic(p, topic) && d.perms.canSubscribe(topic)) {
          targets.push(d);
          break;
        }
      }
    }
    for (const d of targets) {
      const s = d.session;
      if (s === undefined) continue;
      // A Message frame: 26 (sealed) + array/type/msgId/qos (4) + topic
      // header (≤3) + topic + bin header (≤5) + data.
      const tl = utf8Length(topic);
      const size = 26 + 4 + 3 + tl + 5 + data.length;
      if (size > s.secure.maxFrame) {
        this.#stats.tooLarge++;
        this.#queue(s, {
          type: "error",
          code: ErrorCode.TOO_LARGE,
          msgId: 0,
          detail: tl <= Limits.MAX_TEXT_BYTES ? topic : "",
        });
        continue;
      }
      const msg: Message = { type: "message", msgId: 0, qos: 0, topic, data };
      if (s.sleepingUntil > 0 && d.sleepQueue) {
        d.sleepQueue.push(msg);
        if (d.sleepQueue.dropped > 0) {
          this.#stats.sleepDropped += d.sleepQueue.dropped;
          d.sleepQueue.dropped = 0;
        }
        continue;
      }
      this.#stats.delivered++;
      this.#queue(s, msg);
    }
  }

  #wake(s: Session): void {
    s.sleepingUntil = 0;
    const q = s.device.sleepQueue;
    let n = 0;
    if (q) {
      for (let m = q.shift(); m !== undefined; m = q.shift()) {
        this.#queue(s, m);
        n++;
      }
    }
    this.#stats.delivered += n;
    this.#emit({ type: "deviceAwake", deviceId: s.device.id, delivered: n });
  }

  // ---- streams -------------------------------------------------------------

  #onStreamStart(
    s: Session,
    msgId: number,
    streamId: number,
    target: string,
    reason: string,
  ): void {
    const d = s.device;
    const mesh = this.#mesh;
    const existing = d.streams.get(streamId);
    if (existing) {
      // A retransmitted StreamStart: answer once it is settled.
      if (!existing.opening) this.#ack(s, msgId, ErrorCode.OK);
      return;
    }
    if (!mesh.requestStream || !mesh.sendStreamData) {
      return this.#ack(s, msgId, ErrorCode.UNAVAILABLE);
    }
    if (d.streams.size >= this.#limits.maxStreamsPerDevice) {
      return this.#ack(s, msgId, ErrorCode.LIMIT_REACHED);
    }
    const st: StreamState = {
      meshId: undefined,
      opening: true,
      nextSeqIn: 0,
      lost: 0,
      reordered: 0,
      seqOut: 0,
    };
    d.streams.set(streamId, st);
    this.#track(
      mesh.requestStream(target, reason, { mode: "realtime" }).then(
        (id) => {
          st.opening = false;
          if (d.streams.get(streamId) !== st) {
            mesh.closeStream?.(id);
            return;
          }
          st.meshId = id;
          this.#meshStreams.set(id, [d, streamId]);
          if (d.session) this.#ack(d.session, msgId, ErrorCode.OK);
        },
        (e) => {
          this.#stats.meshErrors++;
          if (d.streams.get(streamId) === st) d.streams.delete(streamId);
          const code = e?.name === "PeerNotFoundError" ||
              e?.name === "StreamRejectedError"
            ? ErrorCode.UNAVAILABLE
            : e?.name === "LimitExceededError"
            ? ErrorCode.LIMIT_REACHED
            : ErrorCode.UNAVAILABLE;
          if (d.session) this.#ack(d.session, msgId, code);
        },
      ),
    );
  }

  #onStreamData(s: Session, streamId: number, seq: number, data: Uint8Array) {
    const st = s.device.streams.get(streamId);
    if (st === undefined || st.meshId === undefined) {
      this.#queue(s, {
        type: "streamClose",
        streamId,
        code: ErrorCode.UNKNOWN_STREAM,
      });
      return;
    }
    if (seq > st.nextSeqIn) st.lost += seq - st.nextSeqIn;
    if (seq < st.nextSeqIn) {
      st.reordered++;
      if (st.lost > 0) st.lost--;
    } else st.nextSeqIn = seq + 1;
    const p = this.#mesh.sendStreamData!(st.meshId, data.slice());
    if (p instanceof Promise) p.catch(() => this.#stats.meshErrors++);
  }

  #onStreamClose(s: Session, streamId: number): void {
    const st = s.device.streams.get(streamId);
    if (st === undefined) return;
    this.#closeDeviceStream(s.device, streamId, st);
  }

  #closeDeviceStream(d: Device, streamId: number, st: StreamState): void {
    d.streams.delete(streamId);
    if (st.meshId !== undefined) {
      this.#meshStreams.delete(st.meshId);
      try {
        const p = this.#mesh.closeStream?.(st.meshId);
        if (p instanceof Promise) p.catch(() => {});
      } catch { /* already closed */ }
    }
  }

  #onMeshStreamData(meshId: string, data: Uint8Array): void {
    const e = this.#meshStreams.get(meshId);
    if (!e) return;
    const [d, streamId] = e;
    const st = d.streams.get(streamId);
    if (!st || !d.session) return;
    const seq = st.seqOut++ >>> 0;
    if (data.length + 26 + 16 > d.session.secure.maxFrame) {
      this.#stats.tooLarge++;
      return;
    }
    this.#queue(d.session, { type: "streamData", streamId, seq, data });
  }

  #onMeshStreamClosed(meshId: string): void {
    const e = this.#meshStreams.get(meshId);
    if (!e) return;
    this.#meshStreams.delete(meshId);
    const [d, streamId] = e;
    d.streams.delete(streamId);
    if (d.session) {
      this.#queue(d.session, { type: "streamClose", streamId, code: 0 });
    }
  }

  /**
   * Loss and reordering counted on a device's stream (device → mesh).
   *
   * @param deviceId The device.
   * @param streamId Its stream id (0..255).
   * @returns The counters, or undefined if no such stream is open.
   */
  streamStats(
    deviceId: string,
    streamId: number,
  ): { lost: number; reordered: number } | undefined {
    const st = this.#devices.get(deviceId)?.streams.get(streamId);
    return st ? { lost: st.lost, reordered: st.reordered } : undefined;
  }

  // ---- sessions ------------------------------------------------------------

  #endSession(
    s: Session,
    reason: "timeout" | "disconnected" | "replaced" | "closed",
    release: boolean,
  ): void {
    if (s.closed) return;
    s.closed = true;
    this.#sessions.delete(s.id);
    this.#ready.delete(s);
    const d = s.device;
    if (d.session === s) d.session = undefined;
    if (release) {
      this.#releaseAll(d);
      for (const [id, st] of [...d.streams]) this.#closeDeviceStream(d, id, st);
      d.sleepQueue = undefined;
    }
    this.#emit({ type: "deviceGone", deviceId: d.id, reason });
  }

  #expire(): void {
    const now = Date.now();
    const grace = 3 * this.#limits.keepAliveSeconds * 1000;
    for (const s of [...this.#sessions.values()]) {
      const deadline = Math.max(s.lastHeard, s.sleepingUntil) + grace;
      if (now > deadline) {
        this.#stats.expired++;
        this.#endSession(s, "timeout", true);
      }
    }
  }

  // ---- sending -------------------------------------------------------------

  #queue(s: Session, m: Message): void {
    if (s.closed) return;
    if (s.out.push(m) !== undefined) this.#stats.outboundDropped++;
    this.#ready.add(s);
    this.#kick();
  }

  #sendRaw(b: Uint8Array, to: Deno.NetAddr): void {
    if (this.#raw.push([b.slice(), to]) !== undefined) {
      this.#stats.outboundDropped++;
    }
    this.#kick();
  }

  #kick(): void {
    if (this.#pumping || this.#closed) return;
    this.#pumping = true;
    // Start at the end of this job, so that what it queues for one device
    // (the acks of one envelope, the answers to one frame) leaves together.
    queueMicrotask(() => void this.#pump());
  }

  /**
   * One sender: raw replies first, then one frame per ready session in turn,
   * each frame carrying as many of that session's queued messages as fit.
   * Up to `SEND_WINDOW` sends are in flight at once (a Deno send resolves a
   * loop turn later; one at a time would cap the rate at the loop's pace).
   * Frames may leave slightly out of order: the replay window allows it.
   */
  async #pump(): Promise<void> {
    const batch: Message[] = [];
    try {
      while (!this.#closed) {
        const raw = this.#raw.shift();
        if (raw !== undefined) {
          await this.#windowedSend(raw[0], raw[1]);
          continue;
        }
        if (this.#ready.size === 0) return;
        for (const s of [...this.#ready]) {
          if (this.#closed) return;
          if (s.closed) s.out.clear();
          batch.length = 0;
          const n = Math.min(s.out.length, Limits.MAX_MESSAGES_PER_FRAME);
          for (let i = 0; i < n; i++) batch.push(s.out.peek(i)!);
          let frame: Uint8Array | undefined;
          let count = 1; // what leaves the queue: the frame's, or the one refused
          if (n > 0) {
            try {
              ({ frame, count } = s.secure.sealMessages(
                batch,
                new Uint8Array(s.secure.maxFrame),
              ));
            } catch (e) {
              if (e instanceof FrameEncodeError) this.#stats.tooLarge++;
              else this.#stats.internalErrors++;
            }
          }
          for (let i = 0; i < count; i++) s.out.shift();
          if (s.out.length === 0) this.#ready.delete(s);
          if (frame === undefined) continue;
          if (count > 1) this.#stats.bundledOut++;
          await this.#windowedSend(frame, s.addr);
          if (this.#raw.length > 0) break;
        }
      }
    } finally {
      // Cleared here, synchronously: a message queued after the last check
      // above starts a new pump instead of waiting for the next one.
      this.#pumping = false;
    }
  }

  #inflightSends = 0;
  #sendSlot: (() => void) | undefined;

  async #windowedSend(b: Uint8Array, to: Deno.NetAddr): Promise<void> {
    if (this.#inflightSends >= SEND_WINDOW) {
      await new Promise<void>((r) => (this.#sendSlot = r));
    }
    this.#inflightSends++;
    this.#conn.send(b, to).catch(() => {
      // Unreachable address, closed socket: nothing to do.
    }).finally(() => {
      this.#inflightSends--;
      const r = this.#sendSlot;
      this.#sendSlot = undefined;
      r?.();
    });
  }

  // ---- closing -------------------------------------------------------------

  /**
   * Stop: close the socket, end every session (releasing their mesh
   * subscriptions and streams), end the event streams.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    for (const s of [...this.#sessions.values()]) {
      this.#endSession(s, "closed", true);
    }
    this.#closed = true;
    clearInterval(this.#sweep);
    await this.#flushContext();
    if (this.#evTimer !== undefined) {
      clearTimeout(this.#evTimer);
      this.#evTimer = undefined;
      if (!this.#evBusy) this.#flushEvents();
    }
    try {
      await this.#multicast?.leave();
    } catch { /* not a member */ }
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    await this.#meshEvents.return?.();
    await this.#recvLoop;
    // The mesh loop ends when the node's event stream does (return() above
    // ends a well-behaved one at once); it is not awaited, so that a stream
    // that never settles cannot hold close() up.
    void this.#meshLoop;
    await Promise.allSettled([...this.#pending]);
    await Promise.allSettled(
      this.#ownTopics.map((t) => this.#refs.release(t, "\u0000bridge")),
    );
    for (const l of [...this.#listeners]) l.end();
  }
}
