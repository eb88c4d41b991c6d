import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decodeEnvelope,
  encodeEnvelope,
  ENVELOPE_VERSION,
  knownTopicCount,
  MalformedEnvelopeError,
  MAX_ENVELOPE_ENTRIES,
  MAX_KNOWN_TOPICS,
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

Deno.test("envelope: topics are written byte for byte as TextEncoder writes them, lone surrogates too (fast-check)", () => {
  /** The encoding as it was: each topic through TextEncoder. */
  const reference = (es: { topic: string; data: Uint8Array }[]) => {
    const parts: number[] = [ENVELOPE_VERSION];
    for (const e of es) {
      const t = te.encode(e.topic);
      parts.push(t.length >> 8, t.length & 0xff, ...t);
      const n = e.data.length;
      parts.push(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
      parts.push(...e.data);
    }
    return new Uint8Array(parts);
  };
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          topic: fc.string({ unit: "binary", minLength: 1, maxLength: 30 }),
          data: fc.uint8Array({ maxLength: 16 }),
        }),
        { minLength: 1, maxLength: 8 },
      ),
      (es) => {
        assert.deepEqual(encodeEnvelope(es), reference(es));
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("envelope: a topic seen before is not decoded again, still checked against the limit given, and at most MAX_KNOWN_TOPICS are kept", () => {
  const env = encodeEnvelope([
    { topic: "home/kitchen/temperature", data: new Uint8Array([1]) },
    { topic: "home/kitchen/temperature", data: new Uint8Array([2]) },
  ]);
  const first = decodeEnvelope(env, 256);
  const again = decodeEnvelope(env, 256);
  assert.equal(again[0].topic, first[0].topic);
  assert.deepEqual(again.map((e) => e.data[0]), [1, 2]);
  // known under a limit of 256 bytes, still refused under a limit of 8
  assert.throws(() => decodeEnvelope(env, 8), MalformedEnvelopeError);
  // many distinct topics: each decodes right; the memory stays bounded
  for (let i = 0; i < MAX_KNOWN_TOPICS + 50; i++) {
    const topic = `t/${i}`;
    const [e] = decodeEnvelope(
      encodeEnvelope([{ topic, data: new Uint8Array(0) }]),
      256,
    );
    assert.equal(e.topic, topic);
  }
  assert.ok(knownTopicCount() <= MAX_KNOWN_TOPICS);
});
