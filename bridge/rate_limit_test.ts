import assert from "node:assert/strict";
import { RateLimiter, TokenBucket } from "./rate_limit.ts";

Deno.test("TokenBucket allows a burst, then the sustained rate", () => {
  const b = new TokenBucket(10, 3, 0);
  assert.deepEqual([b.take(0), b.take(0), b.take(0), b.take(0)], [
    true,
    true,
    true,
    false,
  ]);
  assert.equal(b.take(50), false);
  assert.equal(b.take(100), true);
  assert.equal(b.take(100), false);
  // Never more than the burst, however long the pause.
  let n = 0;
  while (b.take(1_000_000)) n++;
  assert.equal(n, 3);
  assert.throws(() => new TokenBucket(0, 1, 0), RangeError);
});

Deno.test("RateLimiter keeps one bucket per key and at most maxKeys", () => {
  const rl = new RateLimiter({ rate: 1, burst: 2, maxKeys: 100 });
  assert.ok(rl.allow("a", 0) && rl.allow("a", 0) && !rl.allow("a", 0));
  assert.ok(rl.allow("b", 0));
  for (let i = 0; i < 10_000; i++) rl.allow(`k${i}`, 0);
  assert.equal(rl.size, 100);
  assert.equal(rl.refused, 1);
});
