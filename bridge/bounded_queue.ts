/**
 * A FIFO queue with a fixed capacity that drops its oldest item when full,
 * counting every drop.
 *
 * @module
 */

/**
 * Bounded FIFO (ring buffer), drop-oldest on overflow.
 *
 * @example
 * ```ts
 * import { BoundedQueue } from "./bounded_queue.ts";
 * const q = new BoundedQueue<number>(2);
 * q.push(1); q.push(2); q.push(3);
 * console.log(q.shift(), q.shift(), q.dropped); // 2 3 1
 * ```
 */
export class BoundedQueue<T> {
  #buf: (T | undefined)[];
  #head = 0;
  #len = 0;
  /** Items dropped because the queue was full. */
  dropped = 0;

  /**
   * An empty queue.
   *
   * @param capacity Most items held (>= 1).
   */
  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`capacity must be an integer >= 1, got ${capacity}`);
    }
    this.#buf = new Array(capacity);
  }

  /** Capacity. */
  get capacity(): number {
    return this.#buf.length;
  }
  /** Items held. */
  get length(): number {
    return this.#len;
  }

  /**
   * Append; when full, the oldest item is dropped (and returned).
   *
   * @param item The item.
   * @returns The dropped item, if any.
   */
  push(item: T): T | undefined {
    const cap = this.#buf.length;
    let out: T | undefined;
    if (this.#len === cap) {
      out = this.#buf[this.#head];
      this.#head = (this.#head + 1) % cap;
      this.#len--;
      this.dropped++;
    }
    this.#buf[(this.#head + this.#len) % cap] = item;
    this.#len++;
    return out;
  }

  /**
   * Remove the oldest item.
   *
   * @returns The oldest item, or `undefined` when empty.
   */
  shift(): T | undefined {
    if (this.#len === 0) return undefined;
    const item = this.#buf[this.#head];
    this.#buf[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#buf.length;
    this.#len--;
    return item;
  }

  /**
   * Look at an item without removing it.
   *
   * @param i Position from the oldest (0). @default 0
   * @returns The item, or `undefined` when there is none at `i`.
   */
  peek(i = 0): T | undefined {
    return i < 0 || i >= this.#len
      ? undefined
      : this.#buf[(this.#head + i) % this.#buf.length];
  }

  /** Remove everything. */
  clear(): void {
    this.#buf.fill(undefined);
    this.#head = 0;
    this.#len = 0;
  }
}
