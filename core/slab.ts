/**
 * Small byte arrays carved from shared slabs (internal).
 *
 * Deno's V8 is built without on-heap typed arrays
 * (`v8_typed_array_max_size_in_heap = 0`): every `new Uint8Array(n)`, even
 * of 8 bytes, gets its own backing store outside the heap, about 0.7 µs to
 * make on our machines, and each one is freed again by the array-buffer
 * sweep of a later young-generation collection, a sweep that stalls the
 * collection whenever its background thread has not finished (up to 2–3
 * ms on a sender at 1,000 messages a second, measured with
 * `--trace-gc-nvp`). Node builds on-heap arrays up to 64 bytes, and pools
 * `Buffer.allocUnsafe`: the libraries we run were written for that.
 *
 * {@linkcode slabBytes} hands out views of a 16 KiB slab instead, a bump
 * allocation: one backing store per 16 KiB, not one per array. Slabs are
 * never reused: a fresh slab is zero-filled and every view is handed out
 * once, so a view holds zeros until written and never another owner's
 * bytes. A slab stays alive while any of its views does: meant for the
 * per-message arrays of the mesh and the bridge (message ids, packed cache entries, the
 * signed bytes of a check), which all die within seconds and in the order
 * they were made.
 *
 * @module
 */

/** The size of one slab. */
export const SLAB_BYTES = 16 * 1024;

/** Larger arrays get their own backing store, as before. */
export const MAX_SLAB_VIEW = 1024;

let slab = new Uint8Array(SLAB_BYTES);
let used = 0;

/**
 * `n` zero bytes, as a view of a shared slab when `n` is at most
 * {@linkcode MAX_SLAB_VIEW}, else a new array.
 *
 * @param n The length.
 * @returns A zero-filled array nobody else holds.
 */
export function slabBytes(n: number): Uint8Array {
  if (n > MAX_SLAB_VIEW) return new Uint8Array(n);
  if (used + n > SLAB_BYTES) {
    slab = new Uint8Array(SLAB_BYTES);
    used = 0;
  }
  const out = slab.subarray(used, used + n);
  // the next view starts 8-aligned (a DataView on it reads aligned)
  used = (used + n + 7) & ~7;
  return out;
}
