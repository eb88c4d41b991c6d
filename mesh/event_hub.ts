/**
 * Bounded fan-out of events to any number of independent consumers.
 *
 * Each consumer has its own queue of at most `queueSize` events. When a
 * consumer falls behind and its queue is full, its **oldest** event is
 * dropped (the newest is kept), the drop is counted, and before its next
 * queued event the consumer receives one "lagged" event carrying how many it
 * lost. Emitting never waits and never throws, so a slow (or stopped)
 * consumer can stall neither the runtime nor the other consumers.
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
}

/** Options of {@linkcode EventHub}. */
export interface EventHubOptions<T> {
  /** The most events buffered per consumer (at least 1). */
  queueSize: number;
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
  #head = 0;
  #size = 0;
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
  ) {
    this.#ring = new Array(queueSize);
    this.#lagged = lagged;
    this.#onEnd = onEnd;
  }

  /** @internal Called by the hub; never blocks. Returns true when it dropped one. */
  push(event: T): boolean {
    if (this.#done) return false;
    if (
      this.#waiter !== undefined && this.#size === 0 && this.#pendingDrop === 0
    ) {
      const w = this.#waiter;
      this.#waiter = undefined;
      this.#delivered++;
      w({ value: event, done: false });
      return false;
    }
    const cap = this.#ring.length;
    let dropped = false;
    if (this.#size === cap) {
      dropped = true;
      this.#ring[this.#head] = undefined;
      this.#head = (this.#head + 1) % cap;
      this.#size--;
      this.#pendingDrop++;
      this.#dropped++;
    }
    this.#ring[(this.#head + this.#size) % cap] = event;
    this.#size++;
    return dropped;
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
    const ev = this.#ring[this.#head] as T;
    this.#ring[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#ring.length;
    this.#size--;
    return ev;
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#ring = [];
    this.#size = 0;
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
 * const hub = new EventHub<string>({ queueSize: 2, lagged: (n) => `lost ${n}` });
 * const s = hub.subscribe();
 * hub.emit("a"); hub.emit("b"); hub.emit("c");
 * console.log((await s.next()).value); // "lost 1"
 * ```
 */
export class EventHub<T> {
  #consumers = new Set<EventStream<T>>();
  #opts: EventHubOptions<T>;
  #sticky: T | undefined;
  #closed = false;
  #emitted = 0;
  #dropped = 0;

  /** @param options Queue size, lagged-notice builder, sticky filter. */
  constructor(options: EventHubOptions<T>) {
    if (!Number.isInteger(options.queueSize) || options.queueSize < 1) {
      throw new RangeError(
        `queueSize must be a positive integer, got ${options.queueSize}`,
      );
    }
    this.#opts = options;
  }

  /** Hands `event` to every consumer. Never blocks, never throws. */
  emit(event: T): void {
    if (this.#closed) return;
    this.#emitted++;
    if (this.#opts.sticky?.(event)) this.#sticky = event;
    for (const c of this.#consumers) {
      if (c.push(event)) this.#dropped++;
    }
  }

  /** A new consumer; it first receives the sticky event, if any. */
  subscribe(): EventStream<T> {
    const s = new EventStream<T>(
      this.#opts.queueSize,
      this.#opts.lagged,
      (x) => this.#consumers.delete(x),
    );
    if (this.#closed) {
      s.end();
      return s;
    }
    this.#consumers.add(s);
    if (this.#sticky !== undefined) s.push(this.#sticky);
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
