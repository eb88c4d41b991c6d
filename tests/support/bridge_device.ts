/**
 * A raw protocol device for the bridge's tests and benchmark: built directly
 * on `protocol/` (no embedded client), so tests can also send hostile,
 * replayed and forged frames. It retransmits QoS 1 messages until acked and
 * re-handshakes on "unknown session", as docs/PROTOCOL.md asks of a device.
 *
 * @module
 */

import {
  createHello,
  decodeFrame,
  decodeMessages,
  ErrorCode,
  type Message,
  nobleCrypto,
  openWelcome,
  type ProtocolCrypto,
  type SecureSession,
} from "../../protocol/mod.ts";

const cryptoImpl = nobleCrypto({ random: (b) => crypto.getRandomValues(b) });

/** Options of {@linkcode RawDevice}. */
export interface RawDeviceOptions {
  deviceId: number;
  key: Uint8Array;
  /** Where the gateway (or a proxy in front of it) listens. */
  gatewayPort: number;
  /** Local address to bind (any 127.x.y.z works on Linux). @default "127.0.0.1" */
  hostname?: string;
  /** Retransmission timeout, ms. @default 250 */
  rtoMs?: number;
  /** Re-handshake by itself after "unknown session". @default true */
  autoReconnect?: boolean;
  /**
   * First transmissions of requests made in the same job leave together, as
   * many to a frame as fit (docs/PROTOCOL.md 4), as the device client does.
   * @default false
   */
  bundle?: boolean;
  /** The protocol's crypto. @default the pure-JS `nobleCrypto` */
  crypto?: ProtocolCrypto;
}

interface Pending {
  msg: Message;
  resolve: (code: number) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
  tries: number;
}

/** A simulated device speaking the protocol over a real UDP socket. */
export class RawDevice {
  readonly opts: Required<RawDeviceOptions>;
  readonly conn: Deno.DatagramConn;
  session: SecureSession | undefined;
  sessionId = 0;
  /** Messages received (type "message"). */
  readonly inbox: { topic: string | number; data: Uint8Array }[] = [];
  /** Every decoded message received, for inspection. */
  readonly received: Message[] = [];
  /** Reject codes received. */
  readonly rejects: number[] = [];
  /** Handshakes completed. */
  handshakes = 0;
  /** Sealed frames received that opened (each may carry several messages). */
  framesReceived = 0;
  /** Retransmissions of requests (transmissions beyond the first). */
  retransmissions = 0;
  onMessage: (topic: string, data: Uint8Array) => void = () => {};
  #gw: Deno.NetAddr;
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #handshake:
    | {
      nonce: Uint8Array;
      cookie: Uint8Array | undefined;
      done: () => void;
      timer: ReturnType<typeof setTimeout> | undefined;
    }
    | undefined;
  #connecting: Promise<void> | undefined;
  #loop: Promise<void>;
  #closed = false;
  #scratch = new Uint8Array(1500);
  #subs = new Set<string>();
  #sends = new Set<Promise<void>>();

  constructor(opts: RawDeviceOptions) {
    this.opts = {
      hostname: "127.0.0.1",
      rtoMs: 250,
      autoReconnect: true,
      bundle: false,
      crypto: cryptoImpl,
      ...opts,
    };
    this.conn = Deno.listenDatagram({
      transport: "udp",
      hostname: this.opts.hostname,
      port: 0,
    });
    this.#gw = {
      transport: "udp",
      hostname: "127.0.0.1",
      port: opts.gatewayPort,
    };
    this.#loop = this.#receive();
  }

  /** Point the device at another port (e.g. a proxy). */
  retarget(port: number): void {
    this.#gw = { ...this.#gw, port };
  }

  /**
   * Send raw bytes to the gateway. Sends are concurrent (a Deno send settles
   * a loop turn later; chaining them would cap a device at one datagram per
   * turn), so they may leave slightly out of order, as on a real network.
   */
  sendRaw(b: Uint8Array): Promise<void> {
    const p = this.conn.send(b.slice(), this.#gw).then(() => {}, () => {});
    this.#sends.add(p);
    p.finally(() => this.#sends.delete(p));
    return p;
  }

  /** Handshake; resolves once a Welcome opened. */
  connect(): Promise<void> {
    if (this.#connecting) return this.#connecting;
    const nonce = crypto.getRandomValues(new Uint8Array(16));
    this.#connecting = new Promise<void>((resolve) => {
      const hs = {
        nonce,
        cookie: undefined as Uint8Array | undefined,
        done: resolve,
        timer: undefined as ReturnType<typeof setTimeout> | undefined,
      };
      this.#handshake = hs;
      const fire = () => {
        if (this.#closed || this.#handshake !== hs) return;
        this.sendRaw(this.#hello(hs.nonce, hs.cookie));
        hs.timer = setTimeout(fire, this.opts.rtoMs);
      };
      fire();
    }).finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  #hello(nonce: Uint8Array, cookie?: Uint8Array): Uint8Array {
    return createHello(this.opts.crypto, {
      deviceId: this.opts.deviceId,
      key: this.opts.key,
      clientNonce: nonce,
      cookie,
    });
  }

  /** The last Hello this device would send (for replay tests). */
  helloBytes(nonce: Uint8Array, cookie?: Uint8Array): Uint8Array {
    return this.#hello(nonce, cookie);
  }

  /** Seal and send one message now (no retransmission). Returns the frame. */
  sendMessage(m: Message): Uint8Array | undefined {
    if (!this.session) return undefined;
    const frame = this.session.sealMessage(m, this.#scratch).slice();
    this.sendRaw(frame);
    return frame;
  }

  #newId(): number {
    for (;;) {
      const id = this.#nextId;
      this.#nextId = this.#nextId >= 65535 ? 1 : this.#nextId + 1;
      if (!this.#pending.has(id)) return id;
    }
  }

  /** Send a message that expects an answer; resolves with the answer's code. */
  request(build: (msgId: number) => Message): Promise<number> {
    const id = this.#newId();
    const msg = build(id);
    return new Promise<number>((resolve) => {
      const p: Pending = { msg, resolve, timer: undefined, tries: 0 };
      this.#pending.set(id, p);
      this.#transmit(id, p);
    });
  }

  #transmit(id: number, p: Pending): void {
    if (this.#closed || this.#pending.get(id) !== p) return;
    if (p.tries++ > 0) this.retransmissions++;
    if (this.session && !this.#handshake) {
      if (this.opts.bundle && p.tries === 1) this.#bundleLater(p.msg);
      else this.sendMessage(p.msg);
    }
    p.timer = setTimeout(() => this.#transmit(id, p), this.opts.rtoMs);
  }

  #outbox: Message[] = [];

  #bundleLater(m: Message): void {
    if (this.#outbox.push(m) > 1) return;
    queueMicrotask(() => {
      const box = this.#outbox;
      while (box.length > 0 && this.session) {
        const { frame, count } = this.session.sealMessages(box, this.#scratch);
        this.sendRaw(frame);
        box.splice(0, count);
      }
      box.length = 0;
    });
  }

  publish(topic: string, data: Uint8Array, qos: 0 | 1 = 1): Promise<number> {
    if (qos === 0) {
      this.sendMessage({ type: "publish", msgId: 0, qos: 0, topic, data });
      return Promise.resolve(0);
    }
    return this.request((msgId) => ({
      type: "publish",
      msgId,
      qos: 1,
      topic,
      data,
    }));
  }

  subscribe(topic: string): Promise<number> {
    this.#subs.add(topic);
    return this.request((msgId) => ({ type: "subscribe", msgId, topic }));
  }

  unsubscribe(topic: string): Promise<number> {
    this.#subs.delete(topic);
    return this.request((msgId) => ({ type: "unsubscribe", msgId, topic }));
  }

  /** In-flight requests. */
  get inflight(): number {
    return this.#pending.size;
  }

  async #receive(): Promise<void> {
    while (!this.#closed) {
      let data: Uint8Array;
      try {
        [data] = await this.conn.receive();
      } catch {
        if (this.#closed) return;
        continue;
      }
      try {
        this.#onDatagram(data);
      } catch {
        // a test device ignores what it cannot read
      }
    }
  }

  #onDatagram(data: Uint8Array): void {
    const f = decodeFrame(data, { maxFrame: 1500 });
    const hs = this.#handshake;
    if (f.kind === "cookie" && hs) {
      hs.cookie = f.cookie.slice();
      this.sendRaw(this.#hello(hs.nonce, hs.cookie));
      return;
    }
    if (f.kind === "welcome" && hs) {
      const w = openWelcome(
        this.opts.crypto,
        {
          deviceId: this.opts.deviceId,
          key: this.opts.key,
          clientNonce: hs.nonce,
        },
        f,
        data,
      );
      if (!w) return;
      clearTimeout(hs.timer);
      this.#handshake = undefined;
      this.session = w.session;
      this.sessionId = f.sessionId;
      this.handshakes++;
      hs.done();
      // Re-subscribe, then resend everything unacknowledged.
      for (const t of this.#subs) {
        this.request((msgId) => ({ type: "subscribe", msgId, topic: t }));
      }
      for (const [, p] of this.#pending) this.sendMessage(p.msg);
      return;
    }
    if (f.kind === "reject") {
      this.rejects.push(f.code);
      if (hs && f.code === ErrorCode.REPLAYED) {
        hs.nonce = crypto.getRandomValues(new Uint8Array(16));
        hs.cookie = undefined;
      }
      if (
        f.code === ErrorCode.UNKNOWN_SESSION &&
        f.sessionId === this.sessionId &&
        this.opts.autoReconnect && !hs
      ) {
        this.session = undefined;
        this.connect();
      }
      return;
    }
    if (f.kind === "sealed" && this.session) {
      const pt = this.session.open(f);
      if (typeof pt === "number") return;
      this.framesReceived++;
      for (const m of decodeMessages(pt)) this.#onMessage(m);
    }
  }

  #onMessage(m: Message): void {
    this.received.push(m);
    switch (m.type) {
      case "ack":
      case "subscribeAck":
      case "unsubscribeAck":
      case "regAck": {
        const p = this.#pending.get(m.msgId);
        if (p) {
          clearTimeout(p.timer);
          this.#pending.delete(m.msgId);
          p.resolve(m.code);
        }
        return;
      }
      case "message":
        this.inbox.push({ topic: m.topic, data: m.data.slice() });
        if (typeof m.topic === "string") this.onMessage(m.topic, m.data);
        return;
      case "ping":
        this.sendMessage({ type: "pong" });
        return;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#handshake) clearTimeout(this.#handshake.timer);
    for (const p of this.#pending.values()) clearTimeout(p.timer);
    this.#pending.clear();
    await Promise.all([...this.#sends]);
    try {
      this.conn.close();
    } catch { /* closed */ }
    await this.#loop;
  }
}
