/**
 * The device client's connection to a gateway, its state machine
 * (docs/PROTOCOL.md 5.1): discovery and handshake (their nonces, cookie and
 * retransmissions are in `handshake.ts`), the encrypted session, keep-alive
 * Pings, the gateway presumed lost (a message or Ping unanswered
 * `maxTransmissions` times with nothing heard meanwhile) and the new
 * handshake then, the timers (or `tick()` from a device loop), and the
 * sending of messages: held until answered in `pending.ts`, sent together
 * at the end of each job by `bundler.ts`. What the messages mean (topics,
 * aliases, duplicates, streams) is the client's part (`client.ts`,
 * `streams.ts`), told through {@linkcode SessionHooks}.
 *
 * A factory of closures rather than a class: the device bundle keeps the
 * names of a class's private fields (`this.#lastSent`) but minifies local
 * variables to a letter, and this is most of the client's code.
 *
 * @module
 */

import {
  decodeFrame,
  encodeMessage,
  ErrorCode,
  type Frame,
  FrameDecodeError,
  Limits,
  type Message,
  type SecureSession,
  Writer,
} from "../protocol/mod.ts";
import { createBundler } from "./bundler.ts";
import { type AviEmbeddedConfig, resolveConfig } from "./config.ts";
import {
  checkInt,
  ClientClosedError,
  GatewayUnreachableError,
  HandshakeRejectedError,
  NotConnectedError,
  QueueFullError,
  RequestRefusedError,
} from "./errors.ts";
import { createHandshake } from "./handshake.ts";
import {
  type AckType,
  createPendingQueue,
  type PendingQueue,
} from "./pending.ts";
import type {
  DeviceSocket,
  EmbeddedState,
  EmbeddedStats,
  Endpoint,
} from "./types.ts";

/** What the client on top of a connection does at its events. */
export interface SessionHooks {
  /** A message the connection leaves to the client (all but answers, Ping and Pong). */
  message(m: Message): void;
  /** A new session, before `connected` is announced: forget the old session's tables. */
  reset(): void;
  /** Then, once announced: settle what the old session alone needed, renew the rest. */
  resume(): void;
}

/** A device's connection to a gateway, made by {@linkcode createConnection}. */
export interface Connection {
  /** Counters, for diagnostics. */
  readonly stats: EmbeddedStats;
  /** The unacknowledged messages. */
  readonly pending: PendingQueue;
  /** Topics the device may be subscribed to (config, checked). */
  readonly maxSubs: number;
  /** Topic aliases per direction (config, checked). */
  readonly maxAliases: number;
  /** Uplink topics at least this long (UTF-8 bytes) get an alias (config). */
  readonly aliasMin: number;
  /** The connection state. */
  readonly state: EmbeddedState;
  /** The gateway in use (configured, discovered, or followed), or null. */
  readonly gateway: Endpoint | null;
  /** Discovers a gateway if none is configured, then runs the handshake; resolves once connected. */
  connect(): Promise<void>;
  /** Handles one received datagram (the bytes may be decrypted in place). */
  receive(data: Uint8Array, address: string, port: number): void;
  /** Runs whatever is due now: retransmissions, keep-alive, connect deadline. */
  tick(): void;
  /** Tells the gateway the device sleeps; the keep-alive Ping falls due when the sleep ends. */
  sleep(seconds: number): void;
  /** Ends the session (Disconnect 0), stops the timers, rejects what is pending, closes the socket. */
  close(): Promise<void>;
  /** Throws unless the client is open and a session was established once. */
  requireSession(): void;
  /** Throws unless connected now. */
  requireConnected(): void;
  /** Encodes a message into the scratch buffer: refuses bad fields and what can never fit. */
  checkSize(m: Message): void;
  /** Queues a message for the end of this job (`copied`: payload bytes copied for it). */
  send(m: Message, copied?: number): void;
  /** Schedules one flush at the end of this job; settles once it has run. */
  kick(): Promise<void>;
  /** Sends now what is queued and every pending message due. */
  flush(): void;
  /**
   * Holds a data message (QoS 1 publish, event, stream start) until acked;
   * `build` makes it from its msgId and a function copying into its slot.
   */
  reliable(
    build: (msgId: number, copy: (d: Uint8Array) => Uint8Array) => Message,
  ): Promise<void>;
  /**
   * Holds a message until answered with `ackType` (`slot` -1: a Subscribe,
   * Unsubscribe or Register, bounded by `maxSubscriptions + maxAliases + 8`).
   */
  enqueue(
    msg: Message,
    ackType: AckType,
    slot: number,
    onAck?: (code: number) => void,
  ): Promise<void>;
}

/**
 * Checks the config and reserves the buffers; nothing is sent before `connect()`.
 * @param socket The datagram socket (the caller installs its receiver).
 * @param cfg Identity, key, crypto, gateway and bounds.
 * @param hooks The client's part.
 * @returns The connection.
 */
export function createConnection(
  socket: DeviceSocket,
  cfg: AviEmbeddedConfig,
  hooks: SessionHooks,
): Connection {
  const c = resolveConfig(cfg);
  const { crypto, now, timers, maxFrame, scratch, maxTx, maxPending } = c;
  const { maxSubs, maxAliases, connectTimeout } = c;
  const stats: EmbeddedStats = {
    framesSent: 0,
    messagesSent: 0,
    framesReceived: 0,
    framesDropped: 0,
    retransmissions: 0,
    handshakes: 0,
    duplicates: 0,
  };
  // A random first msgId, so that a rebooted device is not taken for
  // retransmissions by a gateway that remembers its last ids.
  const r = new Uint8Array(2);
  crypto.randomBytes(r);
  const pending = createPendingQueue(
    maxPending,
    maxFrame,
    ((r[0] << 8) | r[1]) || 1,
    c.retryInitial,
    c.retryMax,
    stats,
  );
  // Messages due in this job, sent together by flush() at its end (or sooner).
  const bundle = createBundler(maxFrame, flush);
  const hs = createHandshake(cfg, c, pending.delay, sendRaw, stats);

  let timer: unknown = null;
  let timerAt = Infinity;
  let state: EmbeddedState = "idle";
  let gateway: Endpoint | null = cfg.gateway ?? null;
  let session: SecureSession | null = null;
  let keepAliveMs = Limits.DEFAULT_KEEPALIVE_S * 1000;
  let lastSent = 0;
  let lastRecv = 0;
  let connectDeadline = 0;
  let connectWaiter:
    | { resolve: () => void; reject: (e: Error) => void }
    | null = null;
  let everConnected = false;
  let ping:
    | { transmissions: number; firstSentAt: number; nextAt: number }
    | null = null;
  let sizeWriter: Writer | null = null;

  function connect(): Promise<void> {
    if (state === "closed") return Promise.reject(new ClientClosedError());
    if (state === "connected") return Promise.resolve();
    if (connectWaiter) {
      return Promise.reject(new Error("connect() is already in progress"));
    }
    return new Promise<void>((resolve, reject) => {
      connectWaiter = { resolve, reject };
      connectDeadline = now() + connectTimeout;
      // Already reconnecting by itself: wait for that, do not restart it.
      if (state !== "reconnecting") {
        if (gateway === null) startSearch();
        else startHandshake("handshaking");
      }
      schedule();
    });
  }

  function setState(s: EmbeddedState): void {
    if (state === s) return;
    state = s;
    cfg.onStateChange?.(s);
  }

  function handshaking(): boolean {
    return state === "handshaking" || state === "reconnecting";
  }

  function startSearch(): void {
    setState("searching");
    hs.search();
  }

  function startHandshake(s: "handshaking" | "reconnecting"): void {
    session = null;
    ping = null;
    bundle.clear();
    setState(s);
    hs.start(gateway!);
  }

  function sendRaw(bytes: Uint8Array, to: Endpoint): void {
    stats.framesSent++;
    try {
      socket.send(bytes, to.address, to.port);
    } catch {
      // A send failure is a lost datagram; retransmission covers it.
    }
  }

  function failConnect(e: Error): void {
    const w = connectWaiter;
    connectWaiter = null;
    // Before the first session, give up; after it, keep reconnecting (the
    // queue of unacknowledged messages is still there to deliver).
    if (!everConnected) {
      session = null;
      setState("idle");
    }
    schedule();
    w?.reject(e);
  }

  function receive(data: Uint8Array, address: string, port: number): void {
    if (state === "closed") return;
    stats.framesReceived++;
    let f: Frame;
    try {
      f = decodeFrame(data, { maxFrame });
    } catch (e) {
      if (!(e instanceof FrameDecodeError)) throw e;
      stats.framesDropped++;
      return;
    }
    const gw = gateway;
    const fromGateway = gw !== null && gw.address === address &&
      gw.port === port;
    switch (f.kind) {
      case "gwInfo":
        if (state === "searching" && hs.answers(f.nonce)) {
          gateway = { address, port: f.port || port };
          startHandshake("handshaking");
          schedule();
          return;
        }
        break;
      case "cookie":
        if (fromGateway && handshaking()) {
          hs.withCookie(f.cookie, gw);
          schedule();
          return;
        }
        break;
      case "welcome":
        if (fromGateway && handshaking() && onWelcome(f, data)) return;
        break;
      case "reject":
        if (fromGateway && onReject(f.code, f.sessionId)) return;
        break;
      case "sealed":
        if (session !== null && state === "connected") {
          // One or more messages, all valid (else the frame is dropped whole).
          const ms = session.openMessages(f);
          if (typeof ms !== "number") {
            lastRecv = now();
            ping = null;
            // The gateway's address follows authenticated frames.
            if (!fromGateway) gateway = { address, port };
            for (const m of ms) if (state === "connected") onMessage(m);
            schedule();
            return;
          }
        }
        break;
    }
    stats.framesDropped++;
  }

  function onWelcome(f: Frame & { kind: "welcome" }, raw: Uint8Array): boolean {
    const w = hs.welcome(f, raw);
    if (w === null) return false;
    session = w.session;
    keepAliveMs = w.keepAliveSeconds * 1000;
    const t = now();
    lastRecv = t;
    lastSent = t;
    stats.handshakes++;
    hooks.reset();
    everConnected = true;
    setState("connected");
    // What is kept is sent again, as it was, from the start.
    pending.restart(t);
    hooks.resume();
    const w2 = connectWaiter;
    connectWaiter = null;
    collect();
    bundle.kick();
    w2?.resolve();
    return true;
  }

  function onReject(code: number, sessionId: number): boolean {
    const s = state;
    if (handshaking()) {
      if (code === ErrorCode.REPLAYED) {
        startHandshake(s as "handshaking" | "reconnecting");
        schedule();
        return true;
      }
      if (
        code === ErrorCode.NOT_AUTHORISED ||
        code === ErrorCode.UNSUPPORTED_VERSION
      ) {
        cfg.onError?.(code, "handshake refused");
        if (connectWaiter) failConnect(new HandshakeRejectedError(code));
        // While reconnecting, keep trying at the capped backoff: the key
        // may be restored at the gateway.
        return true;
      }
      return false;
    }
    if (
      s === "connected" && code === ErrorCode.UNKNOWN_SESSION &&
      session !== null && sessionId === session.id
    ) {
      startHandshake("reconnecting");
      schedule();
      return true;
    }
    return false;
  }

  function onMessage(m: Message): void {
    switch (m.type) {
      case "ack":
      case "subscribeAck":
      case "unsubscribeAck":
      case "regAck": {
        const p = pending.take((p) =>
          p.msgId === m.msgId && p.ackType === m.type
        );
        if (p) {
          p.onAck?.(m.code);
          if (m.code === ErrorCode.OK) p.resolve();
          else p.reject(new RequestRefusedError(p.msg.type, m.code));
          bundle.kick(); // the send window moved
        }
        return;
      }
      case "ping":
        bundle.add({ type: "pong" });
        return;
      case "pong":
        ping = null;
        return;
      default:
        hooks.message(m);
    }
  }

  function requireSession(): void {
    if (state === "closed") throw new ClientClosedError();
    if (!everConnected) throw new NotConnectedError();
  }

  function requireConnected(): void {
    requireSession();
    if (state !== "connected") throw new NotConnectedError();
  }

  function checkSize(m: Message): void {
    const limit = (session?.maxFrame ?? maxFrame) - 16;
    let w = sizeWriter;
    if (w === null || w.buf.length !== limit) {
      w = sizeWriter = new Writer(scratch.subarray(0, limit));
    }
    w.reset(10);
    encodeMessage(w, m);
  }

  // Sends now what is queued and due, then `m` (a Disconnect: last).
  function sendLast(m: Message): void {
    collect();
    bundle.add(m);
    flush();
  }

  // Queues every pending message that is due (in the send window).
  function collect(): void {
    if (state === "connected") pending.due(now(), bundle.out);
  }

  function flush(): void {
    collect();
    const s = session;
    const gw = gateway;
    if (
      state === "connected" && s && gw &&
      !bundle.seal(s, scratch, (frame, count) => {
        stats.messagesSent += count;
        lastSent = now();
        sendRaw(frame, gw);
      }, (m, e) => {
        // Too large for the frame agreed (at a new handshake): refused.
        const id = (m as { msgId?: number }).msgId;
        pending.take((p) => p.msg.type === m.type && p.msgId === id)
          ?.reject(e);
      })
    ) startHandshake("reconnecting");
    bundle.clear();
    schedule();
  }

  function reliable(
    build: (msgId: number, copy: (d: Uint8Array) => Uint8Array) => Message,
  ): Promise<void> {
    try {
      requireSession();
    } catch (e) {
      return Promise.reject(e);
    }
    const slot = pending.takeSlot();
    if (slot < 0) return Promise.reject(new QueueFullError(maxPending));
    let msg: Message;
    try {
      msg = build(pending.allocId(), (d) => pending.copy(slot, d));
      checkSize(msg);
    } catch (e) {
      pending.freeSlot(slot);
      return Promise.reject(e);
    }
    return enqueue(msg, "ack", slot);
  }

  function enqueue(
    msg: Message,
    ackType: AckType,
    slot: number,
    onAck?: (code: number) => void,
  ): Promise<void> {
    if (slot < 0 && pending.controls() >= maxSubs + maxAliases + 8) {
      return Promise.reject(new QueueFullError(pending.list.length));
    }
    return new Promise<void>((resolve, reject) => {
      pending.list.push({
        msgId: (msg as { msgId: number }).msgId,
        msg,
        ackType,
        slot,
        transmissions: 0,
        firstSentAt: 0,
        nextAt: now(),
        resolve,
        reject,
        onAck,
      });
      collect();
      bundle.kick();
    });
  }

  function sleep(seconds: number): void {
    checkInt(seconds, 1, 0xffffffff, "seconds");
    requireConnected();
    sendLast({ type: "disconnect", sleepSeconds: seconds });
    // The keep-alive Ping falls due when the sleep ends: it wakes the
    // session at the gateway, which then sends what it kept.
    lastSent = now() + seconds * 1000 - keepAliveMs;
    schedule();
  }

  function close(): Promise<void> {
    if (state === "closed") return Promise.resolve();
    if (state === "connected") {
      try {
        sendLast({ type: "disconnect", sleepSeconds: 0 });
      } catch {
        // Closing anyway.
      }
    }
    const w = connectWaiter;
    connectWaiter = null;
    setState("closed");
    session = null;
    if (timer !== null && timers) timers.clearTimeout(timer);
    timer = null;
    for (const p of pending.list.splice(0)) p.reject(new ClientClosedError());
    w?.reject(new ClientClosedError());
    try {
      socket.close();
    } catch {
      // Already closed.
    }
    return socket.closed ?? Promise.resolve();
  }

  function tick(): void {
    if (state === "closed") return;
    const t = now();
    const s = state;
    if (connectWaiter && t >= connectDeadline) {
      failConnect(new GatewayUnreachableError(connectTimeout));
      return;
    }
    if (s === "searching" && t >= hs.nextAt) hs.searchAgain();
    else if (handshaking() && t >= hs.nextAt) hs.again(gateway!);
    else if (s === "connected") {
      // Gateway presumed lost: a message (or Ping) unanswered for
      // maxTransmissions with nothing at all heard from the gateway meanwhile.
      const p = ping;
      if (
        pending.lost(t, maxTx, lastRecv) ||
        (p !== null && t >= p.nextAt && p.transmissions >= maxTx &&
          lastRecv < p.firstSentAt)
      ) {
        startHandshake("reconnecting");
        schedule();
        return;
      }
      if (p !== null && t >= p.nextAt) {
        p.transmissions++;
        p.nextAt = t + pending.delay(p.transmissions);
        stats.retransmissions++;
        bundle.add({ type: "ping" });
      } else if (p === null && t - lastSent >= keepAliveMs) {
        ping = {
          transmissions: 1,
          firstSentAt: t,
          nextAt: t + pending.delay(1),
        };
        bundle.add({ type: "ping" });
      }
      flush();
      return;
    }
    schedule();
  }

  function nextDeadline(): number {
    let t = connectWaiter ? connectDeadline : Infinity;
    if (state === "searching" || handshaking()) return Math.min(t, hs.nextAt);
    if (state !== "connected") return t;
    t = Math.min(t, pending.nextAt());
    return Math.min(t, ping ? ping.nextAt : lastSent + keepAliveMs);
  }

  function schedule(): void {
    if (timers === null || state === "closed") return;
    const at = nextDeadline();
    if (at === timerAt && timer !== null) return;
    if (timer !== null) timers.clearTimeout(timer);
    timer = null;
    timerAt = at;
    if (at === Infinity) return;
    timer = timers.setTimeout(() => {
      timer = null;
      timerAt = Infinity;
      tick();
    }, Math.max(0, at - now()));
  }

  return {
    stats,
    pending,
    maxSubs,
    maxAliases,
    aliasMin: c.aliasMin,
    get state() {
      return state;
    },
    get gateway() {
      return gateway;
    },
    connect,
    receive,
    tick,
    sleep,
    close,
    requireSession,
    requireConnected,
    checkSize,
    send: (m, copied) => bundle.add(m, copied),
    kick: () => bundle.kick(),
    flush,
    reliable,
    enqueue,
  };
}
