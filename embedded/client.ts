/**
 * The device client: {@linkcode AviEmbedded}. Plain ECMAScript over
 * `protocol/` and injected parts (socket, clock, timers, crypto), so it runs
 * unmodified on Deno and on Moddable XS.
 *
 * The rooms: this file holds the public face and what messages mean
 * (subscriptions, topic aliases, downlink duplicates); `connection.ts` the
 * state machine (session, keep-alive, timers, sending), with `handshake.ts`
 * (discovery and handshake), `pending.ts` (the unacknowledged messages and
 * their retransmission slots) and `bundler.ts` (what is due in one job, in
 * as few frames as fit); `streams.ts` the streams; `config.ts` the config's
 * defaults and checks; `types.ts` the other public shapes.
 *
 * @module
 */

import {
  ErrorCode,
  Limits,
  type Message,
  type PressType,
  type SensorValue,
  utf8Length,
} from "../protocol/mod.ts";
import { type Connection, createConnection } from "./connection.ts";
import { createStreams, type Streams } from "./streams.ts";
import type { AviEmbeddedConfig } from "./config.ts";
import type {
  DeviceSocket,
  EmbeddedState,
  EmbeddedStats,
  Endpoint,
  MessageHandler,
  PublishOptions,
} from "./types.ts";

const DEDUP = 32;

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
  #c: Connection;
  #handler: MessageHandler;
  #cfg: AviEmbeddedConfig;
  #streams: Streams;

  // Subscriptions, aliases, dedup.
  #subs: string[] = [];
  #upAlias = new Map<string, number>(); // confirmed in this session
  #upAliasPending = new Set<string>();
  #nextAlias = 1;
  #downAlias = new Map<number, string>();
  #recentIds = new Int32Array(DEDUP).fill(-1);
  #recentPos = 0;

  /** Counters, for diagnostics. */
  readonly stats: EmbeddedStats;

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
    this.#c = createConnection(socket, config, {
      message: (m) => this.#onMessage(m),
      reset: () => this.#reset(),
      resume: () => this.#resume(),
    });
    this.#handler = handler;
    this.#cfg = config;
    this.#streams = createStreams(this.#c);
    this.stats = this.#c.stats;
    socket.setReceiver((data, address, port) =>
      this.receive(data, address, port)
    );
  }

  /**
   * The current connection state.
   * @returns The current state.
   */
  get state(): EmbeddedState {
    return this.#c.state;
  }

  /**
   * Tells whether a session is established.
   * @returns True when a session is established.
   */
  isConnected(): boolean {
    return this.#c.state === "connected";
  }

  /**
   * The gateway in use.
   * @returns The gateway in use (configured or discovered), or null.
   */
  get gateway(): Endpoint | null {
    return this.#c.gateway;
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
    return this.#c.pending.list.length;
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
    return this.#c.connect();
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
    this.#c.receive(data, address, port);
  }

  // A new session, before "connected" is announced: aliases and downlink
  // msgIds belonged to the old one (a restarted gateway numbers its
  // messages afresh, and they must not pass for duplicates).
  #reset(): void {
    this.#upAlias.clear();
    this.#upAliasPending.clear();
    this.#nextAlias = 1;
    this.#downAlias.clear();
    this.#recentIds.fill(-1);
  }

  // The new session is announced. Registrations and unsubscriptions
  // belonged to the old session, and so did subscriptions dropped
  // meanwhile; a subscription is sent again from the table; everything else
  // is retransmitted.
  #resume(): void {
    const q = this.#c.pending;
    for (const p of q.list.slice()) {
      const m = p.msg;
      if (
        m.type === "register" || m.type === "unsubscribe" ||
        (m.type === "subscribe" && !this.#subs.includes(m.topic))
      ) {
        q.list.splice(q.list.indexOf(p), 1);
        p.resolve();
      }
    }
    for (const topic of this.#subs) {
      if (
        !q.list.some((p) => p.msg.type === "subscribe" && p.msg.topic === topic)
      ) {
        this.#c.enqueue(
          { type: "subscribe", msgId: q.allocId(), topic },
          "subscribeAck",
          -1,
        ).catch(() => {});
      }
    }
  }

  #onMessage(m: Message): void {
    switch (m.type) {
      case "message": {
        let topic: string | undefined;
        if (typeof m.topic === "number") topic = this.#downAlias.get(m.topic);
        else topic = m.topic;
        if (topic === undefined) {
          if (m.qos === 1) {
            this.#c.send({
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
          this.#c.send({ type: "ack", msgId: m.msgId, code: ErrorCode.OK });
        } else this.#deliver(topic, m.data);
        return;
      }
      case "register": {
        let code: number = ErrorCode.OK;
        if (
          !this.#downAlias.has(m.alias) &&
          this.#downAlias.size >= this.#c.maxAliases
        ) code = ErrorCode.LIMIT_REACHED;
        else this.#downAlias.set(m.alias, m.topic);
        this.#c.send({ type: "regAck", msgId: m.msgId, alias: m.alias, code });
        return;
      }
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
        this.#c.stats.framesDropped++;
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

  #maybeRegister(topic: string): void {
    if (
      this.#c.maxAliases === 0 || utf8Length(topic) < this.#c.aliasMin ||
      this.#upAlias.has(topic) || this.#upAliasPending.has(topic) ||
      this.#upAlias.size + this.#upAliasPending.size >= this.#c.maxAliases ||
      this.#nextAlias > 0xffff
    ) return;
    const alias = this.#nextAlias++;
    this.#upAliasPending.add(topic);
    this.#c.enqueue(
      { type: "register", msgId: this.#c.pending.allocId(), alias, topic },
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
        this.#c.requireConnected();
        this.#c.checkSize({ type: "publish", msgId: 0, qos: 0, topic, data });
        // Sent at the end of this job, with what else is due: a copy.
        this.#c.send({
          type: "publish",
          msgId: 0,
          qos: 0,
          topic: this.#upAlias.get(topic) ?? topic,
          data: data.slice(),
        }, data.length);
        this.#maybeRegister(topic);
        return this.#c.kick();
      } catch (e) {
        return Promise.reject(e);
      }
    }
    // With its topic, not an alias: a retransmission repeats the bytes of
    // the first transmission (the gateway recognises it by them), and may
    // come in a later session, where the aliases of this one are unknown.
    return this.#c.reliable((msgId, copy) => ({
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
      this.#c.requireSession();
    } catch (e) {
      return Promise.reject(e);
    }
    if (
      typeof topic !== "string" || utf8Length(topic) > Limits.MAX_TOPIC_BYTES
    ) {
      return Promise.reject(new RangeError("topic must be at most 255 bytes"));
    }
    if (!this.#subs.includes(topic)) {
      if (this.#subs.length >= this.#c.maxSubs) {
        return Promise.reject(
          new RangeError(`at most ${this.#c.maxSubs} subscriptions`),
        );
      }
      this.#subs.push(topic);
    }
    return this.#c.enqueue(
      { type: "subscribe", msgId: this.#c.pending.allocId(), topic },
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
      this.#c.requireSession();
    } catch (e) {
      return Promise.reject(e);
    }
    this.#subs = this.#subs.filter((t) => t !== topic);
    return this.#c.enqueue(
      { type: "unsubscribe", msgId: this.#c.pending.allocId(), topic },
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
    return this.#c.reliable((msgId, copy) => ({
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
    return this.#c.reliable((msgId, copy) => ({
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
    return this.#streams.start(streamId, targetPeer, reason);
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
    this.#streams.data(streamId, pcm);
  }

  /**
   * Closes a stream (sent once, unacknowledged; the gateway also expires idle streams).
   *
   * @param streamId The stream.
   * @param code 0 for a normal close.
   */
  closeStream(streamId: number, code = 0): void {
    this.#streams.close(streamId, code);
  }

  /**
   * Tells the gateway the device sleeps for `seconds` (it keeps the session
   * and queues messages for it). Keep-alive pauses meanwhile; the Ping sent
   * when the sleep ends, or any earlier send, wakes the session.
   *
   * @param seconds Sleep duration, 1..2^32-1.
   */
  sleep(seconds: number): void {
    this.#c.sleep(seconds);
  }

  /**
   * Ends the session (Disconnect 0 when connected), stops the timers,
   * rejects pending calls with {@linkcode ClientClosedError} and closes the socket.
   *
   * @returns When closed.
   */
  close(): Promise<void> {
    return this.#c.close();
  }

  // ---------------------------------------------------------------- timers

  /**
   * Runs whatever is due now: retransmissions, keep-alive, connect deadline.
   * Called by the client's own timer; a device without timers calls it from its loop.
   */
  tick(): void {
    this.#c.tick();
  }
}
