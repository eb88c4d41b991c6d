/**
 * Token-bucket rate limits: one bucket per key (a source address, a device),
 * in a table bounded by `maxKeys` that forgets the oldest key.
 *
 * @module
 */

/**
 * A token bucket: `rate` tokens per second, at most `burst` stored.
 *
 * @example
 * ```ts
 * import { TokenBucket } from "./rate_limit.ts";
 * const b = new TokenBucket(10, 2, 0);
 * console.log(b.take(0), b.take(0), b.take(0)); // true true false
 * console.log(b.take(100)); // true (one token back after 100 ms)
 * ```
 */
export class TokenBucket {
  #tokens: number;
  #last: number;
  readonly #rate: number;
  readonly #burst: number;

  /**
   * A full bucket.
   *
   * @param rate Tokens per second.
   * @param burst Bucket size (tokens available at once).
   * @param now The current time in ms.
   */
  constructor(rate: number, burst: number, now: number) {
    if (!(rate > 0) || !(burst >= 1)) {
      throw new RangeError("TokenBucket needs rate > 0 and burst >= 1");
    }
    this.#rate = rate;
    this.#burst = burst;
    this.#tokens = burst;
    this.#last = now;
  }

  /**
   * Take `n` tokens if available.
   *
   * @param now The current time in ms.
   * @param n Tokens wanted. @default 1
   * @returns `true` when they were taken.
   */
  take(now: number, n = 1): boolean {
    const dt = now - this.#last;
    if (dt > 0) {
      this.#tokens = Math.min(
        this.#burst,
        this.#tokens + dt * this.#rate / 1000,
      );
      this.#last = now;
    }
    if (this.#tokens >= n) {
      this.#tokens -= n;
      return true;
    }
    return false;
  }
}

/** Options of {@linkcode RateLimiter}. */
export interface RateLimitOptions {
  /** Sustained rate per key, in events per second. */
  rate: number;
  /** Burst per key. */
  burst: number;
  /** Most keys tracked; the oldest is forgotten beyond. */
  maxKeys: number;
}

/**
 * Token buckets per key, bounded in number.
 *
 * @example
 * ```ts
 * import { RateLimiter } from "./rate_limit.ts";
 * const rl = new RateLimiter({ rate: 100, burst: 10, maxKeys: 1000 });
 * console.log(rl.allow("127.0.0.1:5000", 0)); // true
 * ```
 */
export class RateLimiter {
  #buckets = new Map<string, TokenBucket>();
  readonly #opts: RateLimitOptions;
  /** Events refused so far. */
  refused = 0;

  /**
   * An empty table.
   *
   * @param opts Rate, burst and table bound.
   */
  constructor(opts: RateLimitOptions) {
    if (!(opts.maxKeys >= 1)) throw new RangeError("maxKeys must be >= 1");
    this.#opts = opts;
    new TokenBucket(opts.rate, opts.burst, 0); // validate now
  }

  /**
   * Take one token for `key`.
   *
   * @param key The key (address, device id).
   * @param now The current time in ms.
   * @param n Tokens. @default 1
   * @returns `true` when allowed.
   */
  allow(key: string, now: number, n = 1): boolean {
    let b = this.#buckets.get(key);
    if (b === undefined) {
      if (this.#buckets.size >= this.#opts.maxKeys) {
        // Forget the oldest key (first in insertion order). A forgotten key
        // comes back with a full bucket: eviction never hurts a sender.
        const oldest = this.#buckets.keys().next().value as string;
        this.#buckets.delete(oldest);
      }
      b = new TokenBucket(this.#opts.rate, this.#opts.burst, now);
      this.#buckets.set(key, b);
    }
    const ok = b.take(now, n);
    if (!ok) this.refused++;
    return ok;
  }

  /** Keys tracked now (at most `maxKeys`). */
  get size(): number {
    return this.#buckets.size;
  }

  /**
   * Forget this key's bucket.
   *
   * @param key The key.
   */
  forget(key: string): void {
    this.#buckets.delete(key);
  }
}
