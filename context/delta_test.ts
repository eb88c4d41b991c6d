import assert from "node:assert/strict";
import { encode } from "./_msgpack.ts";
import { decodeDelta, encodeDelta } from "./delta.ts";
import { MAX_KEY_LENGTH } from "./path.ts";

const ok = {
  writer: "A",
  seq: 3,
  wall: 1_700_000_000_000,
  counter: 2,
  entries: [
    { path: ["avi", "volume"], kind: "set" as const, value: [1, { x: "y" }] },
    { path: ["avi", "old"], kind: "delete" as const },
    { path: ["avi", "room"], kind: "object" as const },
    { path: [], kind: "reset" as const },
  ],
};

Deno.test("encodeDelta()/decodeDelta() round-trip", () => {
  assert.deepEqual(decodeDelta(encodeDelta(ok)), ok);
});

Deno.test("decodeDelta() rejects malformed input with InvalidPathError", () => {
  const bad = (bytes: Uint8Array) =>
    assert.throws(
      () => decodeDelta(bytes),
      (e: Error) => e.name === "InvalidPathError",
    );
  bad(new Uint8Array([0xc1]));
  bad(encode([2, "A", 1, 1, 0, [[["a"], 1]]]));
  bad(encode([1, "", 1, 1, 0, [[["a"], 1]]]));
  bad(encode([1, "A", 0, 1, 0, [[["a"], 1]]]));
  bad(encode([1, "A", 1, -1, 0, [[["a"], 1]]]));
  bad(encode([1, "A", 1, 1, 0, []]));
  bad(encode([1, "A", 1, 1, 0, [[["a.b"], 1]]]));
  bad(encode([1, "A", 1, 1, 0, [[["x".repeat(MAX_KEY_LENGTH + 1)], 1]]]));
  bad(encode([1, "A", 1, 1, 0, [[[], 1]]])); // deleting the root
  bad(encode([1, "A", 1, 1, 0, [[["a"], 0, { obj: 1 }]]])); // set of an object
  bad(encode([1, "A", 1, 1, 0, [[["a"], 0, new Uint8Array(2)]]])); // not JSON
  bad(encode([1, "A", 1, 1, 0, [[["a"], 7]]]));
  bad(encode([1, "A", 1, 1, 0, [[["a"], 1, "stray"]]]));
});
