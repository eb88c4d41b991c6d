/**
 * A pure-JS {@linkcode ProtocolCrypto} on `@noble/ciphers` and
 * `@noble/hashes`. Neither touches a Deno, Node or Web API on the paths used
 * here (byte inputs only), so it also runs on Moddable XS; the random source
 * is injected because XS has no `crypto.getRandomValues`.
 *
 * @module
 */

import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { hmac } from "@noble/hashes/hmac.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import type { ProtocolCrypto } from "./crypto.ts";

/** Options of {@linkcode nobleCrypto}. */
export interface NobleCryptoOptions {
  /**
   * Fills its argument with secure random bytes, e.g.
   * `(b) => crypto.getRandomValues(b)` on Deno.
   */
  random: (out: Uint8Array) => void;
}

/**
 * Builds the pure-JS crypto implementation.
 *
 * @param options The random source.
 * @returns A {@linkcode ProtocolCrypto}.
 * @example
 * ```ts
 * import { nobleCrypto } from "@avi/p2p/protocol";
 * const c = nobleCrypto({ random: (b) => crypto.getRandomValues(b) });
 * const key = new Uint8Array(32), nonce = new Uint8Array(12);
 * const sealed = c.seal(key, nonce, new Uint8Array(0), new Uint8Array([1, 2]));
 * console.log(c.open(key, nonce, new Uint8Array(0), sealed)); // Uint8Array [1, 2]
 * ```
 */
export function nobleCrypto(options: NobleCryptoOptions): ProtocolCrypto {
  const random = options.random;
  if (typeof random !== "function") {
    throw new TypeError("nobleCrypto: options.random must be a function");
  }
  return {
    seal(key, nonce, aad, plaintext, out) {
      return chacha20poly1305(key, nonce, aad).encrypt(plaintext, out);
    },
    open(key, nonce, aad, sealed, out) {
      if (sealed.length < 16) return null;
      try {
        return chacha20poly1305(key, nonce, aad).decrypt(sealed, out);
      } catch {
        return null;
      }
    },
    hmacSha256(key, data) {
      return hmac(sha256, key, data);
    },
    hkdfSha256(ikm, salt, info, length) {
      return hkdf(sha256, ikm, salt, info, length);
    },
    randomBytes(out) {
      random(out);
    },
  };
}
