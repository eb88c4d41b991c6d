import assert from "node:assert/strict";
import fc from "fast-check";
import { compareVersions, dominates, DotSet } from "./version_vector.ts";

Deno.test("compareVersions() covers equal, before, after and concurrent", () => {
  assert.equal(compareVersions({}, {}), "equal");
  assert.equal(compareVersions({ A: 1 }, { A: 1, B: 0 }), "equal");
  assert.equal(compareVersions({ A: 1 }, { A: 2 }), "before");
  assert.equal(compareVersions({ A: 3 }, { A: 2 }), "after");
  assert.equal(compareVersions({ A: 3 }, { B: 1 }), "concurrent");
  assert.equal(dominates({ A: 3, B: 1 }, { A: 3 }), true);
  assert.equal(dominates({ A: 3 }, { A: 3, B: 1 }), false);
});

Deno.test("DotSet keeps a contiguous prefix whatever the arrival order", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 30 }), { maxLength: 60 }),
      (seqs) => {
        const set = new DotSet();
        for (const s of seqs) set.add("A", s);
        let n = 0;
        while (seqs.includes(n + 1)) n++;
        assert.equal(set.get("A"), n);
        for (const s of seqs) assert.equal(set.has("A", s), true);
        const back = DotSet.from(set.toJSON());
        for (let s = 1; s <= 31; s++) {
          assert.equal(
            back.has("A", s),
            set.has("A", s),
          );
        }
      },
    ),
  );
});

Deno.test("DotSet.joinRange() joins only when the prefix reaches `from`", () => {
  const set = new DotSet();
  set.add("A", 1);
  assert.equal(set.joinRange("A", 2, 9), false);
  assert.equal(set.get("A"), 1);
  set.add("A", 11);
  assert.equal(set.joinRange("A", 1, 10), true);
  assert.equal(set.get("A"), 11);
});
