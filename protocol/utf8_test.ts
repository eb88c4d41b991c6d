import assert from "node:assert/strict";
import fc from "fast-check";
import { utf8Decode, utf8Encode, utf8Length } from "./utf8.ts";
import { FrameDecodeError } from "./errors.ts";

Deno.test("utf8Encode() matches TextEncoder for any string, lone surrogates included", () => {
  const te = new TextEncoder();
  fc.assert(
    fc.property(
      fc.string({ unit: "binary" }),
      fc.string({
        unit: fc.integer({ min: 0, max: 0xffff }).map((c) =>
          String.fromCharCode(c)
        ),
      }),
      (a, b) => {
        for (const s of [a, b]) {
          assert.deepStrictEqual(utf8Encode(s), te.encode(s));
          assert.equal(utf8Length(s), te.encode(s).length);
        }
      },
    ),
    { numRuns: 3000 },
  );
});

Deno.test("utf8Decode() round trips and agrees with a fatal TextDecoder on random bytes", () => {
  const td = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  fc.assert(
    fc.property(fc.string({ unit: "binary" }), (s) => {
      assert.equal(utf8Decode(utf8Encode(s)), s);
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 12 }), (b) => {
      let want: string | null;
      try {
        want = td.decode(b);
      } catch {
        want = null;
      }
      if (want === null) assert.throws(() => utf8Decode(b), FrameDecodeError);
      else assert.equal(utf8Decode(b), want);
    }),
    { numRuns: 20000 },
  );
});
