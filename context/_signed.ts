/**
 * Reading one `[delta, signature]` item off the network (internal): the
 * shape, the size bound and the delta's own checks, before any signature is
 * verified. Shared by the gossip receiver (`sync.ts`) and the answers of
 * anti-entropy (`_anti_entropy.ts`).
 *
 * @module
 */

import { InvalidPathError } from "../core/errors.ts";
import { type ContextDelta, decodeDelta } from "./delta.ts";

/** A well-formed item: the delta's bytes, its signature and the delta. */
export interface SignedItem {
  bytes: Uint8Array;
  proof: Uint8Array;
  delta: ContextDelta;
}

/**
 * Reads an item, or says which counter its refusal raises.
 *
 * @param item What came off the network.
 * @param maxDeltaBytes The largest delta accepted.
 * @returns The item, or `"rejectedMalformed"` / `"rejectedTooLarge"`.
 */
export function readSignedItem(
  item: unknown,
  maxDeltaBytes: number,
): SignedItem | "rejectedMalformed" | "rejectedTooLarge" {
  if (
    !Array.isArray(item) || !(item[0] instanceof Uint8Array) ||
    !(item[1] instanceof Uint8Array)
  ) return "rejectedMalformed";
  const [bytes, proof] = item as [Uint8Array, Uint8Array];
  if (bytes.length > maxDeltaBytes) return "rejectedTooLarge";
  try {
    return { bytes, proof, delta: decodeDelta(bytes) };
  } catch (error) {
    if (!(error instanceof InvalidPathError)) throw error;
    return "rejectedMalformed";
  }
}
