import assert from "node:assert/strict";
import fc from "fast-check";
import { ReplayWindow } from "./replay_window.ts";

Deno.test("ReplayWindow accepts each number once and nothing 64 or more below the highest", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 300 }), { maxLength: 400 }),
      (seqs) => {
        const w = new ReplayWindow();
        const seen = new Set<number>();
        let highest = 0;
        for (const s of seqs) {
          const expect = !seen.has(s) && s > highest - 64;
          assert.equal(w.check(s), expect, `seq ${s} highest ${highest}`);
          if (expect) {
            w.accept(s);
            seen.add(s);
            highest = Math.max(highest, s);
          }
        }
      },
    ),
    { numRuns: 2000 },
  );
});

Deno.test("ReplayWindow refuses 0 and handles jumps beyond the window", () => {
  const w = new ReplayWindow();
  assert.equal(w.check(0), false);
  w.accept(1);
  w.accept(1000);
  assert.equal(w.check(1), false);
  assert.equal(w.check(999), true);
  assert.equal(w.check(936), false);
  assert.equal(w.check(937), true);
  w.accept(0xffffffff);
  assert.equal(w.check(0xffffffff), false);
  assert.equal(w.check(0xfffffffe), true);
});
