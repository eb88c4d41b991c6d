/**
 * The MQTT bridge's link to the broker: one `mqtt` client at a time
 * (reconnected with exponential backoff and jitter, never by the client
 * library itself), the bridge's last will, and what must survive a lost
 * connection: every discovery config announced, the latest payload of each
 * state topic (bounded), and the retained messages to remove. At every
 * (re)connection all of it is published again.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { LatestPerTopic } from "./latest_queue.ts";
import type { ResolvedMqttOptions } from "./options.ts";

/** How a message is published. */
export interface PublishOptions {
  /** QoS 0 or 1. */
  qos: 0 | 1;
  /** Retained by the broker. */
  retain?: boolean;
  /** MQTT 5 properties. */
  properties?: { userProperties?: Record<string, string> };
}

/** What the link reads of a received message besides topic and payload. */
export interface ReceivedPacket {
  /** Delivered as a retained message. */
  retain: boolean;
  /** MQTT 5 properties. */
  properties?: { userProperties?: Record<string, string | string[]> };
}

/**
 * The calls the link makes on an `npm:mqtt` client. The package is loaded
 * when the link starts (and its types are not part of this module's).
 */
interface Client {
  stream: unknown;
  publish(
    topic: string,
    message: string | Buffer,
    opts: PublishOptions,
    done?: () => void,
  ): unknown;
  subscribe(
    subs: Record<string, { qos: 0 | 1; nl?: boolean }>,
    done: (err: Error | null) => void,
  ): unknown;
  end(force: boolean, opts?: Record<string, never>, done?: () => void): unknown;
  on(event: "connect" | "close", f: () => void): unknown;
  on(event: "error", f: (e: Error) => void): unknown;
  on(
    event: "message",
    f: (topic: string, payload: Buffer, packet: ReceivedPacket) => void,
  ): unknown;
}

type Connect = (url: string, opts: Record<string, unknown>) => Client;
let connectFn: Promise<Connect> | undefined;

/** `mqtt.connect`, the package loaded on first use. */
function loadConnect(): Promise<Connect> {
  connectFn ??= import("mqtt").then((m) => {
    const lib = (m.default ?? m) as unknown as { connect: Connect };
    return (url, opts) => lib.connect(url, opts);
  });
  return connectFn;
}

/** What the bridge does with the link. */
export interface LinkHooks {
  /** The subscriptions to make on every connection. */
  subscriptions(): Record<string, { qos: 0 | 1; nl?: boolean }>;
  /** A message from the broker. */
  message(topic: string, payload: Buffer, packet: ReceivedPacket): void;
}

function toBuffer(p: Uint8Array | string): Buffer | string {
  return typeof p === "string"
    ? p
    : Buffer.from(p.buffer, p.byteOffset, p.byteLength);
}

/** The broker connection and the retained messages it must keep up. */
export class BrokerLink {
  /** Counters. */
  readonly counters = {
    connects: 0,
    disconnects: 0,
    published: 0,
    eventsDropped: 0,
  };
  readonly #o: ResolvedMqttOptions;
  readonly #statusTopic: string;
  readonly #hooks: LinkHooks;
  readonly #discovery = new Map<string, string>();
  readonly #removals = new Set<string>();
  readonly #states: LatestPerTopic;
  #client: Client | undefined;
  #connected = false;
  #closed = false;
  #attempt = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #lastError = "";

  /**
   * @param o The bridge's options.
   * @param statusTopic The bridge's availability (and last will) topic.
   * @param hooks Subscriptions and incoming messages.
   */
  constructor(o: ResolvedMqttOptions, statusTopic: string, hooks: LinkHooks) {
    this.#o = o;
    this.#statusTopic = statusTopic;
    this.#hooks = hooks;
    this.#states = new LatestPerTopic(o.maxStates);
  }

  /** Whether the connection is up. */
  get connected(): boolean {
    return this.#connected;
  }

  /** Discovery configs announced now. */
  get discoveryCount(): number {
    return this.#discovery.size;
  }

  /** State topics kept. */
  get stateCount(): number {
    return this.#states.size;
  }

  /** State topics forgotten because of the bound. */
  get statesDropped(): number {
    return this.#states.dropped;
  }

  /** Whether `topic` holds a discovery config announced by this run. */
  announced(topic: string): boolean {
    return this.#discovery.has(topic);
  }

  #publish(
    topic: string,
    payload: Uint8Array | string,
    opts: PublishOptions,
  ): boolean {
    const c = this.#client;
    if (!c || !this.#connected) return false;
    c.publish(topic, toBuffer(payload), opts);
    this.counters.published++;
    return true;
  }

  /**
   * A retained state: kept (latest wins) and published when connected
   * (unless it equals the one kept, without `always`).
   */
  setState(topic: string, payload: Uint8Array | string, always = false): void {
    this.#removals.delete(topic);
    if (!this.#states.set(topic, payload) && !always) return;
    this.#publish(topic, payload, { qos: 0, retain: true });
  }

  /** An event (not retained): published now, or dropped while down. */
  event(
    topic: string,
    payload: Uint8Array | string,
    opts: PublishOptions,
  ): boolean {
    if (this.#publish(topic, payload, opts)) return true;
    this.counters.eventsDropped++;
    return false;
  }

  /** A discovery config (retained, QoS 1); nothing when unchanged. */
  announce(topic: string, config: string): void {
    this.#removals.delete(topic);
    if (this.#discovery.get(topic) === config) return;
    this.#discovery.set(topic, config);
    this.#publish(topic, config, { qos: 1, retain: true });
  }

  /**
   * A config announced by an earlier run and still wanted: kept with the
   * others (republished with them), not published now.
   */
  adopt(topic: string, config: string): void {
    if (!this.#discovery.has(topic)) this.#discovery.set(topic, config);
  }

  /** Removes a retained message (for a discovery config: the entity). */
  clear(topic: string): void {
    this.#discovery.delete(topic);
    this.#states.delete(topic);
    if (!this.#publish(topic, "", { qos: 1, retain: true })) {
      this.#removals.add(topic);
    }
  }

  /** The status, every discovery config, then every state. */
  announceAll(): void {
    for (const t of this.#removals) {
      this.#publish(t, "", { qos: 1, retain: true });
    }
    this.#removals.clear();
    this.#publish(this.#statusTopic, "online", { qos: 1, retain: true });
    for (const [t, p] of this.#discovery) {
      this.#publish(t, p, { qos: 1, retain: true });
    }
    for (const [t, p] of this.#states.entries()) {
      this.#publish(t, p, { qos: 0, retain: true });
    }
  }

  /** Connects (and keeps reconnecting until {@linkcode close}). */
  start(): void {
    if (this.#closed) return;
    loadConnect().then(
      (connect) => this.#connect(connect),
      (e) => {
        this.#lastError = `cannot load npm:mqtt: ${(e as Error).message}`;
        this.#retry();
      },
    );
  }

  #connect(connect: Connect): void {
    if (this.#closed) return;
    const o = this.#o;
    const opts: Record<string, unknown> = {
      clientId: o.clientId,
      protocolVersion: o.protocolVersion,
      keepalive: o.keepaliveSeconds,
      reconnectPeriod: 0,
      connectTimeout: o.connectTimeoutMs,
      clean: true,
      will: {
        topic: this.#statusTopic,
        payload: Buffer.from("offline"),
        qos: 1,
        retain: true,
      },
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: o.password } : {}),
      ...(o.tls.ca !== undefined ? { ca: o.tls.ca } : {}),
      ...(o.tls.cert !== undefined ? { cert: o.tls.cert } : {}),
      ...(o.tls.key !== undefined ? { key: o.tls.key } : {}),
      ...(o.tls.servername !== undefined
        ? { servername: o.tls.servername }
        : {}),
      rejectUnauthorized: o.tls.rejectUnauthorized ?? true,
    };
    let client: Client;
    try {
      client = connect(o.url, opts);
    } catch (e) {
      this.#lastError = (e as Error).message;
      this.#retry();
      return;
    }
    this.#client = client;
    client.on("connect", () => {
      if (this.#client !== client) return;
      this.#attempt = 0;
      this.#connected = true;
      // Small messages leave at once (no Nagle delay on a TCP stream).
      (client.stream as { setNoDelay?: (on: boolean) => void })
        .setNoDelay?.(true);
      this.counters.connects++;
      o.onLog("info", `mqtt: connected to ${redact(o.url)}`);
      client.subscribe(this.#hooks.subscriptions(), (err) => {
        if (err && this.#client === client) {
          o.onLog("warn", `mqtt: subscribe failed: ${err.message}`);
        }
      });
      this.announceAll();
    });
    client.on("message", (topic, payload, packet) => {
      if (this.#client === client) this.#hooks.message(topic, payload, packet);
    });
    client.on("error", (e) => {
      this.#lastError = e.message;
    });
    client.on("close", () => {
      if (this.#client !== client) return;
      this.#client = undefined;
      if (this.#connected) {
        this.counters.disconnects++;
        o.onLog("warn", `mqtt: connection to ${redact(o.url)} lost`);
      }
      this.#connected = false;
      client.end(true);
      this.#retry();
    });
  }

  #retry(): void {
    if (this.#closed) return;
    const base = Math.min(
      this.#o.reconnectMaxMs,
      this.#o.reconnectInitialMs * 2 ** Math.min(this.#attempt, 30),
    );
    this.#attempt++;
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    if (this.#attempt === 1 || this.#attempt % 10 === 0) {
      this.#o.onLog(
        "warn",
        `mqtt: cannot reach ${redact(this.#o.url)}${
          this.#lastError ? ` (${this.#lastError})` : ""
        }; retrying in ${delay} ms`,
      );
    }
    this.#retryTimer = setTimeout(() => this.start(), delay);
  }

  /** Publishes `offline` on the status topic (if connected) and disconnects. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    const c = this.#client;
    this.#client = undefined;
    if (!c) return;
    const wasConnected = this.#connected;
    this.#connected = false;
    if (wasConnected) {
      await within(
        5000,
        new Promise<void>((r) =>
          c.publish(
            this.#statusTopic,
            "offline",
            { qos: 1, retain: true },
            () => r(),
          )
        ),
      );
    }
    await within(
      5000,
      new Promise<void>((r) => c.end(!wasConnected, {}, () => r())),
    );
  }
}

/** Waits for `p`, at most `ms`. */
async function within(ms: number, p: Promise<void>): Promise<void> {
  let t: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([p, new Promise<void>((r) => (t = setTimeout(r, ms)))]);
  clearTimeout(t);
}

/** A URL without its password, for logs. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return url;
  }
}
