/**
 * Parsing and checking of peer ids given by callers.
 *
 * @module
 */

import { peerIdFromString } from "@libp2p/peer-id";
import { InvalidAddressError } from "../core/errors.ts";
import type { PeerId } from "../core/peer_id.ts";

/**
 * Checks that `text` is a peer id (`12D3KooW...`, `Qm...`) and returns it as
 * a {@linkcode PeerId}.
 *
 * @param text The candidate peer id.
 * @returns The same string, typed as a peer id.
 * @throws {InvalidAddressError} When `text` is not a valid peer id.
 *
 * @example
 * ```ts
 * import { parsePeerId } from "@avi/p2p";
 * try {
 *   parsePeerId("not-a-peer");
 * } catch (e) {
 *   console.log((e as Error).name); // "InvalidAddressError"
 * }
 * ```
 */
export function parsePeerId(text: string): PeerId {
  if (typeof text !== "string" || text.length === 0 || text.length > 128) {
    throw new InvalidAddressError(
      `Cannot parse peer id: expected a non-empty string of at most 128 characters`,
    );
  }
  try {
    return peerIdFromString(text).toString() as PeerId;
  } catch (cause) {
    throw new InvalidAddressError(`Cannot parse peer id "${text}"`, { cause });
  }
}
