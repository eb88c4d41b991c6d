/**
 * Parsing and checking of peer ids and topics given by callers.
 *
 * @module
 */

import { peerIdFromString } from "@libp2p/peer-id";
import { InvalidAddressError, InvalidTopicError } from "../core/errors.ts";
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

/**
 * Checks a pub/sub topic: a non-empty string of at most `maxBytes` UTF-8
 * bytes with no control characters.
 *
 * @param topic The topic.
 * @param maxBytes The longest topic allowed, in UTF-8 bytes.
 * @throws {InvalidTopicError} When the topic is refused.
 *
 * @example
 * ```ts ignore
 * checkTopic("home/lights", 256); // ok
 * ```
 */
export function checkTopic(topic: string, maxBytes: number): void {
  if (typeof topic !== "string" || topic.length === 0) {
    throw new InvalidTopicError("Topic must be a non-empty string");
  }
  // a UTF-16 code unit is at most 3 UTF-8 bytes: short topics need no encoding
  const size = topic.length * 3 <= maxBytes
    ? 0
    : new TextEncoder().encode(topic).length;
  if (size > maxBytes) {
    throw new InvalidTopicError(
      `Topic is ${size} bytes; the limit is ${maxBytes} bytes`,
    );
  }
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(topic)) {
    throw new InvalidTopicError("Topic must not contain control characters");
  }
}
