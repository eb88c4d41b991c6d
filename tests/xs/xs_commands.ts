/**
 * The command encoding between code running inside XS (xsnap) and the Deno
 * host, carried by xsnap's `issueCommand(arrayBuffer)` channel.
 *
 * Pure ECMAScript: no Deno, Node, `TextEncoder` or `DataView`-free tricks, so
 * the same file is bundled into the XS side and imported by the host.
 *
 * Every request starts with an opcode byte; every reply starts with a status
 * byte ({@linkcode XS_OK} or an error code). Multi-byte integers are
 * big-endian. Host names are ASCII (IPv4/IPv6 literals or simple names).
 *
 * | opcode | request after the opcode             | reply after the status          |
 * | ------ | ------------------------------------ | ------------------------------- |
 * | SEND   | port u16, hostLen u8, host, payload  | nothing                         |
 * | RECV   | waitMs u32                           | port u16, hostLen u8, host, payload (status {@linkcode XS_EMPTY} when none arrived) |
 * | NOW    | nothing                              | float64 milliseconds (monotonic) |
 * | LOG    | level u8, UTF-8 text                 | nothing                         |
 * | RANDOM | count u16                            | `count` random bytes             |
 * | INFO   | nothing                              | local port u16                   |
 *
 * @example
 * ```ts
 * import { decodeSend, encodeSend } from "./xs_commands.ts";
 * const req = encodeSend("127.0.0.1", 9000, new Uint8Array([1, 2]));
 * const back = decodeSend(req);
 * console.log(back.host, back.port, back.payload.length); // 127.0.0.1 9000 2
 * ```
 * @module
 */

/** Send a datagram from the device's socket. */
export const OP_SEND = 1;
/** Receive one datagram, waiting up to a bound. */
export const OP_RECV = 2;
/** Read the host's monotonic clock in milliseconds. */
export const OP_NOW = 3;
/** Log a line on the host. */
export const OP_LOG = 4;
/** Get random bytes from the host's CSPRNG. */
export const OP_RANDOM = 5;
/** Get the socket's local port. */
export const OP_INFO = 6;

/** Reply status: done. */
export const XS_OK = 0;
/** Reply status: RECV found no datagram within the wait. */
export const XS_EMPTY = 1;
/** Reply status: the request was malformed. */
export const XS_BAD_REQUEST = 2;
/** Reply status: the host could not send the datagram. */
export const XS_SEND_FAILED = 3;

/** Largest UDP payload the shim carries (IPv4 maximum). */
export const MAX_DATAGRAM = 65507;
/** Longest wait a RECV may ask for, in milliseconds. */
export const MAX_WAIT_MS = 1000;
/** Most random bytes one RANDOM request may ask for. */
export const MAX_RANDOM = 65535;

/** A datagram with its peer address. */
export interface XsDatagram {
  /** Peer host (ASCII). */
  host: string;
  /** Peer UDP port. */
  port: number;
  /** Datagram payload. */
  payload: Uint8Array;
}

function asciiInto(out: Uint8Array, at: number, s: string): void {
  for (let i = 0; i < s.length; i++) out[at + i] = s.charCodeAt(i) & 0x7f;
}

function asciiFrom(b: Uint8Array, at: number, len: number): string {
  let s = "";
  for (let i = 0; i < len; i++) s += String.fromCharCode(b[at + i] & 0x7f);
  return s;
}

function checkAddress(host: string, port: number): void {
  if (host.length === 0 || host.length > 255) {
    throw new RangeError(`Cannot encode host: length ${host.length}`);
  }
  if (!(port >= 0 && port <= 65535) || (port | 0) !== port) {
    throw new RangeError(`Cannot encode port: ${port}`);
  }
}

/** Encodes an address + payload after `head` bytes (used by SEND and RECV). */
function encodeAddressed(
  head: number,
  first: number,
  d: XsDatagram,
): Uint8Array {
  checkAddress(d.host, d.port);
  if (d.payload.length > MAX_DATAGRAM) {
    throw new RangeError(
      `Cannot encode datagram: ${d.payload.length} bytes > ${MAX_DATAGRAM}`,
    );
  }
  const out = new Uint8Array(head + 3 + d.host.length + d.payload.length);
  out[0] = first;
  out[head] = d.port >> 8;
  out[head + 1] = d.port & 0xff;
  out[head + 2] = d.host.length;
  asciiInto(out, head + 3, d.host);
  out.set(d.payload, head + 3 + d.host.length);
  return out;
}

function decodeAddressed(b: Uint8Array, head: number): XsDatagram {
  if (b.length < head + 3) {
    throw new RangeError(`Cannot decode datagram: ${b.length} bytes`);
  }
  const port = (b[head] << 8) | b[head + 1];
  const hostLen = b[head + 2];
  if (hostLen === 0 || b.length < head + 3 + hostLen) {
    throw new RangeError(`Cannot decode datagram: host length ${hostLen}`);
  }
  return {
    host: asciiFrom(b, head + 3, hostLen),
    port,
    payload: b.subarray(head + 3 + hostLen),
  };
}

/**
 * Encodes a SEND request.
 *
 * @param host Destination host (ASCII).
 * @param port Destination port.
 * @param payload Datagram payload.
 * @returns The request bytes.
 * @throws {RangeError} on a bad address or an oversized payload.
 * @example
 * ```ts
 * import { encodeSend, OP_SEND } from "./xs_commands.ts";
 * console.log(encodeSend("127.0.0.1", 1, new Uint8Array(0))[0] === OP_SEND);
 * ```
 */
export function encodeSend(
  host: string,
  port: number,
  payload: Uint8Array,
): Uint8Array {
  return encodeAddressed(1, OP_SEND, { host, port, payload });
}

/**
 * Decodes a SEND request (the host side).
 *
 * @param b Request bytes, opcode included.
 * @returns The destination and the payload (a view into `b`).
 * @throws {RangeError} on malformed input.
 * @example
 * ```ts
 * import { decodeSend, encodeSend } from "./xs_commands.ts";
 * console.log(decodeSend(encodeSend("h", 2, new Uint8Array(1))).port); // 2
 * ```
 */
export function decodeSend(b: Uint8Array): XsDatagram {
  return decodeAddressed(b, 1);
}

/**
 * Encodes a RECV reply carrying a datagram (the host side).
 *
 * @param d The datagram and its source address.
 * @returns The reply bytes, status {@linkcode XS_OK} first.
 * @example
 * ```ts
 * import { decodeRecvReply, encodeRecvReply } from "./xs_commands.ts";
 * const r = encodeRecvReply({ host: "h", port: 3, payload: new Uint8Array(2) });
 * console.log(decodeRecvReply(r)?.payload.length); // 2
 * ```
 */
export function encodeRecvReply(d: XsDatagram): Uint8Array {
  return encodeAddressed(1, XS_OK, d);
}

/**
 * Decodes a RECV reply (the XS side).
 *
 * @param b Reply bytes.
 * @returns The datagram, or `undefined` when none arrived.
 * @throws {RangeError} on malformed input or an error status.
 * @example
 * ```ts
 * import { decodeRecvReply, XS_EMPTY } from "./xs_commands.ts";
 * console.log(decodeRecvReply(new Uint8Array([XS_EMPTY]))); // undefined
 * ```
 */
export function decodeRecvReply(b: Uint8Array): XsDatagram | undefined {
  if (b.length >= 1 && b[0] === XS_EMPTY) return undefined;
  if (b.length < 1 || b[0] !== XS_OK) {
    throw new RangeError(`RECV failed with status ${b[0]}`);
  }
  return decodeAddressed(b, 1);
}

/**
 * Encodes a RECV request.
 *
 * @param waitMs How long the host may wait for a datagram, clamped to
 *   0..{@linkcode MAX_WAIT_MS}.
 * @returns The request bytes.
 * @example
 * ```ts
 * import { encodeRecv } from "./xs_commands.ts";
 * console.log(encodeRecv(10).length); // 5
 * ```
 */
export function encodeRecv(waitMs: number): Uint8Array {
  const w = waitMs > MAX_WAIT_MS ? MAX_WAIT_MS : waitMs > 0 ? waitMs | 0 : 0;
  return new Uint8Array([
    OP_RECV,
    (w >>> 24) & 0xff,
    (w >>> 16) & 0xff,
    (w >>> 8) & 0xff,
    w & 0xff,
  ]);
}

/**
 * Reads the wait of a RECV request (the host side), clamped to
 * 0..{@linkcode MAX_WAIT_MS}.
 *
 * @param b Request bytes, opcode included.
 * @returns The wait in milliseconds.
 * @throws {RangeError} when the request is shorter than 5 bytes.
 * @example
 * ```ts
 * import { decodeRecv, encodeRecv } from "./xs_commands.ts";
 * console.log(decodeRecv(encodeRecv(42))); // 42
 * ```
 */
export function decodeRecv(b: Uint8Array): number {
  if (b.length < 5) throw new RangeError(`Cannot decode RECV: ${b.length}`);
  const w = ((b[1] << 24) | (b[2] << 16) | (b[3] << 8) | b[4]) >>> 0;
  return w > MAX_WAIT_MS ? MAX_WAIT_MS : w;
}

/**
 * Encodes an unsigned 16-bit request (RANDOM count) after an opcode.
 *
 * @param op Opcode.
 * @param n Value, 0..65535.
 * @returns The request bytes.
 * @example
 * ```ts
 * import { encodeU16Request, OP_RANDOM } from "./xs_commands.ts";
 * console.log(encodeU16Request(OP_RANDOM, 16).length); // 3
 * ```
 */
export function encodeU16Request(op: number, n: number): Uint8Array {
  return new Uint8Array([op, (n >> 8) & 0xff, n & 0xff]);
}

/**
 * Writes a float64 (big-endian) after status {@linkcode XS_OK}.
 *
 * @param v The number.
 * @returns 9 reply bytes.
 * @example
 * ```ts
 * import { decodeF64Reply, encodeF64Reply } from "./xs_commands.ts";
 * console.log(decodeF64Reply(encodeF64Reply(1.5))); // 1.5
 * ```
 */
export function encodeF64Reply(v: number): Uint8Array {
  const out = new Uint8Array(9);
  new DataView(out.buffer).setFloat64(1, v);
  return out;
}

/**
 * Reads a float64 reply.
 *
 * @param b Reply bytes.
 * @returns The number.
 * @throws {RangeError} on a short reply or an error status.
 * @example
 * ```ts
 * import { decodeF64Reply, encodeF64Reply } from "./xs_commands.ts";
 * console.log(decodeF64Reply(encodeF64Reply(2))); // 2
 * ```
 */
export function decodeF64Reply(b: Uint8Array): number {
  if (b.length < 9 || b[0] !== XS_OK) {
    throw new RangeError(`Cannot decode number reply: status ${b[0]}`);
  }
  return new DataView(b.buffer, b.byteOffset, 9).getFloat64(1);
}

/**
 * UTF-8 encodes a string without `TextEncoder` (absent on Moddable devices).
 * Lone surrogates become U+FFFD.
 *
 * @param s The string.
 * @returns Its UTF-8 bytes.
 * @example
 * ```ts
 * import { utf8Encode } from "./xs_commands.ts";
 * console.log(utf8Encode("é").length); // 2
 * ```
 */
export function utf8Encode(s: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      } else c = 0xfffd;
    } else if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) {
      out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    } else {
      out.push(
        0xf0 | (c >> 18),
        0x80 | ((c >> 12) & 63),
        0x80 | ((c >> 6) & 63),
        0x80 | (c & 63),
      );
    }
  }
  return new Uint8Array(out);
}
