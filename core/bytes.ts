/**
 * Comparing bytes and naming them as map keys, written once. Plain
 * ECMAScript (no host API).
 *
 * @module
 */

/**
 * Whether `a` and `b` hold the same bytes (not constant-time: for
 * comparisons that need no secrecy).
 *
 * @example
 * ```ts ignore
 * bytesEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])); // true
 * ```
 */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * `bytes` as a string of one character per byte (a cheap, exact map key;
 * not text). Meant for short inputs: the bytes go as call arguments.
 *
 * @example
 * ```ts ignore
 * byteKey(new Uint8Array([104, 105])); // "hi"
 * ```
 */
export function byteKey(bytes: Uint8Array): string {
  return String.fromCharCode.apply(null, bytes as unknown as number[]);
}
