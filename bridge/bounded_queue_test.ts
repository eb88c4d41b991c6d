import assert from "node:assert/strict";
import fc from "fast-check";
import { BoundedQueue } from "./bounded_queue.ts";

Deno.test("BoundedQueue never exceeds capacity and drops the oldest", () => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 20 }),
    fc.array(fc.oneof(fc.integer(), fc.constant(null)), { maxLength: 200 }),
    (cap, ops) => {
      const q = new BoundedQueue<number>(cap);
      const model: number[] = [];
      let dropped = 0;
      for (const op of ops) {
        if (op === null) {
          assert.equal(q.shift(), model.shift());
        } else {
          q.push(op);
          model.push(op);
          if (model.length > cap) {
            model.shift();
            dropped++;
          }
        }
        assert.ok(q.length <= cap);
        assert.equal(q.length, model.length);
        assert.equal(q.peek(), model[0]);
      }
      assert.equal(q.dropped, dropped);
    },
  ));
  assert.throws(() => new BoundedQueue(0), RangeError);
});
