/**
 * A small gateway built on `protocol/`, on a real UDP socket on 127.0.0.1,
 * so that the device client can be tested before (and beside) the real
 * bridge. Not a product: no mesh, no permissions, no rate limits.
 *
 * It records everything devices send, acknowledges QoS 1 messages once per
 * (device, msgId), answers SearchGw, can push messages to subscribed
 * devices, can "restart" (forget every session) and can drop datagrams.
 * A sealed frame may carry several messages (docs/PROTOCOL.md 4.6): they are
 * handled in order, and the answers to one frame leave bundled.
 */

import {
  answerHello,
  decodeFrame,
  encodeGwInfo,
  encodeReject,
  ErrorCode,
  type Frame,
  FrameDecodeError,
  type Message,
  nobleCrypto,
  randomSessionId,
  type SecureSession,
} from "../../protocol/mod.ts";
import { matchTopic } from "../../bridge/topic_pattern.ts";

const crypto_ = nobleCrypto({ random: (b) => void crypto.getRandomValues(b) });

/** A session at the test gateway. */
export interface TestSession {
  id: number;
  deviceId: number;
  session: SecureSession;
  address: string;
  port: number;
  subs: Set<string>;
  aliases: Map<number, string>;
  lastHeard: number;
}

/** Something a device sent, as recorded. */
export interface Received {
  deviceId: number;
  sessionId: number;
  message: Message;
  /** Index (in `frameSizes`) of the sealed frame that carried it. */
  frame: number;
}

/** Options of {@linkcode TestGateway.start}. */
export interface TestGatewayOptions {
  /** deviceId -> 32-byte key. */
  devices: Map<number, Uint8Array>;
  /** Port to bind (0 = any). */
  port?: number;
  /** Keep-alive told to devices, seconds. */
  keepAliveSeconds?: number;
  /** Max frame size. */
  maxFrame?: number;
  /** Gateway id for GwInfo / Welcome. */
  gatewayId?: number;
}

/** The test gateway. */
export class TestGateway {
  readonly port: number;
  readonly sessions: Map<number, TestSession> = new Map();
  /** Every message devices sent that was delivered (duplicates excluded). */
  readonly received: Received[] = [];
  /** Count of duplicate QoS 1 messages suppressed. */
  duplicates = 0;
  /** Handshakes completed. */
  handshakes = 0;
  /** Reject codes sent, in order. */
  readonly rejects: number[] = [];
  /** Datagrams that failed to decode, with the FrameDecodeError code. */
  readonly decodeErrors: number[] = [];
  /** When set, each incoming datagram is passed here; return true to drop it. */
  dropIncoming: ((bytes: Uint8Array) => boolean) | null = null;
  /** When set, each outgoing datagram is passed here; return true to drop it. */
  dropOutgoing: ((bytes: Uint8Array) => boolean) | null = null;
  /** Publishes that arrived with a topic alias. */
  aliasHits = 0;
  /** Ack code to answer for publishes (0 = ok). */
  publishAckCode = 0;
  /** When false, QoS 1 data messages are recorded but not acknowledged. */
  autoAck = true;
  /** Messages in each authenticated sealed frame received, in order. */
  readonly frameSizes: number[] = [];
  /** Sealed frames sent to devices. */
  framesSent = 0;

  #conn: Deno.DatagramConn;
  #opts: TestGatewayOptions;
  #secret = crypto.getRandomValues(new Uint8Array(32));
  #lastNonce = new Map<number, string>();
  #recentIds = new Map<number, number[]>();
  #waiters: { check: () => boolean; resolve: () => void }[] = [];
  #loop: Promise<void>;
  #open = true;
  #nextMsgId = 1;
  #pendingDown = new Map<string, { resolve: () => void }>();
  /** Answers to the frame being handled, sent bundled after it. */
  #batch: Message[] | null = null;

  private constructor(conn: Deno.DatagramConn, opts: TestGatewayOptions) {
    this.#conn = conn;
    this.#opts = opts;
    this.port = (conn.addr as Deno.NetAddr).port;
    this.#loop = this.#run();
  }

  /** Starts a gateway on 127.0.0.1. */
  static start(opts: TestGatewayOptions): TestGateway {
    const conn = Deno.listenDatagram({
      transport: "udp",
      hostname: "127.0.0.1",
      port: opts.port ?? 0,
    });
    return new TestGateway(conn, opts);
  }

  async #run(): Promise<void> {
    while (this.#open) {
      let data: Uint8Array, addr: Deno.Addr;
      try {
        [data, addr] = await this.#conn.receive(new Uint8Array(2048));
      } catch {
        if (!this.#open) return;
        continue;
      }
      const a = addr as Deno.NetAddr;
      if (this.dropIncoming?.(data)) continue;
      try {
        this.#handle(data, a.hostname, a.port);
      } catch (e) {
        console.error("test gateway:", e);
      }
      this.#notify();
    }
  }

  #send(bytes: Uint8Array, address: string, port: number): void {
    if (!this.#open || this.dropOutgoing?.(bytes)) return;
    this.#conn.send(bytes.slice(), {
      transport: "udp",
      hostname: address,
      port,
    })
      .catch(() => {});
  }

  #reject(code: number, sessionId: number, address: string, port: number) {
    this.rejects.push(code);
    this.#send(encodeReject(code, sessionId), address, port);
  }

  #handle(data: Uint8Array, address: string, port: number): void {
    let f: Frame;
    try {
      f = decodeFrame(data, { maxFrame: this.#opts.maxFrame ?? 1024 });
    } catch (e) {
      if (!(e instanceof FrameDecodeError)) throw e;
      this.decodeErrors.push(e.code);
      if (e.code === ErrorCode.UNSUPPORTED_VERSION && data.length >= 7) {
        this.#reject(ErrorCode.UNSUPPORTED_VERSION, 0, address, port);
      }
      return;
    }
    switch (f.kind) {
      case "searchGw":
        this.#send(
          encodeGwInfo({
            nonce: f.nonce,
            port: this.port,
            gatewayId: this.#opts.gatewayId ?? 1,
          }),
          address,
          port,
        );
        return;
      case "hello": {
        let sid = randomSessionId(crypto_);
        while (this.sessions.has(sid)) sid = randomSessionId(crypto_);
        const o = answerHello(crypto_, f, data, {
          cookieSecret: this.#secret,
          now: Math.floor(Date.now() / 1000),
          source: `${address}:${port}`,
          lookupKey: (id) => this.#opts.devices.get(id),
          sessionId: sid,
          maxFrame: this.#opts.maxFrame ?? 1024,
          keepAliveSeconds: this.#opts.keepAliveSeconds ?? 30,
          gatewayId: this.#opts.gatewayId ?? 1,
          isReplay: (id, n) => this.#lastNonce.get(id) === n.join(),
        });
        if (o.action === "reject") this.rejects.push(o.code);
        if (o.action === "accept") {
          this.#lastNonce.set(o.deviceId, o.clientNonce.join());
          for (const [id, s] of this.sessions) {
            if (s.deviceId === o.deviceId) this.sessions.delete(id);
          }
          this.sessions.set(sid, {
            id: sid,
            deviceId: o.deviceId,
            session: o.session,
            address,
            port,
            subs: new Set(),
            aliases: new Map(),
            lastHeard: Date.now(),
          });
          this.handshakes++;
        }
        this.#send(o.reply, address, port);
        return;
      }
      case "sealed": {
        const s = this.sessions.get(f.sessionId);
        if (!s) {
          this.#reject(ErrorCode.UNKNOWN_SESSION, f.sessionId, address, port);
          return;
        }
        const ms = s.session.openMessages(f);
        if (typeof ms === "number") {
          this.decodeErrors.push(ms);
          return;
        }
        s.address = address;
        s.port = port;
        s.lastHeard = Date.now();
        this.frameSizes.push(ms.length);
        const batch: Message[] = this.#batch = [];
        try {
          for (const m of ms) this.#onMessage(s, m);
        } finally {
          this.#batch = null;
        }
        this.sendBundle(s, batch);
        return;
      }
      default:
        this.decodeErrors.push(ErrorCode.MALFORMED);
    }
  }

  #firstTime(deviceId: number, msgId: number): boolean {
    let r = this.#recentIds.get(deviceId);
    if (!r) this.#recentIds.set(deviceId, r = []);
    if (r.includes(msgId)) return false;
    r.push(msgId);
    if (r.length > 32) r.shift();
    return true;
  }

  #reply(s: TestSession, m: Message): void {
    if (this.#batch) this.#batch.push(m);
    else this.sendBundle(s, [m]);
  }

  /**
   * Sends messages to a session (or the session of a device id), packed
   * into as few frames as fit.
   * @returns The number of frames sent.
   */
  sendBundle(to: TestSession | number, messages: Message[]): number {
    const s = typeof to === "number" ? this.#sessionOf(to) : to;
    if (!s) throw new Error(`test gateway: no session for device ${to}`);
    let n = 0;
    for (let i = 0; i < messages.length; n++) {
      const { frame, count } = s.session.sealMessages(
        messages.slice(i),
        new Uint8Array(this.#opts.maxFrame ?? 1024),
      );
      i += count;
      this.framesSent++;
      this.#send(frame, s.address, s.port);
    }
    return n;
  }

  /** Seals raw plaintext (e.g. a hand-made, possibly malformed bundle) to a device. */
  sendPlaintext(deviceId: number, plaintext: Uint8Array): void {
    const s = this.#sessionOf(deviceId);
    if (!s) throw new Error(`test gateway: no session for device ${deviceId}`);
    this.framesSent++;
    this.#send(s.session.seal(plaintext), s.address, s.port);
  }

  #sessionOf(deviceId: number): TestSession | undefined {
    for (const s of this.sessions.values()) {
      if (s.deviceId === deviceId) return s;
    }
  }

  #onMessage(s: TestSession, m: Message): void {
    const rec = () =>
      this.received.push({
        deviceId: s.deviceId,
        sessionId: s.id,
        message: structuredClone(m),
        frame: this.frameSizes.length - 1,
      });
    switch (m.type) {
      case "subscribe":
        s.subs.add(m.topic);
        rec();
        this.#reply(s, { type: "subscribeAck", msgId: m.msgId, code: 0 });
        return;
      case "unsubscribe":
        s.subs.delete(m.topic);
        rec();
        this.#reply(s, { type: "unsubscribeAck", msgId: m.msgId, code: 0 });
        return;
      case "register":
        s.aliases.set(m.alias, m.topic);
        this.#reply(s, {
          type: "regAck",
          msgId: m.msgId,
          alias: m.alias,
          code: 0,
        });
        return;
      case "publish": {
        let topic = m.topic;
        if (typeof topic === "number") {
          const t = s.aliases.get(topic);
          if (t === undefined) {
            if (m.qos === 1) {
              this.#reply(s, {
                type: "ack",
                msgId: m.msgId,
                code: ErrorCode.UNKNOWN_ALIAS,
              });
            }
            return;
          }
          topic = t;
          this.aliasHits++;
        }
        const resolved = { ...m, topic };
        if (m.qos === 1) {
          if (this.#firstTime(s.deviceId, m.msgId)) {
            this.received.push({
              deviceId: s.deviceId,
              sessionId: s.id,
              message: structuredClone(resolved),
              frame: this.frameSizes.length - 1,
            });
          } else this.duplicates++;
          if (!this.autoAck) return;
          this.#reply(s, {
            type: "ack",
            msgId: m.msgId,
            code: this.publishAckCode,
          });
        } else {
          this.received.push({
            deviceId: s.deviceId,
            sessionId: s.id,
            message: structuredClone(resolved),
            frame: this.frameSizes.length - 1,
          });
        }
        return;
      }
      case "buttonPress":
      case "sensorUpdate":
      case "streamStart":
        if (this.#firstTime(s.deviceId, m.msgId)) rec();
        else this.duplicates++;
        if (this.autoAck) {
          this.#reply(s, { type: "ack", msgId: m.msgId, code: 0 });
        }
        return;
      case "ack": {
        const key = `${s.id}:${m.msgId}`;
        this.#pendingDown.get(key)?.resolve();
        this.#pendingDown.delete(key);
        rec();
        return;
      }
      case "ping":
        this.#reply(s, { type: "pong" });
        return;
      case "disconnect":
        rec();
        if (m.sleepSeconds === 0) this.sessions.delete(s.id);
        return;
      default:
        rec();
    }
  }

  /**
   * Sends a Message to every session subscribed to a matching filter.
   * @returns The number of sessions it went to.
   */
  publish(topic: string | number, data: Uint8Array, qos: 0 | 1 = 0): number {
    let n = 0;
    for (const s of this.sessions.values()) {
      if (
        typeof topic === "string" &&
        ![...s.subs].some((f) => matchTopic(f, topic))
      ) continue;
      const msgId = qos === 1 ? this.#nextMsgId++ : 0;
      this.#reply(s, { type: "message", msgId, qos, topic, data });
      n++;
    }
    return n;
  }

  /** Sends any message to the session of a device. */
  sendTo(deviceId: number, m: Message): boolean {
    const s = this.#sessionOf(deviceId);
    if (s) this.#reply(s, m);
    return s !== undefined;
  }

  /** Forgets every session, nonce and cookie secret: as if the process restarted. */
  restart(): void {
    this.sessions.clear();
    this.#lastNonce.clear();
    this.#recentIds.clear();
    this.#secret = crypto.getRandomValues(new Uint8Array(32));
  }

  /** Messages of a type received so far. */
  messages<T extends Message["type"]>(type: T): (Message & { type: T })[] {
    return this.received.filter((r) => r.message.type === type).map((r) =>
      r.message as Message & { type: T }
    );
  }

  #notify(): void {
    this.#waiters = this.#waiters.filter((w) => {
      if (w.check()) {
        w.resolve();
        return false;
      }
      return true;
    });
  }

  /** Waits until `check()` holds (checked after each datagram and every 50 ms). */
  waitFor(
    check: () => boolean,
    timeoutMs = 15000,
    what = "condition",
  ): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        clearInterval(poll);
        this.#waiters = this.#waiters.filter((w) => w.resolve !== done);
        reject(new Error(`test gateway: timed out waiting for ${what}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        clearInterval(poll);
        resolve();
      };
      const poll = setInterval(() => {
        if (check()) {
          this.#waiters = this.#waiters.filter((w) => w.resolve !== done);
          done();
        }
      }, 50);
      this.#waiters.push({ check, resolve: done });
    });
  }

  /** Stops the gateway and waits for its loop to end. */
  async close(): Promise<void> {
    if (!this.#open) return;
    this.#open = false;
    this.#conn.close();
    await this.#loop;
  }
}
