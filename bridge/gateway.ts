/**
 * The gateway core: everything the embedded bridge does, on no particular
 * transport. Its adapter feeds it datagrams (`receive`) and gives it a way
 * to send them and a clock; the core answers handshakes, keeps sessions,
 * and moves messages between the devices and the mesh port. No socket, no
 * runtime API: the Deno adapter is `deno_udp.ts` (`EmbeddedBridge`), and a
 * test can drive the core with plain function calls and a fake clock.
 *
 * The rooms: `sessions.ts` (devices, handshake, sealed frames, expiry),
 * `uplink.ts` (devices → mesh: QoS 1, event envelopes, context writes),
 * `downlink.ts` (mesh → devices: subscriptions, sleep queues),
 * `stream_relay.ts` (device streams ↔ mesh streams), `outbox.ts` (frames
 * out). This file routes between them.
 *
 * @module
 */

import type { AviEvent } from "../core/events.ts";
import {
  decodeFrame,
  encodeGwInfo,
  encodeReject,
  ErrorCode,
  FrameDecodeError,
  type Message,
  type SealedFrame,
} from "../protocol/mod.ts";
import { type BridgeEvent, BridgeEventStream } from "./bridge_events.ts";
import { Downlink } from "./downlink.ts";
import type { BridgeMesh } from "./mesh_port.ts";
import {
  DEFAULT_EVENT_QUEUE,
  type ResolvedBridgeOptions,
  type ResolvedDevice,
  sweepInterval,
} from "./options.ts";
import { Outbox } from "./outbox.ts";
import { RateLimiter } from "./rate_limit.ts";
import { type Session, Sessions } from "./sessions.ts";
import { type BridgeStats, type DeviceInfo, newStats } from "./stats.ts";
import { StreamRelay } from "./stream_relay.ts";
import {
  type Endpoint,
  endpointKey,
  type GatewayClock,
  type GatewayTransport,
  systemClock,
} from "./transport.ts";
import { Uplink } from "./uplink.ts";
import type { BridgeTableSizes, DeviceTableChange } from "./stats.ts";

/** What a {@linkcode GatewayCore} is made of. */
export interface GatewayCoreOptions {
  /** The mesh node (or a fake). */
  mesh: BridgeMesh;
  /** Where the core's datagrams go. */
  transport: GatewayTransport;
  /** Every option, resolved (`resolveBridgeOptions`). */
  options: ResolvedBridgeOptions;
  /** The port devices reach the gateway on (announced in GwInfo). */
  port: number;
  /** Time and timers. @default the host's (`Date.now`, `setTimeout`) */
  clock?: GatewayClock;
}

/** The transport-neutral gateway; see the module doc. */
export class GatewayCore {
  /** The port announced in GwInfo. */
  readonly port: number;
  /** The gateway id sent in Welcome and GwInfo (random at start). */
  readonly gatewayId: number;
  readonly #stats: BridgeStats = newStats();
  readonly #mesh: BridgeMesh;
  readonly #clock: GatewayClock;
  readonly #opts: ResolvedBridgeOptions;
  readonly #outbox: Outbox;
  readonly #sessions: Sessions;
  readonly #downlink: Downlink;
  readonly #relay: StreamRelay;
  readonly #uplink: Uplink;
  readonly #addrLimiter: RateLimiter;
  readonly #deviceLimiter: RateLimiter;
  readonly #meshEvents: AsyncIterableIterator<AviEvent>;
  readonly #meshLoop: Promise<void>;
  #sweep: unknown;
  #closed = false;
  #listeners = new Set<BridgeEventStream>();
  #pending = new Set<Promise<unknown>>();

  /** A running core: it consumes the mesh's events and sweeps sessions. */
  constructor(o: GatewayCoreOptions) {
    const { mesh, options: opts } = o;
    const limits = opts.limits;
    this.port = o.port;
    this.gatewayId = crypto.getRandomValues(new Uint32Array(1))[0];
    this.#mesh = mesh;
    this.#clock = o.clock ?? systemClock;
    this.#opts = opts;
    const stats = this.#stats;
    const emit = (e: BridgeEvent) => this.#emit(e);
    const track = (p: Promise<unknown>) => this.#track(p);
    const outbox = this.#outbox = new Outbox(o.transport, stats);
    const sessions = this.#sessions = new Sessions({
      opts,
      gatewayId: this.gatewayId,
      now: this.#clock.now(),
      stats,
      outbox,
      emit,
      release: (d) => {
        this.#downlink.releaseAll(d);
        this.#relay.closeAll(d);
        d.sleepQueue = undefined;
      },
    });
    const devices = sessions.devices;
    const downlink = this.#downlink = new Downlink({
      mesh,
      limits,
      stats,
      devices,
      outbox,
      emit,
      track,
    });
    this.#relay = new StreamRelay({
      mesh,
      limits,
      stats,
      devices,
      outbox,
      track,
    });
    this.#uplink = new Uplink({
      mesh,
      opts,
      stats,
      outbox,
      clock: this.#clock,
      emit,
      track,
      deliverLocal: (topic, data) => downlink.deliver(topic, data),
      closed: () => this.#closed,
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
    this.#meshEvents = mesh.events();
    this.#meshLoop = this.#consumeMesh();
    this.#armSweep();
  }

  /**
   * Subscribe the mesh node to the `meshTopics` option's topics.
   *
   * @throws What the mesh's subscribe threw.
   */
  holdMeshTopics(): Promise<void> {
    return this.#downlink.holdMeshTopics(this.#opts.meshTopics);
  }

  // ---- what the adapter and the application see -----------------------------

  /** The devices with a live session. */
  devices(): DeviceInfo[] {
    return this.#sessions.info();
  }

  /** Replaces the device table (see `Sessions.replaceTable`). */
  setDevices(
    table: Map<string, ResolvedDevice>,
  ): DeviceTableChange {
    return this.#sessions.replaceTable(table);
  }

  /** Current sizes of the core's tables. */
  tableSizes(): BridgeTableSizes {
    let queued = 0;
    for (const s of this.#sessions.live.values()) queued += s.out.length;
    for (const d of this.#sessions.devices.values()) {
      queued += d.sleepQueue?.length ?? 0;
    }
    return {
      sessions: this.#sessions.live.size,
      rateKeys: this.#addrLimiter.size + this.#deviceLimiter.size,
      pendingReplies: this.#outbox.pendingReplies,
      pendingMeshCalls: this.#pending.size,
      meshTopics: this.#downlink.meshTopics,
      queuedFrames: queued,
    };
  }

  /** A snapshot of the counters. */
  stats(): BridgeStats {
    return { ...this.#stats };
  }

  /** A new consumer of the core's events, with its own bounded queue. */
  events(
    options: { queueSize?: number } = {},
  ): AsyncIterableIterator<BridgeEvent> {
    const s: BridgeEventStream = new BridgeEventStream(
      options.queueSize ?? DEFAULT_EVENT_QUEUE,
      () => this.#listeners.delete(s),
    );
    if (this.#closed) s.end();
    else this.#listeners.add(s);
    return s;
  }

  /** Loss and reordering counted on a device's stream (device → mesh). */
  streamStats(
    deviceId: string,
    streamId: number,
  ): { lost: number; reordered: number } | undefined {
    return this.#relay.stats(deviceId, streamId);
  }

  #emit(e: BridgeEvent): void {
    for (const l of this.#listeners) l.push(e);
  }

  #track(p: Promise<unknown>): void {
    this.#pending.add(p);
    p.finally(() => this.#pending.delete(p));
  }

  // ---- devices → gateway -----------------------------------------------------

  /**
   * One datagram from `from`. Never throws (an unexpected error is counted
   * in `internalErrors`); ignored once the core is closed.
   */
  receive(data: Uint8Array, from: Endpoint): void {
    if (this.#closed) return;
    try {
      this.#onDatagram(data, from);
    } catch {
      this.#stats.internalErrors++;
    }
  }

  #onDatagram(data: Uint8Array, from: Endpoint): void {
    this.#stats.datagrams++;
    const now = this.#clock.now();
    const key = endpointKey(from);
    if (!this.#addrLimiter.allow(key, now)) {
      this.#stats.rateLimited++;
      return;
    }
    let f;
    try {
      f = decodeFrame(data, { maxFrame: this.#opts.maxFrameSize });
    } catch (e) {
      this.#stats.malformed++;
      if (
        e instanceof FrameDecodeError &&
        e.code === ErrorCode.UNSUPPORTED_VERSION && data.length >= 7
      ) {
        this.#outbox.sendRaw(
          encodeReject(ErrorCode.UNSUPPORTED_VERSION, 0),
          from,
        );
      }
      return;
    }
    switch (f.kind) {
      case "hello":
        return this.#sessions.hello(f, data, from, key, now);
      case "sealed":
        return this.#onSealed(f, from, now);
      case "searchGw":
        this.#outbox.sendRaw(
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

  #onSealed(f: SealedFrame, from: Endpoint, now: number): void {
    const opened = this.#sessions.open(f, from, now);
    if (opened === undefined) return;
    const { session: s, messages: ms, plaintext: pt, ends } = opened;
    // The device's budget counts messages, not frames.
    if (!this.#deviceLimiter.allow(s.device.id, now, ms.length)) {
      this.#stats.rateLimited++;
      return;
    }
    if (ms.length > 1) this.#stats.bundledIn++;
    if (s.sleepingUntil > 0) this.#downlink.wake(s);
    // Each message is handled as if it came alone, in order.
    for (let i = 0; i < ms.length; i++) {
      this.#onMessage(
        s,
        ms[i],
        pt.subarray(i === 0 ? 0 : ends[i - 1], ends[i]),
      );
    }
  }

  #onMessage(s: Session, m: Message, pt: Uint8Array): void {
    switch (m.type) {
      case "ping":
        this.#outbox.queue(s, { type: "pong" });
        return;
      case "pong":
      case "ack":
      case "regAck":
      case "error":
        return;
      case "subscribe":
        return this.#downlink.subscribe(s, m.msgId, m.topic);
      case "unsubscribe":
        this.#downlink.release(s.device, m.topic);
        this.#outbox.queue(s, {
          type: "unsubscribeAck",
          msgId: m.msgId,
          code: 0,
        });
        return;
      case "register":
        return this.#uplink.register(s, m);
      case "publish":
        return this.#uplink.publish(s, m, pt);
      case "buttonPress":
        return this.#uplink.buttonPress(s, m, pt);
      case "sensorUpdate":
        return this.#uplink.sensorUpdate(s, m, pt);
      case "disconnect":
        if (m.sleepSeconds === 0) {
          this.#sessions.end(s, "disconnected", true);
        } else {
          this.#downlink.sleep(s, m.sleepSeconds, this.#clock.now());
        }
        return;
      case "streamStart":
        return this.#relay.start(
          s,
          m.msgId,
          m.streamId,
          m.targetPeer,
          m.reason,
        );
      case "streamData":
        return this.#relay.data(s, m.streamId, m.seq, m.data);
      case "streamClose":
        return this.#relay.close(s, m.streamId);
      default:
        // Gateway-to-device types sent by a device.
        this.#stats.malformed++;
    }
  }

  // ---- mesh → gateway ----------------------------------------------------------

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
        if (ev.type === "message") this.#downlink.deliver(ev.topic, ev.data);
        else if (ev.type === "lagged") this.#stats.meshLagged += ev.dropped;
        else if (ev.type === "streamData") {
          this.#relay.meshData(ev.streamId, ev.data);
        } else if (ev.type === "streamClosed") {
          this.#relay.meshClosed(ev.streamId);
        }
      } catch {
        this.#stats.internalErrors++;
      }
    }
  }

  // ---- time ----------------------------------------------------------------------

  #armSweep(): void {
    this.#sweep = this.#clock.setTimeout(() => {
      if (this.#closed) return;
      this.#armSweep();
      this.#sessions.expire(this.#clock.now());
    }, sweepInterval(this.#opts.limits));
  }

  // ---- closing -------------------------------------------------------------------

  /**
   * Stop: end every session (releasing their mesh subscriptions and
   * streams), write what is pending, wait for the mesh calls under way, end
   * the event streams. The adapter closes its socket itself.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    for (const s of [...this.#sessions.live.values()]) {
      this.#sessions.end(s, "closed", true);
    }
    this.#closed = true;
    this.#outbox.close();
    this.#clock.clearTimeout(this.#sweep);
    await this.#uplink.flush();
    await this.#meshEvents.return?.();
    // The mesh loop ends when the node's event stream does (return() above
    // ends a well-behaved one at once); it is not awaited, so that a stream
    // that never settles cannot hold close() up.
    void this.#meshLoop;
    await Promise.allSettled([...this.#pending]);
    await this.#downlink.releaseMeshTopics();
    for (const l of [...this.#listeners]) l.end();
  }
}
