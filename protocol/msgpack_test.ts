import assert from "node:assert/strict";
import fc from "fast-check";
import { decode as refDecode, encode as refEncode } from "@msgpack/msgpack";
import {
  decode,
  encode,
  intBytes,
  lenHeaderBytes,
  MAX_DEPTH,
  type MsgpackValue,
  Reader,
  strHeaderBytes,
  Writer,
} from "./msgpack.ts";
import { FrameDecodeError, FrameEncodeError } from "./errors.ts";
import { INT_EDGES } from "./_arbitraries_test.ts";

// Values both libraries represent the same way. -0 is left out: the reference
// encodes it as integer 0.
const leaf = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer({ min: -(2 ** 31), max: 2 ** 32 }),
  fc.maxSafeInteger(),
  fc.double({ noNaN: true, noDefaultInfinity: false }).filter((d) =>
    !Object.is(d, -0)
  ),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: "binary", minLength: 32, maxLength: 300 }),
  fc.uint8Array({ maxLength: 300 }),
);
const value: fc.Arbitrary<MsgpackValue> =
  fc.letrec<{ v: MsgpackValue }>((tie) => ({
    v: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      leaf,
      fc.array(tie("v"), { maxLength: 20 }),
      fc.dictionary(
        fc.string({ maxLength: 10 }).filter((k) => k !== "__proto__"),
        tie("v"),
        { maxKeys: 20, noNullPrototype: true },
      ),
    ),
  })).v;

Deno.test("decode() reads what @msgpack/msgpack encodes", () => {
  fc.assert(
    fc.property(value, (v) => {
      assert.deepStrictEqual(decode(refEncode(v)), v);
    }),
    { numRuns: 2000 },
  );
});

Deno.test("@msgpack/msgpack reads what encode() writes, and both write the same bytes", () => {
  fc.assert(
    fc.property(value, (v) => {
      const ref = refEncode(v);
      fc.pre(ref.length <= 1 << 20);
      const ours = encode(v, 1 << 20);
      assert.deepStrictEqual(refDecode(ours), v);
      assert.deepStrictEqual(ours, ref);
    }),
    { numRuns: 2000 },
  );
});

Deno.test("encode() keeps -0 and large collections round trip", () => {
  assert.ok(Object.is(decode(encode(-0)), -0));
  const big = Array.from({ length: 70000 }, (_, i) => i % 7);
  assert.deepStrictEqual(decode(encode(big, 1 << 20)), big);
  const m: Record<string, number> = {};
  for (let i = 0; i < 20; i++) m["k" + i] = i;
  assert.deepStrictEqual(decode(encode(m)), m);
  // "__proto__" is an ordinary key, never a prototype change.
  const p = decode(
    new Uint8Array([
      0x81,
      0xa9,
      ...new TextEncoder().encode("__proto__"),
      0x01,
    ]),
  ) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(p), Object.prototype);
  assert.equal(Object.getOwnPropertyDescriptor(p, "__proto__")?.value, 1);
});

Deno.test("Writer throws FrameEncodeError when the buffer is full, never grows it", () => {
  const w = new Writer(new Uint8Array(4));
  assert.throws(() => w.str("hello"), FrameEncodeError);
  assert.throws(
    () => new Writer(new Uint8Array(8)).bin(new Uint8Array(8)),
    FrameEncodeError,
  );
  assert.throws(
    () => new Writer(new Uint8Array(16)).int(2 ** 60),
    FrameEncodeError,
  );
});

Deno.test("decode() refuses ext types, non-string keys, trailing bytes, nesting beyond MAX_DEPTH", () => {
  const bad = [
    new Uint8Array([0xd4, 0x01, 0x00]), // fixext1
    new Uint8Array([0x81, 0x01, 0x02]), // {1: 2}
    new Uint8Array([0x01, 0x02]), // trailing
    new Uint8Array([0xc1]), // never used
    new Uint8Array([0xdd, 0xff, 0xff, 0xff, 0xff]), // huge array, no items
    new Uint8Array([0xc6, 0x7f, 0xff, 0xff, 0xff]), // huge bin
    new Uint8Array([0xcf, 0xff, 0, 0, 0, 0, 0, 0, 0]), // uint64 beyond 2^53
    new Uint8Array(MAX_DEPTH + 5).fill(0x91),
  ];
  for (const b of bad) assert.throws(() => decode(b), FrameDecodeError, `${b}`);
});

Deno.test("Reader typed reads check type and range", () => {
  assert.throws(
    () => new Reader(new Uint8Array([0xa1, 0x61])).int(),
    FrameDecodeError,
  );
  assert.throws(
    () => new Reader(new Uint8Array([0xcc, 0xff])).uint(100),
    FrameDecodeError,
  );
  assert.throws(
    () => new Reader(new Uint8Array([0xcd, 0x01])).uint(),
    FrameDecodeError,
  );
  assert.equal(new Reader(new Uint8Array([0xd0, 0x80])).int(), -128);
  assert.throws(
    () => new Reader(new Uint8Array([0xa3, 0x61, 0x62, 0x63])).str(2),
    FrameDecodeError,
  );
});

Deno.test("msgpack: intBytes, strHeaderBytes and lenHeaderBytes are what Writer writes", () => {
  const written = (f: (w: Writer) => void) => {
    const w = new Writer(new Uint8Array(1 << 17));
    f(w);
    return w.pos;
  };
  const edges = [0, 1, 15, 16, 31, 32, 127, 128, 255, 256, 65_535, 65_536];
  for (const v of [...edges, ...INT_EDGES]) {
    assert.equal(intBytes(v), written((w) => w.int(v)), `int ${v}`);
  }
  fc.assert(fc.property(fc.maxSafeInteger(), (v) => {
    assert.equal(intBytes(v), written((w) => w.int(v)));
  }));
  for (const n of edges.filter((n) => n <= 70_000)) {
    const s = "a".repeat(n);
    assert.equal(strHeaderBytes(n) + n, written((w) => w.str(s)), `str ${n}`);
    assert.equal(lenHeaderBytes(n), written((w) => w.arrayHeader(n)));
    assert.equal(lenHeaderBytes(n), written((w) => w.mapHeader(n)));
  }
});
