import assert from "node:assert/strict";
import fc from "fast-check";
import { compareStamps, HybridClock, MAX_COUNTER } from "./hlc.ts";

Deno.test("HybridClock.tick() is strictly increasing even when the wall clock steps back", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 100 }), {
        minLength: 1,
        maxLength: 50,
      }),
      (walls) => {
        let i = 0;
        const clock = new HybridClock({
          now: () => walls[Math.min(i++, walls.length - 1)],
        });
        let last = { wall: -1, counter: 0, writer: "A" };
        for (let k = 0; k < walls.length; k++) {
          const next = { ...clock.tick(), writer: "A" };
          assert.ok(compareStamps(next, last) > 0);
          last = next;
        }
      },
    ),
  );
});

Deno.test("HybridClock rolls the counter over into the next millisecond", () => {
  const clock = new HybridClock({ now: () => 10 });
  clock.restore(10, MAX_COUNTER);
  assert.deepEqual(clock.tick(), { wall: 11, counter: 0 });
});

Deno.test("HybridClock.observe() refuses stamps beyond maxSkewMs and stays put", () => {
  const clock = new HybridClock({ now: () => 1000, maxSkewMs: 500 });
  assert.equal(clock.observe(1500, 3), true);
  assert.deepEqual(clock.tick(), { wall: 1500, counter: 4 });
  assert.equal(clock.observe(1501, 0), false);
  assert.deepEqual(clock.last, { wall: 1500, counter: 4 });
  assert.throws(() => new HybridClock({ maxSkewMs: -1 }), RangeError);
});

Deno.test("compareStamps orders by wall, counter, then writer", () => {
  const s = (wall: number, counter: number, writer: string) => ({
    wall,
    counter,
    writer,
  });
  assert.ok(compareStamps(s(1, 9, "Z"), s(2, 0, "A")) < 0);
  assert.ok(compareStamps(s(2, 1, "A"), s(2, 0, "Z")) > 0);
  assert.ok(compareStamps(s(2, 1, "A"), s(2, 1, "B")) < 0);
  assert.equal(compareStamps(s(2, 1, "A"), s(2, 1, "A")), 0);
});
