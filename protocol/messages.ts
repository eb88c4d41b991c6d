/**
 * Application messages: what travels inside a sealed frame. Each message is
 * one MessagePack array whose first item is its {@linkcode MessageType} code.
 *
 * @module
 */

import { FrameDecodeError, FrameEncodeError } from "./errors.ts";
import { Limits, MessageType } from "./constants.ts";
import { Reader, type Writer } from "./msgpack.ts";
import { utf8Length } from "./utf8.ts";

/** How a button was pressed. Wire codes: single 0, double 1, long 2. */
export type PressType = "single" | "double" | "long";

/**
 * A sensor reading. Wire kinds: temperature 0 (float32, °C), humidity 1
 * (float32, %), battery 2 (0..255, %), status 3 (bool), raw 4 (int32).
 */
export type SensorValue =
  | { kind: "temperature"; value: number }
  | { kind: "humidity"; value: number }
  | { kind: "battery"; value: number }
  | { kind: "status"; value: boolean }
  | { kind: "raw"; value: number };

/** A topic in full, or a 2-byte alias (1..65535) registered before. */
export type TopicRef = string | number;

/**
 * Every application message. `msgId` (1..65535) names a message that expects
 * an acknowledgement; 0 means none is expected (QoS 0).
 */
export type Message =
  | { type: "subscribe"; msgId: number; topic: string }
  | { type: "subscribeAck"; msgId: number; code: number }
  | { type: "unsubscribe"; msgId: number; topic: string }
  | { type: "unsubscribeAck"; msgId: number; code: number }
  | {
    type: "publish";
    msgId: number;
    qos: 0 | 1;
    topic: TopicRef;
    data: Uint8Array;
  }
  | {
    type: "message";
    msgId: number;
    qos: 0 | 1;
    topic: TopicRef;
    data: Uint8Array;
  }
  | { type: "ack"; msgId: number; code: number }
  | {
    type: "streamStart";
    msgId: number;
    streamId: number;
    targetPeer: string;
    reason: string;
  }
  | { type: "streamData"; streamId: number; seq: number; data: Uint8Array }
  | { type: "streamClose"; streamId: number; code: number }
  | {
    type: "buttonPress";
    msgId: number;
    buttonId: number;
    pressType: PressType;
    customData: Uint8Array | null;
  }
  | {
    type: "sensorUpdate";
    msgId: number;
    name: string;
    value: SensorValue;
    customData: Uint8Array | null;
  }
  | { type: "error"; code: number; msgId: number; detail: string }
  | { type: "ping" }
  | { type: "pong" }
  | { type: "register"; msgId: number; alias: number; topic: string }
  | { type: "regAck"; msgId: number; alias: number; code: number }
  | { type: "disconnect"; sleepSeconds: number };

/** The `type` names of {@linkcode Message}. */
export type MessageTypeName = Message["type"];

const PRESS = ["single", "double", "long"] as const;
const SENSOR = ["temperature", "humidity", "battery", "status", "raw"] as const;

function checkText(s: string, max: number, what: string): void {
  if (typeof s !== "string" || utf8Length(s) > max) {
    throw new FrameEncodeError(
      `Cannot encode ${what}: must be a string of at most ${max} UTF-8 bytes`,
    );
  }
}

function checkUint(v: number, max: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new FrameEncodeError(
      `Cannot encode ${what}: ${v} is outside 0..${max}`,
    );
  }
}

function writeTopic(w: Writer, t: TopicRef): void {
  if (typeof t === "number") {
    checkUint(t, 0xffff, "topic alias");
    if (t === 0) throw new FrameEncodeError("Cannot encode topic alias 0");
    w.int(t);
  } else {
    checkText(t, Limits.MAX_TOPIC_BYTES, "topic");
    w.str(t);
  }
}

function writeOptBin(w: Writer, b: Uint8Array | null): void {
  if (b === null || b === undefined) w.nil();
  else w.bin(b);
}

/**
 * Writes one message into `w` (MessagePack array, type code first).
 *
 * @param w Destination writer.
 * @param m The message.
 * @throws {FrameEncodeError} If a field is out of range or the buffer is full.
 * @example
 * ```ts
 * import { encodeMessage, Writer } from "@avi/p2p/protocol";
 * const w = new Writer(new Uint8Array(64));
 * encodeMessage(w, { type: "ping" });
 * console.log(w.bytes()); // Uint8Array [0x91, 0x0e]
 * ```
 */
export function encodeMessage(w: Writer, m: Message): void {
  switch (m.type) {
    case "subscribe":
    case "unsubscribe":
      checkUint(m.msgId, 0xffff, "msgId");
      checkText(m.topic, Limits.MAX_TOPIC_BYTES, "topic");
      w.arrayHeader(3);
      w.int(
        m.type === "subscribe"
          ? MessageType.SUBSCRIBE
          : MessageType.UNSUBSCRIBE,
      );
      w.int(m.msgId);
      w.str(m.topic);
      return;
    case "subscribeAck":
    case "unsubscribeAck":
    case "ack":
      checkUint(m.msgId, 0xffff, "msgId");
      checkUint(m.code, 0xff, "code");
      w.arrayHeader(3);
      w.int(
        m.type === "ack"
          ? MessageType.ACK
          : m.type === "subscribeAck"
          ? MessageType.SUBSCRIBE_ACK
          : MessageType.UNSUBSCRIBE_ACK,
      );
      w.int(m.msgId);
      w.int(m.code);
      return;
    case "publish":
    case "message":
      checkUint(m.msgId, 0xffff, "msgId");
      if (m.qos !== 0 && m.qos !== 1) {
        throw new FrameEncodeError(
          `Cannot encode qos ${m.qos}: must be 0 or 1`,
        );
      }
      if (m.qos === 1 && m.msgId === 0) {
        throw new FrameEncodeError("Cannot encode QoS 1 with msgId 0");
      }
      w.arrayHeader(5);
      w.int(m.type === "publish" ? MessageType.PUBLISH : MessageType.MESSAGE);
      w.int(m.msgId);
      w.int(m.qos);
      writeTopic(w, m.topic);
      w.bin(m.data);
      return;
    case "streamStart":
      checkUint(m.msgId, 0xffff, "msgId");
      checkUint(m.streamId, 0xff, "streamId");
      checkText(m.targetPeer, Limits.MAX_TEXT_BYTES, "targetPeer");
      checkText(m.reason, Limits.MAX_TEXT_BYTES, "reason");
      w.arrayHeader(5);
      w.int(MessageType.STREAM_START);
      w.int(m.msgId);
      w.int(m.streamId);
      w.str(m.targetPeer);
      w.str(m.reason);
      return;
    case "streamData":
      checkUint(m.streamId, 0xff, "streamId");
      checkUint(m.seq, 0xffffffff, "seq");
      w.arrayHeader(4);
      w.int(MessageType.STREAM_DATA);
      w.int(m.streamId);
      w.int(m.seq);
      w.bin(m.data);
      return;
    case "streamClose":
      checkUint(m.streamId, 0xff, "streamId");
      checkUint(m.code, 0xff, "code");
      w.arrayHeader(3);
      w.int(MessageType.STREAM_CLOSE);
      w.int(m.streamId);
      w.int(m.code);
      return;
    case "buttonPress": {
      checkUint(m.msgId, 0xffff, "msgId");
      checkUint(m.buttonId, 0xff, "buttonId");
      const p = PRESS.indexOf(m.pressType);
      if (p < 0) {
        throw new FrameEncodeError(`Cannot encode press type ${m.pressType}`);
      }
      w.arrayHeader(5);
      w.int(MessageType.BUTTON_PRESS);
      w.int(m.msgId);
      w.int(m.buttonId);
      w.int(p);
      writeOptBin(w, m.customData);
      return;
    }
    case "sensorUpdate": {
      checkUint(m.msgId, 0xffff, "msgId");
      checkText(m.name, Limits.MAX_NAME_BYTES, "sensor name");
      const v = m.value;
      const k = SENSOR.indexOf(v.kind);
      if (k < 0) throw new FrameEncodeError(`Cannot encode sensor ${v.kind}`);
      w.arrayHeader(6);
      w.int(MessageType.SENSOR_UPDATE);
      w.int(m.msgId);
      w.str(m.name);
      w.int(k);
      if (v.kind === "temperature" || v.kind === "humidity") {
        if (typeof v.value !== "number") {
          throw new FrameEncodeError(
            "Cannot encode sensor value: not a number",
          );
        }
        w.f32(v.value);
      } else if (v.kind === "battery") {
        checkUint(v.value, 0xff, "battery");
        w.int(v.value);
      } else if (v.kind === "status") {
        if (typeof v.value !== "boolean") {
          throw new FrameEncodeError("Cannot encode status: not a boolean");
        }
        w.bool(v.value);
      } else {
        if (
          !Number.isInteger(v.value) || v.value < -0x80000000 ||
          v.value > 0x7fffffff
        ) throw new FrameEncodeError("Cannot encode raw: not an int32");
        w.int(v.value);
      }
      writeOptBin(w, m.customData);
      return;
    }
    case "error":
      checkUint(m.code, 0xff, "code");
      checkUint(m.msgId, 0xffff, "msgId");
      checkText(m.detail, Limits.MAX_TEXT_BYTES, "detail");
      w.arrayHeader(4);
      w.int(MessageType.ERROR);
      w.int(m.code);
      w.int(m.msgId);
      w.str(m.detail);
      return;
    case "ping":
    case "pong":
      w.arrayHeader(1);
      w.int(m.type === "ping" ? MessageType.PING : MessageType.PONG);
      return;
    case "register":
      checkUint(m.msgId, 0xffff, "msgId");
      checkUint(m.alias, 0xffff, "alias");
      if (m.alias === 0) throw new FrameEncodeError("Cannot register alias 0");
      checkText(m.topic, Limits.MAX_TOPIC_BYTES, "topic");
      w.arrayHeader(4);
      w.int(MessageType.REGISTER);
      w.int(m.msgId);
      w.int(m.alias);
      w.str(m.topic);
      return;
    case "regAck":
      checkUint(m.msgId, 0xffff, "msgId");
      checkUint(m.alias, 0xffff, "alias");
      checkUint(m.code, 0xff, "code");
      w.arrayHeader(4);
      w.int(MessageType.REG_ACK);
      w.int(m.msgId);
      w.int(m.alias);
      w.int(m.code);
      return;
    case "disconnect":
      checkUint(m.sleepSeconds, 0xffffffff, "sleepSeconds");
      w.arrayHeader(2);
      w.int(MessageType.DISCONNECT);
      w.int(m.sleepSeconds);
      return;
  }
  throw new FrameEncodeError(
    `Cannot encode message type ${(m as { type: string }).type}`,
  );
}

// Field count of each message type (index = type code).
const ARITY = [0, 3, 3, 3, 3, 5, 5, 3, 5, 4, 3, 5, 6, 4, 1, 1, 4, 4, 2];

function readTopic(r: Reader): TopicRef {
  const t = r.peek();
  // Any MessagePack integer format is an alias (docs/PROTOCOL.md 4).
  if (t < 0x80 || (t >= 0xcc && t <= 0xd3) || t >= 0xe0) {
    const a = r.uint(0xffff);
    if (a === 0) throw new FrameDecodeError("Cannot decode frame: alias 0");
    return a;
  }
  return r.str(Limits.MAX_TOPIC_BYTES);
}

function readOptBin(r: Reader): Uint8Array | null {
  return r.nil() ? null : r.bin();
}

function readQos(r: Reader, msgId: number): 0 | 1 {
  const q = r.uint(1) as 0 | 1;
  if (q === 1 && msgId === 0) {
    throw new FrameDecodeError("Cannot decode frame: QoS 1 with msgId 0");
  }
  return q;
}

/**
 * Decodes one message from `bytes[start, end)`; the array must fill the range
 * exactly. Byte fields (`data`, `customData`) are views into `bytes`, valid
 * only as long as `bytes` is not reused.
 *
 * @param bytes Source (usually the decrypted plaintext of a sealed frame).
 * @param start First byte.
 * @param end One past the last byte.
 * @returns The message.
 * @throws {FrameDecodeError} On anything that is not exactly one valid message.
 * @example
 * ```ts
 * import { decodeMessage } from "@avi/p2p/protocol";
 * console.log(decodeMessage(new Uint8Array([0x91, 0x0e]))); // { type: "ping" }
 * ```
 */
export function decodeMessage(
  bytes: Uint8Array,
  start = 0,
  end: number = bytes.length,
): Message {
  const r = new Reader(bytes, start, end);
  const m = readMessage(r);
  if (r.pos !== r.end) {
    throw new FrameDecodeError(
      `Cannot decode frame: ${r.end - r.pos} trailing bytes`,
    );
  }
  return m;
}

/**
 * Decodes the plaintext of a sealed frame: one or more messages back to back
 * (docs/PROTOCOL.md section 4), at most `Limits.MAX_MESSAGES_PER_FRAME`.
 * Byte fields are views into `bytes`, as with {@linkcode decodeMessage}.
 *
 * @param bytes Source (usually the decrypted plaintext of a sealed frame).
 * @param start First byte.
 * @param end One past the last byte.
 * @param ends If given, receives the end offset of each message (so that
 *   `bytes[ends[i - 1] ?? start, ends[i])` are the bytes of message `i`).
 * @returns The messages, in order (at least one).
 * @throws {FrameDecodeError} If any message is malformed, none is there, or
 *   there are more than `Limits.MAX_MESSAGES_PER_FRAME`: the whole frame is refused.
 * @example
 * ```ts
 * import { decodeMessages } from "@avi/p2p/protocol";
 * console.log(decodeMessages(new Uint8Array([0x91, 0x0e, 0x91, 0x0f])));
 * // [ { type: "ping" }, { type: "pong" } ]
 * ```
 */
export function decodeMessages(
  bytes: Uint8Array,
  start = 0,
  end: number = bytes.length,
  ends?: number[],
): Message[] {
  const r = new Reader(bytes, start, end);
  const out: Message[] = [];
  do {
    if (out.length === Limits.MAX_MESSAGES_PER_FRAME) {
      throw new FrameDecodeError(
        `Cannot decode frame: more than ${Limits.MAX_MESSAGES_PER_FRAME} messages`,
      );
    }
    out.push(readMessage(r));
    ends?.push(r.pos);
  } while (r.pos < r.end);
  return out;
}

function readMessage(r: Reader): Message {
  const n = r.arrayHeader();
  if (n < 1) throw new FrameDecodeError("Cannot decode frame: empty message");
  const t = r.uint(0xff);
  if (t === 0 || t >= ARITY.length) {
    throw new FrameDecodeError(
      `Cannot decode frame: unknown message type ${t}`,
    );
  }
  if (n !== ARITY[t]) {
    throw new FrameDecodeError(
      `Cannot decode frame: message type ${t} needs ${
        ARITY[t]
      } items, got ${n}`,
    );
  }
  let m: Message;
  switch (t) {
    case MessageType.SUBSCRIBE:
    case MessageType.UNSUBSCRIBE: {
      const msgId = r.uint(0xffff);
      const topic = r.str(Limits.MAX_TOPIC_BYTES);
      m = {
        type: t === MessageType.SUBSCRIBE ? "subscribe" : "unsubscribe",
        msgId,
        topic,
      };
      break;
    }
    case MessageType.SUBSCRIBE_ACK:
    case MessageType.UNSUBSCRIBE_ACK:
    case MessageType.ACK: {
      const msgId = r.uint(0xffff);
      const code = r.uint(0xff);
      m = {
        type: t === MessageType.ACK
          ? "ack"
          : t === MessageType.SUBSCRIBE_ACK
          ? "subscribeAck"
          : "unsubscribeAck",
        msgId,
        code,
      };
      break;
    }
    case MessageType.PUBLISH:
    case MessageType.MESSAGE: {
      const msgId = r.uint(0xffff);
      const qos = readQos(r, msgId);
      const topic = readTopic(r);
      const data = r.bin();
      m = {
        type: t === MessageType.PUBLISH ? "publish" : "message",
        msgId,
        qos,
        topic,
        data,
      };
      break;
    }
    case MessageType.STREAM_START: {
      const msgId = r.uint(0xffff);
      const streamId = r.uint(0xff);
      const targetPeer = r.str(Limits.MAX_TEXT_BYTES);
      const reason = r.str(Limits.MAX_TEXT_BYTES);
      m = { type: "streamStart", msgId, streamId, targetPeer, reason };
      break;
    }
    case MessageType.STREAM_DATA: {
      const streamId = r.uint(0xff);
      const seq = r.uint(0xffffffff);
      const data = r.bin();
      m = { type: "streamData", streamId, seq, data };
      break;
    }
    case MessageType.STREAM_CLOSE: {
      const streamId = r.uint(0xff);
      const code = r.uint(0xff);
      m = { type: "streamClose", streamId, code };
      break;
    }
    case MessageType.BUTTON_PRESS: {
      const msgId = r.uint(0xffff);
      const buttonId = r.uint(0xff);
      const pressType = PRESS[r.uint(2)];
      const customData = readOptBin(r);
      m = { type: "buttonPress", msgId, buttonId, pressType, customData };
      break;
    }
    case MessageType.SENSOR_UPDATE: {
      const msgId = r.uint(0xffff);
      const name = r.str(Limits.MAX_NAME_BYTES);
      const kind = SENSOR[r.uint(4)];
      let value: SensorValue;
      if (kind === "temperature" || kind === "humidity") {
        if (r.peek() !== 0xca) {
          throw new FrameDecodeError("Cannot decode frame: expected float32");
        }
        value = { kind, value: r.number() };
      } else if (kind === "battery") value = { kind, value: r.uint(0xff) };
      else if (kind === "status") value = { kind, value: r.bool() };
      else {
        const v = r.int();
        if (v < -0x80000000 || v > 0x7fffffff) {
          throw new FrameDecodeError("Cannot decode frame: raw not an int32");
        }
        value = { kind, value: v };
      }
      const customData = readOptBin(r);
      m = { type: "sensorUpdate", msgId, name, value, customData };
      break;
    }
    case MessageType.ERROR: {
      const code = r.uint(0xff);
      const msgId = r.uint(0xffff);
      const detail = r.str(Limits.MAX_TEXT_BYTES);
      m = { type: "error", code, msgId, detail };
      break;
    }
    case MessageType.PING:
      m = { type: "ping" };
      break;
    case MessageType.PONG:
      m = { type: "pong" };
      break;
    case MessageType.REGISTER: {
      const msgId = r.uint(0xffff);
      const alias = r.uint(0xffff);
      if (alias === 0) {
        throw new FrameDecodeError("Cannot decode frame: alias 0");
      }
      const topic = r.str(Limits.MAX_TOPIC_BYTES);
      m = { type: "register", msgId, alias, topic };
      break;
    }
    case MessageType.REG_ACK: {
      const msgId = r.uint(0xffff);
      const alias = r.uint(0xffff);
      const code = r.uint(0xff);
      m = { type: "regAck", msgId, alias, code };
      break;
    }
    default: {
      const sleepSeconds = r.uint(0xffffffff);
      m = { type: "disconnect", sleepSeconds };
    }
  }
  return m;
}
