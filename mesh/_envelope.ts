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
import { byteKey } from "../core/bytes.ts";
import { utf8Length } from "../protocol/utf8.ts";

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
  // Topics are measured, then written in place: one array for the whole
  // envelope (in Deno every typed array is a backing store of its own).
  const topicLengths = entries.map((e) => utf8Length(e.topic));
  let size = 1;
  for (let i = 0; i < entries.length; i++) {
    if (topicLengths[i] > 0xffff) throw new RangeError("Topic too long");
    size += 2 + topicLengths[i] + 4 + entries[i].data.length;
  }
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out[0] = ENVELOPE_VERSION;
  let o = 1;
  for (let i = 0; i < entries.length; i++) {
    const tl = topicLengths[i];
    view.setUint16(o, tl);
    UTF8.encodeInto(entries[i].topic, out.subarray(o + 2, o + 2 + tl));
    o += 2 + tl;
    const data = entries[i].data;
    view.setUint32(o, data.length);
    out.set(data, o + 4);
    o += 4 + data.length;
  }
  return out;
}

/** Topics already decoded and checked, by their bytes (see {@linkcode topicAt}). */
const knownTopics = new Map<string, { topic: string; max: number }>();

/** Topics remembered at most (a new one past it forgets the oldest). */
export const MAX_KNOWN_TOPICS = 1024;

/** How many topics are remembered now (for tests). */
export function knownTopicCount(): number {
  return knownTopics.size;
}

/**
 * The topic in `bytes` at `o` (`tl` bytes), decoded (strict UTF-8) and
 * checked against `maxTopicLength`; a topic seen before is looked up by its
 * bytes instead of decoded again (an envelope repeats a few topics).
 */
function topicAt(
  bytes: Uint8Array,
  o: number,
  tl: number,
  maxTopicLength: number,
): string {
  const raw = bytes.subarray(o, o + tl);
  const id = tl <= 256 ? byteKey(raw) : undefined;
  const known = id !== undefined ? knownTopics.get(id) : undefined;
  if (known !== undefined && known.max === maxTopicLength) return known.topic;
  let topic: string;
  try {
    topic = UTF8_STRICT.decode(raw);
    checkTopic(topic, maxTopicLength);
  } catch (e) {
    throw new MalformedEnvelopeError(`Bad topic: ${(e as Error).message}`);
  }
  if (id !== undefined) {
    if (knownTopics.size >= MAX_KNOWN_TOPICS) {
      knownTopics.delete(knownTopics.keys().next().value!);
    }
    knownTopics.set(id, { topic, max: maxTopicLength });
  }
  return topic;
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
    const topic = topicAt(bytes, o, tl, maxTopicLength);
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
