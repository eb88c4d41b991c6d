/**
 * The device client: {@linkcode AviEmbedded}. Plain ECMAScript over
 * `protocol/` and injected parts (socket, clock, timers, crypto), so it runs
 * unmodified on Deno and on Moddable XS.
 *
 * @module
 */

import {
  createHello,
  decodeFrame,
  encodeMessage,
  encodeSearchGw,
  ErrorCode,
  type Frame,
  FrameDecodeError,
  Limits,
  type Message,
  openWelcome,
  type PressType,
  type ProtocolCrypto,
  type SecureSession,
  type SensorValue,
  utf8Length,
  Writer,
} from "../protocol/mod.ts";
import {
  ClientClosedError,
  GatewayUnreachableError,
  HandshakeRejectedError,
  NotConnectedError,
  QueueFullError,
  RequestRefusedError,
} from "./errors.ts";
import type { DeviceSocket, DeviceTimers } from "./types.ts";

/** Connection state of the client. */
export type EmbeddedState =
  | "idle"
  | "searching"
  | "handshaking"
  | "connected"
  | "reconnecting"
  | "closed";

/** Where a gateway (or the discovery group) listens. */
export interface Endpoint {
  /** IPv4 address. */
  address: string;
  /** UDP port. */
  port: number;
}

/** Counters of the client, for diagnostics. */
export interface EmbeddedStats {
  /** Datagrams sent. */
  framesSent: number;
  /** Messages sent in sealed frames (one frame may carry several). */
  messagesSent: number;
  /** Datagrams received. */
  framesReceived: number;
  /** Datagrams dropped: undecodable, replayed, forged or unexpected. */
  framesDropped: number;
  /** Retransmissions of unacknowledged messages, Hellos and Pings. */
  retransmissions: number;
  /** Completed handshakes (the first one included). */
  handshakes: number;
  /** Downlink QoS 1 duplicates suppressed. */
  duplicates: number;
}

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

/**
 * Receives messages of subscribed topics. `data` is a view into a buffer
 * the client reuses: copy it to keep it.
 */
export type MessageHandler = (topic: string, data: Uint8Array) => void;

/** Options of {@linkcode AviEmbedded.publish}. */
export interface PublishOptions {
  /**
   * 0: sent once, no ack. 1: acknowledged, retransmitted until the gateway
   * acknowledges it (the promise resolves then).
   * @default 0
   */
  qos?: 0 | 1;
}

type Kind = "data" | "control" | "ping";

interface Pending {
  msgId: number;
  msg: Message; // sent as is, every time: retransmissions repeat its bytes
  kind: Kind;
  ackType: "ack" | "subscribeAck" | "unsubscribeAck" | "regAck";
  slot: number; // payload slot, -1 if none
  transmissions: number;
  firstSentAt: number;
  nextAt: number;
  resolve: () => void;
  reject: (e: Error) => void;
  onAck?: (code: number) => void;
}

const DEFAULT_DISCOVERY: Endpoint = { address: "239.255.97.118", port: 8888 };
const DEDUP = 32;
const SEND_WINDOW = 16;

const utf8Bytes = utf8Length;

function checkInt(v: number, min: number, max: number, what: string): void {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`${what} must be an integer from ${min} to ${max}`);
  }
}

/**
 * A device's connection to a gateway: handshake, encrypted session,
 * keep-alive, QoS 1 retransmission, re-handshake and re-subscription after a
 * gateway restart, gateway discovery. Messages that become due in the same
 * job (calls made together, the answers to a received frame, retransmissions
 * due at once) leave at its end in as few frames as fit (docs/PROTOCOL.md
 * 4.6); nothing waits longer. Memory is bounded by the config
 * (`maxPending × maxFrame` bytes of payload copies, one frame of QoS 0
 * payloads being bundled, plus small tables).
 *
 * @example
 * ```ts ignore
 * import { AviEmbedded, createDenoUdpSocket, denoCrypto } from "@avi/p2p/embedded";
 * const socket = await createDenoUdpSocket();
 * const avi = new AviEmbedded(socket, {
 *   deviceId: 42,
 *   key: new Uint8Array(32), // the device's pre-shared key
 *   crypto: denoCrypto(),
 *   gateway: { address: "127.0.0.1", port: 8888 },
 * }, (topic, data) => console.log(topic, data));
 * await avi.connect();
 * await avi.subscribe("home/light");
 * await avi.buttonPressed(1, "double");
 * await avi.updateSensor("temp_kitchen", { kind: "temperature", value: 24.5 });
 * await avi.close();
 * ```
 */
export class AviEmbedded {
  #socket: DeviceSocket;
  #handler: MessageHandler;
  #cfg: AviEmbeddedConfig;
  #crypto: ProtocolCrypto;
  #now: () => number;
  #timers: DeviceTimers | null;
  #timer: unknown = null;
  #timerAt = Infinity;

  #maxFrame: number;
  #scratch: Uint8Array;
  #retryInitial: number;
  #retryMax: number;
  #maxTx: number;
  #maxPending: number;
  #maxSubs: number;
  #maxAliases: number;
  #aliasMin: number;
  #connectTimeout: number;

  #state: EmbeddedState = "idle";
  #gateway: Endpoint | null;
  #session: SecureSession | null = null;
  #keepAliveMs = Limits.DEFAULT_KEEPALIVE_S * 1000;
  #lastSent = 0;
  #lastRecv = 0;

  // Handshake / discovery.
  #clientNonce = new Uint8Array(16);
  #cookie = new Uint8Array(16);
  #searchNonce = new Uint8Array(8);
  #hsTx = 0;
  #hsNextAt = 0;
  #connectDeadline = 0;
  #connectWaiter: { resolve: () => void; reject: (e: Error) => void } | null =
    null;
  #everConnected = false;

  // Reliable messages.
  #pending: Pending[] = [];
  #slab: Uint8Array;
  #slotUsed: Uint8Array;
  #nextMsgId = 1;
  #ping: { transmissions: number; firstSentAt: number; nextAt: number } | null =
    null;

  // Subscriptions, aliases, dedup, streams.
  #subs: string[] = [];
  #upAlias = new Map<string, number>(); // confirmed in this session
  #upAliasPending = new Set<string>();
  #nextAlias = 1;
  #downAlias = new Map<number, string>();
  #recentIds = new Int32Array(DEDUP).fill(-1);
  #recentPos = 0;
  #streamSeq = new Uint32Array(256);
  #sizeWriter: Writer | null = null;

  // Messages due in this job, sent together by #flush at its end (or
  // sooner); #copied counts the bytes of QoS 0 payloads copied into them.
  #out: Message[] = [];
  #copied = 0;
  #due: Promise<void> | null = null;

  /** Counters, for diagnostics. */
  readonly stats: EmbeddedStats = {
    framesSent: 0,
    messagesSent: 0,
    framesReceived: 0,
    framesDropped: 0,
    retransmissions: 0,
    handshakes: 0,
    duplicates: 0,
  };

  /**
   * Creates the client and installs its receiver on the socket (nothing is sent before `connect()`).
   * @param socket The datagram socket (the client installs its receiver).
   * @param config Identity, key, crypto, gateway and bounds.
   * @param handler Receives messages of subscribed topics.
   */
  constructor(
    socket: DeviceSocket,
    config: AviEmbeddedConfig,
    handler: MessageHandler,
  ) {
    checkInt(config.deviceId, 0, Number.MAX_SAFE_INTEGER, "deviceId");
    if (!(config.key instanceof Uint8Array) || config.key.length !== 32) {
      throw new TypeError("key must be a 32-byte Uint8Array");
    }
    if (!config.crypto) throw new TypeError("crypto is required");
    this.#socket = socket;
    this.#handler = handler;
    this.#cfg = config;
    this.#crypto = config.crypto;
    this.#now = config.now ?? Date.now;
    const g = globalThis as {
      setTimeout?: (fn: () => void, ms: number) => unknown;
      clearTimeout?: (h: unknown) => void;
    };
    this.#timers = config.timers !== undefined
      ? config.timers
      : (typeof g.setTimeout === "function" &&
          typeof g.clearTimeout === "function"
        ? {
          setTimeout: (fn, ms) => g.setTimeout!(fn, ms),
          clearTimeout: (h) => g.clearTimeout!(h),
        }
        : null);
    this.#maxFrame = config.maxFrame ?? Limits.DEFAULT_MAX_FRAME;
    checkInt(
      this.#maxFrame,
      Limits.MIN_MAX_FRAME,
      Limits.ABSOLUTE_MAX_FRAME,
      "maxFrame",
    );
    this.#scratch = config.scratch ?? new Uint8Array(this.#maxFrame);
    if (this.#scratch.length < this.#maxFrame) {
      throw new RangeError("scratch must be at least maxFrame bytes");
    }
    this.#retryInitial = config.retryInitialMs ?? 1000;
    this.#retryMax = config.retryMaxMs ?? 8000;
    this.#maxTx = config.maxTransmissions ?? 4;
    this.#maxPending = config.maxPending ?? 16;
    this.#maxSubs = config.maxSubscriptions ?? 32;
    this.#maxAliases = config.maxAliases ?? 16;
    this.#aliasMin = config.aliasMinTopicBytes ?? 16;
    this.#connectTimeout = config.connectTimeoutMs ?? 10000;
    checkInt(this.#retryInitial, 1, 3_600_000, "retryInitialMs");
    checkInt(this.#retryMax, this.#retryInitial, 3_600_000, "retryMaxMs");
    checkInt(this.#maxTx, 1, 100, "maxTransmissions");
    checkInt(this.#maxPending, 1, 1024, "maxPending");
    checkInt(this.#maxSubs, 0, 1024, "maxSubscriptions");
    checkInt(this.#maxAliases, 0, 1024, "maxAliases");
    checkInt(this.#connectTimeout, 1, 3_600_000, "connectTimeoutMs");
    this.#slab = new Uint8Array(this.#maxPending * this.#maxFrame);
    this.#slotUsed = new Uint8Array(this.#maxPending);
    this.#gateway = config.gateway ?? null;
    // A random first msgId, so that a rebooted device is not taken for
    // retransmissions by a gateway that remembers its last ids.
    const r = new Uint8Array(2);
    this.#crypto.randomBytes(r);
    this.#nextMsgId = ((r[0] << 8) | r[1]) || 1;
    socket.setReceiver((data, address, port) =>
      this.receive(data, address, port)
    );
  }

  /**
   * The current connection state.
   * @returns The current state.
   */
  get state(): EmbeddedState {
    return this.#state;
  }

  /**
   * Tells whether a session is established.
   * @returns True when a session is established.
   */
  isConnected(): boolean {
    return this.#state === "connected";
  }

  /**
   * The gateway in use.
   * @returns The gateway in use (configured or discovered), or null.
   */
  get gateway(): Endpoint | null {
    return this.#gateway;
  }

  /**
   * The topics subscribed.
   * @returns Topics currently subscribed (or being subscribed).
   */
  subscriptions(): string[] {
    return this.#subs.slice();
  }

  /**
   * The number of unacknowledged messages held.
   * @returns Unacknowledged messages held.
   */
  pendingCount(): number {
    return this.#pending.length;
  }

  // ---------------------------------------------------------------- connect

  /**
   * Discovers a gateway if none is configured, then runs the handshake.
   * Resolves once a session is established.
   *
   * @returns When connected.
   * @throws {GatewayUnreachableError} If nothing answered before `connectTimeoutMs`.
   * @throws {HandshakeRejectedError} If the gateway refused (wrong key, unknown device, version).
   * @throws {ClientClosedError} If `close()` was called meanwhile.
   */
  connect(): Promise<void> {
    if (this.#state === "closed") {
      return Promise.reject(new ClientClosedError());
    }
    if (this.#state === "connected") return Promise.resolve();
    if (this.#connectWaiter) {
      return Promise.reject(new Error("connect() is already in progress"));
    }
    return new Promise<void>((resolve, reject) => {
      this.#connectWaiter = { resolve, reject };
      this.#connectDeadline = this.#now() + this.#connectTimeout;
      // Already reconnecting by itself: wait for that, do not restart it.
      if (this.#state !== "reconnecting") {
        if (this.#gateway === null) this.#startSearch();
        else this.#startHandshake("handshaking");
      }
      this.#schedule();
    });
  }

  #setState(s: EmbeddedState): void {
    if (this.#state === s) return;
    this.#state = s;
    this.#cfg.onStateChange?.(s);
  }

  #backoff(tx: number): number {
    let d = this.#retryInitial;
    for (let i = 1; i < tx && d < this.#retryMax; i++) d *= 2;
    return Math.min(d, this.#retryMax);
  }

  #startSearch(): void {
    this.#setState("searching");
    this.#crypto.randomBytes(this.#searchNonce);
    this.#hsTx = 0;
    this.#sendSearch();
  }

  #sendSearch(): void {
    const d = this.#cfg.discovery ?? DEFAULT_DISCOVERY;
    this.#hsTx++;
    if (this.#hsTx > 1) this.stats.retransmissions++;
    this.#hsNextAt = this.#now() + this.#backoff(this.#hsTx);
    this.#sendRaw(encodeSearchGw(this.#searchNonce, this.#scratch), d);
  }

  #startHandshake(state: "handshaking" | "reconnecting"): void {
    this.#session = null;
    this.#ping = null;
    this.#out.length = 0;
    this.#setState(state);
    this.#crypto.randomBytes(this.#clientNonce);
    this.#cookie.fill(0);
    this.#hsTx = 0;
    this.#sendHello();
  }

  #sendHello(): void {
    this.#hsTx++;
    if (this.#hsTx > 1) this.stats.retransmissions++;
    this.#hsNextAt = this.#now() + this.#backoff(this.#hsTx);
    const hello = createHello(this.#crypto, {
      deviceId: this.#cfg.deviceId,
      key: this.#cfg.key,
      clientNonce: this.#clientNonce,
      maxFrame: this.#maxFrame,
      cookie: this.#cookie,
    }, this.#scratch);
    this.#sendRaw(hello, this.#gateway!);
  }

  #sendRaw(bytes: Uint8Array, to: Endpoint): void {
    this.stats.framesSent++;
    try {
      this.#socket.send(bytes, to.address, to.port);
    } catch {
      // A send failure is a lost datagram; retransmission covers it.
    }
  }

  #failConnect(e: Error): void {
    const w = this.#connectWaiter;
    this.#connectWaiter = null;
    // Before the first session, give up; after it, keep reconnecting (the
    // queue of unacknowledged messages is still there to deliver).
    if (!this.#everConnected) {
      this.#session = null;
      this.#setState("idle");
    }
    this.#schedule();
    w?.reject(e);
  }

  // ---------------------------------------------------------------- receive

  /**
   * Hands one received datagram to the client (adapters call this; a device
   * loop may call it directly). The bytes may be overwritten (decrypted in place).
   *
   * @param data The datagram.
   * @param address Source address.
   * @param port Source port.
   */
  receive(data: Uint8Array, address: string, port: number): void {
    if (this.#state === "closed") return;
    this.stats.framesReceived++;
    let f: Frame;
    try {
      f = decodeFrame(data, { maxFrame: this.#maxFrame });
    } catch (e) {
      if (!(e instanceof FrameDecodeError)) throw e;
      this.stats.framesDropped++;
      return;
    }
    const g = this.#gateway;
    const fromGateway = g !== null && g.address === address && g.port === port;
    switch (f.kind) {
      case "gwInfo":
        if (this.#state === "searching" && eq(f.nonce, this.#searchNonce)) {
          this.#gateway = { address, port: f.port || port };
          this.#startHandshake("handshaking");
          this.#schedule();
          return;
        }
        break;
      case "cookie":
        if (
          fromGateway &&
          (this.#state === "handshaking" || this.#state === "reconnecting")
        ) {
          this.#cookie.set(f.cookie);
          this.#hsTx = 0;
          this.#sendHello();
          this.#schedule();
          return;
        }
        break;
      case "welcome":
        if (
          fromGateway &&
          (this.#state === "handshaking" || this.#state === "reconnecting") &&
          this.#onWelcome(f, data)
        ) return;
        break;
      case "reject":
        if (fromGateway && this.#onReject(f.code, f.sessionId)) return;
        break;
      case "sealed":
        if (this.#session !== null && this.#state === "connected") {
          // One or more messages, all valid (else the frame is dropped whole).
          const ms = this.#session.openMessages(f);
          if (typeof ms !== "number") {
            this.#lastRecv = this.#now();
            this.#ping = null;
            // The gateway's address follows authenticated frames.
            if (!fromGateway) this.#gateway = { address, port };
            for (const m of ms) {
              if (this.#state === "connected") this.#onMessage(m);
            }
            this.#schedule();
            return;
          }
        }
        break;
    }
    this.stats.framesDropped++;
  }

  #onWelcome(
    f: Frame & { kind: "welcome" },
    raw: Uint8Array,
  ): boolean {
    const w = openWelcome(
      this.#crypto,
      {
        deviceId: this.#cfg.deviceId,
        key: this.#cfg.key,
        clientNonce: this.#clientNonce,
        maxFrame: this.#maxFrame,
      },
      f,
      raw,
    );
    if (w === null) return false;
    this.#session = w.session;
    this.#keepAliveMs = w.keepAliveSeconds * 1000;
    const now = this.#now();
    this.#lastRecv = now;
    this.#lastSent = now;
    this.stats.handshakes++;
    this.#upAlias.clear();
    this.#upAliasPending.clear();
    this.#nextAlias = 1;
    this.#downAlias.clear();
    // Downlink msgIds are remembered per session: a restarted gateway
    // numbers its messages afresh, and they must not pass for duplicates.
    this.#recentIds.fill(-1);
    this.#everConnected = true;
    this.#setState("connected");
    // Registrations and unsubscriptions belonged to the old session; a
    // subscription is re-sent from the table; everything else is retransmitted.
    const keep: Pending[] = [];
    for (const p of this.#pending) {
      const m = p.msg;
      if (
        m.type === "register" || m.type === "unsubscribe" ||
        (m.type === "subscribe" && !this.#subs.includes(m.topic))
      ) p.resolve();
      else keep.push(p);
    }
    this.#pending = keep;
    for (const p of keep) {
      p.transmissions = 0;
      p.nextAt = now;
    }
    for (const topic of this.#subs) {
      if (
        !keep.some((p) => p.msg.type === "subscribe" && p.msg.topic === topic)
      ) {
        this.#enqueue(
          { type: "subscribe", msgId: this.#allocId(), topic },
          "control",
          "subscribeAck",
          -1,
        ).catch(() => {});
      }
    }
    const w2 = this.#connectWaiter;
    this.#connectWaiter = null;
    this.#collect();
    this.#kick();
    w2?.resolve();
    return true;
  }

  #onReject(code: number, sessionId: number): boolean {
    const s = this.#state;
    if (s === "handshaking" || s === "reconnecting") {
      if (code === ErrorCode.REPLAYED) {
        this.#startHandshake(s);
        this.#schedule();
        return true;
      }
      if (
        code === ErrorCode.NOT_AUTHORISED ||
        code === ErrorCode.UNSUPPORTED_VERSION
      ) {
        this.#cfg.onError?.(code, "handshake refused");
        if (this.#connectWaiter) {
          this.#failConnect(new HandshakeRejectedError(code));
        }
        // While reconnecting, keep trying at the capped backoff: the key
        // may be restored at the gateway.
        return true;
      }
      return false;
    }
    if (
      s === "connected" && code === ErrorCode.UNKNOWN_SESSION &&
      this.#session !== null && sessionId === this.#session.id
    ) {
      this.#startHandshake("reconnecting");
      this.#schedule();
      return true;
    }
    return false;
  }

  #onMessage(m: Message): void {
    switch (m.type) {
      case "message": {
        let topic: string | undefined;
        if (typeof m.topic === "number") topic = this.#downAlias.get(m.topic);
        else topic = m.topic;
        if (topic === undefined) {
          if (m.qos === 1) {
            this.#send({
              type: "ack",
              msgId: m.msgId,
              code: ErrorCode.UNKNOWN_ALIAS,
            });
          }
          return;
        }
        if (m.qos === 1) {
          if (this.#seen(m.msgId)) {
            this.stats.duplicates++;
          } else {
            this.#remember(m.msgId);
            this.#deliver(topic, m.data);
          }
          this.#send({ type: "ack", msgId: m.msgId, code: ErrorCode.OK });
        } else this.#deliver(topic, m.data);
        return;
      }
      case "ack":
      case "subscribeAck":
      case "unsubscribeAck":
      case "regAck": {
        for (let i = 0; i < this.#pending.length; i++) {
          const p = this.#pending[i];
          if (p.msgId === m.msgId && p.ackType === m.type) {
            this.#pending.splice(i, 1);
            this.#freeSlot(p.slot);
            p.onAck?.(m.code);
            if (m.code === ErrorCode.OK) p.resolve();
            else p.reject(new RequestRefusedError(p.msg.type, m.code));
            this.#kick(); // the send window moved
            return;
          }
        }
        return;
      }
      case "register": {
        let code: number = ErrorCode.OK;
        if (
          !this.#downAlias.has(m.alias) &&
          this.#downAlias.size >= this.#maxAliases
        ) code = ErrorCode.LIMIT_REACHED;
        else this.#downAlias.set(m.alias, m.topic);
        this.#send({ type: "regAck", msgId: m.msgId, alias: m.alias, code });
        return;
      }
      case "ping":
        this.#send({ type: "pong" });
        return;
      case "pong":
        this.#ping = null;
        return;
      case "streamData":
        this.#cfg.onStreamData?.(m.streamId, m.seq, m.data);
        return;
      case "streamClose":
        this.#cfg.onStreamClose?.(m.streamId, m.code);
        return;
      case "error":
        this.#cfg.onError?.(m.code, m.detail);
        return;
      default:
        this.stats.framesDropped++;
    }
  }

  #deliver(topic: string, data: Uint8Array): void {
    try {
      this.#handler(topic, data);
    } catch {
      // A throwing handler must not break the receive path.
    }
  }

  #seen(id: number): boolean {
    for (let i = 0; i < DEDUP; i++) if (this.#recentIds[i] === id) return true;
    return false;
  }

  #remember(id: number): void {
    this.#recentIds[this.#recentPos] = id;
    this.#recentPos = (this.#recentPos + 1) % DEDUP;
  }

  // ---------------------------------------------------------------- send

  // Queues a message for the flush at the end of this job. What is queued
  // stays below one frame of copied payloads and 32 messages: beyond, the
  // queue is flushed first.
  #send(m: Message, copied = 0): void {
    if (
      this.#out.length >= Limits.MAX_MESSAGES_PER_FRAME ||
      this.#copied + copied > this.#maxFrame
    ) this.#flush();
    this.#copied += copied;
    this.#out.push(m);
    this.#kick();
  }

  // Sends now what is queued and due, then `m` (a Disconnect: last).
  #sendLast(m: Message): void {
    this.#collect();
    this.#send(m);
    this.#flush();
  }

  // Schedules one flush at the end of the current job (a microtask, not a
  // timer: nothing waits for a fuller frame). Settles once it has run.
  #kick(): Promise<void> {
    if (this.#due === null) {
      this.#due = Promise.resolve().then(() => {
        this.#due = null;
        try {
          this.#flush();
        } catch {
          // A callback threw while sending (onStateChange on a re-handshake):
          // what is still queued leaves with the next flush.
        }
      });
    }
    return this.#due;
  }

  // Flow control: a message goes out only while its msgId is less than
  // SEND_WINDOW ids after the oldest unacknowledged one. Every id first seen
  // by the receiver after a message X is then within 16 of X, so the
  // receiver's memory of the last 32 ids (DEDUP) holds X for as long as X
  // may be retransmitted. (Pending entries are in allocation order.)
  #inWindow(p: Pending): boolean {
    const first = this.#pending[0];
    return first === undefined ||
      (p.msgId - first.msgId + 0xffff) % 0xffff < SEND_WINDOW;
  }

  #allocId(): number {
    for (let n = 0; n < 0xffff; n++) {
      const id = this.#nextMsgId;
      this.#nextMsgId = id === 0xffff ? 1 : id + 1;
      if (!this.#pending.some((p) => p.msgId === id)) return id;
    }
    throw new QueueFullError(this.#pending.length);
  }

  #takeSlot(): number {
    for (let i = 0; i < this.#maxPending; i++) {
      if (this.#slotUsed[i] === 0) {
        this.#slotUsed[i] = 1;
        return i;
      }
    }
    return -1;
  }

  #usedSlots(): number {
    let n = 0;
    for (let i = 0; i < this.#maxPending; i++) n += this.#slotUsed[i];
    return n;
  }

  #freeSlot(i: number): void {
    if (i >= 0) this.#slotUsed[i] = 0;
  }

  #copyToSlot(slot: number, data: Uint8Array): Uint8Array {
    if (!(data instanceof Uint8Array) || data.length > this.#maxFrame) {
      throw new RangeError(
        `data must be a Uint8Array of at most ${this.#maxFrame} bytes`,
      );
    }
    const base = slot * this.#maxFrame;
    this.#slab.set(data, base);
    return this.#slab.subarray(base, base + data.length);
  }

  #enqueue(
    msg: Message,
    kind: Kind,
    ackType: Pending["ackType"],
    slot: number,
    onAck?: (code: number) => void,
  ): Promise<void> {
    if (
      kind === "control" &&
      this.#pending.length - this.#usedSlots() >=
        this.#maxSubs + this.#maxAliases + 8
    ) return Promise.reject(new QueueFullError(this.#pending.length));
    return new Promise<void>((resolve, reject) => {
      const p: Pending = {
        msgId: (msg as { msgId: number }).msgId,
        msg,
        kind,
        ackType,
        slot,
        transmissions: 0,
        firstSentAt: 0,
        nextAt: this.#now(),
        resolve,
        reject,
        onAck,
      };
      this.#pending.push(p);
      this.#collect();
      this.#kick();
    });
  }

  // Queues every pending message that is due (in the send window).
  #collect(): void {
    if (this.#state !== "connected") return;
    const now = this.#now();
    for (const p of this.#pending) {
      if (!this.#inWindow(p)) break;
      if (p.nextAt > now) continue;
      if (p.transmissions === 0) p.firstSentAt = now;
      else this.stats.retransmissions++;
      p.transmissions++;
      p.nextAt = now + this.#backoff(p.transmissions);
      this.#out.push(p.msg);
    }
  }

  // Sends what is queued and every pending message due, in as few frames
  // as fit (sealMessages), in order.
  #flush(): void {
    this.#collect();
    const out = this.#out;
    const s = this.#session;
    const g = this.#gateway;
    while (out.length > 0 && this.#state === "connected" && s && g) {
      if (s.exhausted()) {
        this.#startHandshake("reconnecting");
        break;
      }
      let r: { frame: Uint8Array; count: number };
      try {
        r = s.sealMessages(out, this.#scratch);
      } catch (e) {
        // The first one does not fit the agreed frame size: refuse it.
        const m = out.shift() as { type: string; msgId?: number };
        const i = this.#pending.findIndex((p) =>
          p.msg.type === m.type && p.msgId === m.msgId
        );
        if (i >= 0) {
          const p = this.#pending.splice(i, 1)[0];
          this.#freeSlot(p.slot);
          p.reject(e as Error);
        }
        continue;
      }
      out.splice(0, r.count);
      this.stats.messagesSent += r.count;
      this.#lastSent = this.#now();
      this.#sendRaw(r.frame, g);
    }
    out.length = 0;
    this.#copied = 0;
    this.#schedule();
  }

  #requireSession(): void {
    if (this.#state === "closed") throw new ClientClosedError();
    if (!this.#everConnected) throw new NotConnectedError();
  }

  #reliable(
    build: (msgId: number, copy: (d: Uint8Array) => Uint8Array) => Message,
  ): Promise<void> {
    try {
      this.#requireSession();
    } catch (e) {
      return Promise.reject(e);
    }
    const slot = this.#takeSlot();
    if (slot < 0) return Promise.reject(new QueueFullError(this.#maxPending));
    let msg: Message;
    try {
      msg = build(this.#allocId(), (d) => this.#copyToSlot(slot, d));
      this.#checkSize(msg);
    } catch (e) {
      this.#freeSlot(slot);
      return Promise.reject(e);
    }
    return this.#enqueue(msg, "data", "ack", slot);
  }

  #checkSize(m: Message): void {
    // Encode once into the scratch buffer: refuses bad fields and what can
    // never fit the frame (FrameEncodeError) before anything is queued.
    const limit = (this.#session?.maxFrame ?? this.#maxFrame) - 16;
    let w = this.#sizeWriter;
    if (w === null || w.buf.length !== limit) {
      w = this.#sizeWriter = new Writer(this.#scratch.subarray(0, limit));
    }
    w.reset(10);
    encodeMessage(w, m);
  }

  #maybeRegister(topic: string): void {
    if (
      this.#maxAliases === 0 || utf8Bytes(topic) < this.#aliasMin ||
      this.#upAlias.has(topic) || this.#upAliasPending.has(topic) ||
      this.#upAlias.size + this.#upAliasPending.size >= this.#maxAliases ||
      this.#nextAlias > 0xffff
    ) return;
    const alias = this.#nextAlias++;
    this.#upAliasPending.add(topic);
    this.#enqueue(
      { type: "register", msgId: this.#allocId(), alias, topic },
      "control",
      "regAck",
      -1,
      (code) => {
        this.#upAliasPending.delete(topic);
        if (code === ErrorCode.OK) this.#upAlias.set(topic, alias);
      },
    ).catch(() => this.#upAliasPending.delete(topic));
  }

  /**
   * Publishes bytes on a topic. The bytes are copied; the buffer may be reused at once.
   *
   * @param topic Topic (at most 255 UTF-8 bytes).
   * @param data Payload.
   * @param options QoS.
   * @returns QoS 0: when sent. QoS 1: when the gateway acknowledged.
   * @throws {NotConnectedError} QoS 0 while not connected, or never connected.
   * @throws {QueueFullError} QoS 1 with `maxPending` messages unacknowledged.
   * @throws {RequestRefusedError} If the gateway refused it (e.g. not permitted).
   */
  publish(
    topic: string,
    data: Uint8Array,
    options?: PublishOptions,
  ): Promise<void> {
    const qos = options?.qos ?? 0;
    if (qos !== 0 && qos !== 1) {
      return Promise.reject(new RangeError("qos must be 0 or 1"));
    }
    if (qos === 0) {
      try {
        this.#requireSession();
        if (this.#state !== "connected") throw new NotConnectedError();
        this.#checkSize({ type: "publish", msgId: 0, qos: 0, topic, data });
        // Sent at the end of this job, with what else is due: a copy.
        this.#send({
          type: "publish",
          msgId: 0,
          qos: 0,
          topic: this.#upAlias.get(topic) ?? topic,
          data: data.slice(),
        }, data.length);
        this.#maybeRegister(topic);
        return this.#kick();
      } catch (e) {
        return Promise.reject(e);
      }
    }
    // With its topic, not an alias: a retransmission repeats the bytes of
    // the first transmission (the gateway recognises it by them), and may
    // come in a later session, where the aliases of this one are unknown.
    return this.#reliable((msgId, copy) => ({
      type: "publish",
      msgId,
      qos: 1,
      topic,
      data: copy(data),
    }));
  }

  /**
   * Subscribes to a topic (MQTT wildcards allowed). The subscription is
   * renewed by itself after every re-handshake.
   *
   * @param topic Topic filter.
   * @returns When the gateway acknowledged.
   * @throws {RequestRefusedError} If refused (e.g. not permitted; the topic is then forgotten).
   * @throws {RangeError} With `maxSubscriptions` topics already held.
   */
  subscribe(topic: string): Promise<void> {
    try {
      this.#requireSession();
    } catch (e) {
      return Promise.reject(e);
    }
    if (
      typeof topic !== "string" || utf8Bytes(topic) > Limits.MAX_TOPIC_BYTES
    ) {
      return Promise.reject(new RangeError("topic must be at most 255 bytes"));
    }
    if (!this.#subs.includes(topic)) {
      if (this.#subs.length >= this.#maxSubs) {
        return Promise.reject(
          new RangeError(`at most ${this.#maxSubs} subscriptions`),
        );
      }
      this.#subs.push(topic);
    }
    return this.#enqueue(
      { type: "subscribe", msgId: this.#allocId(), topic },
      "control",
      "subscribeAck",
      -1,
      (code) => {
        if (code !== ErrorCode.OK) {
          this.#subs = this.#subs.filter((t) => t !== topic);
        }
      },
    );
  }

  /**
   * Unsubscribes from a topic.
   *
   * @param topic Topic filter, as subscribed.
   * @returns When the gateway acknowledged.
   */
  unsubscribe(topic: string): Promise<void> {
    try {
      this.#requireSession();
    } catch (e) {
      return Promise.reject(e);
    }
    this.#subs = this.#subs.filter((t) => t !== topic);
    return this.#enqueue(
      { type: "unsubscribe", msgId: this.#allocId(), topic },
      "control",
      "unsubscribeAck",
      -1,
    );
  }

  /**
   * Reports a button press (QoS 1). The gateway publishes it on `device/<id>/button`.
   *
   * @param buttonId 0..255.
   * @param pressType "single", "double" or "long".
   * @param customData Optional bytes (copied).
   * @returns When acknowledged.
   */
  buttonPressed(
    buttonId: number,
    pressType: PressType,
    customData?: Uint8Array,
  ): Promise<void> {
    return this.#reliable((msgId, copy) => ({
      type: "buttonPress",
      msgId,
      buttonId,
      pressType,
      customData: customData ? copy(customData) : null,
    }));
  }

  /**
   * Reports a sensor value (QoS 1). The gateway publishes it on
   * `device/<id>/sensor/<name>` and stores it in the shared context.
   *
   * @param name Sensor name (at most 64 UTF-8 bytes).
   * @param value The reading.
   * @param customData Optional bytes (copied).
   * @returns When acknowledged.
   */
  updateSensor(
    name: string,
    value: SensorValue,
    customData?: Uint8Array,
  ): Promise<void> {
    return this.#reliable((msgId, copy) => ({
      type: "sensorUpdate",
      msgId,
      name,
      value,
      customData: customData ? copy(customData) : null,
    }));
  }

  /**
   * Asks the gateway to open a stream to a mesh peer (QoS 1).
   *
   * @param streamId The device's stream number, 0..255.
   * @param targetPeer The mesh peer id.
   * @param reason Why (e.g. "voice").
   * @returns When the gateway opened it.
   */
  startStream(
    streamId: number,
    targetPeer: string,
    reason: string,
  ): Promise<void> {
    try {
      checkInt(streamId, 0, 255, "streamId");
    } catch (e) {
      return Promise.reject(e);
    }
    this.#streamSeq[streamId] = 0;
    return this.#reliable((msgId) => ({
      type: "streamStart",
      msgId,
      streamId,
      targetPeer,
      reason,
    }));
  }

  /**
   * Sends audio (or any bytes) on an open stream. Unacknowledged: real-time
   * data is not retransmitted; a sequence number lets the gateway count loss.
   *
   * @param streamId The stream.
   * @param pcm The bytes (at most the frame size minus about 40 bytes).
   * @throws {NotConnectedError} While not connected.
   */
  sendAudio(streamId: number, pcm: Uint8Array): void {
    checkInt(streamId, 0, 255, "streamId");
    this.#requireSession();
    if (this.#state !== "connected") throw new NotConnectedError();
    const seq = this.#streamSeq[streamId];
    const m: Message = { type: "streamData", streamId, seq, data: pcm };
    this.#checkSize(m);
    this.#streamSeq[streamId] = (seq + 1) >>> 0;
    // Real-time, and `pcm` may be reused: out now, with what is queued.
    this.#send(m);
    this.#flush();
  }

  /**
   * Closes a stream (sent once, unacknowledged; the gateway also expires idle streams).
   *
   * @param streamId The stream.
   * @param code 0 for a normal close.
   */
  closeStream(streamId: number, code = 0): void {
    checkInt(streamId, 0, 255, "streamId");
    this.#requireSession();
    if (this.#state !== "connected") throw new NotConnectedError();
    const m: Message = { type: "streamClose", streamId, code };
    this.#checkSize(m);
    this.#send(m);
  }

  /**
   * Tells the gateway the device sleeps for `seconds` (it keeps the session
   * and queues messages for it). Keep-alive pauses meanwhile; the Ping sent
   * when the sleep ends, or any earlier send, wakes the session.
   *
   * @param seconds Sleep duration, 1..2^32-1.
   */
  sleep(seconds: number): void {
    checkInt(seconds, 1, 0xffffffff, "seconds");
    this.#requireSession();
    if (this.#state !== "connected") throw new NotConnectedError();
    this.#sendLast({ type: "disconnect", sleepSeconds: seconds });
    // The keep-alive Ping falls due when the sleep ends: it wakes the
    // session at the gateway, which then sends what it kept.
    this.#lastSent = this.#now() + seconds * 1000 - this.#keepAliveMs;
    this.#schedule();
  }

  /**
   * Ends the session (Disconnect 0 when connected), stops the timers,
   * rejects pending calls with {@linkcode ClientClosedError} and closes the socket.
   *
   * @returns When closed.
   */
  close(): Promise<void> {
    if (this.#state === "closed") return Promise.resolve();
    if (this.#state === "connected") {
      try {
        this.#sendLast({ type: "disconnect", sleepSeconds: 0 });
      } catch {
        // Closing anyway.
      }
    }
    const w = this.#connectWaiter;
    this.#connectWaiter = null;
    this.#setState("closed");
    this.#session = null;
    if (this.#timer !== null && this.#timers) {
      this.#timers.clearTimeout(this.#timer);
    }
    this.#timer = null;
    const pending = this.#pending;
    this.#pending = [];
    for (const p of pending) p.reject(new ClientClosedError());
    w?.reject(new ClientClosedError());
    try {
      this.#socket.close();
    } catch {
      // Already closed.
    }
    return this.#socket.closed ?? Promise.resolve();
  }

  // ---------------------------------------------------------------- timers

  /**
   * Runs whatever is due now: retransmissions, keep-alive, connect deadline.
   * Called by the client's own timer; a device without timers calls it from its loop.
   */
  tick(): void {
    if (this.#state === "closed") return;
    const now = this.#now();
    const s = this.#state;
    if (this.#connectWaiter && now >= this.#connectDeadline) {
      this.#failConnect(new GatewayUnreachableError(this.#connectTimeout));
      return;
    }
    if (s === "searching" && now >= this.#hsNextAt) this.#sendSearch();
    else if (
      (s === "handshaking" || s === "reconnecting") && now >= this.#hsNextAt
    ) {
      // A cookie is good for 30 s only: restart from a cookie-less Hello
      // after several unanswered attempts.
      if (this.#hsTx >= this.#maxTx) this.#cookie.fill(0);
      this.#sendHello();
    } else if (s === "connected") {
      // Gateway presumed lost: a message unanswered for maxTransmissions
      // with nothing at all heard from the gateway meanwhile.
      for (const p of this.#pending) {
        if (
          p.transmissions >= this.#maxTx && now >= p.nextAt &&
          this.#lastRecv < p.firstSentAt
        ) {
          this.#startHandshake("reconnecting");
          this.#schedule();
          return;
        }
      }
      const ping = this.#ping;
      if (ping !== null && now >= ping.nextAt) {
        if (
          ping.transmissions >= this.#maxTx && this.#lastRecv < ping.firstSentAt
        ) {
          this.#startHandshake("reconnecting");
          this.#schedule();
          return;
        }
        ping.transmissions++;
        ping.nextAt = now + this.#backoff(ping.transmissions);
        this.stats.retransmissions++;
        this.#send({ type: "ping" });
      } else if (ping === null && now - this.#lastSent >= this.#keepAliveMs) {
        this.#ping = {
          transmissions: 1,
          firstSentAt: now,
          nextAt: now + this.#backoff(1),
        };
        this.#send({ type: "ping" });
      }
      this.#flush();
      return;
    }
    this.#schedule();
  }

  #nextDeadline(): number {
    const s = this.#state;
    let t = Infinity;
    if (this.#connectWaiter) t = this.#connectDeadline;
    if (s === "searching" || s === "handshaking" || s === "reconnecting") {
      return Math.min(t, this.#hsNextAt);
    }
    if (s !== "connected") return t;
    for (const p of this.#pending) {
      if (!this.#inWindow(p)) break;
      t = Math.min(t, p.nextAt);
    }
    if (this.#ping) t = Math.min(t, this.#ping.nextAt);
    else t = Math.min(t, this.#lastSent + this.#keepAliveMs);
    return t;
  }

  #schedule(): void {
    const timers = this.#timers;
    if (timers === null || this.#state === "closed") return;
    const at = this.#nextDeadline();
    if (at === this.#timerAt && this.#timer !== null) return;
    if (this.#timer !== null) timers.clearTimeout(this.#timer);
    this.#timer = null;
    this.#timerAt = at;
    if (at === Infinity) return;
    const delay = Math.max(0, at - this.#now());
    this.#timer = timers.setTimeout(() => {
      this.#timer = null;
      this.#timerAt = Infinity;
      this.tick();
    }, delay);
  }
}

function eq(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
