/**
 * Checking a received GossipSub message without redoing per-author work
 * (internal).
 *
 * For every message it receives, `@libp2p/gossipsub` 17.1.1
 * (`validateToRawMessage`, `StrictSign`) decodes the author's peer id from
 * the `from` bytes, decodes the public key from the `key` bytes and derives
 * its peer id to compare them, re-encodes the message with protobuf to get
 * the signed bytes, and reads the sequence number through a hex string
 * into a `BigInt`. In a house the authors are a handful of nodes, so all
 * but the first of those decodings are the same work again, and each
 * message also hands the application a fresh peer id whose string form is
 * base58-encoded again.
 *
 * {@linkcode checkSigned} does the same checks in the same order with the
 * same outcomes (`_gossip_validate_test.ts` compares it with the package's
 * function on valid, forged and malformed messages), but keeps each
 * author's decoded peer id and key, keyed by the exact `from` and `key`
 * bytes they were checked for (at most {@linkcode MAX_AUTHORS}), writes the
 * signed bytes (`"libp2p-pubsub:"` and the protobuf fields `from`, `data`,
 * `seqno`, `topic`) directly, and reads the sequence number as a 64-bit
 * integer. Every message's signature is still verified. A message that is
 * not the ordinary case (no key in it, a sequence number of another size,
 * another signature policy) goes to the package's own code unchanged.
 *
 * {@linkcode patchGossipValidate} puts it in front of the package's
 * `validateReceivedMessage`, whose remaining steps (message id, caches,
 * IDONTWANT, topic validators) follow as in the package.
 *
 * @module
 */

import { publicKeyFromProtobuf } from "@libp2p/crypto/keys";
import { peerIdFromMultihash } from "@libp2p/peer-id";
import type { PeerId as Libp2pPeerId, PublicKey } from "@libp2p/interface";
import {
  MessageStatus,
  RejectReason,
  rejectReasonFromAcceptance,
  ValidateError,
} from "@libp2p/gossipsub/types";
import { TopicValidatorResult } from "@libp2p/gossipsub";
import * as Digest from "multiformats/hashes/digest";
import { byteKey, bytesEqual } from "../core/bytes.ts";
import type { WrittenFor } from "./_written_for.ts";
import { slabBytes } from "../core/slab.ts";
import { utf8Length } from "../protocol/utf8.ts";

/**
 * The version this adjustment was written for: it replaces
 * `validateReceivedMessage` and reads its fields (`fastMsgIdFn`,
 * `fastMsgIdCache`, `msgIdFn`, `msgIdToStrFn`, `seenCache`, `opts`,
 * `topicValidators`, `dataTransform`, `globalSignaturePolicy`).
 */
export const GOSSIP_VALIDATE_WRITTEN_FOR: WrittenFor = {
  name: "@libp2p/gossipsub",
  version: "17.1.1",
  adjustment: "mesh/_gossip_validate.ts",
};

/** Authors whose decoded peer id and key are kept, at most (oldest forgotten first). */
export const MAX_AUTHORS = 1024;

/** A raw message as GossipSub decodes it. */
export interface RawMessage {
  from?: Uint8Array;
  data?: Uint8Array;
  seqno?: Uint8Array;
  topic: string;
  signature?: Uint8Array;
  key?: Uint8Array;
}

/** A checked message, as the package's `validateToRawMessage` returns it. */
export interface SignedMessage {
  type: "signed";
  from: Libp2pPeerId;
  data: Uint8Array;
  sequenceNumber: bigint;
  topic: string;
  signature: Uint8Array;
  key: PublicKey;
}

/** The package's verdict shape. */
export type CheckResult =
  | { valid: true; message: SignedMessage }
  | { valid: false; error: string };

const SIGN_PREFIX = new TextEncoder().encode("libp2p-pubsub:");
const utf8 = new TextEncoder();

interface Author {
  /** The `key` bytes this entry was checked for. */
  key: Uint8Array;
  peer: Libp2pPeerId;
  publicKey: PublicKey;
}

const authors = new Map<string, Author>();

/** The author of `from` with `key`, checked as the package checks it, or an error. */
function authorOf(from: Uint8Array, key: Uint8Array): Author | string {
  const id = byteKey(from);
  const known = authors.get(id);
  if (known !== undefined && bytesEqual(known.key, key)) return known;
  let peer: Libp2pPeerId;
  try {
    peer = peerIdFromMultihash(Digest.decode(from));
  } catch {
    return ValidateError.InvalidPeerId;
  }
  let publicKey: PublicKey;
  try {
    publicKey = publicKeyFromProtobuf(key);
  } catch {
    return ValidateError.InvalidPeerId;
  }
  // the message key must derive to the `from` peer id
  if (!peer.equals(publicKey.toMultihash().bytes)) {
    return ValidateError.InvalidPeerId;
  }
  const author: Author = { key: key.slice(), peer, publicKey };
  if (authors.size >= MAX_AUTHORS) {
    authors.delete(authors.keys().next().value!);
  }
  authors.set(id, author);
  return author;
}

/** The bytes of a protobuf bytes field's tag and length (`n` bytes). */
function headerBytes(n: number): number {
  let len = 2; // the tag, and the first byte of the length
  for (; n >= 0x80; n = Math.floor(n / 0x80)) len++;
  return len;
}

/** The bytes of a protobuf bytes field holding `v` (0 when absent). */
function fieldBytes(v: Uint8Array | undefined): number {
  return v == null ? 0 : headerBytes(v.length) + v.length;
}

/** Writes a protobuf bytes field's tag and length `n` at `at`. */
function putHeader(
  out: Uint8Array,
  at: number,
  tag: number,
  n: number,
): number {
  out[at++] = tag;
  while (n >= 0x80) {
    out[at++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 0x80);
  }
  out[at++] = n;
  return at;
}

/** Writes a protobuf bytes field holding `v` at `at` (nothing when absent). */
function putField(
  out: Uint8Array,
  at: number,
  tag: number,
  v: Uint8Array | undefined,
): number {
  if (v == null) return at;
  at = putHeader(out, at, tag, v.length);
  out.set(v, at);
  return at + v.length;
}

/**
 * The bytes a `StrictSign` signature covers: `"libp2p-pubsub:"` and the
 * message's protobuf without `signature` and `key`, as the package's
 * `RPC.Message.encode` writes it (a field is left out when absent, the
 * topic when empty).
 */
export function signedBytes(msg: RawMessage): Uint8Array {
  const topicLength = msg.topic !== "" ? utf8Length(msg.topic) : -1;
  const out = slabBytes(
    SIGN_PREFIX.length + fieldBytes(msg.from) + fieldBytes(msg.data) +
      fieldBytes(msg.seqno) +
      (topicLength < 0 ? 0 : headerBytes(topicLength) + topicLength),
  );
  out.set(SIGN_PREFIX, 0);
  let at = putField(out, SIGN_PREFIX.length, 10, msg.from);
  at = putField(out, at, 18, msg.data);
  at = putField(out, at, 26, msg.seqno);
  if (topicLength >= 0) {
    at = putHeader(out, at, 34, topicLength);
    utf8.encodeInto(msg.topic, out.subarray(at));
  }
  return out;
}

/**
 * Whether {@linkcode checkSigned} takes `msg`: the ordinary `StrictSign`
 * message, with an 8-byte sequence number, a signature, an author and the
 * author's key. Anything else goes to the package.
 */
export function isOrdinary(msg: RawMessage): boolean {
  return msg.seqno != null && msg.seqno.length === 8 &&
    msg.signature != null && msg.from != null && msg.key != null;
}

/**
 * The package's `StrictSign` checks of an ordinary message (see
 * {@linkcode isOrdinary}), with the same verdicts: the author's peer id and
 * key, then the signature.
 */
export async function checkSigned(msg: RawMessage): Promise<CheckResult> {
  const author = authorOf(msg.from!, msg.key!);
  if (typeof author === "string") return { valid: false, error: author };
  let ok: boolean;
  try {
    ok = await author.publicKey.verify(signedBytes(msg), msg.signature!);
  } catch {
    ok = false;
  }
  if (!ok) return { valid: false, error: ValidateError.InvalidSignature };
  const seqno = msg.seqno!;
  return {
    valid: true,
    message: {
      type: "signed",
      from: author.peer,
      data: msg.data ?? new Uint8Array(0),
      sequenceNumber: new DataView(seqno.buffer, seqno.byteOffset, 8)
        .getBigUint64(0),
      topic: msg.topic,
      signature: msg.signature!,
      key: author.publicKey,
    },
  };
}

/** How many authors are kept now (for tests). */
export function knownAuthors(): number {
  return authors.size;
}

// The fields of the package's GossipSub that `validateReceivedMessage` uses.
interface GossipFields {
  globalSignaturePolicy: string;
  fastMsgIdFn?: (msg: RawMessage) => string | number;
  fastMsgIdCache?: {
    get(id: string | number): string | undefined;
    put(id: string | number, msgIdStr: string): boolean;
  };
  dataTransform?: {
    inboundTransform(topic: string, data: Uint8Array): Uint8Array;
  };
  msgIdFn(msg: SignedMessage): Promise<Uint8Array> | Uint8Array;
  msgIdToStrFn(id: Uint8Array): string;
  seenCache: { has(id: string): boolean; put(id: string): void };
  opts: { idontwantMinDataSize: number };
  sendIDontWants(id: Uint8Array, topic: string, source: string): void;
  topicValidators: Map<
    string,
    (source: unknown, msg: SignedMessage) => unknown
  >;
  metrics?: { fastMsgIdCacheCollision: { inc(): void } };
  log(...args: unknown[]): void;
}

type Validate = (
  this: GossipFields,
  source: { toString(): string },
  msg: RawMessage,
) => Promise<unknown>;

/**
 * `validateReceivedMessage` with {@linkcode checkSigned} for ordinary
 * messages; the steps after the check are the package's.
 */
function validateWith(original: Validate): Validate {
  return async function validateReceivedMessage(source, rpcMsg) {
    if (this.globalSignaturePolicy !== "StrictSign" || !isOrdinary(rpcMsg)) {
      return original.call(this, source, rpcMsg);
    }
    const fastMsgIdStr = this.fastMsgIdFn?.(rpcMsg);
    const msgIdCached = fastMsgIdStr !== undefined
      ? this.fastMsgIdCache?.get(fastMsgIdStr)
      : undefined;
    if (msgIdCached != null) {
      return { code: MessageStatus.duplicate, msgIdStr: msgIdCached };
    }
    const checked = await checkSigned(rpcMsg);
    if (!checked.valid) {
      return {
        code: MessageStatus.invalid,
        reason: RejectReason.Error,
        error: checked.error,
      };
    }
    // from here on as in the package
    const msg = checked.message;
    try {
      if (this.dataTransform != null) {
        msg.data = this.dataTransform.inboundTransform(rpcMsg.topic, msg.data);
      }
    } catch (e) {
      this.log("Invalid message, transform failed", e);
      return {
        code: MessageStatus.invalid,
        reason: RejectReason.Error,
        error: ValidateError.TransformFailed,
      };
    }
    const msgId = await this.msgIdFn(msg);
    const msgIdStr = this.msgIdToStrFn(msgId);
    const messageId = { msgId, msgIdStr };
    if (fastMsgIdStr !== undefined && this.fastMsgIdCache != null) {
      if (this.fastMsgIdCache.put(fastMsgIdStr, msgIdStr)) {
        this.metrics?.fastMsgIdCacheCollision.inc();
      }
    }
    if (this.seenCache.has(msgIdStr)) {
      return { code: MessageStatus.duplicate, msgIdStr };
    }
    this.seenCache.put(msgIdStr);
    if ((rpcMsg.data?.length ?? 0) >= this.opts.idontwantMinDataSize) {
      this.sendIDontWants(msgId, rpcMsg.topic, source.toString());
    }
    const topicValidator = this.topicValidators.get(rpcMsg.topic);
    if (topicValidator != null) {
      let acceptance: unknown;
      try {
        acceptance = await topicValidator(source, msg);
      } catch (e) {
        const code = (e as { code?: string })?.code;
        acceptance = code === "ERR_TOPIC_VALIDATOR_REJECT"
          ? TopicValidatorResult.Reject
          : TopicValidatorResult.Ignore;
      }
      if (acceptance !== TopicValidatorResult.Accept) {
        return {
          code: MessageStatus.invalid,
          reason: rejectReasonFromAcceptance(
            acceptance as
              | TopicValidatorResult.Ignore
              | TopicValidatorResult.Reject,
          ),
          msgIdStr,
        };
      }
    }
    return { code: MessageStatus.valid, messageId, msg };
  };
}

const PATCHED = Symbol("avi.gossipValidate");

/**
 * Applies the adjustment to the class of a running GossipSub service (the
 * class is not exported by the package), once.
 */
export function patchGossipValidate(pubsub: object): void {
  const proto = Object.getPrototypeOf(pubsub) as {
    validateReceivedMessage?: Validate & { [PATCHED]?: true };
  };
  const original = proto.validateReceivedMessage;
  if (typeof original !== "function") {
    throw new Error(
      "@libp2p/gossipsub has no validateReceivedMessage: mesh/_gossip_validate.ts no longer applies",
    );
  }
  if (original[PATCHED]) return;
  const patched = validateWith(original) as Validate & { [PATCHED]?: true };
  patched[PATCHED] = true;
  proto.validateReceivedMessage = patched;
}
