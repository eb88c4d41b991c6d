import assert from "node:assert/strict";
import fc from "fast-check";
import { LengthPrefixedDecoder } from "@libp2p/utils";
import type { Uint8ArrayList } from "uint8arraylist";
import {
  LP_DECODER_WRITTEN_FOR,
  PACKAGE_DECODE,
  patchLengthPrefixedDecoder,
} from "./_lp_decoder.ts";
import { assertWrittenFor } from "../tests/support/written_for.ts";

Deno.test("length-prefixed decoder: the adjustment was written for the installed @libp2p/utils", async () => {
  await assertWrittenFor(LP_DECODER_WRITTEN_FOR);
});

/** Noise's length decoder: a big-endian u16, `RangeError` when short. */
function uint16(buf: Uint8ArrayList): number {
  if (buf.byteLength < 2) throw new RangeError("Could not decode int16BE");
  return buf.get(0) * 256 + buf.get(1);
}

Deno.test("length-prefixed decoder: a buffer emptied by whole frames ends the loop without asking for a length", () => {
  patchLengthPrefixedDecoder();
  const asked: number[] = [];
  const d = new LengthPrefixedDecoder({
    lengthDecoder: (buf: Uint8ArrayList) => {
      asked.push(buf.byteLength);
      return uint16(buf);
    },
    encodingLength: () => 2,
  });
  const frames = [...d.decode(new Uint8Array([0, 2, 7, 8, 0, 1, 9]))];
  assert.deepEqual(frames.map((f) => [...f.subarray()]), [[7, 8], [9]]);
  // the package's own asks a third time, of an empty buffer, and catches
  // the RangeError that throws
  assert.deepEqual(asked, [7, 3]);
});

/** Runs `chunks` through a decoder with `decode`: frames or the error. */
function run(
  decode: typeof PACKAGE_DECODE,
  opts: { maxDataLength: number; u16: boolean },
  chunks: Uint8Array[],
): unknown[] {
  const d = new LengthPrefixedDecoder({
    maxDataLength: opts.maxDataLength,
    maxBufferSize: 64,
    ...(opts.u16 ? { lengthDecoder: uint16, encodingLength: () => 2 } : {}),
  });
  const out: unknown[] = [];
  try {
    for (const c of chunks) {
      for (const f of decode.call(d, c)) out.push([...f.subarray()]);
      out.push("|");
    }
  } catch (e) {
    out.push(`${(e as Error).name}: ${(e as Error).message}`);
  }
  return out;
}

Deno.test("length-prefixed decoder: the same frames and errors as the package's own, for any chunking", () => {
  patchLengthPrefixedDecoder();
  const patched = LengthPrefixedDecoder.prototype.decode;
  assert.notEqual(patched, PACKAGE_DECODE);
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 12 }), { maxLength: 12 }),
      fc.integer({ min: 0, max: 20 }),
      fc.boolean(),
      (chunks, maxDataLength, u16) => {
        const opts = { maxDataLength, u16 };
        assert.deepEqual(
          run(patched, opts, chunks),
          run(PACKAGE_DECODE, opts, chunks),
        );
      },
    ),
    { numRuns: 2000 },
  );
});
