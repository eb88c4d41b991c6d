/**
 * A small, strict MessagePack codec in plain ECMAScript (no dependency, no
 * Deno or Node API): a {@linkcode Writer} over a caller-supplied buffer, a
 * {@linkcode Reader} with typed reads, and generic {@linkcode encode} /
 * {@linkcode decode} for plain values.
 *
 * Supported types: nil, bool, integers within the safe-integer range,
 * float32/float64, str (UTF-8), bin, array and map with string keys.
 * Extension types are refused by the decoder.
 *
 * Past 600 lines on purpose: one codec whose writer and reader mirror each
 * other type by type, kept in one file so that a change to one side is made
 * beside the other (and it runs on XS, where one module is cheaper).
 *
 * @module
 */

import { FrameDecodeError, FrameEncodeError } from "./errors.ts";
import { utf8Decode, utf8Length, utf8Write } from "./utf8.ts";

/** A value the generic codec can carry. */
export type MsgpackValue =
  | null
  | boolean
  | number
  | string
  | Uint8Array
  | MsgpackValue[]
  | { [key: string]: MsgpackValue };

/**
 * Maximum nesting depth of the generic decoder and encoder.
 * @default 32
 */
export const MAX_DEPTH = 32;

/**
 * Appends MessagePack items to a fixed buffer. It never grows the buffer:
 * a write that does not fit throws {@linkcode FrameEncodeError}.
 *
 * @example
 * ```ts
 * import { Writer } from "@avi/p2p/protocol";
 * const w = new Writer(new Uint8Array(64));
 * w.arrayHeader(2); w.int(7); w.str("hi");
 * console.log(w.bytes()); // Uint8Array [0x92, 0x07, 0xa2, 0x68, 0x69]
 * ```
 */
export class Writer {
  /** The buffer written into. */
  buf: Uint8Array;
  /** Next write offset. */
  pos: number;
  /** Offset the writer was reset to; `bytes()` starts here. */
  start: number;
  #view: DataView;

  /**
   * Creates a writer or reader over a byte range.
   * @param buf Destination buffer (a scratch buffer may be reused).
   * @param start Offset of the first byte to write.
   */
  constructor(buf: Uint8Array, start = 0) {
    this.buf = buf;
    this.pos = start;
    this.start = start;
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /**
   * Restarts writing at `start`.
   * @param start Offset of the first byte to write.
   */
  reset(start = 0): void {
    this.pos = start;
    this.start = start;
  }

  /**
   * The bytes written since the last reset.
   * @returns A view of the bytes written since the last reset.
   */
  bytes(): Uint8Array {
    return this.buf.subarray(this.start, this.pos);
  }

  #room(n: number): void {
    if (this.pos + n > this.buf.length) {
      throw new FrameEncodeError(
        `Cannot encode frame: needs more than the ${
          this.buf.length - this.start
        } bytes available`,
      );
    }
  }

  /**
   * Writes raw bytes (no MessagePack header).
   * @param b The bytes.
   */
  raw(b: Uint8Array): void {
    this.#room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /**
   * Writes one raw byte.
   * @param b A value from 0 to 255.
   */
  u8(b: number): void {
    this.#room(1);
    this.buf[this.pos++] = b;
  }

  /**
   * Writes a raw big-endian 16-bit value.
   * @param v A value from 0 to 65535.
   */
  u16(v: number): void {
    this.#room(2);
    this.#view.setUint16(this.pos, v);
    this.pos += 2;
  }

  /**
   * Writes a raw big-endian 32-bit value.
   * @param v A value from 0 to 2^32-1.
   */
  u32(v: number): void {
    this.#room(4);
    this.#view.setUint32(this.pos, v >>> 0);
    this.pos += 4;
  }

  /** Writes nil. */
  nil(): void {
    this.u8(0xc0);
  }

  /**
   * Writes a boolean.
   * @param v The value.
   */
  bool(v: boolean): void {
    this.u8(v ? 0xc3 : 0xc2);
  }

  /**
   * Writes an integer in its shortest form.
   * @param v A safe integer.
   * @throws {FrameEncodeError} If `v` is not a safe integer.
   */
  int(v: number): void {
    if (!Number.isSafeInteger(v)) {
      throw new FrameEncodeError(`Cannot encode ${v}: not a safe integer`);
    }
    if (v >= 0) {
      if (v < 0x80) return this.u8(v);
      if (v < 0x100) {
        this.#room(2);
        this.buf[this.pos++] = 0xcc;
        this.buf[this.pos++] = v;
        return;
      }
      if (v < 0x10000) {
        this.u8(0xcd);
        return this.u16(v);
      }
      if (v < 0x100000000) {
        this.u8(0xce);
        return this.u32(v);
      }
      this.u8(0xcf);
      this.u32(Math.floor(v / 0x100000000));
      return this.u32(v >>> 0);
    }
    if (v >= -0x20) return this.u8(v & 0xff);
    if (v >= -0x80) {
      this.u8(0xd0);
      return this.u8(v & 0xff);
    }
    if (v >= -0x8000) {
      this.u8(0xd1);
      return this.u16(v & 0xffff);
    }
    if (v >= -0x80000000) {
      this.u8(0xd2);
      return this.u32(v >>> 0);
    }
    this.u8(0xd3);
    this.u32(Math.floor(v / 0x100000000) >>> 0);
    this.u32(v >>> 0);
  }

  /**
   * Writes a number: a safe integer (except -0) as an integer, anything else as float64.
   * @param v The number.
   */
  number(v: number): void {
    if (Number.isSafeInteger(v) && !Object.is(v, -0)) this.int(v);
    else this.f64(v);
  }

  /**
   * Writes a float32 (5 bytes).
   * @param v The number (rounded to float32).
   */
  f32(v: number): void {
    this.#room(5);
    this.buf[this.pos++] = 0xca;
    this.#view.setFloat32(this.pos, v);
    this.pos += 4;
  }

  /**
   * Writes a float64 (9 bytes).
   * @param v The number.
   */
  f64(v: number): void {
    this.#room(9);
    this.buf[this.pos++] = 0xcb;
    this.#view.setFloat64(this.pos, v);
    this.pos += 8;
  }

  #lenHeader(n: number, fix: number, fixMax: number, c8: number): void {
    if (n <= fixMax) return this.u8(fix | n);
    if (c8 !== 0 && n < 0x100) {
      this.u8(c8);
      return this.u8(n);
    }
    if (n < 0x10000) {
      this.u8(c8 === 0 ? fix === 0x90 ? 0xdc : 0xde : c8 + 1);
      return this.u16(n);
    }
    this.u8(c8 === 0 ? fix === 0x90 ? 0xdd : 0xdf : c8 + 2);
    this.u32(n);
  }

  /**
   * Writes a string as MessagePack str (UTF-8).
   * @param s The string.
   */
  str(s: string): void {
    const n = utf8Length(s);
    this.#lenHeader(n, 0xa0, 31, 0xd9);
    this.#room(n);
    this.pos = utf8Write(s, this.buf, this.pos);
  }

  /**
   * Writes bytes as MessagePack bin.
   * @param b The bytes.
   */
  bin(b: Uint8Array): void {
    const n = b.length;
    if (n < 0x100) {
      this.u8(0xc4);
      this.u8(n);
    } else if (n < 0x10000) {
      this.u8(0xc5);
      this.u16(n);
    } else {
      this.u8(0xc6);
      this.u32(n);
    }
    this.raw(b);
  }

  /**
   * Writes an array header; the `n` items follow.
   * @param n Item count.
   */
  arrayHeader(n: number): void {
    this.#lenHeader(n, 0x90, 15, 0);
  }

  /**
   * Writes a map header; `n` key/value pairs follow.
   * @param n Pair count.
   */
  mapHeader(n: number): void {
    this.#lenHeader(n, 0x80, 15, 0);
  }

  /**
   * Writes any {@linkcode MsgpackValue}.
   * @param v The value.
   * @param depth Current nesting (internal).
   * @throws {FrameEncodeError} On an unsupported value, too deep nesting, or no room.
   */
  value(v: MsgpackValue, depth = 0): void {
    if (depth > MAX_DEPTH) {
      throw new FrameEncodeError("Cannot encode value: nested too deeply");
    }
    if (v === null) return this.nil();
    switch (typeof v) {
      case "boolean":
        return this.bool(v);
      case "number":
        return this.number(v);
      case "string":
        return this.str(v);
    }
    if (v instanceof Uint8Array) return this.bin(v);
    if (Array.isArray(v)) {
      this.arrayHeader(v.length);
      for (let i = 0; i < v.length; i++) this.value(v[i], depth + 1);
      return;
    }
    if (typeof v === "object") {
      const keys = Object.keys(v);
      this.mapHeader(keys.length);
      for (const k of keys) {
        this.str(k);
        this.value((v as { [key: string]: MsgpackValue })[k], depth + 1);
      }
      return;
    }
    throw new FrameEncodeError(`Cannot encode a value of type ${typeof v}`);
  }
}

// The sizes of what `Writer` writes, for counting without writing (the
// context's `deltaBytes`); `msgpack_test.ts` checks them against `Writer`.

/** The bytes `Writer.int` writes for the safe integer `v`. */
export function intBytes(v: number): number {
  if (v >= 0) {
    return v < 0x80
      ? 1
      : v < 0x100
      ? 2
      : v < 0x10000
      ? 3
      : v < 0x100000000
      ? 5
      : 9;
  }
  return v >= -0x20
    ? 1
    : v >= -0x80
    ? 2
    : v >= -0x8000
    ? 3
    : v >= -0x80000000
    ? 5
    : 9;
}

/** The bytes of the header `Writer.str` writes for `n` bytes of UTF-8. */
export function strHeaderBytes(n: number): number {
  return n <= 31 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}

/** The bytes of the header `Writer.arrayHeader` or `mapHeader` writes for `n` items. */
export function lenHeaderBytes(n: number): number {
  return n <= 15 ? 1 : n < 0x10000 ? 3 : 5;
}

/**
 * Reads MessagePack items from `bytes[start, end)`. Every read checks bounds
 * and type and throws only {@linkcode FrameDecodeError}.
 *
 * @example
 * ```ts
 * import { Reader } from "@avi/p2p/protocol";
 * const r = new Reader(new Uint8Array([0x92, 0x07, 0xa2, 0x68, 0x69]));
 * console.log(r.arrayHeader(), r.uint(), r.str()); // 2 7 "hi"
 * ```
 */
export class Reader {
  /** The source bytes. */
  bytes: Uint8Array;
  /** Next read offset. */
  pos: number;
  /** One past the last readable byte. */
  end: number;
  #view: DataView;

  /**
   * Creates a writer or reader over a byte range.
   * @param bytes Source.
   * @param start First byte to read.
   * @param end One past the last byte.
   */
  constructor(bytes: Uint8Array, start = 0, end: number = bytes.length) {
    this.bytes = bytes;
    this.pos = start;
    this.end = end;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /**
   * Bytes left to read.
   * @returns Bytes left to read.
   */
  remaining(): number {
    return this.end - this.pos;
  }

  #need(n: number): void {
    if (this.pos + n > this.end) {
      throw new FrameDecodeError(
        `Cannot decode frame: expected ${n} more bytes, got ${
          this.end - this.pos
        }`,
      );
    }
  }

  /**
   * Reads one raw byte.
   * @returns The next raw byte.
   */
  u8(): number {
    this.#need(1);
    return this.bytes[this.pos++];
  }

  /**
   * Reads a raw big-endian 16-bit value.
   * @returns The next raw big-endian 16-bit value.
   */
  u16(): number {
    this.#need(2);
    const v = this.#view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }

  /**
   * Reads a raw big-endian 32-bit value.
   * @returns The next raw big-endian 32-bit value.
   */
  u32(): number {
    this.#need(4);
    const v = this.#view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  /**
   * Reads raw bytes without copying.
   * @param n Byte count.
   * @returns A view (no copy) of the next `n` raw bytes.
   */
  rawView(n: number): Uint8Array {
    this.#need(n);
    const v = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  /**
   * Looks at the next type byte.
   * @returns The type byte of the next item, without consuming it.
   */
  peek(): number {
    this.#need(1);
    return this.bytes[this.pos];
  }

  /**
   * Consumes a nil if one is next.
   * @returns True (and consumes it) if the next item is nil.
   */
  nil(): boolean {
    if (this.peek() === 0xc0) {
      this.pos++;
      return true;
    }
    return false;
  }

  /**
   * Reads a boolean.
   * @returns The next item, which must be a boolean.
   */
  bool(): boolean {
    const t = this.u8();
    if (t === 0xc2) return false;
    if (t === 0xc3) return true;
    throw typeError("bool", t);
  }

  /**
   * Reads an integer.
   * @returns The next item, which must be an integer in the safe range.
   */
  int(): number {
    const t = this.u8();
    if (t < 0x80) return t;
    if (t >= 0xe0) return t - 0x100;
    switch (t) {
      case 0xcc:
        return this.u8();
      case 0xcd:
        return this.u16();
      case 0xce:
        return this.u32();
      case 0xcf: {
        const hi = this.u32(), lo = this.u32();
        if (hi > 0x1fffff) {
          throw new FrameDecodeError(
            "Cannot decode frame: integer beyond 2^53",
          );
        }
        return hi * 0x100000000 + lo;
      }
      case 0xd0: {
        const v = this.u8();
        return v > 0x7f ? v - 0x100 : v;
      }
      case 0xd1: {
        const v = this.u16();
        return v > 0x7fff ? v - 0x10000 : v;
      }
      case 0xd2:
        return this.u32() | 0;
      case 0xd3: {
        const hi = this.u32() | 0, lo = this.u32();
        const v = hi * 0x100000000 + lo;
        if (!Number.isSafeInteger(v)) {
          throw new FrameDecodeError(
            "Cannot decode frame: integer beyond 2^53",
          );
        }
        return v;
      }
    }
    throw typeError("integer", t);
  }

  /**
   * Reads an unsigned integer within a bound.
   * @param max Largest accepted value.
   * @returns The next item, an integer from 0 to `max`.
   */
  uint(max: number = Number.MAX_SAFE_INTEGER): number {
    const v = this.int();
    if (v < 0 || v > max) {
      throw new FrameDecodeError(
        `Cannot decode frame: ${v} is outside 0..${max}`,
      );
    }
    return v;
  }

  /**
   * Reads any number.
   * @returns The next item: any number (integer or float).
   */
  number(): number {
    const t = this.peek();
    if (t === 0xca) {
      this.pos++;
      this.#need(4);
      const v = this.#view.getFloat32(this.pos);
      this.pos += 4;
      return v;
    }
    if (t === 0xcb) {
      this.pos++;
      this.#need(8);
      const v = this.#view.getFloat64(this.pos);
      this.pos += 8;
      return v;
    }
    return this.int();
  }

  #len(t: number, fixBase: number, fixMax: number, c8: number): number {
    if (t >= fixBase && t <= fixBase + fixMax) return t - fixBase;
    if (c8 !== 0 && t === c8) return this.u8();
    if (t === c8 + 1) return this.u16();
    if (t === c8 + 2) return this.u32();
    return -1;
  }

  /**
   * Reads a string.
   * @param maxBytes Largest accepted UTF-8 length.
   * @returns The next item, which must be a str.
   */
  str(maxBytes: number = Number.MAX_SAFE_INTEGER): string {
    const t = this.u8();
    const n = this.#len(t, 0xa0, 31, 0xd9);
    if (n < 0) throw typeError("str", t);
    if (n > maxBytes) {
      throw new FrameDecodeError(
        `Cannot decode frame: string of ${n} bytes exceeds ${maxBytes}`,
      );
    }
    this.#need(n);
    const s = utf8Decode(this.bytes, this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  /**
   * Reads a bin.
   * @returns The next item, which must be a bin, as a view (no copy).
   */
  bin(): Uint8Array {
    const t = this.u8();
    let n: number;
    if (t === 0xc4) n = this.u8();
    else if (t === 0xc5) n = this.u16();
    else if (t === 0xc6) n = this.u32();
    else throw typeError("bin", t);
    return this.rawView(n);
  }

  /**
   * Reads an array header.
   * @returns The item count of the next item, which must be an array.
   */
  arrayHeader(): number {
    const t = this.u8();
    let n: number;
    if (t >= 0x90 && t <= 0x9f) n = t - 0x90;
    else if (t === 0xdc) n = this.u16();
    else if (t === 0xdd) n = this.u32();
    else throw typeError("array", t);
    if (n > this.remaining()) {
      throw new FrameDecodeError(
        `Cannot decode frame: array of ${n} items in ${this.remaining()} bytes`,
      );
    }
    return n;
  }

  /**
   * Reads a map header.
   * @returns The pair count of the next item, which must be a map.
   */
  mapHeader(): number {
    const t = this.u8();
    let n: number;
    if (t >= 0x80 && t <= 0x8f) n = t - 0x80;
    else if (t === 0xde) n = this.u16();
    else if (t === 0xdf) n = this.u32();
    else throw typeError("map", t);
    if (n * 2 > this.remaining()) {
      throw new FrameDecodeError(
        `Cannot decode frame: map of ${n} pairs in ${this.remaining()} bytes`,
      );
    }
    return n;
  }

  /**
   * Reads any {@linkcode MsgpackValue}. Maps become plain objects and must
   * have string keys; bin becomes a copy.
   * @param depth Current nesting (internal).
   * @returns The value.
   */
  value(depth = 0): MsgpackValue {
    if (depth > MAX_DEPTH) {
      throw new FrameDecodeError("Cannot decode frame: nested too deeply");
    }
    const t = this.peek();
    if (t < 0x80 || t >= 0xe0) return this.int();
    if (t <= 0x8f || t === 0xde || t === 0xdf) {
      const n = this.mapHeader();
      const o: { [key: string]: MsgpackValue } = {};
      for (let i = 0; i < n; i++) {
        const kt = this.peek();
        if (!((kt >= 0xa0 && kt <= 0xbf) || (kt >= 0xd9 && kt <= 0xdb))) {
          throw new FrameDecodeError("Cannot decode frame: map key not a str");
        }
        const k = this.str();
        Object.defineProperty(o, k, {
          value: this.value(depth + 1),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return o;
    }
    if (t <= 0x9f || t === 0xdc || t === 0xdd) {
      const n = this.arrayHeader();
      const a: MsgpackValue[] = [];
      for (let i = 0; i < n; i++) a.push(this.value(depth + 1));
      return a;
    }
    if (t <= 0xbf || (t >= 0xd9 && t <= 0xdb)) return this.str();
    switch (t) {
      case 0xc0:
        this.pos++;
        return null;
      case 0xc2:
      case 0xc3:
        return this.bool();
      case 0xc4:
      case 0xc5:
      case 0xc6:
        return this.bin().slice();
      case 0xca:
      case 0xcb:
        return this.number();
    }
    if (t >= 0xcc && t <= 0xd3) return this.int();
    throw typeError("supported item", t);
  }
}

function typeError(want: string, t: number): FrameDecodeError {
  return new FrameDecodeError(
    `Cannot decode frame: expected ${want}, got type byte 0x${
      t.toString(16).padStart(2, "0")
    }`,
  );
}

/**
 * Encodes a value as MessagePack.
 *
 * @param v The value.
 * @param maxBytes Largest output accepted.
 * @returns The encoded bytes (a copy).
 * @throws {FrameEncodeError} If the value is unsupported or larger than `maxBytes`.
 * @example
 * ```ts
 * import { encode } from "@avi/p2p/protocol";
 * console.log(encode({ a: 1 })); // Uint8Array [0x81, 0xa1, 0x61, 0x01]
 * ```
 */
export function encode(v: MsgpackValue, maxBytes = 65536): Uint8Array {
  // Start small and grow, up to maxBytes.
  for (
    let size = Math.min(1024, maxBytes);;
    size = Math.min(size * 4, maxBytes)
  ) {
    const w = new Writer(new Uint8Array(size));
    try {
      w.value(v);
      return w.bytes().slice();
    } catch (e) {
      if (!(e instanceof FrameEncodeError) || size >= maxBytes) throw e;
      if (!/available/.test(e.message)) throw e; // not a "no room" error
    }
  }
}

/**
 * Decodes exactly one MessagePack value filling all of `bytes`.
 *
 * @param bytes The encoded value.
 * @returns The value.
 * @throws {FrameDecodeError} On anything invalid, unsupported, or trailing bytes.
 * @example
 * ```ts
 * import { decode } from "@avi/p2p/protocol";
 * console.log(decode(new Uint8Array([0x81, 0xa1, 0x61, 0x01]))); // { a: 1 }
 * ```
 */
export function decode(bytes: Uint8Array): MsgpackValue {
  const r = new Reader(bytes);
  const v = r.value();
  if (r.pos !== r.end) {
    throw new FrameDecodeError(
      `Cannot decode frame: ${r.end - r.pos} trailing bytes`,
    );
  }
  return v;
}
