/**
 * The cryptography the protocol needs, behind a small interface so that a
 * device can plug in a native implementation (Moddable's `crypt`) while Deno
 * and tests use {@linkcode nobleCrypto}.
 *
 * @module
 */

/**
 * Primitives of the device protocol. Keys are 32 bytes, AEAD nonces 12 bytes,
 * AEAD tags 16 bytes (appended to the ciphertext).
 *
 * @example A wrapper that counts seals
 * ```ts
 * import { nobleCrypto, type ProtocolCrypto } from "@avi/p2p/protocol";
 * const inner = nobleCrypto({ random: (b) => crypto.getRandomValues(b) });
 * let seals = 0;
 * const counting: ProtocolCrypto = { ...inner, seal: (...a) => (seals++, inner.seal(...a)) };
 * ```
 */
export interface ProtocolCrypto {
  /**
   * ChaCha20-Poly1305 encryption.
   * @param key 32-byte key.
   * @param nonce 12-byte nonce.
   * @param aad Additional authenticated data.
   * @param plaintext Message.
   * @param out Optional destination of exactly `plaintext.length + 16` bytes.
   * @returns Ciphertext followed by the 16-byte tag.
   */
  seal(
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    plaintext: Uint8Array,
    out?: Uint8Array,
  ): Uint8Array;
  /**
   * ChaCha20-Poly1305 decryption and verification.
   * @param key 32-byte key.
   * @param nonce 12-byte nonce.
   * @param aad Additional authenticated data.
   * @param sealed Ciphertext followed by the tag.
   * @param out Optional destination of exactly `sealed.length - 16` bytes.
   * @returns The plaintext, or `null` if the tag does not verify.
   */
  open(
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    sealed: Uint8Array,
    out?: Uint8Array,
  ): Uint8Array | null;
  /**
   * HMAC-SHA256.
   * @param key Any-length key.
   * @param data Message.
   * @returns 32-byte MAC.
   */
  hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array;
  /**
   * HKDF-SHA256 (RFC 5869), extract then expand.
   * @param ikm Input keying material.
   * @param salt Salt.
   * @param info Context.
   * @param length Output length in bytes.
   * @returns Output keying material.
   */
  hkdfSha256(
    ikm: Uint8Array,
    salt: Uint8Array,
    info: Uint8Array,
    length: number,
  ): Uint8Array;
  /**
   * Fills `out` with cryptographically secure random bytes.
   * @param out Destination.
   */
  randomBytes(out: Uint8Array): void;
}

/**
 * Compares two byte strings in time that depends only on their lengths.
 *
 * @param a First.
 * @param b Second.
 * @returns True if equal.
 * @example
 * ```ts
 * import { constantTimeEqual } from "@avi/p2p/protocol";
 * console.log(constantTimeEqual(new Uint8Array([1]), new Uint8Array([1]))); // true
 * ```
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}
