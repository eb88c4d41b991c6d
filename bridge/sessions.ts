/**
 * Devices and their sessions: the known devices and what the gateway keeps
 * for each, the gateway end of the handshake (stateless cookie, per-device
 * keys, a lost Welcome sent again), sealed frames opened with the replay
 * window, sessions that follow the device's address, expiry after
 * 3 × keep-alive, and the end of a session.
 *
 * @module
 */

import { bytesEqual } from "../core/bytes.ts";
import { aviLogger } from "../core/log.ts";
import type { JsonValue } from "../core/events.ts";
import { toHex } from "../core/hex.ts";
import {
  answerHello,
  decodeMessages,
  encodeReject,
  ErrorCode,
  type HelloFrame,
  type Message,
  type SealedFrame,
  type SecureSession,
} from "../protocol/mod.ts";
import { AckMemory } from "./ack_memory.ts";
import { BoundedQueue } from "./bounded_queue.ts";
import type { BridgeEvent } from "./bridge_events.ts";
import {
  handshakeBurst,
  NONCES_REMEMBERED,
  type ResolvedBridgeOptions,
  type ResolvedDevice,
} from "./options.ts";
import type { Outbox } from "./outbox.ts";
import { DevicePermissions, type TopicRules } from "./permissions.ts";
import { TokenBucket } from "./rate_limit.ts";
import type { BridgeStats, DeviceInfo, DeviceTableChange } from "./stats.ts";
import { type Endpoint, endpointKey } from "./transport.ts";

const log = aviLogger("bridge");

/** What the gateway knows of one sensor of a device in the shared context. */
export interface SensorState {
  /** The value last applied at `avi.sensors.<id>.<name>` (undefined: none known). */
  last: JsonValue | undefined;
  /** Upper bound of the delta bytes of `last` (what deleting its keys costs). */
  lastBytes: number;
}

/** One device stream relayed to a mesh stream. */
export interface StreamState {
  /** The mesh stream, once accepted. */
  meshId: string | undefined;
  /** Whether the mesh stream is still being asked for. */
  opening: boolean;
  /** The next sequence number expected from the device. */
  nextSeqIn: number;
  /** Frames from the device counted lost. */
  lost: number;
  /** Frames from the device that came late. */
  reordered: number;
  /** The next sequence number sent to the device. */
  seqOut: number;
}

/** A known device (from the key table), connected or not. */
export interface Device {
  /** Its id, decimal. */
  id: string;
  /** Its id as a number (the protocol's). */
  numId: number;
  /** Its pre-shared key. */
  key: Uint8Array;
  /** Its own topic rules, as configured (undefined: the defaults). */
  rules: TopicRules | undefined;
  /** What it may publish and subscribe to. */
  perms: DevicePermissions;
  /** Its live session. */
  session: Session | undefined;
  /** Its exact subscriptions (held in the mesh). */
  topics: Set<string>;
  /** Its wildcard subscriptions. */
  patterns: Set<string>;
  /** QoS 1 outcomes by msgId (across sessions). */
  acks: AckMemory;
  /** Hex of its last Hello nonces, newest last. */
  recentNonces: string[];
  /** Its streams by device stream id. */
  streams: Map<number, StreamState>;
  /** Messages kept while it sleeps. */
  sleepQueue: BoundedQueue<Message> | undefined;
  /** Its QoS 1 publishes waiting for the mesh. */
  inflight: number;
  /** Its sensors in the shared context (loaded at its first reading). */
  sensors: Map<string, SensorState> | undefined;
  /** The load of `sensors`, under way. */
  sensorsLoading: Promise<Map<string, SensorState>> | undefined;
}

/** A device's session. */
export interface Session {
  /** The session id. */
  id: number;
  /** Its device. */
  device: Device;
  /** Its keys and replay window. */
  secure: SecureSession;
  /** The device's current source. */
  addr: Endpoint;
  /** When it began (ms since the epoch). */
  connectedAt: number;
  /** When the last authenticated frame came. */
  lastHeard: number;
  /** When its announced sleep ends; 0 while awake. */
  sleepingUntil: number;
  /** Hex of the nonce of the Hello that made it. */
  nonceHex: string;
  /** The Welcome sent, for a Hello repeated after a lost one. */
  welcome: Uint8Array;
  /** Topic aliases registered. */
  aliases: Map<number, string>;
  /** Messages waiting to be sent. */
  out: BoundedQueue<Message>;
  /** Whether it ended. */
  closed: boolean;
}

/** Why a session ended (the `deviceGone` reason). */
export type EndReason =
  | "timeout"
  | "disconnected"
  | "replaced"
  | "closed"
  | "removed";

/** An authenticated frame: its session and the messages it carries. */
export interface OpenedFrame {
  /** The session. */
  session: Session;
  /** Its plaintext. */
  plaintext: Uint8Array;
  /** The messages, in order. */
  messages: Message[];
  /** Where each message ends in `plaintext`. */
  ends: number[];
}

/** What the session table works with. */
export interface SessionDeps {
  /** The resolved options. */
  opts: ResolvedBridgeOptions;
  /** The gateway id of Welcome frames. */
  gatewayId: number;
  /** The clock's `now` (for the handshake buckets). */
  now: number;
  /** Counters. */
  stats: BridgeStats;
  /** Replies and queues. */
  outbox: Outbox;
  /** Report an event. */
  emit(e: BridgeEvent): void;
  /** Let go of what a device held in the mesh (subscriptions, streams, sleep queue). */
  release(d: Device): void;
}

/** The devices, their sessions, the handshake and expiry. */
export class Sessions {
  /** Every known device by id. */
  readonly devices = new Map<string, Device>();
  /** Live sessions by id. */
  readonly live = new Map<number, Session>();
  #deps: SessionDeps;
  #cookieSecret = new Uint8Array(32);
  #cookieBucket: TokenBucket;
  #helloBucket: TokenBucket;

  /** The table of `deps.opts.devices`, none connected. */
  constructor(deps: SessionDeps) {
    this.#deps = deps;
    const { opts } = deps;
    crypto.getRandomValues(this.#cookieSecret);
    for (const d of opts.devices.values()) {
      this.devices.set(d.id, this.#device(d));
    }
    // Two budgets: first Hellos (no cookie, spoofable) cannot starve the
    // second Hellos of devices that already hold a cookie.
    const rate = opts.limits.handshakeRate;
    const burst = handshakeBurst(opts.limits);
    this.#cookieBucket = new TokenBucket(rate, burst, deps.now);
    this.#helloBucket = new TokenBucket(rate, burst, deps.now);
  }

  #device(d: ResolvedDevice): Device {
    const { opts } = this.#deps;
    return {
      id: d.id,
      numId: Number(d.id),
      key: d.key,
      rules: d.rules,
      perms: new DevicePermissions(
        d.id,
        d.rules ?? opts.defaultRules,
        opts.reservedTopics,
      ),
      session: undefined,
      topics: new Set(),
      patterns: new Set(),
      acks: new AckMemory(opts.limits.dedupWindow),
      recentNonces: [],
      streams: new Map(),
      sleepQueue: undefined,
      inflight: 0,
      sensors: undefined,
      sensorsLoading: undefined,
    };
  }

  /**
   * Replaces the device table while running: a new device may connect at
   * once; a removed device, or one whose key or rules changed, loses its
   * session (`deviceGone`, reason `"removed"`) and what it held in the mesh;
   * an unchanged device keeps its session.
   * @returns The ids added, removed and changed.
   */
  replaceTable(
    table: Map<string, ResolvedDevice>,
  ): DeviceTableChange {
    const out = {
      added: [] as string[],
      removed: [] as string[],
      changed: [] as string[],
    };
    for (const [id, d] of [...this.devices]) {
      const next = table.get(id);
      const same = next !== undefined && bytesEqual(next.key, d.key) &&
        JSON.stringify(next.rules ?? null) === JSON.stringify(d.rules ?? null);
      if (same) continue;
      if (d.session) this.end(d.session, "removed", true);
      else this.#deps.release(d);
      this.devices.delete(id);
      if (next) {
        this.devices.set(id, this.#device(next));
        out.changed.push(id);
      } else out.removed.push(id);
    }
    for (const [id, d] of table) {
      if (!this.devices.has(id)) {
        this.devices.set(id, this.#device(d));
        out.added.push(id);
      }
    }
    return out;
  }

  /** A Hello: a cookie, a reject, the same Welcome again, or a new session. */
  hello(
    f: HelloFrame,
    raw: Uint8Array,
    from: Endpoint,
    key: string,
    now: number,
  ): void {
    const { opts, stats, outbox } = this.#deps;
    let zero = true;
    for (let i = 0; i < f.cookie.length; i++) {
      if (f.cookie[i] !== 0) {
        zero = false;
        break;
      }
    }
    if (!(zero ? this.#cookieBucket : this.#helloBucket).take(now)) {
      stats.rateLimited++;
      return;
    }
    let resend: Session | undefined;
    let sid: number;
    do {
      sid = crypto.getRandomValues(new Uint32Array(1))[0];
    } while (sid === 0 || this.live.has(sid));
    const outcome = answerHello(opts.crypto, f, raw, {
      cookieSecret: this.#cookieSecret,
      now: Math.floor(now / 1000),
      source: key,
      lookupKey: (id) => this.devices.get(String(id))?.key,
      sessionId: sid,
      maxFrame: opts.maxFrameSize,
      keepAliveSeconds: opts.limits.keepAliveSeconds,
      gatewayId: this.#deps.gatewayId,
      isReplay: (id, nonce) => {
        const d = this.devices.get(String(id));
        if (d === undefined) return false;
        const h = toHex(nonce);
        if (d.session && d.session.nonceHex === h) {
          resend = d.session;
          return true;
        }
        return d.recentNonces.includes(h);
      },
    });
    if (outcome.action === "cookie") {
      stats.cookies++;
      outbox.sendRaw(outcome.reply, from);
      return;
    }
    if (outcome.action === "reject") {
      if (resend !== undefined) {
        // The Welcome was lost: the same Hello again gets the same Welcome.
        resend.addr = from;
        outbox.sendRaw(resend.welcome, from);
        return;
      }
      const replayed = outcome.code === ErrorCode.REPLAYED;
      if (replayed) stats.replayedHellos++;
      else stats.notAuthorised++;
      outbox.sendRaw(outcome.reply, from);
      log.debug("device {id} refused from {address}: {reason}", {
        id: String(f.deviceId),
        address: key,
        reason: replayed ? "replayed" : "not authorised",
      });
      this.#deps.emit({
        type: "deviceRefused",
        deviceId: String(f.deviceId),
        address: key,
        reason: replayed ? "replayed" : "not authorised",
      });
      return;
    }
    const d = this.devices.get(String(outcome.deviceId))!;
    if (d.session === undefined && this.live.size >= opts.limits.maxSessions) {
      stats.sessionLimit++;
      outbox.sendRaw(encodeReject(ErrorCode.LIMIT_REACHED, 0), from);
      this.#deps.emit({
        type: "deviceRefused",
        deviceId: d.id,
        address: key,
        reason: "session limit",
      });
      return;
    }
    const nonceHex = toHex(outcome.clientNonce);
    d.recentNonces.push(nonceHex);
    if (d.recentNonces.length > NONCES_REMEMBERED) d.recentNonces.shift();
    const old = d.session;
    if (old !== undefined) this.end(old, "replaced", false);
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
      out: new BoundedQueue(opts.limits.maxOutboundPerDevice),
      closed: false,
    };
    d.session = s;
    this.live.set(sid, s);
    stats.sessions++;
    outbox.sendRaw(outcome.reply, from);
    log.debug("device {id} connected from {address}", {
      id: d.id,
      address: key,
    });
    this.#deps.emit({
      type: "deviceConnected",
      deviceId: d.id,
      address: key,
      sessionId: sid,
    });
  }

  /**
   * A sealed frame: its session answers "unknown session" when there is
   * none; a frame that does not verify is dropped and counted. An
   * authenticated frame moves its session to `from`.
   *
   * @returns The session and the frame's messages, or undefined.
   */
  open(f: SealedFrame, from: Endpoint, now: number): OpenedFrame | undefined {
    const { stats } = this.#deps;
    const s = this.live.get(f.sessionId);
    if (s === undefined) {
      stats.unknownSession++;
      this.#deps.outbox.sendRaw(
        encodeReject(ErrorCode.UNKNOWN_SESSION, f.sessionId),
        from,
      );
      return undefined;
    }
    const pt = s.secure.open(f);
    if (typeof pt === "number") {
      if (pt === ErrorCode.REPLAYED) stats.replayed++;
      else stats.forged++;
      return undefined;
    }
    // Authenticated: the session follows the device's address.
    s.addr = from;
    s.lastHeard = now;
    // One frame may carry several messages (docs/PROTOCOL.md 4).
    const ends: number[] = [];
    try {
      const messages = decodeMessages(pt, 0, pt.length, ends);
      return { session: s, plaintext: pt, messages, ends };
    } catch {
      stats.malformed++;
      return undefined;
    }
  }

  /**
   * End a session; with `release`, the device also lets go of its mesh
   * subscriptions, streams and sleep queue (a replaced session keeps them
   * for the new one).
   */
  end(s: Session, reason: EndReason, release: boolean): void {
    if (s.closed) return;
    s.closed = true;
    this.live.delete(s.id);
    this.#deps.outbox.forget(s);
    const d = s.device;
    if (d.session === s) d.session = undefined;
    if (release) this.#deps.release(d);
    log.debug("device {id} session ended: {reason}", { id: d.id, reason });
    this.#deps.emit({ type: "deviceGone", deviceId: d.id, reason });
  }

  /** End the sessions silent for 3 × keep-alive (past any announced sleep). */
  expire(now: number): void {
    const grace = 3 * this.#deps.opts.limits.keepAliveSeconds * 1000;
    for (const s of [...this.live.values()]) {
      const deadline = Math.max(s.lastHeard, s.sleepingUntil) + grace;
      if (now > deadline) {
        this.#deps.stats.expired++;
        this.end(s, "timeout", true);
      }
    }
  }

  /** The connected devices. */
  info(): DeviceInfo[] {
    const out: DeviceInfo[] = [];
    for (const s of this.live.values()) {
      const d = s.device;
      out.push({
        deviceId: d.id,
        address: endpointKey(s.addr),
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
}
