import assert from "node:assert/strict";
import fc from "fast-check";
import { ContextDoc } from "./doc.ts";
import { encodeDelta } from "./delta.ts";
import { deltaBytes } from "./delta_size.ts";
import { INT_EDGES } from "../protocol/_arbitraries_test.ts";
import type { JsonObject } from "../core/events.ts";

/** The delta bytes of `patch` through a fresh replica's update(). */
function viaUpdate(patch: JsonObject): number {
  const { delta } = new ContextDoc({ replicaId: "bridge", initial: {} })
    .update(patch);
  return delta ? encodeDelta(delta).length : 0;
}

/** A result, or the name of the error thrown instead. */
function outcome(f: () => number): number | string {
  try {
    return f();
  } catch (e) {
    return (e as Error).name;
  }
}

Deno.test("deltaBytes: the bytes update() makes in an empty replica, with the same refusals", () => {
  const json = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: "small" },
      fc.constant(null),
      fc.boolean(),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.maxSafeInteger(),
      fc.integer({ min: -70_000, max: 70_000 }),
      fc.integer({ min: -300, max: 300 }),
      fc.constantFrom(...INT_EDGES),
      fc.constant(-0),
      fc.string(),
      fc.string({ unit: "binary", maxLength: 40 }),
      fc.string({ minLength: 30, maxLength: 300 }),
      fc.array(tie("value"), { maxLength: 3 }),
      tie("object"),
    ),
    object: fc.dictionary(
      fc.oneof(
        fc.string({ maxLength: 6 }),
        fc.string({ unit: "binary", maxLength: 4 }),
        fc.constantFrom("a.b", "", "x", "__proto__", "k".repeat(257)),
      ),
      tie("value"),
      { maxKeys: 4 },
    ),
  })).object;
  fc.assert(
    fc.property(json, (patch) => {
      assert.equal(
        outcome(() => deltaBytes(patch as JsonObject, "bridge")),
        outcome(() => viaUpdate(patch as JsonObject)),
      );
    }),
    { numRuns: 3000 },
  );
  // many entries (array and entry headers past 15), deep paths
  const wide: JsonObject = {};
  for (let i = 0; i < 40; i++) wide[`k${i}`] = { v: i, s: "é".repeat(i) };
  let deep: JsonObject = { leaf: 1 };
  for (let i = 0; i < 31; i++) deep = { [`d${i}`]: deep };
  for (const patch of [wide, deep, { a: { b: deep } }]) {
    assert.equal(
      outcome(() => deltaBytes(patch, "bridge")),
      outcome(() => viaUpdate(patch)),
    );
  }
  assert.throws(
    () => deltaBytes({ big: "x".repeat(70_000) }),
    (e: Error) => e.name === "TooLargeError",
  );
});
