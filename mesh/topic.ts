/**
 * Checking of the pub/sub topics given by callers.
 *
 * @module
 */

import { InvalidTopicError } from "../core/errors.ts";

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

/** Topics the mesh keeps for itself: the context's and everything under `_avi/`. */
export const RESERVED_TOPICS: readonly string[] = ["avi-context/1"];

/**
 * Refuses a topic the mesh keeps for itself (see {@linkcode RESERVED_TOPICS})
 * for an application's subscribe or publish.
 *
 * @param topic The topic (already checked by {@linkcode checkTopic}).
 * @throws {InvalidTopicError} When the topic is reserved.
 *
 * @example
 * ```ts ignore
 * checkNotReserved("home/lights"); // ok
 * ```
 */
export function checkNotReserved(topic: string): void {
  if (topic.startsWith("_avi/") || RESERVED_TOPICS.includes(topic)) {
    throw new InvalidTopicError(
      `Topic "${topic}" is reserved for the mesh itself (_avi/... and the context topic)`,
    );
  }
}
