import assert from "node:assert/strict";
import fc from "fast-check";
import { fromHex, toHex } from "./hex.ts";

Deno.test("toHex writes two lower-case digits a byte; fromHex reads either case back", () => {
  assert.equal(toHex(new Uint8Array([0, 1, 0xab, 0xff])), "0001abff");
  assert.deepEqual(fromHex("0001ABff"), new Uint8Array([0, 1, 0xab, 0xff]));
  assert.equal(toHex(new Uint8Array()), "");
  fc.assert(
    fc.property(fc.uint8Array(), (b) => {
      assert.equal(
        toHex(b),
        Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(""),
      );
      assert.deepEqual(fromHex(toHex(b)), b);
    }),
  );
});

Deno.test("fromHex refuses an odd length and a character that is not a hex digit", () => {
  assert.throws(() => fromHex("abc"), TypeError);
  assert.throws(() => fromHex("0g"), TypeError);
  assert.throws(() => fromHex("0 "), TypeError);
});
