import assert from "node:assert/strict";
import { MAX_SLAB_VIEW, SLAB_BYTES, slabBytes } from "./slab.ts";

Deno.test("slab: views are zero-filled, never overlap, share a backing store, and a full slab starts another", () => {
  const views: Uint8Array[] = [];
  let total = 0;
  while (total < 2 * SLAB_BYTES) {
    const n = 1 + (views.length * 37) % 300;
    const v = slabBytes(n);
    assert.equal(v.length, n);
    assert.ok(v.every((b) => b === 0), "a new view holds zeros");
    v.fill(0xab); // written by its owner
    views.push(v);
    total += n;
  }
  // no view was handed out twice: every byte still holds its owner's mark
  for (const v of views) assert.ok(v.every((b) => b === 0xab));
  const buffers = new Set(views.map((v) => v.buffer));
  assert.ok(buffers.size >= 2 && buffers.size < views.length / 10);
  for (const v of views) {
    assert.equal(v.byteOffset % 8, 0, "views start 8-aligned");
    assert.ok(v.byteOffset + v.length <= SLAB_BYTES);
  }
  const big = slabBytes(MAX_SLAB_VIEW + 1);
  assert.equal(big.byteOffset, 0);
  assert.equal(big.buffer.byteLength, MAX_SLAB_VIEW + 1);
});
