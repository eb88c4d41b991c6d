/**
 * UTF-8 in plain ECMAScript: Moddable XS has no `TextEncoder` by default.
 *
 * @module
 */

import { FrameDecodeError } from "./errors.ts";

/**
 * Number of bytes `s` takes in UTF-8 (lone surrogates count as U+FFFD).
 *
 * @param s Any string.
 * @returns Its UTF-8 byte length.
 * @example
 * ```ts
 * import { utf8Length } from "@avi/p2p/protocol";
 * console.log(utf8Length("°C")); // 3
 * ```
 */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

/**
 * Writes `s` as UTF-8 into `out` at `offset`. The caller has checked room
 * with {@linkcode utf8Length}. Lone surrogates become U+FFFD, as `TextEncoder` does.
 *
 * @param s The string.
 * @param out Destination.
 * @param offset Where to start writing.
 * @returns The offset after the last byte written.
 * @example
 * ```ts
 * import { utf8Write } from "@avi/p2p/protocol";
 * const out = new Uint8Array(4);
 * console.log(utf8Write("hi", out, 0)); // 2
 * ```
 */
export function utf8Write(s: string, out: Uint8Array, offset: number): number {
  let p = offset;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      out[p++] = c;
      continue;
    }
    if (c < 0x800) {
      out[p++] = 0xc0 | (c >> 6);
      out[p++] = 0x80 | (c & 0x3f);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
        out[p++] = 0xf0 | (c >> 18);
        out[p++] = 0x80 | ((c >> 12) & 0x3f);
        out[p++] = 0x80 | ((c >> 6) & 0x3f);
        out[p++] = 0x80 | (c & 0x3f);
        continue;
      }
      c = 0xfffd;
    }
    out[p++] = 0xe0 | (c >> 12);
    out[p++] = 0x80 | ((c >> 6) & 0x3f);
    out[p++] = 0x80 | (c & 0x3f);
  }
  return p;
}

/**
 * Encodes a string as a new UTF-8 byte array.
 *
 * @param s The string.
 * @returns Its UTF-8 bytes.
 * @example
 * ```ts
 * import { utf8Encode } from "@avi/p2p/protocol";
 * console.log(utf8Encode("ok")); // Uint8Array [111, 107]
 * ```
 */
export function utf8Encode(s: string): Uint8Array {
  const out = new Uint8Array(utf8Length(s));
  utf8Write(s, out, 0);
  return out;
}

/**
 * Strict UTF-8 decoding of `bytes[start, end)`: overlong forms, surrogates,
 * code points above U+10FFFF and truncated sequences are refused.
 *
 * @param bytes Source.
 * @param start First byte.
 * @param end One past the last byte.
 * @returns The string.
 * @throws {FrameDecodeError} On any invalid sequence.
 * @example
 * ```ts
 * import { utf8Decode } from "@avi/p2p/protocol";
 * console.log(utf8Decode(new Uint8Array([0x68, 0x69]))); // "hi"
 * ```
 */
export function utf8Decode(
  bytes: Uint8Array,
  start = 0,
  end: number = bytes.length,
): string {
  let s = "";
  let chunk: number[] = [];
  let i = start;
  while (i < end) {
    const a = bytes[i++];
    let c: number;
    if (a < 0x80) c = a;
    else if (a >= 0xc2 && a <= 0xdf) {
      if (i >= end) throw bad();
      const b = bytes[i++];
      if ((b & 0xc0) !== 0x80) throw bad();
      c = ((a & 0x1f) << 6) | (b & 0x3f);
    } else if (a >= 0xe0 && a <= 0xef) {
      if (i + 1 >= end) throw bad();
      const b = bytes[i++], d = bytes[i++];
      if ((b & 0xc0) !== 0x80 || (d & 0xc0) !== 0x80) throw bad();
      c = ((a & 0x0f) << 12) | ((b & 0x3f) << 6) | (d & 0x3f);
      if (c < 0x800 || (c >= 0xd800 && c <= 0xdfff)) throw bad();
    } else if (a >= 0xf0 && a <= 0xf4) {
      if (i + 2 >= end) throw bad();
      const b = bytes[i++], d = bytes[i++], e = bytes[i++];
      if (
        (b & 0xc0) !== 0x80 || (d & 0xc0) !== 0x80 || (e & 0xc0) !== 0x80
      ) throw bad();
      c = ((a & 0x07) << 18) | ((b & 0x3f) << 12) | ((d & 0x3f) << 6) |
        (e & 0x3f);
      if (c < 0x10000 || c > 0x10ffff) throw bad();
      c -= 0x10000;
      chunk.push(0xd800 + (c >> 10));
      c = 0xdc00 + (c & 0x3ff);
    } else throw bad();
    chunk.push(c);
    if (chunk.length >= 1024) {
      s += String.fromCharCode.apply(null, chunk);
      chunk = [];
    }
  }
  return s + String.fromCharCode.apply(null, chunk);
}

function bad(): FrameDecodeError {
  return new FrameDecodeError("Cannot decode frame: invalid UTF-8 in a string");
}
