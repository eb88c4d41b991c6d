/**
 * The size of an event against `eventQueueBytes` (internal).
 *
 * @module
 */

import type { AviEvent } from "../core/events.ts";
import { jsonBytes } from "../context/_view.ts";

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
