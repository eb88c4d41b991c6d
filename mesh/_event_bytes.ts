/**
 * The size of an event against `eventQueueBytes` (internal).
 *
 * @module
 */

import type { AviEvent } from "../core/events.ts";

/** The bytes counted per event on top of its payload (`eventQueueBytes`). */
export const EVENT_OVERHEAD_BYTES = 64;

/**
 * The size of an event against `eventQueueBytes`: its payload (message and
 * stream data; a `contextUpdated` document, estimated) plus
 * {@linkcode EVENT_OVERHEAD_BYTES}.
 */
export function eventBytes(ev: AviEvent): number {
  switch (ev.type) {
    case "message":
      return EVENT_OVERHEAD_BYTES + ev.data.byteLength + ev.topic.length;
    case "streamData":
      return EVENT_OVERHEAD_BYTES + ev.data.byteLength;
    case "contextUpdated": {
      let n = EVENT_OVERHEAD_BYTES + jsonBytes(ev.context);
      for (const p of ev.changedPaths) n += p.length + 8;
      return n;
    }
    default:
      return EVENT_OVERHEAD_BYTES;
  }
}

/**
 * A cheap estimate of the memory of a JSON value: string lengths, 8 bytes
 * per number, boolean, null, array slot and object entry. No recursion, so
 * any depth is fine; it stops after 4 million values (a tree, never a
 * cycle, is expected).
 */
function jsonBytes(value: unknown): number {
  let n = 0;
  let budget = 4_000_000;
  const todo: unknown[] = [value];
  while (todo.length > 0 && budget-- > 0) {
    const v = todo.pop();
    if (typeof v === "string") n += v.length + 8;
    else if (Array.isArray(v)) {
      n += 8;
      for (const x of v) todo.push(x);
    } else if (v !== null && typeof v === "object") {
      n += 8;
      for (const [k, x] of Object.entries(v)) {
        n += k.length + 8;
        todo.push(x);
      }
    } else n += 8;
  }
  return n;
}
