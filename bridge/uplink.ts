/**
 * Devices → mesh: Register, Publish, ButtonPress and SensorUpdate. QoS 1
 * delivered once (ack memory; the Ack only after the mesh accepted it),
 * device events that pile up carried as one envelope, and sensor readings
 * written to the shared context (`context_writes.ts`).
 *
 * @module
 */

import { clearImmediate, setImmediate } from "node:timers";
import type { JsonObject } from "../core/events.ts";
import { ErrorCode, type Message, utf8Length } from "../protocol/mod.ts";
import { slabBytes } from "../core/slab.ts";
import { fnv1a } from "./ack_memory.ts";
import type { BridgeEvent } from "./bridge_events.ts";
import { ContextWrites, ReadingRefused } from "./context_writes.ts";
import {
  buttonJson,
  buttonTopic,
  sensorJson,
  sensorTopic,
} from "./device_events.ts";
import type { BridgeMesh } from "./mesh_port.ts";
import {
  BATCH_IDLE_MS,
  MAX_BATCH_BYTES,
  MAX_BATCH_QUEUE,
  type ResolvedBridgeOptions,
  SENSOR_NAME,
} from "./options.ts";
import type { Outbox } from "./outbox.ts";
import type { Device, Session } from "./sessions.ts";
import type { BridgeStats } from "./stats.ts";
import type { GatewayClock } from "./transport.ts";
import { hasWildcard } from "./topic_pattern.ts";

type Register = Extract<Message, { type: "register" }>;
type Publish = Extract<Message, { type: "publish" }>;
type ButtonPress = Extract<Message, { type: "buttonPress" }>;
type SensorUpdate = Extract<Message, { type: "sensorUpdate" }>;

interface QueuedEvent {
  topic: string;
  data: Uint8Array;
  resolve: () => void;
  reject: (e: unknown) => void;
}

const UTF8 = new TextEncoder();

/** What the uplink works with. */
export interface UplinkDeps {
  /** The mesh node. */
  mesh: BridgeMesh;
  /** The resolved options. */
  opts: ResolvedBridgeOptions;
  /** Counters. */
  stats: BridgeStats;
  /** Queues to sessions (the Acks). */
  outbox: Outbox;
  /** Time and timers. */
  clock: GatewayClock;
  /** Report an event. */
  emit(e: BridgeEvent): void;
  /** Keep a mesh call until close. */
  track(p: Promise<unknown>): void;
  /** Hand a message the gateway published to its own devices that want it. */
  deliverLocal(topic: string, data: Uint8Array): void;
  /** Whether the gateway is closing (context writes then leave at once). */
  closed(): boolean;
}

/** Device messages to the mesh and the shared context. */
export class Uplink {
  #deps: UplinkDeps;
  #evQueue: QueuedEvent[] = [];
  #evBusy = false;
  #evLast = 0;
  #evLastSize = 0;
  #evTimer: ReturnType<typeof setImmediate> | undefined;
  /** A send at the end of this job is scheduled (a quiet gateway). */
  #evSoon = false;
  #context: ContextWrites;

  /** Nothing pending yet. */
  constructor(deps: UplinkDeps) {
    this.#deps = deps;
    this.#context = new ContextWrites(deps);
  }

  #ack(s: Session, msgId: number, code: number): void {
    this.#deps.outbox.queue(s, { type: "ack", msgId, code });
  }

  // ---- the device messages ---------------------------------------------------

  /** A Register: a topic alias for this session's publishes. */
  register(s: Session, m: Register): void {
    let code: number = ErrorCode.OK;
    if (hasWildcard(m.topic) || m.topic.length === 0) {
      code = ErrorCode.MALFORMED;
    } else if (
      !s.aliases.has(m.alias) &&
      s.aliases.size >= this.#deps.opts.limits.maxAliasesPerSession
    ) {
      code = ErrorCode.LIMIT_REACHED;
    } else s.aliases.set(m.alias, m.topic);
    this.#deps.outbox.queue(s, {
      type: "regAck",
      msgId: m.msgId,
      alias: m.alias,
      code,
    });
  }

  /** A Publish: on its topic (or alias), if the device may. */
  publish(s: Session, m: Publish, pt: Uint8Array): void {
    const d = s.device;
    const topic = typeof m.topic === "number"
      ? s.aliases.get(m.topic)
      : m.topic;
    if (topic === undefined) {
      if (m.qos === 1) this.#ack(s, m.msgId, ErrorCode.UNKNOWN_ALIAS);
      return;
    }
    if (hasWildcard(topic) || topic.length === 0) {
      if (m.qos === 1) this.#ack(s, m.msgId, ErrorCode.MALFORMED);
      return;
    }
    if (!d.perms.canPublish(topic)) {
      this.#deps.stats.notPermitted++;
      if (m.qos === 1) this.#ack(s, m.msgId, ErrorCode.NOT_PERMITTED);
      return;
    }
    const data = m.data.slice();
    this.#deliverQos(
      s,
      m.qos === 1 ? m.msgId : 0,
      pt,
      () => this.#publish(topic, data),
    );
  }

  /** A ButtonPress: a JSON event on `device/<id>/button`. */
  buttonPress(s: Session, m: ButtonPress, pt: Uint8Array): void {
    const d = s.device;
    const topic = buttonTopic(d.id);
    const json = buttonJson(
      m.buttonId,
      m.pressType,
      m.customData,
      this.#deps.clock.now(),
    );
    this.#deliverQos(s, m.msgId, pt, () => this.#publishEvent(topic, json));
  }

  /** A SensorUpdate: a JSON event on its topic and a context write. */
  sensorUpdate(s: Session, m: SensorUpdate, pt: Uint8Array): void {
    const d = s.device;
    if (!SENSOR_NAME.test(m.name)) {
      if (m.msgId !== 0) this.#ack(s, m.msgId, ErrorCode.MALFORMED);
      return;
    }
    const name = m.name;
    const topic = sensorTopic(d.id, name);
    const json = sensorJson(
      name,
      m.value,
      m.customData,
      this.#deps.clock.now(),
    );
    this.#deliverQos(
      s,
      m.msgId,
      pt,
      () => this.#sensorReading(d, name, topic, json, m.msgId !== 0),
    );
  }

  // ---- QoS -----------------------------------------------------------------

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
    const { stats, opts } = this.#deps;
    const d = s.device;
    if (msgId === 0) {
      this.#deps.track(run().catch(() => {}));
      return;
    }
    // The fingerprint covers the whole message (its msgId included).
    const fp = fnv1a(pt);
    const st = d.acks.begin(msgId, fp);
    if (st.state === "done") {
      stats.duplicates++;
      this.#ack(d.session ?? s, msgId, st.code);
      return;
    }
    if (st.state === "pending") {
      stats.duplicates++;
      return;
    }
    if (d.inflight >= opts.limits.maxInflightPerDevice) {
      // Too many in flight: forget it; the device retransmits later.
      d.acks.finish(msgId, fp, 0, true);
      stats.rateLimited++;
      return;
    }
    d.inflight++;
    this.#deps.track(
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

  async #publish(topic: string, data: Uint8Array): Promise<void> {
    const { mesh, stats } = this.#deps;
    try {
      await mesh.publish(topic, data);
    } catch (e) {
      stats.meshErrors++;
      throw e;
    }
    stats.published++;
    // The mesh does not hand a node its own messages: devices on this
    // gateway that want the topic get it here.
    this.#deps.deliverLocal(topic, data);
  }

  // ---- event batching ------------------------------------------------------

  /**
   * Publish a device event (button, sensor) as JSON, one event per mesh
   * message payload. While an earlier publish is in flight, later events
   * (on any topics) wait and then leave together as one envelope
   * (`publishBatch`, at most `maxEventBatch` events), so a busy gateway costs
   * one signed gossip message per batch, not per event; subscribers still
   * get one ordinary `message` event per device event. A quiet gateway sends
   * each event at once, as a plain message on its topic.
   */
  #publishEvent(topic: string, json: JsonObject): Promise<void> {
    const { mesh, opts, stats, clock } = this.#deps;
    // A slab view, not an array of its own (each is a backing store in
    // Deno, see core/slab.ts): one per event on a busy gateway.
    const text = JSON.stringify(json);
    const data = slabBytes(utf8Length(text));
    UTF8.encodeInto(text, data);
    if (!opts.batchEvents || mesh.publishBatch === undefined) {
      return this.#publish(topic, data);
    }
    if (this.#evQueue.length >= MAX_BATCH_QUEUE) {
      stats.rateLimited++;
      return Promise.reject(new Error("event queue full"));
    }
    return new Promise<void>((resolve, reject) => {
      this.#evQueue.push({ topic, data, resolve, reject });
      if (!this.#evBusy && this.#evTimer === undefined && !this.#evSoon) {
        if (
          this.#evLastSize <= 1 || clock.now() - this.#evLast > BATCH_IDLE_MS
        ) {
          // Quiet, or no burst going on: send at the end of this job, not
          // inside it. The readings of one frame reach this point one
          // microtask after another (each after its context check): sent
          // at once, the first went alone and the other fifteen as an
          // envelope, two signed messages for one frame.
          this.#evSoon = true;
          queueMicrotask(() => {
            this.#evSoon = false;
            if (!this.#evBusy && this.#evTimer === undefined) {
              this.#flushEvents();
            }
          });
        } else {
          // A burst (the last message carried several events): linger until
          // the loop has handled the I/O already waiting (this turn's other
          // datagrams), so that the burst leaves in few messages. Not a
          // timer: Deno holds even `setTimeout(0)` for a millisecond or
          // more, and at 1,000 events a second that linger caught the next
          // event, so every envelope of two made the next event linger too
          // (about a millisecond on every event's latency).
          this.#evTimer = setImmediate(() => {
            this.#evTimer = undefined;
            if (!this.#evBusy) this.#flushEvents();
          });
        }
      }
    });
  }

  #flushEvents(): void {
    const q = this.#evQueue;
    let n = 0;
    for (
      let bytes = 0;
      n < q.length && n < this.#deps.opts.maxEventBatch;
      n++
    ) {
      bytes += q[n].topic.length + q[n].data.length;
      if (bytes > MAX_BATCH_BYTES && n > 0) break;
    }
    const items = q.splice(0, n);
    if (items.length === 0) return;
    this.#evBusy = true;
    this.#evLast = this.#deps.clock.now();
    this.#evLastSize = items.length;
    let sent: Promise<void>;
    if (items.length === 1) {
      sent = this.#publish(items[0].topic, items[0].data);
    } else {
      this.#deps.stats.batches++;
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
    const { mesh, stats } = this.#deps;
    try {
      await mesh.publishBatch!(
        items.map((i) => ({ topic: i.topic, data: i.data })),
      );
    } catch (e) {
      stats.meshErrors++;
      throw e;
    }
    stats.published++;
    // The mesh does not hand a node its own messages.
    for (const i of items) this.#deps.deliverLocal(i.topic, i.data);
  }

  // ---- sensor readings and the shared context ---------------------------

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
    acked: boolean,
  ): Promise<void> {
    if (!this.#deps.mesh.updateContext) {
      return this.#publishEvent(topic, json);
    }
    const bytes = await this.#context.admit(d, name, json);
    const written = this.#context.write(d, name, json, bytes, acked);
    const published = this.#publishEvent(topic, json);
    await Promise.all([published, written]);
  }

  // ---- closing ---------------------------------------------------------------

  /** Write the pending readings now, and send the events still lingering. */
  async flush(): Promise<void> {
    await this.#context.flush();
    if (this.#evTimer !== undefined) {
      clearImmediate(this.#evTimer);
      this.#evTimer = undefined;
      if (!this.#evBusy) this.#flushEvents();
    }
  }
}
