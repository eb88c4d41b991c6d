/**
 * `Uint8ArrayList.consume` in linear time (internal).
 *
 * `uint8arraylist` (3.0.2, used by `@libp2p/utils`' stream buffers, and
 * 2.4.9, used by Noise and Yamux) removes consumed buffers from the front of
 * its list one `Array.prototype.shift()` at a time. Each `shift()` moves the
 * rest of the array, so consuming k of n queued buffers costs O(k·n): once
 * more than a Yamux window is queued on a stream (a burst), the sender spent
 * most of its time there. {@linkcode patchConsume} replaces `consume` with
 * one that finds how many whole buffers go and drops them with one
 * `splice`, with the same result. A fix any user of the package would want:
 * written so that it could be offered upstream (see docs/PERFORMANCE.md).
 *
 * @module
 */

import { Uint8ArrayList as ListV3 } from "uint8arraylist";
import { Uint8ArrayList as ListV2 } from "uint8arraylist-v2";
import type { WrittenFor } from "./_written_for.ts";

/** The versions this adjustment was written for: it replaces `consume` and uses the `bufs` and `length` fields. */
export const CONSUME_WRITTEN_FOR: readonly WrittenFor[] = [
  {
    name: "uint8arraylist",
    version: "3.0.2",
    adjustment: "mesh/_consume.ts",
  },
  {
    name: "uint8arraylist-v2",
    version: "2.4.9",
    adjustment: "mesh/_consume.ts",
  },
];

interface ListFields {
  bufs: Uint8Array[];
  length: number;
  byteLength: number;
}

/** Removes `bytes` from the front, dropping whole buffers with one splice. */
export function consume(this: ListFields, bytes: number): void {
  bytes = Math.trunc(bytes);
  if (Number.isNaN(bytes) || bytes <= 0) return;
  if (bytes >= this.byteLength) {
    this.bufs = [];
    this.length = 0;
    return;
  }
  let whole = 0;
  const bufs = this.bufs;
  while (whole < bufs.length && bytes >= bufs[whole].byteLength) {
    bytes -= bufs[whole].byteLength;
    this.length -= bufs[whole].byteLength;
    whole++;
  }
  if (whole > 0) bufs.splice(0, whole);
  if (bytes > 0 && bufs.length > 0) {
    bufs[0] = bufs[0].subarray(bytes);
    this.length -= bytes;
  }
}

let patched = false;

/** Applies the patch to both versions (idempotent). */
export function patchConsume(): void {
  if (patched) return;
  patched = true;
  for (const List of [ListV3, ListV2]) {
    (List.prototype as unknown as { consume: typeof consume }).consume =
      consume;
  }
}
