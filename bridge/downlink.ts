/**
 * Mesh → devices: devices' subscriptions (exact topics held in the mesh by
 * reference count, wildcard patterns matched against every message the
 * gateway node gets), delivery of mesh messages to the devices that want
 * them, and sleeping devices' bounded queues.
 *
 * @module
 */

import {
  ErrorCode,
  Limits,
  type Message,
  utf8Length,
} from "../protocol/mod.ts";
import { BoundedQueue } from "./bounded_queue.ts";
import type { BridgeEvent } from "./bridge_events.ts";
import type { BridgeMesh } from "./mesh_port.ts";
import type { ResolvedLimits } from "./options.ts";
import type { Outbox } from "./outbox.ts";
import { RefCountedSubscriptions } from "./ref_subscriptions.ts";
import type { Device, Session } from "./sessions.ts";
import type { BridgeStats } from "./stats.ts";
import { hasWildcard, matchTopic, validatePattern } from "./topic_pattern.ts";

/** The holder of the `meshTopics` option's subscriptions. */
const BRIDGE_HOLDER = "\u0000bridge";

/** What the downlink works with. */
export interface DownlinkDeps {
  /** The mesh node. */
  mesh: BridgeMesh;
  /** Bounds. */
  limits: ResolvedLimits;
  /** Counters. */
  stats: BridgeStats;
  /** Every known device by id. */
  devices: Map<string, Device>;
  /** Queues to sessions. */
  outbox: Outbox;
  /** Report an event. */
  emit(e: BridgeEvent): void;
  /** Keep a mesh call until close. */
  track(p: Promise<unknown>): void;
}

/** Subscriptions, delivery and sleep queues. */
export class Downlink {
  #deps: DownlinkDeps;
  #refs: RefCountedSubscriptions;
  #patternDevices = new Set<Device>();
  #ownTopics: string[] = [];

  /** No subscriptions yet. */
  constructor(deps: DownlinkDeps) {
    this.#deps = deps;
    const { mesh } = deps;
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
  }

  /** Topics the gateway holds in the mesh. */
  get meshTopics(): number {
    return this.#refs.topics().length;
  }

  /** Subscribe the mesh node to the `meshTopics` option's topics. */
  async holdMeshTopics(topics: string[]): Promise<void> {
    this.#ownTopics = topics;
    await Promise.all(topics.map((t) => this.#refs.acquire(t, BRIDGE_HOLDER)));
  }

  /** Let go of the `meshTopics` option's topics. */
  async releaseMeshTopics(): Promise<void> {
    await Promise.allSettled(
      this.#ownTopics.map((t) => this.#refs.release(t, BRIDGE_HOLDER)),
    );
  }

  /** A Subscribe: acked once the mesh holds the topic (or why not). */
  subscribe(s: Session, msgId: number, topic: string): void {
    const { stats, outbox, limits } = this.#deps;
    const d = s.device;
    const reply = (code: number) =>
      outbox.queue(d.session ?? s, { type: "subscribeAck", msgId, code });
    try {
      validatePattern(topic);
    } catch {
      return reply(ErrorCode.MALFORMED);
    }
    if (!d.perms.canSubscribe(topic)) {
      stats.notPermitted++;
      return reply(ErrorCode.NOT_PERMITTED);
    }
    if (d.topics.has(topic) || d.patterns.has(topic)) return reply(0);
    if (d.topics.size + d.patterns.size >= limits.maxSubscriptionsPerDevice) {
      return reply(ErrorCode.LIMIT_REACHED);
    }
    if (hasWildcard(topic)) {
      d.patterns.add(topic);
      this.#patternDevices.add(d);
      return reply(0);
    }
    d.topics.add(topic);
    this.#deps.track(
      this.#refs.acquire(topic, d.id).then(
        () => reply(0),
        () => {
          stats.meshErrors++;
          d.topics.delete(topic);
          reply(ErrorCode.UNAVAILABLE);
        },
      ),
    );
  }

  /** An Unsubscribe (or a device letting go of one topic). */
  release(d: Device, topic: string): void {
    if (d.patterns.delete(topic)) {
      if (d.patterns.size === 0) this.#patternDevices.delete(d);
      return;
    }
    if (d.topics.delete(topic)) {
      this.#deps.track(this.#refs.release(topic, d.id));
    }
  }

  /** Every subscription of a device. */
  releaseAll(d: Device): void {
    for (const t of [...d.topics, ...d.patterns]) this.release(d, t);
  }

  /**
   * Send a mesh message to every device that wants it (the mesh does not
   * hand a node its own messages: the gateway's publishes come here too).
   */
  deliver(topic: string, data: Uint8Array): void {
    const { stats, outbox } = this.#deps;
    const holders = this.#refs.holders(topic);
    const targets: Device[] = [];
    for (const id of holders) {
      const d = this.#deps.devices.get(id);
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
        stats.tooLarge++;
        outbox.queue(s, {
          type: "error",
          code: ErrorCode.TOO_LARGE,
          msgId: 0,
          detail: tl <= Limits.MAX_TEXT_BYTES ? topic : "",
        });
        continue;
      }
      const msg: Message = { type: "message", msgId: 0, qos: 0, topic, data };
      if (s.sleepingUntil > 0 && d.sleepQueue) {
        // kept until the device wakes (up to its sleep): its own copy, so
        // that it does not hold the buffer it is a view of (an envelope,
        // a slab) that long
        d.sleepQueue.push({ ...msg, data: data.slice() });
        if (d.sleepQueue.dropped > 0) {
          stats.sleepDropped += d.sleepQueue.dropped;
          d.sleepQueue.dropped = 0;
        }
        continue;
      }
      stats.delivered++;
      outbox.queue(s, msg);
    }
  }

  /** A Disconnect with a sleep: keep its messages until it wakes. */
  sleep(s: Session, seconds: number, now: number): void {
    const { limits } = this.#deps;
    const d = s.device;
    const ms = Math.min(seconds * 1000, limits.maxSleepMs);
    s.sleepingUntil = now + ms;
    d.sleepQueue ??= new BoundedQueue(limits.maxQueuedPerSleepingDevice);
    this.#deps.emit({ type: "deviceSleeping", deviceId: d.id, seconds });
  }

  /** A sleeping device sent a frame: hand it what was kept. */
  wake(s: Session): void {
    s.sleepingUntil = 0;
    const q = s.device.sleepQueue;
    let n = 0;
    if (q) {
      for (let m = q.shift(); m !== undefined; m = q.shift()) {
        this.#deps.outbox.queue(s, m);
        n++;
      }
    }
    this.#deps.stats.delivered += n;
    this.#deps.emit({
      type: "deviceAwake",
      deviceId: s.device.id,
      delivered: n,
    });
  }
}
