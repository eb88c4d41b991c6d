import assert from "node:assert/strict";
import { AckMemory, fnv1a } from "./ack_memory.ts";

Deno.test("AckMemory recognises a retransmission and returns the same code", () => {
  const m = new AckMemory(4);
  assert.equal(m.begin(1, 10).state, "new");
  assert.equal(m.begin(1, 10).state, "pending");
  m.finish(1, 10, 7);
  assert.deepEqual(m.begin(1, 10), { state: "done", code: 7 });
});

Deno.test("AckMemory treats the same msgId with other content as new", () => {
  const m = new AckMemory(4);
  m.begin(1, 10);
  m.finish(1, 10, 0);
  assert.equal(m.begin(1, 11).state, "new");
});

Deno.test("AckMemory forgets failures marked retryable, and stays bounded", () => {
  const m = new AckMemory(4);
  m.begin(1, 10);
  m.finish(1, 10, 12, true);
  assert.equal(m.begin(1, 10).state, "new");
  for (let i = 0; i < 100; i++) m.begin(i, i);
  assert.equal(m.size, 4);
  assert.notEqual(fnv1a(new Uint8Array([1])), fnv1a(new Uint8Array([2])));
});
