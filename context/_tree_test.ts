import assert from "node:assert/strict";
import fc from "fast-check";
import { minimalRoots } from "./_tree.ts";

/** The definition, as the code before the trie computed it (every pair as strings). */
function reference(roots: string[][]): string[][] {
  const sorted = roots.map((r) => ({ r, s: r.join(".") }))
    .sort((a, b) => a.r.length - b.r.length);
  const out: { r: string[]; s: string }[] = [];
  for (const x of sorted) {
    if (
      out.some((o) =>
        o.r.length === 0 || x.s === o.s || x.s.startsWith(o.s + ".")
      )
    ) continue;
    out.push(x);
  }
  return out.map((x) => x.r);
}

Deno.test("minimalRoots() keeps the paths under no other one, shortest first, as the pairwise definition (fast-check)", () => {
  const key = fc.constantFrom("a", "b", "ab", "c");
  fc.assert(
    fc.property(
      fc.array(fc.array(key, { maxLength: 4 }), { maxLength: 30 }),
      (roots) => {
        assert.deepEqual(minimalRoots(roots), reference(roots));
      },
    ),
    { numRuns: 2000 },
  );
  // a delta of many entries: one per path, none under another
  const many = Array.from({ length: 5000 }, (_, i) => ["avi", "s", `${i}`]);
  assert.equal(minimalRoots(many).length, 5000);
  assert.deepEqual(minimalRoots([...many, []]), [[]]);
});
