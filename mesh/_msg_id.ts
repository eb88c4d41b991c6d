/**
 * GossipSub message ids without the detours (internal).
 *
 * GossipSub (`StrictSign`) names a message by its author's protobuf public
 * key followed by its 8-byte sequence number, and keys its caches by that
 * id as an unpadded base64 string. `@libp2p/gossipsub` 17.1.1 builds the id
 * through a hex string (`seqno.toString(16)`, then a base16 decode) and
 * re-encodes the key's protobuf for every message, and makes the string with
 * a JavaScript base64 encoder: on both the sending and the receiving side,
 * for every message, about 3 KB of garbage and a few microseconds.
 *
 * These are GossipSub's own options (`msgIdFn`, `msgIdToStrFn`,
 * `fastMsgIdFn`), not changes to the package:
 *
 * - {@linkcode msgIdFn} returns the same bytes as the package's
 *   `msgIdFnStrictSign` (the id is on the wire, in IHAVE, IWANT and
 *   IDONTWANT, so it must: `_msg_id_test.ts` checks it against the package).
 *   An Ed25519 key's protobuf is a fixed 4-byte header and its 32 raw bytes;
 *   any other key goes through the package's encoder.
 * - {@linkcode msgIdToStr} returns the same string as the package's
 *   `messageIdToString` (unpadded base64), through the runtime's native
 *   encoder.
 * - {@linkcode fastMsgId} lets GossipSub recognise a message it has already
 *   received *before* checking its signature again. The package verifies
 *   every copy of a message and only then looks it up in its seen-cache; in
 *   a house of n nodes every node receives most messages from the author and
 *   from the neighbours that relay them, so without this a node verified
 *   each message up to n − 1 times (about 50 µs each). The fast id is the
 *   author's peer-id bytes and the sequence number, the same pair the id is
 *   made of; GossipSub enters it in its fast cache only after the first copy
 *   has passed every check, so a forged copy (same author and number, bad
 *   signature) is verified, rejected and caches nothing, and the genuine one
 *   still gets through.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { publicKeyToProtobuf } from "@libp2p/crypto/keys";
import type { PublicKey } from "@libp2p/interface";
import { byteKey } from "../core/bytes.ts";
import { slabBytes } from "../core/slab.ts";

/** The protobuf header of an Ed25519 public key: Type = 1, Data of 32 bytes. */
const ED25519_PROTOBUF_HEADER = [0x08, 0x01, 0x12, 0x20] as const;

/** The part of a received or published GossipSub message the id is made of. */
export interface IdSource {
  type: string;
  from?: { publicKey?: PublicKey };
  key?: PublicKey;
  sequenceNumber?: bigint;
}

/** The part of a raw (undecoded) GossipSub message the fast id is made of. */
export interface RawIdSource {
  from?: Uint8Array;
  seqno?: Uint8Array;
}

/**
 * GossipSub's `StrictSign` message id: the author's protobuf public key and
 * the 8-byte big-endian sequence number, byte for byte what the package's
 * `msgIdFnStrictSign` returns.
 */
export function msgIdFn(msg: IdSource): Uint8Array {
  if (msg.type !== "signed") {
    throw new Error("expected signed message type");
  }
  const seqno = msg.sequenceNumber;
  if (seqno == null) throw new Error("missing seqno field");
  const key = msg.from?.publicKey ?? msg.key;
  if (key == null) throw new Error("missing key");
  const raw = key.type === "Ed25519" ? key.raw : undefined;
  let id: Uint8Array;
  let at: number;
  if (raw !== undefined && raw.byteLength === 32) {
    id = slabBytes(4 + 32 + 8);
    id.set(ED25519_PROTOBUF_HEADER, 0);
    id.set(raw, 4);
    at = 36;
  } else {
    const k = publicKeyToProtobuf(key);
    id = slabBytes(k.byteLength + 8);
    id.set(k, 0);
    at = k.byteLength;
  }
  new DataView(id.buffer, id.byteOffset + at, 8).setBigUint64(
    0,
    BigInt.asUintN(64, seqno),
  );
  return id;
}

/** A message id as GossipSub's cache key: unpadded base64, as the package's. */
export function msgIdToStr(id: Uint8Array): string {
  const s = Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString(
    "base64",
  );
  if (s.charCodeAt(s.length - 1) !== 61) return s; // "="
  return s.slice(0, s.charCodeAt(s.length - 2) === 61 ? -2 : -1);
}

/**
 * The fast id of a raw message: its sequence number and its author's
 * peer-id bytes. A message without both (or whose sequence number is not
 * the 8 bytes `StrictSign` requires) gets `""`, which no message that
 * passes validation has, so it is never entered in the fast cache and
 * never found there.
 */
export function fastMsgId(msg: RawIdSource): string {
  const from = msg.from;
  const seqno = msg.seqno;
  if (from == null || seqno == null || seqno.byteLength !== 8) return "";
  return byteKey(seqno) + byteKey(from);
}
