/**
 * A length-prefixed decoder that stops at an empty buffer instead of
 * throwing (internal).
 *
 * `LengthPrefixedDecoder.decode` of `@libp2p/utils` 7.4.1 (what Noise splits
 * every received byte stream into frames with) loops until the length
 * decoder throws a `RangeError` for lack of bytes, and catches it. After the
 * last whole frame the buffer is empty, so every call ends with a thrown
 * `RangeError`: an `Error` built with its captured stack, about 2 µs in a
 * hot loop and garbage for the young generation, once for every Noise frame
 * a node receives (every gossip message, every voice frame).
 *
 * {@linkcode patchLengthPrefixedDecoder} gives the class the same `decode`,
 * which stops when the buffer is empty, before asking the length decoder.
 * Frames, errors and limits are the package's own (a buffer holding part of
 * a length still ends in the caught `RangeError`, as before). A fix any user
 * of the package would want (see docs/PERFORMANCE.md).
 *
 * @module
 */

import { InvalidParametersError } from "@libp2p/interface";
import {
  InvalidMessageLengthError,
  LengthPrefixedDecoder,
} from "@libp2p/utils";
import type { Uint8ArrayList } from "uint8arraylist";
import type { WrittenFor } from "./_written_for.ts";

/** The version this adjustment was written for: it replaces `LengthPrefixedDecoder.prototype.decode` and uses its fields. */
export const LP_DECODER_WRITTEN_FOR: WrittenFor = {
  name: "@libp2p/utils",
  version: "7.4.1",
  adjustment: "mesh/_lp_decoder.ts",
};

/** What `decode` uses of a `LengthPrefixedDecoder`. */
interface DecoderFields {
  buffer: Uint8ArrayList;
  maxBufferSize: number;
  maxDataLength: number;
  lengthDecoder: (buf: Uint8ArrayList) => number;
  encodingLength: (n: number) => number;
}

/** The package's `decode`, stopping at an empty buffer. */
function* decode(
  this: DecoderFields,
  buf: Uint8Array | Uint8ArrayList,
): Generator<Uint8ArrayList, void, unknown> {
  this.buffer.append(buf);
  if (this.buffer.byteLength > this.maxBufferSize) {
    throw new InvalidParametersError(
      `Buffer length limit exceeded - ${this.buffer.byteLength}/${this.maxBufferSize}`,
    );
  }
  // the only change: no frame is in an empty buffer, so do not ask
  while (this.buffer.byteLength > 0) {
    let dataLength: number;
    try {
      dataLength = this.lengthDecoder(this.buffer);
    } catch (err) {
      // not enough bytes for the length yet
      if (err instanceof RangeError) break;
      throw err;
    }
    if (dataLength < 0 || dataLength > this.maxDataLength) {
      throw new InvalidMessageLengthError("Invalid message length");
    }
    const lengthLength = this.encodingLength(dataLength);
    const chunkLength = lengthLength + dataLength;
    if (this.buffer.byteLength < chunkLength) break;
    const frame = this.buffer.sublist(lengthLength, chunkLength);
    this.buffer.consume(chunkLength);
    if (frame.byteLength > 0) yield frame;
  }
}

/** The package's own `decode` (before the patch), for tests and benches. */
export const PACKAGE_DECODE = LengthPrefixedDecoder.prototype.decode;

/**
 * Applies the adjustment to the class (every decoder, Noise's included),
 * once; idempotent.
 *
 * @throws {Error} When the package's decoder no longer has what it replaces.
 */
export function patchLengthPrefixedDecoder(): void {
  const proto = LengthPrefixedDecoder.prototype as unknown as {
    decode: unknown;
  };
  if (proto.decode === decode) return;
  const probe = new LengthPrefixedDecoder() as unknown as Partial<
    DecoderFields
  >;
  const ok = typeof proto.decode === "function" &&
    probe.buffer !== undefined && typeof probe.maxBufferSize === "number" &&
    typeof probe.maxDataLength === "number" &&
    typeof probe.lengthDecoder === "function" &&
    typeof probe.encodingLength === "function";
  if (!ok) {
    throw new Error(
      "@libp2p/utils' LengthPrefixedDecoder has changed: mesh/_lp_decoder.ts no longer applies",
    );
  }
  proto.decode = decode;
}
