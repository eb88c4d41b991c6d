/**
 * Hybrid logical clocks: a wall-clock millisecond time plus a counter, so
 * that two changes in the same millisecond (or the same second, the fault of
 * the original) are still ordered, and the writer's id as the last tie-break.
 *
 * @module
 */

/**
 * The total order of the context: compare `wall`, then `counter`, then
 * `writer` (plain string comparison). Two changes never share a stamp, since
 * a writer's clock never repeats a (wall, counter) pair.
 */
export interface Stamp {
  /** Milliseconds since the Unix epoch, as the writer's clock saw it (or later). */
  readonly wall: number;
  /** Orders changes within one `wall` millisecond. */
  readonly counter: number;
  /** The writer's id (a peer id string). */
  readonly writer: string;
}

/**
 * Compares two stamps in the total order of the context.
 *
 * @param a One stamp.
 * @param b The other.
 * @returns A negative number when `a` is older, positive when newer, 0 when equal.
 *
 * @example
 * ```ts
 * import { compareStamps } from "@avi/p2p/context";
 * const a = { wall: 1000, counter: 0, writer: "A" };
 * const b = { wall: 1000, counter: 0, writer: "B" };
 * console.log(compareStamps(a, b) < 0); // true: same time, "A" < "B"
 * ```
 */
export function compareStamps(a: Stamp, b: Stamp): number {
  if (a.wall !== b.wall) return a.wall < b.wall ? -1 : 1;
  if (a.counter !== b.counter) return a.counter < b.counter ? -1 : 1;
  if (a.writer === b.writer) return 0;
  return a.writer < b.writer ? -1 : 1;
}

/** Options of {@linkcode HybridClock}. */
export interface HybridClockOptions {
  /** The wall clock, in ms. @default Date.now */
  now?: () => number;
  /**
   * How far ahead of our wall clock a remote stamp may be before it is
   * refused. A refused stamp does not move our clock, so a peer with a clock
   * far in the future can never drag this writer's clock along (which would
   * make its later writes lose against that peer's for as long as the skew
   * lasts); the peer's change is refused, counted, and accepted later by
   * anti-entropy once our wall clock has caught up with it.
   * @default 60_000
   */
  maxSkewMs?: number;
}

/** The largest counter; past it the clock moves `wall` forward by 1 ms. */
export const MAX_COUNTER = 0xffff_ffff;

/**
 * A hybrid logical clock. `tick()` stamps a local change; `observe()` takes
 * in a remote stamp so that later local changes order after it.
 *
 * A writer never freezes: `tick()` always returns a stamp greater than every
 * stamp it returned or observed, whatever the wall clock does (it may step
 * back), and the counter rolling over moves `wall` by one millisecond.
 *
 * @example
 * ```ts
 * import { HybridClock } from "@avi/p2p/context";
 * const clock = new HybridClock({ now: () => 5 });
 * console.log(clock.tick(), clock.tick()); // {wall: 5, counter: 0}, {wall: 5, counter: 1}
 * ```
 */
export class HybridClock {
  #now: () => number;
  /** The skew bound in ms. */
  readonly maxSkewMs: number;
  #wall = 0;
  #counter = -1;

  /**
   * Creates a clock that has issued nothing yet.
   * @param options The wall clock and the skew bound.
   */
  constructor(options: HybridClockOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.maxSkewMs = options.maxSkewMs ?? 60_000;
    if (!(this.maxSkewMs >= 0)) throw new RangeError("maxSkewMs must be >= 0");
  }

  /** The wall clock's current reading. */
  now(): number {
    return this.#now();
  }

  /** The last (wall, counter) issued or observed. */
  get last(): { wall: number; counter: number } {
    return { wall: this.#wall, counter: this.#counter };
  }

  /**
   * Stamps a local change.
   * @returns A fresh (wall, counter), greater than all issued or observed.
   */
  tick(): { wall: number; counter: number } {
    const now = Math.floor(this.#now());
    if (now > this.#wall) {
      this.#wall = now;
      this.#counter = 0;
    } else if (this.#counter >= MAX_COUNTER) {
      this.#wall += 1;
      this.#counter = 0;
    } else {
      this.#counter += 1;
    }
    return { wall: this.#wall, counter: this.#counter };
  }

  /**
   * Is `wall` acceptable (not more than `maxSkewMs` ahead of our wall clock)?
   */
  acceptable(wall: number): boolean {
    return wall <= this.#now() + this.maxSkewMs;
  }

  /**
   * Takes in a remote stamp.
   * @returns `false` (and leaves the clock alone) when it is too far ahead.
   */
  observe(wall: number, counter: number): boolean {
    if (!this.acceptable(wall)) return false;
    if (wall > this.#wall || (wall === this.#wall && counter > this.#counter)) {
      this.#wall = wall;
      this.#counter = counter;
    }
    return true;
  }

  /** Restores a saved reading (after a restart). */
  restore(wall: number, counter: number): void {
    if (wall > this.#wall || (wall === this.#wall && counter > this.#counter)) {
      this.#wall = wall;
      this.#counter = counter;
    }
  }
}
