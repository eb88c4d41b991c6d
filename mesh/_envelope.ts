/**
 * The pub/sub envelope (internal): several (topic, payload) messages carried
 * in one signed GossipSub message on a reserved topic, so that a burst over
 * many topics costs one signature and one gossip frame, not one per message.
 *
 * Every mesh node of this library subscribes to {@linkcode ENVELOPE_TOPIC}
 * and unpacks an envelope into ordinary `message` events, one per entry whose
 * topic the node is subscribed to (the envelope's signer is the `from` of
 * each). Nodes that do not speak it (the original Rust library) never see
 * envelopes: they do not subscribe to the topic.
 *
 * Wire format (version 1), big-endian:
 *
 * ```text
 * 0xA1                           version byte
 * then, once per entry (1 ..= MAX_ENVELOPE_ENTRIES):
 *   u16 topic length, topic (UTF-8)
 *   u32 payload length, payload
 * ```
 *
 * @module
 */

import { checkTopic } from "./topic.ts";

/** The reserved topic envelopes travel on. */
export const ENVELOPE_TOPIC = "_avi/envelope/1";

/** The version byte that opens an envelope. */
export const ENVELOPE_VERSION = 0xa1;

/** Entries in one envelope, at most (a longer one is refused as malformed). */
export const MAX_ENVELOPE_ENTRIES = 1024;

/** One message inside an envelope. */
export interface EnvelopeEntry {
  topic: string;
  data: Uint8Array;
}

const UTF8 = new TextEncoder();
const UTF8_STRICT = new TextDecoder("utf-8", { fatal: true });

/** An envelope that cannot be read. */
export class MalformedEnvelopeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MalformedEnvelopeError";
  }
}

/**
 * Encodes entries as one envelope. Topics are checked by the caller.
 * @throws {RangeError} With no entries, more than `MAX_ENVELOPE_ENTRIES`, or
 * a topic over 65,535 bytes.
 */
export function encodeEnvelope(entries: readonly EnvelopeEntry[]): Uint8Array {
  if (entries.length === 0 || entries.length > MAX_ENVELOPE_ENTRIES) {
    throw new RangeError(
      `An envelope holds 1 to ${MAX_ENVELOPE_ENTRIES} messages, not ${entries.length}`,
    );
  }
  const topics = entries.map((e) => UTF8.encode(e.topic));
  let size = 1;
  for (let i = 0; i < entries.length; i++) {
    if (topics[i].length > 0xffff) throw new RangeError("Topic too long");
    size += 2 + topics[i].length + 4 + entries[i].data.length;
  }
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out[0] = ENVELOPE_VERSION;
  let o = 1;
  for (let i = 0; i < entries.length; i++) {
    view.setUint16(o, topics[i].length);
    out.set(topics[i], o + 2);
    o += 2 + topics[i].length;
    const data = entries[i].data;
    view.setUint32(o, data.length);
    out.set(data, o + 4);
    o += 4 + data.length;
  }
  return out;
}

/**
 * Decodes an envelope, checking every topic (`maxTopicLength` bytes, as
 * `publish` does). Payloads are views into `bytes`.
 * @throws {MalformedEnvelopeError} For anything that is not a well-formed
 * version-1 envelope.
 */
export function decodeEnvelope(
  bytes: Uint8Array,
  maxTopicLength: number,
): EnvelopeEntry[] {
  if (bytes.length < 1 || bytes[0] !== ENVELOPE_VERSION) {
    throw new MalformedEnvelopeError("Unknown envelope version");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const entries: EnvelopeEntry[] = [];
  let o = 1;
  while (o < bytes.length) {
    if (entries.length >= MAX_ENVELOPE_ENTRIES) {
      throw new MalformedEnvelopeError("Too many entries");
    }
    if (o + 2 > bytes.length) throw new MalformedEnvelopeError("Truncated");
    const tl = view.getUint16(o);
    o += 2;
    if (o + tl + 4 > bytes.length) {
      throw new MalformedEnvelopeError("Truncated");
    }
    let topic: string;
    try {
      topic = UTF8_STRICT.decode(bytes.subarray(o, o + tl));
      checkTopic(topic, maxTopicLength);
    } catch (e) {
      throw new MalformedEnvelopeError(`Bad topic: ${(e as Error).message}`);
    }
    o += tl;
    const dl = view.getUint32(o);
    o += 4;
    if (o + dl > bytes.length) throw new MalformedEnvelopeError("Truncated");
    entries.push({ topic, data: bytes.subarray(o, o + dl) });
    o += dl;
  }
  if (entries.length === 0) throw new MalformedEnvelopeError("Empty");
  return entries;
}
