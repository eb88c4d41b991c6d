/**
 * A peer id's string form without a base58 encoding per message (internal).
 *
 * `@libp2p/peer-id` 6 computes a peer id's string (base58btc of its
 * multihash) once per PeerId object. GossipSub makes a fresh PeerId from
 * the `from` bytes of every message it receives, so every received
 * message whose author is asked for its string (the mesh does, to name the
 * sender of each event) pays a base58 encoding of 38 bytes again: about
 * 8 µs of the receiver's time a message, and its garbage, for a handful of
 * distinct authors. {@linkcode patchPeerIdString} makes `toString` look the
 * string up by the multihash bytes in a small bounded cache first. The
 * string is a function of those bytes alone, so every result is the same;
 * what is authenticated (the signature GossipSub checks against the key
 * those bytes name) is untouched.
 *
 * @module
 */

import { peerIdFromString } from "@libp2p/peer-id";
import type { WrittenFor } from "./_written_for.ts";

/**
 * The version this adjustment was written for: it replaces `toString` of
 * the package's (unexported) `PeerIdImpl` and reads its `string` and
 * `multihash` fields.
 */
export const PEER_ID_STRING_WRITTEN_FOR: WrittenFor = {
  name: "@libp2p/peer-id",
  version: "6.0.15",
  adjustment: "mesh/_peer_id_string.ts",
};

/** Strings kept, at most (the oldest forgotten first). */
export const MAX_CACHED_PEER_ID_STRINGS = 1024;

/** An Ed25519 peer id, to find the class from. */
const SAMPLE = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";

interface PeerIdFields {
  string?: string;
  multihash?: { bytes?: unknown };
}

const strings = new Map<string, string>();
let original: ((this: PeerIdFields) => string) | undefined;

/** `PeerIdImpl.prototype.toString`, found from an instance (not exported). */
function owner(): Record<string, unknown> {
  let proto = Object.getPrototypeOf(peerIdFromString(SAMPLE));
  while (proto !== null && !Object.hasOwn(proto, "toString")) {
    proto = Object.getPrototypeOf(proto);
  }
  if (proto === null || proto === Object.prototype) {
    throw new Error(
      "@libp2p/peer-id has no PeerIdImpl.toString: mesh/_peer_id_string.ts no longer applies",
    );
  }
  return proto;
}

/** The string of a peer id, looked up by its multihash bytes first. */
export function peerIdToString(this: PeerIdFields): string {
  if (this.string != null) return this.string;
  const bytes = this.multihash?.bytes;
  if (!(bytes instanceof Uint8Array) || bytes.byteLength > 128) {
    return original!.call(this);
  }
  const key = String.fromCharCode.apply(null, bytes as unknown as number[]);
  let s = strings.get(key);
  if (s === undefined) {
    s = original!.call(this);
    if (strings.size >= MAX_CACHED_PEER_ID_STRINGS) {
      strings.delete(strings.keys().next().value!);
    }
    strings.set(key, s);
  }
  this.string = s;
  return s;
}

/** How many strings are cached now (for tests). */
export function cachedPeerIdStrings(): number {
  return strings.size;
}

/** Installs {@linkcode peerIdToString} on the package's PeerId class (idempotent). */
export function patchPeerIdString(): void {
  const proto = owner();
  if (proto.toString === peerIdToString) return;
  original = proto.toString as (this: PeerIdFields) => string;
  proto.toString = peerIdToString;
}
