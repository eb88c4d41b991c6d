/**
 * The wire format of `/avi/stream/2.0.0`: length-prefixed binary frames with a
 * small fixed header. Pure code, no I/O.
 *
 * ```text
 * offset size field
 *      0    4 length of the rest (header tail + payload), big-endian u32
 *      4    1 type      (1 request, 2 accept, 3 reject, 4 data, 5 close, 6 ack)
 *      5    1 flags     (close: bit 0 = closed because of an error;
 *                       realtime data: bit 0 = acknowledge now)
 *      6    4 seq       big-endian u32, data frames count from 0; ack: the
 *                       highest seq received
 *     10    8 timestamp big-endian f64, capture time in ms (data frames)
 *     18    n payload   raw bytes
 * ```
 *
 * @module
 */

/** The protocol id spoken on each libp2p stream. */
export const STREAM_PROTOCOL = "/avi/stream/2.0.0";

/** Bytes before the payload of every frame (length prefix included). */
export const FRAME_HEADER_BYTES = 18;

/** Bytes of the header after the length prefix. */
const TAIL_BYTES = FRAME_HEADER_BYTES - 4;

/**
 * The largest payload of one frame, by default (1 MiB).
 */
export const DEFAULT_MAX_FRAME_BYTES = 1_048_576;

/**
 * The largest payload of a frame on a stream that is not accepted yet (the
 * request, and an accept, reject or close): 8 KiB, enough for a request whose
 * 1024-byte reason is all escaped control characters. A larger frame before
 * the accept resets the stream, so an unanswered stream holds little memory.
 */
export const MAX_UNACCEPTED_FRAME_BYTES = 8192;

/** Frame types. */
export const FrameType = {
  /**
   * Opens a stream: payload is JSON `{id, reason, mode, ackNow}` (`ackNow`:
   * the requester flags the data frame that fills its window).
   */
  Request: 1,
  /**
   * The responder accepts: empty payload, or JSON `{ackNow: true}` (it
   * flags the data frame that fills its window).
   */
  Accept: 2,
  /** The responder refuses: payload is the UTF-8 reason. */
  Reject: 3,
  /** Application data: raw payload, seq and timestamp set. */
  Data: 4,
  /** Either end closes: payload is the UTF-8 error text when flag 1 is set. */
  Close: 5,
  /**
   * Realtime receiver's report: `seq` is the highest sequence number
   * received, `timestamp` echoes that frame's capture timestamp. The sender
   * keeps a bounded number of unacknowledged frames in flight.
   */
  Ack: 6,
} as const;

/** One of the {@linkcode FrameType} values. */
export type FrameTypeValue = typeof FrameType[keyof typeof FrameType];

/** Flag on a close frame: the stream ended because of an error. */
export const FLAG_ERROR = 1;

/**
 * Flag on a realtime data frame: the sender's window of unacknowledged
 * frames is full with it, so the receiver acknowledges it at once (else it
 * acknowledges every 8th frame, or every 4th for a sender whose request or
 * accept did not say `ackNow`, and a window smaller than that would never
 * free).
 */
export const FLAG_ACK_NOW = 1;

/** Where the flags byte is in an encoded frame. */
const FLAGS_OFFSET = 5;

/**
 * Set flags on an encoded frame, in place (the frame must be the caller's
 * own bytes, not yet handed to the network).
 *
 * @param frame The encoded frame.
 * @param flags The flags to set (or-ed with those it has).
 *
 * @example
 * ```ts
 * import { encodeFrame, FLAG_ACK_NOW, FrameType, setFlags } from "./frame.ts";
 * const frame = encodeFrame(FrameType.Data, 0, 0, new Uint8Array(2));
 * setFlags(frame, FLAG_ACK_NOW);
 * console.log(frame[5]); // 1
 * ```
 */
export function setFlags(frame: Uint8Array, flags: number): void {
  frame[FLAGS_OFFSET] |= flags;
}

/** A decoded frame. */
export interface Frame {
  /** The frame type. */
  type: FrameTypeValue;
  /** Flags (type-specific). */
  flags: number;
  /** The sequence number (data frames). */
  seq: number;
  /** The capture timestamp in ms (data frames). */
  timestamp: number;
  /** The payload. */
  payload: Uint8Array;
}

/**
 * The stream's wire format is broken: an unknown type or an oversized frame.
 */
export class FrameDecodeError extends Error {
  /** @param message What is wrong. */
  constructor(message: string) {
    super(message);
    this.name = "FrameDecodeError";
  }
}

/**
 * Encode one frame, length prefix included.
 *
 * @param type The frame type.
 * @param seq The sequence number (0 to 2^32 - 1).
 * @param timestamp The capture timestamp in ms.
 * @param payload The payload.
 * @param flags Type-specific flags (0 to 255).
 * @returns The encoded bytes.
 *
 * @example
 * ```ts
 * import { encodeFrame, FrameType } from "./frame.ts";
 * const bytes = encodeFrame(FrameType.Data, 0, Date.now(), new Uint8Array(640));
 * console.log(bytes.length); // 658
 * ```
 */
export function encodeFrame(
  type: FrameTypeValue,
  seq: number,
  timestamp: number,
  payload: Uint8Array = new Uint8Array(0),
  flags = 0,
): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  writeHeader(out, type, seq, timestamp, payload.length, flags);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/**
 * Encode only the header of a frame whose payload is sent separately.
 *
 * @param type The frame type.
 * @param seq The sequence number.
 * @param timestamp The capture timestamp in ms.
 * @param payloadLength The payload's length in bytes.
 * @param flags Type-specific flags.
 * @returns The 18 header bytes.
 *
 * @example
 * ```ts
 * import { encodeHeader, FrameType } from "./frame.ts";
 * console.log(encodeHeader(FrameType.Data, 1, 0, 1_000_000).length); // 18
 * ```
 */
export function encodeHeader(
  type: FrameTypeValue,
  seq: number,
  timestamp: number,
  payloadLength: number,
  flags = 0,
): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES);
  writeHeader(out, type, seq, timestamp, payloadLength, flags);
  return out;
}

function writeHeader(
  out: Uint8Array,
  type: number,
  seq: number,
  timestamp: number,
  payloadLength: number,
  flags: number,
): void {
  const view = new DataView(out.buffer, out.byteOffset, FRAME_HEADER_BYTES);
  view.setUint32(0, TAIL_BYTES + payloadLength);
  view.setUint8(4, type);
  view.setUint8(5, flags);
  view.setUint32(6, seq >>> 0);
  view.setFloat64(10, timestamp);
}

/**
 * Turns a byte stream, in chunks of any size, back into frames.
 *
 * @example
 * ```ts
 * import { encodeFrame, FrameDecoder, FrameType } from "./frame.ts";
 * const d = new FrameDecoder(1024);
 * d.push(encodeFrame(FrameType.Data, 7, 1, new Uint8Array([1, 2])));
 * console.log(d.next()?.seq); // 7
 * ```
 */
export class FrameDecoder {
  #chunks: Uint8Array[] = [];
  #head = 0; // read offset into #chunks[0]
  #length = 0; // unread bytes
  /** The largest payload accepted; larger frames throw. May be changed. */
  maxPayload: number;

  /** @param maxPayload The largest payload accepted; larger frames throw. */
  constructor(maxPayload: number) {
    this.maxPayload = maxPayload;
  }

  /** Bytes received but not yet returned as frames. */
  get bufferedBytes(): number {
    return this.#length;
  }

  /**
   * Add received bytes.
   *
   * @param chunk The bytes.
   */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (chunk.constructor !== Uint8Array) {
      // a Node Buffer (or other subclass): hand out plain views
      chunk = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);
    }
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  /**
   * The next complete frame, or `undefined` when more bytes are needed.
   *
   * @throws {FrameDecodeError} On an unknown type or an oversized frame.
   */
  next(): Frame | undefined {
    if (this.#length < 4) return undefined;
    const prefix = this.#peek(4);
    const rest = new DataView(prefix.buffer, prefix.byteOffset, 4).getUint32(0);
    if (rest < TAIL_BYTES) {
      throw new FrameDecodeError(
        `Cannot decode frame: length ${rest} is shorter than the header`,
      );
    }
    if (rest - TAIL_BYTES > this.maxPayload) {
      throw new FrameDecodeError(
        `Cannot decode frame: payload of ${
          rest - TAIL_BYTES
        } bytes exceeds the limit of ${this.maxPayload}`,
      );
    }
    if (this.#length < 4 + rest) return undefined;
    const bytes = this.#take(4 + rest);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    const type = view.getUint8(4);
    if (type < FrameType.Request || type > FrameType.Ack) {
      throw new FrameDecodeError(`Cannot decode frame: unknown type ${type}`);
    }
    return {
      type: type as FrameTypeValue,
      flags: view.getUint8(5),
      seq: view.getUint32(6),
      timestamp: view.getFloat64(10),
      payload: bytes.subarray(FRAME_HEADER_BYTES),
    };
  }

  /** Copy (or view) the first `n` unread bytes without consuming them. */
  #peek(n: number): Uint8Array {
    const first = this.#chunks[0];
    if (first.length - this.#head >= n) {
      return first.subarray(this.#head, this.#head + n);
    }
    const out = new Uint8Array(n);
    let filled = 0;
    let offset = this.#head;
    for (const chunk of this.#chunks) {
      const part = chunk.subarray(offset, offset + n - filled);
      out.set(part, filled);
      filled += part.length;
      offset = 0;
      if (filled === n) break;
    }
    return out;
  }

  /** Consume the first `n` unread bytes. */
  #take(n: number): Uint8Array {
    const first = this.#chunks[0];
    let out: Uint8Array;
    if (first.length - this.#head >= n) {
      out = first.subarray(this.#head, this.#head + n);
      this.#head += n;
    } else {
      out = new Uint8Array(n);
      let filled = 0;
      while (filled < n) {
        const chunk = this.#chunks[0];
        const part = chunk.subarray(this.#head, this.#head + n - filled);
        out.set(part, filled);
        filled += part.length;
        this.#head += part.length;
        if (this.#head === chunk.length) {
          this.#chunks.shift();
          this.#head = 0;
        }
      }
    }
    if (this.#chunks.length > 0 && this.#head === this.#chunks[0].length) {
      this.#chunks.shift();
      this.#head = 0;
    }
    this.#length -= n;
    return out;
  }
}
