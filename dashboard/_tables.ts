/**
 * The bounded tables' shared pieces: the {@linkcode BOUNDS} of every table of
 * the dashboard's model, the {@linkcode RateCounter} behind the rate plot,
 * and small helpers ({@linkcode trim}, {@linkcode valueAt},
 * {@linkcode toBase64}).
 *
 * @module
 */

import type { JsonValue } from "../mod.ts";
import type { RateView } from "./types.ts";

/** The bounds of the model's tables. */
export const BOUNDS = {
  /** Peers kept (disconnected ones go first). */
  peers: 256,
  /** Devices kept (offline ones go first). */
  devices: 1024,
  /** Messages kept for a page that connects. */
  messages: 500,
  /** Messages sent to pages per tick (the rest are counted, not sent). */
  messagesPerTick: 100,
  /** Payload bytes kept per message. */
  payloadBytes: 512,
  /** Context paths whose writer is remembered. */
  writes: 5000,
  /** Changed context paths sent one by one per tick (more: the whole document). */
  contextPathsPerTick: 500,
  /** Seconds of message rate kept. */
  rateSeconds: 300,
  /** Streams shown. */
  streams: 64,
  /** Topics the page may have the node subscribe to. */
  watched: 32,
} as const;

/** A payload head as base64, for the page. */
export function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return btoa(s);
}

/** The value at a dotted path, or undefined. */
export function valueAt(doc: JsonValue, path: string): JsonValue | undefined {
  let v: JsonValue | undefined = doc;
  for (const key of path.split(".")) {
    if (v === null || typeof v !== "object" || Array.isArray(v)) {
      return undefined;
    }
    if (!Object.hasOwn(v, key)) return undefined;
    v = (v as Record<string, JsonValue>)[key];
  }
  return v;
}

/** Drops `map`'s oldest entries (insertion order) that `droppable` allows, down to `max`. */
export function trim<V>(
  map: Map<string, V>,
  max: number,
  droppable: (v: V) => boolean,
) {
  if (map.size <= max) return;
  for (const [k, v] of map) {
    if (map.size <= max) return;
    if (droppable(v)) map.delete(k);
  }
  for (const k of map.keys()) {
    if (map.size <= max) return;
    map.delete(k);
  }
}

/** Counts per whole second over a window, for the rate plot. */
export class RateCounter {
  readonly #secs: number;
  #in: number[];
  #out: number[];
  /** The second `#in[#secs - 1]` counts. */
  #end: number;

  constructor(secs: number, now: number) {
    this.#secs = secs;
    this.#in = new Array(secs).fill(0);
    this.#out = new Array(secs).fill(0);
    this.#end = Math.floor(now / 1000);
  }

  #advance(sec: number) {
    const d = sec - this.#end;
    if (d <= 0) return;
    if (d >= this.#secs) {
      this.#in.fill(0);
      this.#out.fill(0);
    } else {
      this.#in.splice(0, d);
      this.#out.splice(0, d);
      for (let i = 0; i < d; i++) {
        this.#in.push(0);
        this.#out.push(0);
      }
    }
    this.#end = sec;
  }

  count(now: number, mine: boolean) {
    this.#advance(Math.floor(now / 1000));
    (mine ? this.#out : this.#in)[this.#secs - 1]++;
  }

  /**
   * The complete seconds after `after` (every kept one when undefined), up
   * to the last complete second.
   */
  view(now: number, after?: number): RateView {
    this.#advance(Math.floor(now / 1000));
    const last = this.#end - 1;
    const k = after === undefined
      ? this.#secs - 1
      : Math.min(this.#secs - 1, last - after);
    if (k <= 0) return { end: last, in: [], out: [] };
    const from = this.#secs - 1 - k;
    return {
      end: last,
      in: this.#in.slice(from, this.#secs - 1),
      out: this.#out.slice(from, this.#secs - 1),
    };
  }
}
