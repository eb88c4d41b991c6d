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
