import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decodeEnvelope,
  encodeEnvelope,
  ENVELOPE_VERSION,
  MalformedEnvelopeError,
  MAX_ENVELOPE_ENTRIES,
} from "./_envelope.ts";

const te = new TextEncoder();

Deno.test("envelope: entries round-trip in order", () => {
  const entries = [
    { topic: "home/a", data: te.encode("1") },
    { topic: "home/b", data: new Uint8Array(0) },
    { topic: "ĥome/ü", data: te.encode('{"x":3}') },
  ];
  assert.deepEqual(decodeEnvelope(encodeEnvelope(entries), 256), entries);
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          topic: fc.string({ minLength: 1, maxLength: 40 }).filter((t) =>
            // deno-lint-ignore no-control-regex
            !/[\u0000-\u001f\u007f]/.test(t) &&
            !/[\ud800-\udfff]/.test(t)
          ),
          data: fc.uint8Array({ maxLength: 64 }),
        }),
        { minLength: 1, maxLength: 20 },
      ),
      (records) => {
        const es = records.map((e) => ({ topic: e.topic, data: e.data }));
        assert.deepEqual(decodeEnvelope(encodeEnvelope(es), 256), es);
      },
    ),
  );
});

Deno.test("envelope: malformed input is refused with MalformedEnvelopeError", () => {
  const good = encodeEnvelope([
    { topic: "t", data: te.encode("abc") },
    { topic: "u", data: te.encode("d") },
  ]);
  const bad: Uint8Array[] = [
    new Uint8Array(0),
    new Uint8Array([0x00]),
    new Uint8Array([ENVELOPE_VERSION]), // no entries
    good.subarray(0, good.length - 1), // truncated payload
    good.subarray(0, 3), // truncated topic header
    // topic with a control character
    new Uint8Array([ENVELOPE_VERSION, 0, 1, 0x07, 0, 0, 0, 0]),
    // topic that is not UTF-8
    new Uint8Array([ENVELOPE_VERSION, 0, 1, 0xff, 0, 0, 0, 0]),
    // empty topic
    new Uint8Array([ENVELOPE_VERSION, 0, 0, 0, 0, 0, 0]),
    // payload length past the end
    new Uint8Array([ENVELOPE_VERSION, 0, 1, 0x74, 0xff, 0xff, 0xff, 0xff]),
  ];
  for (const b of bad) {
    assert.throws(() => decodeEnvelope(b, 256), MalformedEnvelopeError);
  }
  // a topic over maxTopicLength
  assert.throws(
    () =>
      decodeEnvelope(
        encodeEnvelope([{ topic: "x".repeat(20), data: new Uint8Array() }]),
        10,
      ),
    MalformedEnvelopeError,
  );
  // more entries than the bound
  const many = Array.from(
    { length: MAX_ENVELOPE_ENTRIES },
    () => ({ topic: "t", data: new Uint8Array() }),
  );
  const full = encodeEnvelope(many);
  assert.equal(decodeEnvelope(full, 256).length, MAX_ENVELOPE_ENTRIES);
  const over = new Uint8Array(full.length + 7);
  over.set(full);
  over.set([0, 1, 0x74, 0, 0, 0, 0], full.length);
  assert.throws(() => decodeEnvelope(over, 256), MalformedEnvelopeError);
  assert.throws(() => encodeEnvelope([]), RangeError);
  assert.throws(() => encodeEnvelope([...many, many[0]]), RangeError);
});
