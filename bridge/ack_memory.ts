/**
 * The gateway's memory of QoS 1 messages per device (docs/PROTOCOL.md 4.1):
 * a repeated msgId with the same content is acknowledged again with the same
 * code and not delivered again. The content fingerprint guards against a
 * device that restarted its msgId counter: same id, other content = new.
 *
 * @module
 */

/** What is known about one msgId. */
export type AckState =
  | { state: "new" }
  | { state: "pending" }
  | { state: "done"; code: number };

interface Entry {
  fp: number;
  done: boolean;
  code: number;
}

/**
 * FNV-1a 32-bit hash of bytes.
 *
 * @example
 * ```ts
 * import { fnv1a } from "./ack_memory.ts";
 * console.log(fnv1a(new Uint8Array([1, 2, 3])) >>> 0 > 0); // true
 * ```
 */
export function fnv1a(b: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) {
    h ^= b[i];
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Bounded msgId memory for one device.
 *
 * @example
 * ```ts
 * import { AckMemory } from "./ack_memory.ts";
 * const m = new AckMemory(32);
 * console.log(m.begin(5, 99).state); // "new"
 * console.log(m.begin(5, 99).state); // "pending"
 * m.finish(5, 99, 0);
 * console.log(m.begin(5, 99)); // { state: "done", code: 0 }
 * ```
 */
export class AckMemory {
  #map = new Map<number, Entry>();
  readonly #cap: number;

  /**
   * An empty memory.
   *
   * @param capacity Most msgIds remembered (oldest forgotten).
   */
  constructor(capacity: number) {
    this.#cap = capacity;
  }

  /**
   * Look up `msgId` with content fingerprint `fp`; a new one is recorded as
   * pending.
   *
   * @returns `new` (deliver it), `pending` (being delivered: say nothing),
   *   or `done` (acknowledge again with `code`).
   */
  begin(msgId: number, fp: number): AckState {
    const e = this.#map.get(msgId);
    if (e !== undefined && e.fp === fp) {
      return e.done ? { state: "done", code: e.code } : { state: "pending" };
    }
    if (e !== undefined) this.#map.delete(msgId);
    else if (this.#map.size >= this.#cap) {
      const oldest = this.#map.keys().next().value as number;
      this.#map.delete(oldest);
    }
    this.#map.set(msgId, { fp, done: false, code: 0 });
    return { state: "new" };
  }

  /**
   * Record the outcome. A failed delivery that may be retried (`forget`)
   * is removed so that a retransmission tries again.
   */
  finish(msgId: number, fp: number, code: number, forget = false): void {
    const e = this.#map.get(msgId);
    if (e === undefined || e.fp !== fp) return;
    if (forget) {
      this.#map.delete(msgId);
      return;
    }
    e.done = true;
    e.code = code;
  }

  /** msgIds remembered. */
  get size(): number {
    return this.#map.size;
  }
}
