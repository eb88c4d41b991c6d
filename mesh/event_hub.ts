/**
 * Bounded fan-out of events to any number of independent consumers.
 *
 * Each consumer reads its own {@linkcode EventStream} (the one bounded
 * queue, in `core/event_queue.ts`) of at most `queueSize` events and at
 * most `queueBytes` bytes (as measured by `sizeOf`). When a consumer falls
 * behind and a new event would pass either bound, its **oldest** events are
 * dropped until the new one fits (the newest is kept), the drops are
 * counted, and before its next queued event the consumer receives one
 * "lagged" event carrying how many it lost. An event larger than
 * `queueBytes` on its own is still queued, alone. Emitting never waits and
 * never throws, so a slow (or stopped) consumer can stall neither the
 * runtime nor the other consumers.
 *
 * @module
 */

import { EventStream } from "../core/event_queue.ts";

export { EventStream } from "../core/event_queue.ts";
export type { EventStreamStats } from "../core/event_queue.ts";

/** Options of {@linkcode EventHub}. */
export interface EventHubOptions<T> {
  /** The most events buffered per consumer (at least 1). */
  queueSize: number;
  /**
   * The most bytes (the sum of `sizeOf` of the queued events) buffered per
   * consumer (more than 0). An event larger than this on its own is still
   * queued, alone.
   * @default {Infinity}
   */
  queueBytes?: number;
  /**
   * The size of an event in bytes, counted against `queueBytes`. Called once
   * per emitted event.
   * @default {() => 0}
   */
  sizeOf?: (event: T) => number;
  /** Builds the notice a consumer receives after losing `dropped` events. */
  lagged: (dropped: number) => T;
  /**
   * Events for which this returns true are remembered (the latest one only)
   * and delivered first to consumers that join later.
   * @default {() => false}
   */
  sticky?: (event: T) => boolean;
}

/**
 * Fans events out to independent bounded consumers.
 *
 * @example
 * ```ts ignore
 * const hub = new EventHub<string>({
 *   queueSize: 2,
 *   queueBytes: 1024,
 *   sizeOf: (s) => s.length,
 *   lagged: (n) => `lost ${n}`,
 * });
 * const s = hub.subscribe();
 * hub.emit("a"); hub.emit("b"); hub.emit("c");
 * console.log((await s.next()).value); // "lost 1"
 * ```
 */
export class EventHub<T> {
  #consumers = new Set<EventStream<T>>();
  #opts: EventHubOptions<T>;
  #queueBytes: number;
  #sizeOf: (event: T) => number;
  #sticky: T | undefined;
  #stickyBytes = 0;
  #closed = false;
  #emitted = 0;
  #dropped = 0;

  /**
   * @param options Queue size and bytes, event sizer, lagged-notice builder,
   * sticky filter.
   */
  constructor(options: EventHubOptions<T>) {
    if (!Number.isInteger(options.queueSize) || options.queueSize < 1) {
      throw new RangeError(
        `queueSize must be a positive integer, got ${options.queueSize}`,
      );
    }
    const queueBytes = options.queueBytes ?? Infinity;
    if (typeof queueBytes !== "number" || !(queueBytes > 0)) {
      throw new RangeError(
        `queueBytes must be a positive number, got ${options.queueBytes}`,
      );
    }
    this.#opts = options;
    this.#queueBytes = queueBytes;
    this.#sizeOf = options.sizeOf ?? (() => 0);
  }

  /** The byte size of `event`; a sizer that throws or lies counts as 0. */
  #bytesOf(event: T): number {
    try {
      const n = this.#sizeOf(event);
      return Number.isFinite(n) && n > 0 ? n : 0;
    } catch {
      return 0;
    }
  }

  /** Hands `event` to every consumer. Never blocks, never throws. */
  emit(event: T): void {
    if (this.#closed) return;
    this.#emitted++;
    const bytes = this.#bytesOf(event);
    if (this.#opts.sticky?.(event)) {
      this.#sticky = event;
      this.#stickyBytes = bytes;
    }
    for (const c of this.#consumers) this.#dropped += c.push(event, bytes);
  }

  /** A new consumer; it first receives the sticky event, if any. */
  subscribe(): EventStream<T> {
    const s = new EventStream<T>(
      this.#opts.queueSize,
      this.#opts.lagged,
      (x) => this.#consumers.delete(x),
      this.#queueBytes,
    );
    if (this.#closed) {
      s.end();
      return s;
    }
    this.#consumers.add(s);
    if (this.#sticky !== undefined) s.push(this.#sticky, this.#stickyBytes);
    return s;
  }

  /** Ends every consumer (each after its queue drains); later emits are ignored. */
  close(): void {
    this.#closed = true;
    for (const c of [...this.#consumers]) c.end();
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Hub-wide counters: events emitted, events dropped (all consumers), consumers. */
  stats(): { emitted: number; dropped: number; consumers: number } {
    return {
      emitted: this.#emitted,
      dropped: this.#dropped,
      consumers: this.#consumers.size,
    };
  }
}
