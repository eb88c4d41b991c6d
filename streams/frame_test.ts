import assert from "node:assert/strict";
import fc from "fast-check";
import {
  encodeFrame,
  encodeHeader,
  FRAME_HEADER_BYTES,
  FrameDecoder,
  FrameType,
  type FrameTypeValue,
} from "./frame.ts";

const arbFrame = fc.record({
  type: fc.constantFrom(...Object.values(FrameType)) as fc.Arbitrary<
    FrameTypeValue
  >,
  flags: fc.integer({ min: 0, max: 255 }),
  seq: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  timestamp: fc.double({ noNaN: true }),
  payload: fc.uint8Array({ maxLength: 300 }),
});

Deno.test("FrameDecoder round-trips any frames split at any points", () => {
  fc.assert(
    fc.property(
      fc.array(arbFrame, { maxLength: 20 }),
      fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1 }),
      (frames, cuts) => {
        const bytes = concat(
          frames.map((f) =>
            encodeFrame(f.type, f.seq, f.timestamp, f.payload, f.flags)
          ),
        );
        const d = new FrameDecoder(1024);
        const out = [];
        let at = 0;
        let i = 0;
        while (at < bytes.length) {
          const n = cuts[i++ % cuts.length];
          d.push(bytes.subarray(at, at + n));
          at += n;
          for (let f = d.next(); f; f = d.next()) out.push(f);
        }
        assert.equal(d.bufferedBytes, 0);
        assert.equal(out.length, frames.length);
        for (let k = 0; k < frames.length; k++) {
          assert.equal(out[k].type, frames[k].type);
          assert.equal(out[k].flags, frames[k].flags);
          assert.equal(out[k].seq, frames[k].seq);
          assert.ok(Object.is(out[k].timestamp, frames[k].timestamp));
          assert.deepEqual(out[k].payload, frames[k].payload);
        }
      },
    ),
  );
});

Deno.test("encodeHeader() plus the payload equals encodeFrame()", () => {
  const payload = new Uint8Array([9, 8, 7]);
  const whole = encodeFrame(FrameType.Data, 5, 1234.5, payload);
  const head = encodeHeader(FrameType.Data, 5, 1234.5, payload.length);
  assert.equal(head.length, FRAME_HEADER_BYTES);
  assert.deepEqual(concat([head, payload]), whole);
});

Deno.test("FrameDecoder.next() rejects an oversized frame with FrameDecodeError", () => {
  const d = new FrameDecoder(10);
  d.push(encodeHeader(FrameType.Data, 0, 0, 11));
  assert.throws(() => d.next(), { name: "FrameDecodeError" });
});

Deno.test("FrameDecoder.next() rejects an unknown type with FrameDecodeError", () => {
  const d = new FrameDecoder(10);
  const bytes = encodeFrame(FrameType.Data, 0, 0);
  bytes[4] = 99;
  d.push(bytes);
  assert.throws(() => d.next(), { name: "FrameDecodeError" });
});

Deno.test("FrameDecoder.next() rejects a length shorter than the header", () => {
  const d = new FrameDecoder(10);
  d.push(new Uint8Array([0, 0, 0, 3, 4, 0, 0]));
  assert.throws(() => d.next(), { name: "FrameDecodeError" });
});

Deno.test("FrameDecoder.next() waits for a truncated frame", () => {
  const d = new FrameDecoder(10);
  const bytes = encodeFrame(FrameType.Data, 1, 2, new Uint8Array(5));
  d.push(bytes.subarray(0, bytes.length - 1));
  assert.equal(d.next(), undefined);
  d.push(bytes.subarray(bytes.length - 1));
  assert.equal(d.next()?.payload.length, 5);
});

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
