/**
 * Ed25519 without a key import per signature (internal).
 *
 * `@libp2p/crypto` (5.x, Node build) signs and verifies by first building a
 * `node:crypto` KeyObject from a JWK, on every call: base64url-encoding the
 * key, parsing the JWK and importing it costs about as much as the
 * signature itself. GossipSub signs every published message and verifies
 * every received one, each time with a fresh key object (the sender's key is
 * re-created from the message), so that import ran twice per mesh message.
 *
 * {@linkcode patchEd25519KeyCache} replaces the `sign`/`verify` methods of
 * the library's Ed25519 key classes, once per process, by ones that import
 * each key once and then reuse the KeyObject: a private key's on the key
 * object itself (a WeakMap: nothing outlives the key), public keys in a
 * bounded cache keyed by the 32 raw bytes. The results are the same calls to
 * `node:crypto` with the same key, so signatures and verdicts are identical;
 * anything unusual (a signature that is not 64 bytes, a key of another
 * size) goes to the original method unchanged.
 *
 * @module
 */

import {
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  sign as nodeSign,
  verify as nodeVerify,
} from "node:crypto";
import { generateKeyPair } from "@libp2p/crypto/keys";
import { byteKey } from "../core/bytes.ts";
import type { WrittenFor } from "./_written_for.ts";

/**
 * The version this adjustment was written for: it replaces the `sign` and
 * `verify` methods of the library's Ed25519 key classes and reads `raw`.
 */
export const ED25519_CACHE_WRITTEN_FOR: WrittenFor = {
  name: "@libp2p/crypto",
  version: "5.1.23",
  adjustment: "mesh/_ed25519_cache.ts",
};

/** Public keys whose KeyObject is kept, at most (oldest forgotten first). */
export const MAX_CACHED_PUBLIC_KEYS = 1024;

// deno-lint-ignore no-explicit-any
type Method = (this: any, ...args: any[]) => any;

const b64url = (b: Uint8Array) =>
  btoa(String.fromCharCode(...b)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");

let patched = false;
const privateKeys = new WeakMap<object, KeyObject>();
const publicKeys = new Map<string, KeyObject>();

function publicKeyObject(raw: Uint8Array): KeyObject {
  const id = byteKey(raw);
  let k = publicKeys.get(id);
  if (k === undefined) {
    k = createPublicKey({
      format: "jwk",
      key: { crv: "Ed25519", x: b64url(raw), kty: "OKP" },
    });
    if (publicKeys.size >= MAX_CACHED_PUBLIC_KEYS) {
      publicKeys.delete(publicKeys.keys().next().value!);
    }
    publicKeys.set(id, k);
  }
  return k;
}

/** How many public keys are cached now (for tests). */
export function cachedPublicKeys(): number {
  return publicKeys.size;
}

/**
 * Installs the cached `sign`/`verify` on `@libp2p/crypto`'s Ed25519 key
 * classes. Idempotent.
 */
export async function patchEd25519KeyCache(): Promise<void> {
  if (patched) return;
  patched = true;
  const sample = await generateKeyPair("Ed25519");
  const privProto = Object.getPrototypeOf(sample) as Record<string, Method>;
  const pubProto = Object.getPrototypeOf(sample.publicKey) as Record<
    string,
    Method
  >;
  const origSign = privProto.sign;
  const origVerify = pubProto.verify;
  if (typeof origSign !== "function" || typeof origVerify !== "function") {
    return;
  }
  privProto.sign = function sign(
    this: { raw: Uint8Array },
    message: Uint8Array | { subarray(): Uint8Array },
    options?: { signal?: AbortSignal },
  ) {
    const raw = this.raw;
    if (!(raw instanceof Uint8Array) || raw.byteLength !== 64) {
      return origSign.call(this, message, options);
    }
    options?.signal?.throwIfAborted();
    let k = privateKeys.get(this);
    if (k === undefined) {
      k = createPrivateKey({
        format: "jwk",
        key: {
          crv: "Ed25519",
          d: b64url(raw.subarray(0, 32)),
          x: b64url(raw.subarray(32)),
          kty: "OKP",
        },
      });
      privateKeys.set(this, k);
    }
    const msg = message instanceof Uint8Array ? message : message.subarray();
    return nodeSign(null, msg, k);
  };
  pubProto.verify = function verify(
    this: { raw: Uint8Array },
    data: Uint8Array | { subarray(): Uint8Array },
    sig: Uint8Array,
    options?: { signal?: AbortSignal },
  ) {
    const raw = this.raw;
    if (
      !(raw instanceof Uint8Array) || raw.byteLength !== 32 ||
      !(sig instanceof Uint8Array) || sig.byteLength !== 64
    ) {
      return origVerify.call(this, data, sig, options);
    }
    options?.signal?.throwIfAborted();
    const msg = data instanceof Uint8Array ? data : data.subarray();
    return nodeVerify(null, msg, publicKeyObject(raw), sig);
  };
}
