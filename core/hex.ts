/**
 * Hex text for bytes, written once. Plain ECMAScript (no host API), so that
 * code bundled for Moddable XS may import it too.
 *
 * @module
 */

const HEX = "0123456789abcdef";

/**
 * Lower-case hex of `bytes`, two digits a byte.
 *
 * @example
 * ```ts ignore
 * toHex(new Uint8Array([1, 171])); // "01ab"
 * ```
 */
export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) {
    s += HEX[bytes[i] >> 4] + HEX[bytes[i] & 15];
  }
  return s;
}

function digit(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c >= 0x30 && c <= 0x39) return c - 0x30; // 0-9
  const l = c | 0x20; // A-F as a-f
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  throw new TypeError(`Not hex: "${s[i]}" at ${i}`);
}

/**
 * The bytes of hex text `s` (either case, an even count of digits).
 *
 * @throws {TypeError} On an odd length or a character that is not a digit.
 * @example
 * ```ts ignore
 * fromHex("01AB"); // Uint8Array [1, 171]
 * ```
 */
export function fromHex(s: string): Uint8Array {
  if (s.length % 2 !== 0) {
    throw new TypeError(`Hex text of odd length ${s.length}`);
  }
  const b = new Uint8Array(s.length >> 1);
  for (let i = 0; i < b.length; i++) {
    b[i] = (digit(s, 2 * i) << 4) | digit(s, 2 * i + 1);
  }
  return b;
}
