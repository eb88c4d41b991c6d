import assert from "node:assert/strict";
import { RefCountedSubscriptions } from "./ref_subscriptions.ts";

Deno.test("RefCountedSubscriptions: one holder leaving keeps the others subscribed", async () => {
  const calls: string[] = [];
  const s = new RefCountedSubscriptions({
    subscribe: async (t) => {
      await new Promise((r) => setTimeout(r, 1));
      calls.push(`+${t}`);
    },
    unsubscribe: async (t) => {
      await new Promise((r) => setTimeout(r, 1));
      calls.push(`-${t}`);
    },
  });
  await Promise.all([s.acquire("x", "d1"), s.acquire("x", "d2")]);
  await s.acquire("y", "d1");
  assert.deepEqual(calls, ["+x", "+y"]);
  await s.releaseAll("d1");
  assert.deepEqual(calls, ["+x", "+y", "-y"]);
  assert.deepEqual([...s.holders("x")], ["d2"]);
  await s.release("x", "d2");
  assert.deepEqual(calls, ["+x", "+y", "-y", "-x"]);
  assert.deepEqual(s.topics(), []);
  // Release of an unknown holder is a no-op.
  await s.release("x", "nobody");
  // Quick flip-flop ends in the right state.
  await Promise.all([
    s.acquire("z", "a"),
    s.release("z", "a"),
    s.acquire("z", "b"),
  ]);
  assert.deepEqual(calls.filter((c) => c.endsWith("z")).at(-1), "+z");
});

Deno.test("RefCountedSubscriptions: a failed mesh subscribe removes the holder and throws", async () => {
  const s = new RefCountedSubscriptions({
    subscribe: () => Promise.reject(new Error("nope")),
    unsubscribe: () => Promise.resolve(),
  });
  await assert.rejects(s.acquire("x", "d1"), /nope/);
  assert.equal(s.holders("x").size, 0);
});
