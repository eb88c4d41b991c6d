/**
 * The context's MessagePack: the one codec of `protocol/msgpack.ts` (its
 * `Writer` and `Reader`), with the value rules the context has always
 * written and read with (formerly `@msgpack/msgpack`'s defaults), so that
 * the bytes are the same: a delta's bytes are what its writer signs and
 * what every replica keeps and relays, and snapshots and logs already on
 * disk must read back as before. Where these rules differ from the
 * protocol's generic `encode`/`decode`:
 *
 * - no size bound (a snapshot may be large), nesting up to 100 levels;
 * - `undefined` is written as nil (as `null`); `-0` as the integer 0;
 * - a string of at most 50 UTF-16 units with a lone surrogate keeps it as a
 *   3-byte sequence (longer ones get U+FFFD, as the protocol writes);
 * - strings are read leniently (bad UTF-8 is not refused): up to 200 bytes
 *   as the former decoder did byte by byte, longer ones with `TextDecoder`
 *   (U+FFFD, a leading BOM dropped);
 * - 64-bit integers beyond 2^53 are read as the nearest number;
 * - map keys may be strings or numbers, never `__proto__`;
 * - bin is read as a view of the input (no copy);
 * - other objects are written as maps of their own enumerable keys, except
 *   Dates, which are refused, as are extension types when reading: the
 *   context never writes either (its values are checked JSON).
 *
 * `_msgpack_test.ts` compares both directions with `@msgpack/msgpack`.
 *
 * @module
 */

import { FrameDecodeError, FrameEncodeError } from "../protocol/errors.ts";
import { Reader, Writer } from "../protocol/msgpack.ts";
import { utf8Decode, utf8Length } from "../protocol/utf8.ts";

/** Nesting accepted, the top value being level 1. */
const MAX_DEPTH = 100;
/** Strings up to this many UTF-16 units keep a lone surrogate (WTF-8). */
const KEEP_SURROGATES_UP_TO = 50;
/** Strings over this many bytes are read with `TextDecoder`. */
const TEXT_DECODER_OVER = 200;
/** A scratch buffer up to this size is kept between calls. */
const KEEP_SCRATCH = 1 << 20;

let scratch = new Uint8Array(4096);
let busy = false;
const textDecoder = new TextDecoder();
const keepBom = new TextDecoder("utf-8", { ignoreBOM: true });
/** Strings up to this many bytes are read byte by byte when ASCII. */
const SHORT = 16;

/**
 * Encodes `value` as MessagePack (see the module notes).
 * @throws {Error} A value nested deeper than 100 levels, a Date, a bigint,
 * a symbol or a function.
 */
export function encode(value: unknown): Uint8Array {
  const shared = !busy; // a getter that encodes must not reuse the scratch
  let buf = shared ? scratch : new Uint8Array(4096);
  busy = true;
  try {
    for (;;) {
      const w = new Writer(buf);
      try {
        write(w, value, 1);
        return w.bytes().slice();
      } catch (e) {
        if (!(e instanceof FrameEncodeError)) throw e; // only "no room" is one
        buf = new Uint8Array(buf.length * 4);
      }
    }
  } finally {
    if (shared) {
      busy = false;
      if (buf.length <= KEEP_SCRATCH) scratch = buf;
    }
  }
}

function write(w: Writer, v: unknown, depth: number): void {
  if (depth > MAX_DEPTH) throw new Error(`Too deep objects in depth ${depth}`);
  if (v === null || v === undefined) return w.nil();
  switch (typeof v) {
    case "boolean":
      return w.bool(v);
    case "number":
      return Number.isSafeInteger(v) ? w.int(v) : w.f64(v);
    case "string":
      return writeStr(w, v);
    case "object":
      break;
    default:
      throw new Error(`Cannot encode a ${typeof v}`);
  }
  if (Array.isArray(v)) {
    w.arrayHeader(v.length);
    for (const x of v) write(w, x, depth + 1);
    return;
  }
  if (ArrayBuffer.isView(v)) {
    return w.bin(
      v instanceof Uint8Array
        ? v
        : new Uint8Array(v.buffer, v.byteOffset, v.byteLength),
    );
  }
  if (v instanceof Date) throw new Error("Cannot encode a Date");
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  w.mapHeader(keys.length);
  for (const k of keys) {
    writeStr(w, k);
    write(w, o[k], depth + 1);
  }
}

function writeStr(w: Writer, s: string): void {
  if (s.length > KEEP_SURROGATES_UP_TO || s.isWellFormed()) return w.str(s);
  // A short string with a lone surrogate: each one as a 3-byte sequence.
  const n = utf8Length(s); // a lone surrogate counts 3 bytes here too
  if (n < 32) w.u8(0xa0 | n);
  else if (n < 0x100) {
    w.u8(0xd9);
    w.u8(n);
  } else {
    w.u8(0xda);
    w.u16(n);
  }
  const out = new Uint8Array(n);
  let p = 0;
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
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
        out[p++] = 0xf0 | (c >> 18);
        out[p++] = 0x80 | ((c >> 12) & 0x3f);
        out[p++] = 0x80 | ((c >> 6) & 0x3f);
        out[p++] = 0x80 | (c & 0x3f);
        continue;
      }
    }
    out[p++] = 0xe0 | (c >> 12);
    out[p++] = 0x80 | ((c >> 6) & 0x3f);
    out[p++] = 0x80 | (c & 0x3f);
  }
  w.raw(out);
}

/**
 * Decodes exactly one MessagePack value filling all of `bytes` (see the
 * module notes).
 * @throws {FrameDecodeError} Anything malformed, unsupported (extension
 * types), nested deeper than 100 levels, or trailing bytes.
 */
export function decode(bytes: Uint8Array): unknown {
  const r = new Reader(bytes);
  const v = read(r, 1);
  if (r.pos !== r.end) {
    throw new FrameDecodeError(
      `Cannot decode: ${r.end - r.pos} trailing bytes`,
    );
  }
  return v;
}

function read(r: Reader, depth: number): unknown {
  if (depth > MAX_DEPTH) {
    throw new FrameDecodeError("Cannot decode: nested too deeply");
  }
  const t = r.peek();
  if (t < 0x80 || t >= 0xe0) return r.int();
  if (t < 0x90 || t === 0xde || t === 0xdf) {
    const n = r.mapHeader();
    const o: Record<string | number, unknown> = {};
    for (let i = 0; i < n; i++) {
      const k = read(r, depth + 1);
      if (k === "__proto__") {
        throw new FrameDecodeError("Cannot decode: the key __proto__");
      }
      if (typeof k !== "string" && typeof k !== "number") {
        throw new FrameDecodeError("Cannot decode: a map key not a string");
      }
      o[k] = read(r, depth + 1);
    }
    return o;
  }
  if (t < 0xa0 || t === 0xdc || t === 0xdd) {
    const n = r.arrayHeader();
    const a: unknown[] = new Array(n);
    for (let i = 0; i < n; i++) a[i] = read(r, depth + 1);
    return a;
  }
  if (t < 0xc0) {
    r.pos++;
    return readStr(r, t - 0xa0);
  }
  switch (t) {
    case 0xc0:
      r.pos++;
      return null;
    case 0xc2:
    case 0xc3:
      return r.bool();
    case 0xc4:
    case 0xc5:
    case 0xc6:
      return r.bin();
    case 0xca:
    case 0xcb:
      return r.number();
    case 0xcf: {
      r.pos++;
      const hi = r.u32();
      return hi * 0x100000000 + r.u32();
    }
    case 0xd3: {
      r.pos++;
      const hi = r.u32() | 0;
      return hi * 0x100000000 + r.u32();
    }
    case 0xd9:
      r.pos++;
      return readStr(r, r.u8());
    case 0xda:
      r.pos++;
      return readStr(r, r.u16());
    case 0xdb:
      r.pos++;
      return readStr(r, r.u32());
  }
  if (t >= 0xcc && t <= 0xd2) return r.int();
  throw new FrameDecodeError(
    `Cannot decode: unsupported type byte 0x${t.toString(16)}`,
  );
}

function readStr(r: Reader, n: number): string {
  if (n > r.remaining()) r.rawView(n); // throws: the string is cut short
  const b = r.bytes, start = r.pos;
  r.pos += n;
  if (n <= SHORT) {
    let s = "";
    for (let i = start; i < start + n; i++) {
      const c = b[i];
      if (c >= 0x80) return utf8(b, start, n);
      s += String.fromCharCode(c);
    }
    return s;
  }
  return utf8(b, start, n);
}

function utf8(b: Uint8Array, start: number, n: number): string {
  const view = b.subarray(start, start + n);
  if (n > TEXT_DECODER_OVER) return textDecoder.decode(view);
  const s = keepBom.decode(view);
  if (!s.includes("\ufffd")) return s; // valid: no sequence was replaced
  try {
    return utf8Decode(b, start, start + n); // valid, with a real U+FFFD
  } catch {
    return lenientUtf8(b, start, n);
  }
}

/**
 * Reads bad UTF-8 exactly as the former decoder did: no check, a sequence
 * cut short reads on past the string (as 0 past the input).
 */
function lenientUtf8(bytes: Uint8Array, offset: number, n: number): string {
  const end = offset + n;
  const units: number[] = [];
  const at = (i: number) => (bytes[i] ?? 0) & 0x3f;
  while (offset < end) {
    const b1 = bytes[offset++];
    if ((b1 & 0x80) === 0) units.push(b1);
    else if ((b1 & 0xe0) === 0xc0) {
      units.push(((b1 & 0x1f) << 6) | at(offset++));
    } else if ((b1 & 0xf0) === 0xe0) {
      const b2 = at(offset++), b3 = at(offset++);
      units.push(((b1 & 0x1f) << 12) | (b2 << 6) | b3);
    } else if ((b1 & 0xf8) === 0xf0) {
      const b2 = at(offset++), b3 = at(offset++), b4 = at(offset++);
      let unit = ((b1 & 0x07) << 0x12) | (b2 << 0x0c) | (b3 << 0x06) | b4;
      if (unit > 0xffff) {
        unit -= 0x10000;
        units.push(((unit >>> 10) & 0x3ff) | 0xd800);
        unit = 0xdc00 | (unit & 0x3ff);
      }
      units.push(unit);
    } else units.push(b1);
  }
  let s = "";
  for (let i = 0; i < units.length; i += 4096) {
    s += String.fromCharCode(...units.slice(i, i + 4096));
  }
  return s;
}
