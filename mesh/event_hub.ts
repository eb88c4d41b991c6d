/**
 * Bounded fan-out of events to any number of independent consumers.
 *
 * Each consumer has its own queue of at most `queueSize` events and at most
 * `queueBytes` bytes (as measured by `sizeOf`). When a consumer falls behind
 * and a new event would pass either bound, its **oldest** events are dropped
 * until the new one fits (the newest is kept), the drops are counted, and
 * before its next queued event the consumer receives one "lagged" event
 * carrying how many it lost. An event larger than `queueBytes` on its own
 * is still queued, alone. Emitting never waits and never throws, so a slow
 * (or stopped) consumer can stall neither the runtime nor the other
 * consumers.
 *
 * @module
 */

/** Counters of one event consumer. */
export interface EventStreamStats {
  /** Events handed to this consumer (lagged notices included). */
  delivered: number;
  /** Events discarded for this consumer because its queue was full. */
  dropped: number;
  /** Events waiting in its queue now. */
  queued: number;
  /** The size of the events waiting in its queue now, in bytes. */
  queuedBytes: number;
}

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
 * One consumer's view of an {@linkcode EventHub}: an async iterable that
 * ends when the hub closes (after its queue is drained) or when the consumer
 * stops (`break` out of `for await`, or `return()`).
 *
 * @example
 * ```ts ignore
 * for await (const ev of node.events()) console.log(ev.type);
 * ```
 */
export class EventStream<T> implements AsyncIterableIterator<T> {
  #ring: (T | undefined)[];
  /** The byte size of each queued event, at the same index as `#ring`. */
  #sizes: number[];
  #head = 0;
  #size = 0;
  #bytes = 0;
  #maxBytes: number;
  #pendingDrop = 0;
  #delivered = 0;
  #dropped = 0;
  #done = false;
  #closing = false;
  #waiter: ((r: IteratorResult<T>) => void) | undefined;
  #onEnd: (s: EventStream<T>) => void;
  #lagged: (dropped: number) => T;

  /** @internal Use `EventHub.subscribe()` (or `node.events()`). */
  constructor(
    queueSize: number,
    lagged: (dropped: number) => T,
    onEnd: (s: EventStream<T>) => void,
    queueBytes: number = Infinity,
  ) {
    this.#ring = new Array(queueSize);
    this.#sizes = new Array(queueSize).fill(0);
    this.#maxBytes = queueBytes;
    this.#lagged = lagged;
    this.#onEnd = onEnd;
  }

  /**
   * @internal Called by the hub; never blocks. Returns how many queued
   * events it dropped to make room for `event` (of `bytes` bytes).
   */
  push(event: T, bytes = 0): number {
    if (this.#done) return 0;
    if (
      this.#waiter !== undefined && this.#size === 0 && this.#pendingDrop === 0
    ) {
      const w = this.#waiter;
      this.#waiter = undefined;
      this.#delivered++;
      w({ value: event, done: false });
      return 0;
    }
    const cap = this.#ring.length;
    let dropped = 0;
    while (
      this.#size > 0 &&
      (this.#size === cap || this.#bytes + bytes > this.#maxBytes)
    ) {
      this.#shift();
      dropped++;
    }
    this.#pendingDrop += dropped;
    this.#dropped += dropped;
    const at = (this.#head + this.#size) % cap;
    this.#ring[at] = event;
    this.#sizes[at] = bytes;
    this.#bytes += bytes;
    this.#size++;
    return dropped;
  }

  /** Removes and returns the oldest queued event (the queue is not empty). */
  #shift(): T {
    const ev = this.#ring[this.#head] as T;
    this.#bytes -= this.#sizes[this.#head];
    this.#ring[this.#head] = undefined;
    this.#sizes[this.#head] = 0;
    this.#head = (this.#head + 1) % this.#ring.length;
    this.#size--;
    return ev;
  }

  /** @internal Called by the hub when it closes: ends after the queue drains. */
  end(): void {
    this.#closing = true;
    if (
      this.#waiter !== undefined && this.#size === 0 && this.#pendingDrop === 0
    ) {
      this.#finish();
    }
  }

  #take(): T | undefined {
    if (this.#pendingDrop > 0) {
      const n = this.#pendingDrop;
      this.#pendingDrop = 0;
      return this.#lagged(n);
    }
    if (this.#size === 0) return undefined;
    return this.#shift();
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#ring = [];
    this.#sizes = [];
    this.#size = 0;
    this.#bytes = 0;
    this.#onEnd(this);
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.({ value: undefined, done: true });
  }

  /** The next event; waits when none is queued. */
  next(): Promise<IteratorResult<T>> {
    if (this.#done) return Promise.resolve({ value: undefined, done: true });
    const ev = this.#take();
    if (ev !== undefined) {
      this.#delivered++;
      return Promise.resolve({ value: ev, done: false });
    }
    if (this.#closing) {
      this.#finish();
      return Promise.resolve({ value: undefined, done: true });
    }
    if (this.#waiter !== undefined) {
      return Promise.reject(
        new TypeError(
          "Cannot call next() again before the previous call settles",
        ),
      );
    }
    return new Promise((resolve) => (this.#waiter = resolve));
  }

  /** Stops this consumer and frees its queue. */
  return(): Promise<IteratorResult<T>> {
    this.#finish();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** This consumer's counters. */
  stats(): EventStreamStats {
    return {
      delivered: this.#delivered,
      dropped: this.#dropped,
      queued: this.#size,
      queuedBytes: this.#bytes,
    };
  }

  /** Returns itself, so it can be used in `for await`. */
  [Symbol.asyncIterator](): EventStream<T> {
    return this;
  }
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
