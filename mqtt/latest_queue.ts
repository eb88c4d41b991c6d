/**
 * The bridge's state cache: the latest retained payload of each state
 * topic, bounded. While the broker is down, updates land here only (the
 * latest value per topic wins); on every (re)connection the whole cache is
 * published again. Past the bound, the topic updated longest ago is dropped
 * (and counted).
 *
 * @module
 */

/** A bounded map topic → latest payload, ordered by last update. */
export class LatestPerTopic {
  readonly #max: number;
  readonly #map = new Map<string, Uint8Array | string>();
  /** Topics dropped because the bound was reached. */
  dropped = 0;

  /** @param max The most topics kept (at least 1). */
  constructor(max: number) {
    this.#max = Math.max(1, max);
  }

  /** Topics held. */
  get size(): number {
    return this.#map.size;
  }

  /**
   * Sets a topic's latest payload (it becomes the most recent one).
   *
   * @returns False when the payload equals the one held already.
   */
  set(topic: string, payload: Uint8Array | string): boolean {
    const old = this.#map.get(topic);
    if (old !== undefined) {
      if (same(old, payload)) return false;
      this.#map.delete(topic);
    } else if (this.#map.size >= this.#max) {
      const oldest = this.#map.keys().next().value as string;
      this.#map.delete(oldest);
      this.dropped++;
    }
    this.#map.set(topic, payload);
    return true;
  }

  /** The payload held for a topic. */
  get(topic: string): Uint8Array | string | undefined {
    return this.#map.get(topic);
  }

  /** Forgets a topic. */
  delete(topic: string): boolean {
    return this.#map.delete(topic);
  }

  /** Every topic and payload, oldest update first. */
  entries(): IterableIterator<[string, Uint8Array | string]> {
    return this.#map.entries();
  }
}

function same(a: Uint8Array | string, b: Uint8Array | string): boolean {
  if (typeof a === "string" || typeof b === "string") return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
