import assert from "node:assert/strict";
import { ReceiveStats } from "./_receive_stats.ts";

Deno.test("ReceiveStats counts gaps as lost and late frames as reordered", () => {
  const s = new ReceiveStats();
  for (const seq of [0, 1, 4, 2, 5]) s.record(seq, seq * 20, 10, seq * 20 + 5);
  assert.equal(s.frames, 5);
  assert.equal(s.bytes, 50);
  assert.equal(s.lost, 1); // 3 never came; 2 came late
  assert.equal(s.reordered, 1);
});

Deno.test("ReceiveStats reports zero jitter for evenly spaced frames and a steady latency", () => {
  const s = new ReceiveStats();
  for (let i = 0; i < 100; i++) s.record(i, i * 20, 640, i * 20 + 7);
  assert.equal(s.jitterMs, 0);
  assert.equal(s.latencyMs, 7);
});

Deno.test("ReceiveStats reports jitter for unevenly spaced arrivals", () => {
  const s = new ReceiveStats();
  for (let i = 0; i < 100; i++) s.record(i, i * 20, 640, i * 20 + (i % 2) * 10);
  assert.ok(s.jitterMs > 5, `jitter ${s.jitterMs}`);
});
