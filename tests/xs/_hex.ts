/**
 * Hex text for bytes, for the XS entries (XS code may not rely on TextEncoder
 * or other host helpers).
 *
 * @module
 */

const HEX = "0123456789abcdef";

/** Lower-case hex of `b`. */
export function toHex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += HEX[b[i] >> 4] + HEX[b[i] & 15];
  return s;
}

/** The bytes of lower-case hex text `s`. */
export function fromHex(s: string): Uint8Array {
  const b = new Uint8Array(s.length >> 1);
  for (let i = 0; i < b.length; i++) {
    b[i] = (HEX.indexOf(s[2 * i]) << 4) | HEX.indexOf(s[2 * i + 1]);
  }
  return b;
}
