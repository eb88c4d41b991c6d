import assert from "node:assert/strict";
import fc from "fast-check";
import { decode as refDecode } from "@msgpack/msgpack";
import { decodeMessage, encodeMessage, type Message } from "./messages.ts";
import { Writer } from "./msgpack.ts";
import { FrameDecodeError, FrameEncodeError } from "./errors.ts";
import { anyMessage } from "./_arbitraries_test.ts";

function enc(m: Message): Uint8Array {
  const w = new Writer(new Uint8Array(2048));
  encodeMessage(w, m);
  return w.bytes().slice();
}

Deno.test("decodeMessage(encodeMessage(m)) equals m for every message type", () => {
  const seen = new Set<string>();
  fc.assert(
    fc.property(anyMessage, (m) => {
      seen.add(m.type);
      assert.deepStrictEqual(decodeMessage(enc(m)), { ...m });
    }),
    { numRuns: 5000 },
  );
  assert.equal(seen.size, 18, [...seen].join());
});

Deno.test("every encoded message is plain MessagePack that @msgpack/msgpack reads", () => {
  fc.assert(
    fc.property(anyMessage, (m) => {
      const v = refDecode(enc(m)) as unknown[];
      assert.ok(Array.isArray(v));
      assert.equal(typeof v[0], "number");
    }),
    { numRuns: 2000 },
  );
});

Deno.test("decodeMessage() rejects every strict prefix of a valid message", () => {
  fc.assert(
    fc.property(anyMessage, (m) => {
      const b = enc(m);
      for (let n = 0; n < b.length; n++) {
        assert.throws(() => decodeMessage(b.subarray(0, n)), FrameDecodeError);
      }
      const longer = new Uint8Array(b.length + 1);
      longer.set(b);
      assert.throws(() => decodeMessage(longer), FrameDecodeError);
    }),
    { numRuns: 300 },
  );
});

Deno.test("encodeMessage() refuses out-of-range fields with FrameEncodeError", () => {
  const bad: unknown[] = [
    { type: "publish", msgId: 0, qos: 1, topic: "t", data: new Uint8Array() },
    { type: "publish", msgId: 1, qos: 2, topic: "t", data: new Uint8Array() },
    { type: "publish", msgId: 1, qos: 1, topic: 0, data: new Uint8Array() },
    { type: "subscribe", msgId: 70000, topic: "t" },
    { type: "subscribe", msgId: 1, topic: "x".repeat(256) },
    {
      type: "sensorUpdate",
      msgId: 1,
      name: "n".repeat(65),
      value: { kind: "raw", value: 1 },
      customData: null,
    },
    {
      type: "sensorUpdate",
      msgId: 1,
      name: "n",
      value: { kind: "battery", value: 300 },
      customData: null,
    },
    {
      type: "sensorUpdate",
      msgId: 1,
      name: "n",
      value: { kind: "raw", value: 2 ** 31 },
      customData: null,
    },
    {
      type: "buttonPress",
      msgId: 1,
      buttonId: 1,
      pressType: "triple",
      customData: null,
    },
    { type: "nope" },
  ];
  for (const m of bad) {
    assert.throws(() => enc(m as Message), FrameEncodeError, JSON.stringify(m));
  }
});

Deno.test("decodeMessage() requires float32 for temperature and the exact arity", () => {
  // [12, 1, "t", 0, 21 (int), nil]
  assert.throws(
    () =>
      decodeMessage(
        new Uint8Array([0x96, 0x0c, 0x01, 0xa1, 0x74, 0x00, 0x15, 0xc0]),
      ),
    FrameDecodeError,
  );
  assert.throws(
    () => decodeMessage(new Uint8Array([0x92, 0x0e, 0x00])),
    FrameDecodeError,
  );
  assert.throws(
    () => decodeMessage(new Uint8Array([0x91, 0x63])),
    FrameDecodeError,
  );
});

Deno.test("a topic alias may use any MessagePack integer width", () => {
  // [5, msgId 1, qos 0, alias 5, bin ""], the alias as uint32, then int8
  for (const alias of [[0xce, 0, 0, 0, 5], [0xd0, 5]]) {
    const m = decodeMessage(
      new Uint8Array([0x95, 0x05, 0x01, 0x00, ...alias, 0xc4, 0x00]),
    );
    assert.equal(m.type === "publish" && m.topic, 5);
  }
});
