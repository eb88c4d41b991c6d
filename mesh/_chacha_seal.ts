/**
 * Noise's small ciphertexts in shared slabs (internal).
 *
 * `@chainsafe/libp2p-noise` 17 encrypts every message under 1,200 bytes
 * with the WebAssembly ChaCha20-Poly1305 of `@chainsafe/as-chacha20poly1305`
 * 0.1.0, whose `seal` copies the result out of WebAssembly memory into a
 * new `Uint8Array` when it is given no destination, and Noise gives none.
 * In Deno every new typed array is a backing store of its own (see
 * `core/slab.ts`): one more per message sent, made and later swept.
 *
 * {@linkcode patchChachaSeal} gives the cipher class a `seal` that passes a
 * slab view of the right length as the destination when the caller gave
 * none: the same bytes, written where the package would have written
 * them, with the package's own checks. A change any user of the package on
 * Deno would want.
 *
 * @module
 */

import { ChaCha20Poly1305 } from "@chainsafe/as-chacha20poly1305";
import { slabBytes } from "../core/slab.ts";
import type { WrittenFor } from "./_written_for.ts";

/** The version this adjustment was written for: it wraps `ChaCha20Poly1305.prototype.seal` (and its `dst` argument). */
export const CHACHA_SEAL_WRITTEN_FOR: WrittenFor = {
  name: "@chainsafe/as-chacha20poly1305",
  version: "0.1.0",
  adjustment: "mesh/_chacha_seal.ts",
};

/** The Poly1305 tag after the ciphertext. */
const TAG_BYTES = 16;

type Seal = (
  this: unknown,
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  associatedData?: Uint8Array,
  dst?: Uint8Array,
) => Uint8Array;

/** The package's own `seal`, as it was before the adjustment. */
export const PACKAGE_SEAL: Seal = (ChaCha20Poly1305.prototype as unknown as {
  seal: Seal;
}).seal;

const seal: Seal = function seal(
  key,
  nonce,
  plaintext,
  associatedData,
  dst,
) {
  return PACKAGE_SEAL.call(
    this,
    key,
    nonce,
    plaintext,
    associatedData,
    dst ?? slabBytes(plaintext.length + TAG_BYTES),
  );
};

/**
 * Installs the adjusted `seal` on the cipher class (once per process).
 *
 * @throws {Error} When the class no longer has a `seal` method.
 */
export function patchChachaSeal(): void {
  if (patched) return;
  const proto = ChaCha20Poly1305.prototype as unknown as { seal: unknown };
  if (typeof PACKAGE_SEAL !== "function" || PACKAGE_SEAL.length < 5) {
    throw new Error(
      "@chainsafe/as-chacha20poly1305 has changed: mesh/_chacha_seal.ts no longer applies",
    );
  }
  proto.seal = seal;
  patched = true;
}

let patched = false;
