/**
 * Reference-counted mesh subscriptions: the bridge subscribes the mesh to a
 * topic when the first device wants it and unsubscribes when the last one
 * leaves (the original unsubscribed everyone when any device left).
 *
 * @module
 */

/** The two mesh calls this needs. */
export interface SubscribeTarget {
  /** Subscribe the mesh node to a topic. */
  subscribe(topic: string): Promise<void>;
  /** Unsubscribe the mesh node from a topic. */
  unsubscribe(topic: string): Promise<void>;
}

interface Entry {
  holders: Set<string>;
  /** Whether the mesh is (or is becoming) subscribed. */
  meshed: boolean;
  /** Serialises mesh calls for this topic. */
  chain: Promise<void>;
}

/**
 * Topic → set of holders (device ids), with mesh calls on 0↔1 transitions.
 *
 * @example
 * ```ts
 * import { RefCountedSubscriptions } from "./ref_subscriptions.ts";
 * const calls: string[] = [];
 * const subs = new RefCountedSubscriptions({
 *   subscribe: async (t) => { calls.push(`+${t}`); },
 *   unsubscribe: async (t) => { calls.push(`-${t}`); },
 * });
 * await subs.acquire("home/x", "dev1");
 * await subs.acquire("home/x", "dev2");
 * await subs.release("home/x", "dev1");
 * console.log(calls); // ["+home/x"]
 * ```
 */
export class RefCountedSubscriptions {
  #target: SubscribeTarget;
  #topics = new Map<string, Entry>();
  /** Mesh calls that failed (after the holder change was recorded). */
  errors = 0;

  /**
   * An empty table.
   *
   * @param target Where to subscribe and unsubscribe.
   */
  constructor(target: SubscribeTarget) {
    this.#target = target;
  }

  /**
   * Add `holder` to `topic`; subscribes the mesh if it is the first.
   *
   * @param topic The topic.
   * @param holder Who wants it (a device id).
   * @throws Whatever the mesh subscribe throws (the holder is then removed).
   */
  async acquire(topic: string, holder: string): Promise<void> {
    let e = this.#topics.get(topic);
    if (e === undefined) {
      e = { holders: new Set(), meshed: false, chain: Promise.resolve() };
      this.#topics.set(topic, e);
    }
    e.holders.add(holder);
    const entry = e;
    await this.#sync(topic, entry).catch((err) => {
      entry.holders.delete(holder);
      if (entry.holders.size === 0 && !entry.meshed) {
        this.#topics.delete(topic);
      }
      throw err;
    });
  }

  /**
   * Remove `holder` from `topic`; unsubscribes the mesh after the last.
   *
   * @param topic The topic.
   * @param holder The holder.
   */
  async release(topic: string, holder: string): Promise<void> {
    const e = this.#topics.get(topic);
    if (e === undefined || !e.holders.delete(holder)) return;
    await this.#sync(topic, e).catch(() => {
      this.errors++;
    });
  }

  /**
   * Remove `holder` from every topic (a device went away).
   *
   * @param holder The holder.
   */
  async releaseAll(holder: string): Promise<void> {
    const ts: string[] = [];
    for (const [t, e] of this.#topics) if (e.holders.has(holder)) ts.push(t);
    await Promise.all(ts.map((t) => this.release(t, holder)));
  }

  /**
   * Who holds a topic.
   *
   * @param topic The topic.
   * @returns Holders of `topic` (empty when none).
   */
  holders(topic: string): ReadonlySet<string> {
    return this.#topics.get(topic)?.holders ?? new Set();
  }

  /** Topics with at least one holder. */
  topics(): string[] {
    return [...this.#topics].filter(([, e]) => e.holders.size > 0).map((
      [t],
    ) => t);
  }

  /** Bring the mesh state in line with the holder count, one call at a time. */
  #sync(topic: string, e: Entry): Promise<void> {
    const run = async () => {
      const want = e.holders.size > 0;
      if (want && !e.meshed) {
        await this.#target.subscribe(topic);
        e.meshed = true;
      } else if (!want && e.meshed) {
        e.meshed = false;
        try {
          await this.#target.unsubscribe(topic);
        } finally {
          if (e.holders.size === 0 && this.#topics.get(topic) === e) {
            this.#topics.delete(topic);
          }
        }
      }
    };
    const p = e.chain.then(run, run);
    e.chain = p.catch(() => {});
    return p;
  }
}
