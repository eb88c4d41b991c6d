/**
 * Sensor readings in the shared context, for the uplink: each reading is
 * checked by the context's own rules and the device's sensor bound before
 * it joins a batch; readings are written at most every `contextFlushMs`,
 * or at once when {@linkcode CONTEXT_BATCH_READINGS} wait (the latest of
 * each sensor wins, replacing its previous value), in
 * changes under the node's delta bound, split in halves when the node still
 * refuses one; a reading resolves once it is applied.
 *
 * @module
 */

import { clearImmediate, setImmediate } from "node:timers";
import type { JsonObject, JsonValue } from "../core/events.ts";
import { deltaBytes } from "../context/mod.ts";
import { ErrorCode, Limits } from "../protocol/mod.ts";
import type { BridgeEvent } from "./bridge_events.ts";
import type { BridgeMesh } from "./mesh_port.ts";
import {
  CONTEXT_WRITE_BYTES,
  DELTA_HEADER_BYTES,
  type ResolvedBridgeOptions,
} from "./options.ts";
import type { Device, SensorState } from "./sessions.ts";
import type { BridgeStats } from "./stats.ts";
import type { GatewayClock } from "./transport.ts";
/**
 * A batch of readings is written as soon as this many wait for it, without
 * waiting for `contextFlushMs`: under load, acks are not held back a whole
 * flush interval (a device's QoS 1 window would then bound its rate), and a
 * change still carries many readings.
 */
export const CONTEXT_BATCH_READINGS = 64;

/**
 * A batch is also written, on the loop's next turn, as soon as one device's
 * QoS 1 readings waiting for it fill the protocol's send window
 * (`Limits.SEND_WINDOW`, 16): that device can send nothing more with a
 * msgId until they are acknowledged, so waiting longer only holds it back
 * (a device alone was held to 16 readings per `contextFlushMs`, about 150 a
 * second; a sensor waking from sleep with a backlog stayed awake that much
 * longer). The next turn, not at once: other devices' readings already
 * received join the same change (at once, a fleet whose devices each send
 * a full window per frame made a change per device).
 */
export const DEVICE_WINDOW_READINGS = Limits.SEND_WINDOW;

/** A reading waiting for its context write (the latest of its sensor). */
interface PendingReading {
  d: Device;
  name: string;
  json: JsonObject;
  /** Upper bound of the delta bytes of `json` alone. */
  bytes: number;
  /** The readings of this sensor in this window, acked once it is applied. */
  waiters: { resolve: () => void; reject: (e: unknown) => void }[];
}

/** A sensor reading refused; `code` is the Ack the device gets. */
export class ReadingRefused extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.name = "ReadingRefused";
    this.code = code;
  }
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * What writing `value` at `avi.sensors.<deviceId>.<name>` costs, as the
 * bytes of its delta in an empty replica (an upper bound: a replica that
 * already holds some of it writes fewer entries). The context's own checks
 * decide whether it can be a context value at all.
 *
 * @throws {InvalidPathError} A key with a dot, an empty key, `__proto__`,
 * a key too long, nesting too deep.
 * @throws {TooLargeError} One delta could not hold it.
 */
function contextCost(deviceId: string, name: string, value: JsonValue): number {
  return deltaBytes(
    { avi: { sensors: { [deviceId]: { [name]: value } } } },
    "bridge",
  );
}

/**
 * The merge patch (RFC 7396) that turns `prev` into `next`: keys of `prev`
 * missing from `next` become `null` (deleted), so that a sensor's context
 * value is its latest reading, not every key it ever sent.
 */
function replacePatch(prev: JsonValue | undefined, next: JsonValue): JsonValue {
  if (!isObject(next) || !isObject(prev)) return next;
  const out: JsonObject = {};
  for (const k of Object.keys(prev)) {
    if (!Object.hasOwn(next, k)) out[k] = null;
  }
  for (const [k, v] of Object.entries(next)) {
    out[k] = replacePatch(Object.hasOwn(prev, k) ? prev[k] : undefined, v);
  }
  return out;
}

/** What the context writer works with. */
export interface ContextWritesDeps {
  /** The mesh node; `updateContext` must be there. */
  mesh: BridgeMesh;
  /** The resolved options (`contextFlushMs`, `maxSensorsPerDevice`). */
  opts: ResolvedBridgeOptions;
  /** Counters. */
  stats: BridgeStats;
  /** Time and timers. */
  clock: GatewayClock;
  /** Report an event (`readingRefused`). */
  emit(e: BridgeEvent): void;
  /** Keep a context write until close. */
  track(p: Promise<unknown>): void;
  /** Whether the gateway is closing (writes then leave at once). */
  closed(): boolean;
}

/** Batched, checked context writes of sensor readings. */
export class ContextWrites {
  #deps: ContextWritesDeps;
  #pending = new Map<string, PendingReading>();
  /** Readings (waiters) in `#pending`. */
  #waiting = 0;
  /** QoS 1 readings in `#pending`, by device. */
  #acked = new Map<Device, number>();
  #timer: unknown;
  /** A flush on the loop's next turn (a device's window is full). */
  #soon: ReturnType<typeof setImmediate> | undefined;
  #chain: Promise<void> = Promise.resolve();

  /** Nothing pending yet. */
  constructor(deps: ContextWritesDeps) {
    this.#deps = deps;
  }

  /**
   * Check a reading before it joins a batch: the device's sensor bound,
   * then the context's rules for its data.
   *
   * @returns The upper bound of its delta bytes.
   * @throws {ReadingRefused} When it is refused.
   */
  async admit(
    d: Device,
    name: string,
    json: JsonObject,
  ): Promise<number> {
    const { stats, opts } = this.#deps;
    const sensors = d.sensors ?? await this.#loadSensors(d);
    const max = opts.limits.maxSensorsPerDevice;
    if (!sensors.has(name) && sensors.size >= max) {
      stats.sensorLimit++;
      throw this.#refuse(
        d,
        name,
        ErrorCode.LIMIT_REACHED,
        `device ${d.id} already keeps ${sensors.size} sensors in the context ` +
          `(maxSensorsPerDevice ${max})`,
      );
    }
    let bytes: number;
    try {
      bytes = contextCost(d.id, name, json);
    } catch (e) {
      stats.contextRefused++;
      throw this.#refuse(
        d,
        name,
        (e as Error)?.name === "TooLargeError"
          ? ErrorCode.TOO_LARGE
          : ErrorCode.MALFORMED,
        `its data cannot be a context value: ${(e as Error)?.message ?? e}`,
      );
    }
    if (!sensors.has(name)) {
      sensors.set(name, { last: undefined, lastBytes: 0 });
    }
    return bytes;
  }

  #refuse(d: Device, name: string, code: number, reason: string): Error {
    this.#deps.emit({
      type: "readingRefused",
      deviceId: d.id,
      sensor: name,
      code,
      reason,
    });
    return new ReadingRefused(code, reason);
  }

  /**
   * The device's sensors already in the context (`avi.sensors.<id>`), read
   * once, at its first reading: they count against `maxSensorsPerDevice`
   * and are replaced by the next reading of the same sensor.
   */
  #loadSensors(d: Device): Promise<Map<string, SensorState>> {
    d.sensorsLoading ??= (async () => {
      const sensors = new Map<string, SensorState>();
      let found: JsonValue | undefined;
      try {
        found = await this.#deps.mesh.getContext?.(`avi.sensors.${d.id}`);
      } catch {
        this.#deps.stats.meshErrors++;
      }
      if (isObject(found)) {
        for (const [name, last] of Object.entries(found)) {
          let lastBytes = 0;
          try {
            lastBytes = contextCost(d.id, name, last);
          } catch { /* written by an older rule set: cost unknown */ }
          sensors.set(name, { last, lastBytes });
        }
      }
      d.sensors = sensors;
      return sensors;
    })();
    return d.sensorsLoading;
  }

  /**
   * Queue a checked reading for the context; resolves once it (or a later
   * reading of the same sensor) is applied. Readings are written at most
   * every `contextFlushMs` (latest value per sensor wins), so that a burst
   * costs few context changes, not one per reading; at once when
   * `CONTEXT_BATCH_READINGS` wait, or when the device's QoS 1 readings
   * (`acked`) fill its send window.
   */
  write(
    d: Device,
    name: string,
    json: JsonObject,
    bytes: number,
    acked: boolean,
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const key = `${d.id}/${name}`;
      const p = this.#pending.get(key);
      if (p) {
        p.json = json;
        p.bytes = bytes;
        p.waiters.push({ resolve, reject });
      } else {
        this.#pending.set(key, {
          d,
          name,
          json,
          bytes,
          waiters: [{ resolve, reject }],
        });
      }
      this.#waiting++;
      const held = acked ? (this.#acked.get(d) ?? 0) + 1 : 0;
      if (acked) this.#acked.set(d, held);
      if (
        this.#deps.closed() || this.#waiting >= CONTEXT_BATCH_READINGS
      ) void this.flush();
      else if (held >= DEVICE_WINDOW_READINGS) {
        // after the I/O already waiting, so that other devices' readings
        // received in this turn join the same change
        this.#soon ??= setImmediate(() => {
          this.#soon = undefined;
          void this.flush();
        });
      } else {
        this.#timer ??= this.#deps.clock.setTimeout(
          () => void this.flush(),
          this.#deps.opts.contextFlushMs,
        );
      }
    });
  }

  /** Write what is pending (after the writes already under way); never rejects. */
  flush(): Promise<void> {
    if (this.#timer !== undefined) {
      this.#deps.clock.clearTimeout(this.#timer);
    }
    this.#timer = undefined;
    if (this.#soon !== undefined) clearImmediate(this.#soon);
    this.#soon = undefined;
    if (this.#pending.size > 0) {
      const items = [...this.#pending.values()];
      this.#pending.clear();
      this.#waiting = 0;
      this.#acked.clear();
      this.#chain = this.#chain.then(() =>
        this.#writeReadings(items).catch((e) => {
          this.#deps.stats.internalErrors++;
          for (const it of items) for (const w of it.waiters) w.reject(e);
        })
      );
      this.#deps.track(this.#chain);
    }
    return this.#chain;
  }

  /** The bytes `it` may cost in a change: its entries, and deleting the keys of the value it replaces. */
  #costOf(it: PendingReading): number {
    return it.bytes + (it.d.sensors?.get(it.name)?.lastBytes ?? 0);
  }

  /** Write readings in changes of at most `CONTEXT_WRITE_BYTES` each, one after the other. */
  async #writeReadings(items: PendingReading[]): Promise<void> {
    let chunk: PendingReading[] = [];
    let size = DELTA_HEADER_BYTES;
    for (const it of items) {
      const cost = this.#costOf(it);
      if (chunk.length > 0 && size + cost > CONTEXT_WRITE_BYTES) {
        await this.#writeChunk(chunk);
        chunk = [];
        size = DELTA_HEADER_BYTES;
      }
      chunk.push(it);
      size += cost;
    }
    if (chunk.length > 0) await this.#writeChunk(chunk);
  }

  /**
   * One context change. If the node refuses it for its content (a delta
   * over the node's bound, or a path it does not take), the change is split
   * in halves and each tried again, down to single readings, so that only
   * the readings at fault are refused. Any other failure (the node's quota
   * for its own writes, a stopped node) costs the readings of this change
   * only.
   */
  async #writeChunk(items: PendingReading[]): Promise<void> {
    const { stats } = this.#deps;
    const sensors: Record<string, JsonObject> = {};
    for (const it of items) {
      (sensors[it.d.id] ??= {})[it.name] = replacePatch(
        it.d.sensors?.get(it.name)?.last,
        it.json,
      );
    }
    try {
      await this.#deps.mesh.updateContext!({ avi: { sensors } });
    } catch (e) {
      const err = e as { name?: string; message?: string; size?: unknown };
      const estimate = items.reduce(
        (n, it) => n + this.#costOf(it),
        DELTA_HEADER_BYTES,
      );
      // A delta over the bound is at most our estimate; the node's quota
      // for its own writes counts what it already holds as well.
      const deltaTooLarge = err?.name === "TooLargeError" &&
        !(typeof err.size === "number" && err.size > estimate);
      if (
        items.length > 1 &&
        (deltaTooLarge || err?.name === "InvalidPathError")
      ) {
        const half = items.length >> 1;
        await this.#writeChunk(items.slice(0, half));
        await this.#writeChunk(items.slice(half));
        return;
      }
      let code: number = ErrorCode.UNAVAILABLE;
      if (err?.name === "InvalidPathError") code = ErrorCode.MALFORMED;
      else if (deltaTooLarge) code = ErrorCode.TOO_LARGE;
      else if (err?.name === "TooLargeError") code = ErrorCode.LIMIT_REACHED;
      const reason = `the context refused it: ${err?.message ?? e}`;
      if (code === ErrorCode.UNAVAILABLE) stats.meshErrors++;
      else stats.contextRefused += items.length;
      for (const it of items) {
        const refused = code === ErrorCode.UNAVAILABLE
          ? new ReadingRefused(code, reason)
          : this.#refuse(it.d, it.name, code, reason);
        for (const w of it.waiters) w.reject(refused);
      }
      return;
    }
    stats.contextWrites++;
    for (const it of items) {
      const st = it.d.sensors?.get(it.name);
      if (st) {
        st.last = it.json;
        st.lastBytes = it.bytes;
      }
      for (const w of it.waiters) w.resolve();
    }
  }
}
