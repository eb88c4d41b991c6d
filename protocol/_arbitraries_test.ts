// Shared fast-check arbitraries for the protocol tests (no tests here).
import fc from "fast-check";
import type { Message, SensorValue } from "./messages.ts";

const msgId = fc.integer({ min: 0, max: 0xffff });
const msgId1 = fc.integer({ min: 1, max: 0xffff });
const u8 = fc.integer({ min: 0, max: 0xff });
// Strings of at most `max` UTF-8 bytes.
const text = (max: number) =>
  fc.string({ unit: "binary", maxLength: Math.floor(max / 4) });
const topic = fc.oneof(text(255), fc.integer({ min: 1, max: 0xffff }));
const data = fc.uint8Array({ maxLength: 400 });
const custom = fc.option(fc.uint8Array({ maxLength: 60 }), { nil: null });
const f32 = fc.float({ noNaN: true });

const sensor: fc.Arbitrary<SensorValue> = fc.oneof(
  f32.map((value) => ({ kind: "temperature" as const, value })),
  f32.map((value) => ({ kind: "humidity" as const, value })),
  u8.map((value) => ({ kind: "battery" as const, value })),
  fc.boolean().map((value) => ({ kind: "status" as const, value })),
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map((value) => ({
    kind: "raw" as const,
    value,
  })),
);

const pub = (type: "publish" | "message") =>
  fc.oneof(
    fc.record({
      msgId: fc.constant(0),
      qos: fc.constant(0 as const),
      topic,
      data,
    }),
    fc.record({ msgId: msgId1, qos: fc.constant(1 as const), topic, data }),
  ).map((r) => ({ type, ...r }));

/** Every message type, with fields over their whole ranges. */
export const anyMessage: fc.Arbitrary<Message> = fc.oneof(
  fc.record({
    type: fc.constant("subscribe" as const),
    msgId,
    topic: text(255),
  }),
  fc.record({
    type: fc.constant("unsubscribe" as const),
    msgId,
    topic: text(255),
  }),
  fc.record({ type: fc.constant("subscribeAck" as const), msgId, code: u8 }),
  fc.record({ type: fc.constant("unsubscribeAck" as const), msgId, code: u8 }),
  fc.record({ type: fc.constant("ack" as const), msgId, code: u8 }),
  pub("publish"),
  pub("message"),
  fc.record({
    type: fc.constant("streamStart" as const),
    msgId,
    streamId: u8,
    targetPeer: text(255),
    reason: text(255),
  }),
  fc.record({
    type: fc.constant("streamData" as const),
    streamId: u8,
    seq: fc.integer({ min: 0, max: 0xffffffff }),
    data,
  }),
  fc.record({
    type: fc.constant("streamClose" as const),
    streamId: u8,
    code: u8,
  }),
  fc.record({
    type: fc.constant("buttonPress" as const),
    msgId,
    buttonId: u8,
    pressType: fc.constantFrom(
      "single" as const,
      "double" as const,
      "long" as const,
    ),
    customData: custom,
  }),
  fc.record({
    type: fc.constant("sensorUpdate" as const),
    msgId,
    name: text(64),
    value: sensor,
    customData: custom,
  }),
  fc.record({
    type: fc.constant("error" as const),
    code: u8,
    msgId,
    detail: text(255),
  }),
  fc.constant({ type: "ping" as const }),
  fc.constant({ type: "pong" as const }),
  fc.record({
    type: fc.constant("register" as const),
    msgId,
    alias: fc.integer({ min: 1, max: 0xffff }),
    topic: text(255),
  }),
  fc.record({
    type: fc.constant("regAck" as const),
    msgId,
    alias: fc.integer({ min: 0, max: 0xffff }),
    code: u8,
  }),
  fc.record({
    type: fc.constant("disconnect" as const),
    sleepSeconds: fc.integer({ min: 0, max: 0xffffffff }),
  }),
);

/**
 * Integers on either side of every MessagePack integer encoding's bounds
 * (fixint, 8, 16, 32 and 64 bits, positive and negative).
 */
export const INT_EDGES: readonly number[] = [
  0,
  1,
  127,
  128,
  255,
  256,
  65_535,
  65_536,
  2 ** 32 - 1,
  2 ** 32,
  Number.MAX_SAFE_INTEGER,
  -1,
  -32,
  -33,
  -128,
  -129,
  -32_768,
  -32_769,
  -(2 ** 31),
  -(2 ** 31) - 1,
  Number.MIN_SAFE_INTEGER,
];
