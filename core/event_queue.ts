/**
 * The one bounded event queue of @avi/p2p: "drop the oldest, then say
 * `lagged`". Each consumer of the mesh's events (`EventHub` in
 * `mesh/event_hub.ts`) and of the bridge's events (`bridge/bridge_events.ts`)
 * reads its own {@linkcode EventStream}.
 *
 * A stream holds at most `queueSize` events and at most `queueBytes` bytes
 * (the sizes its producer gives with each event). When a new event would
 * pass either bound, its **oldest** events are dropped until the new one
 * fits (the newest is kept), the drops are counted, and before its next
 * queued event the consumer receives one "lagged" event carrying how many
 * it lost. An event larger than `queueBytes` on its own is still queued,
 * alone. Pushing never waits and never throws, so a slow (or stopped)
 * consumer can stall neither its producer nor the other consumers.
 *
 * Plain ECMAScript; it imports nothing.
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

/** The slots a queue starts with; it grows (doubling) up to its bound. */
const FIRST_SLOTS = 16;

/**
 * One consumer's view of an event source: an async iterable over a bounded
 * queue that ends when the source ends it (after the queue is drained) or
 * when the consumer stops (`break` out of `for await`, or `return()`).
 *
 * @example
 * ```ts ignore
 * for await (const ev of node.events()) console.log(ev.type);
 * ```
 */
export class EventStream<T> implements AsyncIterableIterator<T> {
  /** A ring of `#size` events from `#head`; grows up to the count bound. */
  #ring: (T | undefined)[];
  /** The byte size of each queued event, at the same index as `#ring`. */
  #sizes: number[];
  #head = 0;
  #size = 0;
  #bytes = 0;
  #maxCount: number;
  #maxBytes: number;
  #pendingDrop = 0;
  #delivered = 0;
  #dropped = 0;
  #done = false;
  #closing = false;
  #waiter: ((r: IteratorResult<T>) => void) | undefined;
  #onEnd: (s: EventStream<T>) => void;
  #lagged: (dropped: number) => T;

  /**
   * @internal Use the source's `subscribe()` or `events()` (for example
   * `node.events()`).
   * @param queueSize The most events queued (a queue with room for fewer
   * than one keeps the newest event only).
   * @param lagged Builds the notice sent after `dropped` events were lost.
   * @param onEnd Called once, when the stream ends.
   * @param queueBytes The most bytes queued.
   */
  constructor(
    queueSize: number,
    lagged: (dropped: number) => T,
    onEnd: (s: EventStream<T>) => void,
    queueBytes: number = Infinity,
  ) {
    this.#maxCount = queueSize;
    const slots = queueSize >= 1 && queueSize < FIRST_SLOTS
      ? Math.ceil(queueSize)
      : FIRST_SLOTS;
    this.#ring = new Array(slots);
    this.#sizes = new Array(slots).fill(0);
    this.#maxBytes = queueBytes;
    this.#lagged = lagged;
    this.#onEnd = onEnd;
  }

  /**
   * @internal Called by the source; never blocks, never throws. Returns how
   * many queued events it dropped to make room for `event` (of `bytes`
   * bytes). Ignored once the stream was ended.
   */
  push(event: T, bytes = 0): number {
    if (this.#done || this.#closing) return 0;
    if (
      this.#waiter !== undefined && this.#size === 0 && this.#pendingDrop === 0
    ) {
      const w = this.#waiter;
      this.#waiter = undefined;
      this.#delivered++;
      w({ value: event, done: false });
      return 0;
    }
    let dropped = 0;
    while (
      this.#size > 0 &&
      (this.#size >= this.#maxCount || this.#bytes + bytes > this.#maxBytes)
    ) {
      this.#shift();
      dropped++;
    }
    this.#pendingDrop += dropped;
    this.#dropped += dropped;
    if (this.#size === this.#ring.length) this.#grow();
    const at = (this.#head + this.#size) % this.#ring.length;
    this.#ring[at] = event;
    this.#sizes[at] = bytes;
    this.#bytes += bytes;
    this.#size++;
    return dropped;
  }

  /** Doubles the ring (the count bound was not reached), oldest first. */
  #grow(): void {
    const n = this.#ring.length;
    const ring: (T | undefined)[] = new Array(n * 2);
    const sizes: number[] = new Array(n * 2).fill(0);
    for (let i = 0; i < n; i++) {
      ring[i] = this.#ring[(this.#head + i) % n];
      sizes[i] = this.#sizes[(this.#head + i) % n];
    }
    this.#ring = ring;
    this.#sizes = sizes;
    this.#head = 0;
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

  /**
   * @internal Called by the source when it closes: the stream ends after
   * its queue drains; later pushes are ignored.
   */
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
    this.#head = 0;
    this.#size = 0;
    this.#bytes = 0;
    this.#pendingDrop = 0;
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
