// The context's MessagePack gives the same bytes and the same values as
// @msgpack/msgpack, the codec the context used before (so deltas, their
// signatures, snapshots and logs written by either read the same).
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decode as refDecode,
  encode as refEncode,
  ExtData,
} from "@msgpack/msgpack";
import { decode, encode } from "./_msgpack.ts";

/** Same result, or both throw. */
function same<T>(ours: () => T, theirs: () => T): void {
  let a: { ok: T } | { err: unknown }, b: { ok: T } | { err: unknown };
  try {
    a = { ok: ours() };
  } catch (err) {
    a = { err };
  }
  try {
    b = { ok: theirs() };
  } catch (err) {
    b = { err };
  }
  if ("ok" in a && "ok" in b) assert.deepStrictEqual(a.ok, b.ok);
  else {
    assert.equal("ok" in a, "ok" in b, `ours: ${str(a)}, theirs: ${str(b)}`);
  }
}
const str = (r: unknown) => {
  try {
    return JSON.stringify(r);
  } catch {
    return String(r);
  }
};

const loneSurrogate = fc.constantFrom("\ud800", "\udbff", "\udc00", "\udfff");
const anyString = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 80 }),
  fc.string({ unit: "binary", maxLength: 80 }),
  fc.tuple(fc.string({ maxLength: 60 }), loneSurrogate, fc.string()).map((
    [a, s, b],
  ) => a + s + b),
  fc.string({ unit: "grapheme", minLength: 60, maxLength: 400 }),
  fc.constantFrom("\ufeff" + "x".repeat(300), "\ufeffbom"),
);
const anyNumber = fc.oneof(
  fc.integer(),
  fc.maxSafeInteger(),
  fc.double(),
  fc.constantFrom(
    -0,
    0x7f,
    0x80,
    0xff,
    0x100,
    0xffff,
    0x10000,
    2 ** 32 - 1,
    2 ** 32,
    2 ** 53,
    -(2 ** 53),
    -0x20,
    -0x21,
    -0x80,
    -0x81,
    -0x8000,
    -0x8001,
    -(2 ** 31),
    -(2 ** 31) - 1,
    1.5,
    NaN,
    Infinity,
  ),
);
const { value: anyValue } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constantFrom(null, undefined, true, false),
    anyNumber,
    anyString,
    fc.uint8Array({ maxLength: 300 }),
    fc.array(tie("value")),
    fc.dictionary(anyString, tie("value")),
  ),
}));

Deno.test("context msgpack writes the bytes @msgpack/msgpack wrote, and reads them back the same", () => {
  fc.assert(
    fc.property(anyValue, (v) => {
      const ours = encode(v);
      assert.deepStrictEqual(ours, refEncode(v));
      same(() => decode(ours), () => refDecode(ours));
    }),
    { numRuns: 2000 },
  );
});

Deno.test("context msgpack: big values, deep nesting and what it refuses", () => {
  const big = {
    s: "é".repeat(70_000),
    b: new Uint8Array(100_000).fill(7),
    a: Array.from({ length: 70_000 }, (_, i) => i),
  };
  assert.deepStrictEqual(encode(big), refEncode(big));
  let deep: unknown = 1;
  for (let i = 0; i < 99; i++) deep = [deep];
  assert.deepStrictEqual(encode(deep), refEncode(deep));
  assert.deepStrictEqual(decode(encode(deep)), deep);
  assert.throws(() => encode([deep]));
  assert.throws(() => refEncode([deep]));
  assert.throws(() => encode(new Date()));
  assert.throws(() => encode(1n));
  assert.throws(() => encode(() => 1));
  assert.throws(() => decode(refEncode(new ExtData(3, new Uint8Array(2)))));
  assert.throws(() => decode(refEncode(new Date())));
  // Lone surrogates around the lengths where the former encoder changed way.
  for (const n of [1, 31, 32, 33, 49, 50, 51, 255, 256, 300]) {
    for (const lone of ["\ud800", "\udfff", "\ufffd", "\ufeff"]) {
      for (const s of [lone + "x".repeat(n - 1), "é".repeat(n - 1) + lone]) {
        assert.deepStrictEqual(encode(s), refEncode(s), `${n} units`);
        same(() => decode(encode(s)), () => refDecode(encode(s)));
      }
    }
  }
  // Other objects: their own enumerable keys, as before.
  const m = new Map([[1, 2]]);
  assert.deepStrictEqual(encode(m), refEncode(m));
  assert.deepStrictEqual(
    encode(new Uint16Array([1, 2])),
    refEncode(new Uint16Array([1, 2])),
  );
});

Deno.test("context msgpack reads any bytes as @msgpack/msgpack did (bad UTF-8, int keys, __proto__, 64-bit ints)", () => {
  const cases = [
    [0xa2, 0xc3, 0x28], // bad UTF-8
    [0xa3, 0xed, 0xa0, 0x80], // a surrogate
    [0xa2, 0xe2, 0x82], // cut short
    [0x92, 0xa1, 0xe2, 0x01], // cut short, reads on into the next item
    [0x81, 0x01, 0x02], // an integer key
    [0x81, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0x02], // a float key
    [0x81, 0xa9, ...new TextEncoder().encode("__proto__"), 0x01],
    [0x81, 0xc0, 0x01], // a nil key
    [0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    [0xd3, 0x80, 0, 0, 0, 0, 0, 0, 1],
    [0xc1],
    [0x91],
    [0x01, 0x02],
    [],
  ].map((b) => new Uint8Array(b));
  for (const b of cases) same(() => decode(b), () => refDecode(b));
  // Around the length where the former decoder changed way: bad bytes, BOM.
  for (const n of [16, 17, 150, 199, 200, 201, 250]) {
    for (const fill of [0xff, 0x61, 0xe2]) {
      const body = new Uint8Array(n).fill(fill);
      body.set([0xef, 0xbb, 0xbf]);
      const b = new Uint8Array([0x81, 0xd9, n, ...body, 0xd9, n, ...body]);
      same(() => decode(b), () => refDecode(b));
    }
  }
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
      let ref: unknown;
      try {
        ref = refDecode(b);
      } catch {
        assert.throws(() => decode(b));
        return;
      }
      if (hasExt(ref)) return; // extension types: refused by the context
      assert.deepStrictEqual(decode(b), ref);
    }),
    { numRuns: 20_000 },
  );
});

function hasExt(v: unknown): boolean {
  if (v instanceof ExtData || v instanceof Date) return true;
  if (Array.isArray(v)) return v.some(hasExt);
  if (v !== null && typeof v === "object" && !ArrayBuffer.isView(v)) {
    return Object.values(v).some(hasExt);
  }
  return false;
}
