/**
 * Redials known peers after they drop, with exponential backoff.
 *
 * @module
 */

/** Options of {@linkcode Redialer}. */
export interface RedialerOptions {
  /** The first delay after a drop, in milliseconds. */
  initialMs: number;
  /** The longest delay, in milliseconds; attempts go on at this pace. */
  maxMs: number;
  /** Dials the peer; rejects when the dial fails. */
  dial: (peer: string) => Promise<void>;
  /** Whether the peer is connected now (then no dial is made). */
  isConnected: (peer: string) => boolean;
}

interface Entry {
  delay: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  attempts: number;
}

/**
 * Keeps known peers connected: after a drop, waits `initialMs`, dials, and on
 * each failure doubles the wait up to `maxMs`. A new connection resets the
 * backoff. `stop()` clears every timer.
 *
 * @example
 * ```ts ignore
 * const r = new Redialer({ initialMs: 1000, maxMs: 30000, dial, isConnected });
 * r.disconnected("12D3KooW...");
 * r.stop();
 * ```
 */
export class Redialer {
  #opts: RedialerOptions;
  #peers = new Map<string, Entry>();
  #stopped = false;
  #dials = 0;

  /** @param options Delays and the dial/isConnected functions. */
  constructor(options: RedialerOptions) {
    this.#opts = options;
  }

  /** A connection to `peer` opened: forget its backoff. */
  connected(peer: string): void {
    const e = this.#peers.get(peer);
    if (e === undefined) return;
    if (e.timer !== undefined) clearTimeout(e.timer);
    this.#peers.delete(peer);
  }

  /** The last connection to `peer` closed (or a dial failed): schedule a redial. */
  disconnected(peer: string): void {
    if (this.#stopped || this.#peers.has(peer)) return;
    const e: Entry = {
      delay: this.#opts.initialMs,
      timer: undefined,
      attempts: 0,
    };
    this.#peers.set(peer, e);
    this.#schedule(peer, e);
  }

  /** Forget `peer` (no further redial). */
  forget(peer: string): void {
    this.connected(peer);
  }

  #schedule(peer: string, e: Entry): void {
    e.timer = setTimeout(() => {
      e.timer = undefined;
      if (this.#stopped || this.#peers.get(peer) !== e) return;
      if (this.#opts.isConnected(peer)) {
        this.#peers.delete(peer);
        return;
      }
      e.attempts++;
      this.#dials++;
      this.#opts.dial(peer).then(
        () => {
          if (this.#peers.get(peer) === e) this.#peers.delete(peer);
        },
        () => {
          if (this.#stopped || this.#peers.get(peer) !== e) return;
          e.delay = Math.min(e.delay * 2, this.#opts.maxMs);
          this.#schedule(peer, e);
        },
      );
    }, e.delay);
  }

  /** Peers waiting for a redial, and dials made so far. */
  stats(): { pending: number; dials: number } {
    return { pending: this.#peers.size, dials: this.#dials };
  }

  /** The delay before the next attempt for `peer`, if one is scheduled. */
  delayOf(peer: string): number | undefined {
    return this.#peers.get(peer)?.delay;
  }

  /** Clears every timer; no dial is made afterwards. */
  stop(): void {
    this.#stopped = true;
    for (const e of this.#peers.values()) {
      if (e.timer !== undefined) clearTimeout(e.timer);
    }
    this.#peers.clear();
  }
}
