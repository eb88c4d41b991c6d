/**
 * MQTT-style topic patterns for device permissions: `+` matches exactly one
 * level, `#` (last level only) matches the remaining levels, zero or more.
 * A pattern whose first level is a wildcard does not match a topic that
 * starts with `$` (as in MQTT).
 *
 * @module
 */

import { InvalidTopicError } from "../core/errors.ts";

/**
 * Check that a pattern is well formed: `#` only as the whole last level, `+`
 * only as a whole level, no empty pattern.
 *
 * @param pattern The pattern, e.g. `device/+/sensor/#`.
 * @throws {InvalidTopicError} When the pattern is malformed.
 *
 * @example
 * ```ts
 * import { validatePattern } from "@avi/p2p/bridge";
 * validatePattern("home/+/light/#"); // ok
 * ```
 */
export function validatePattern(pattern: string): void {
  if (pattern.length === 0) {
    throw new InvalidTopicError("Topic pattern must not be empty");
  }
  const levels = pattern.split("/");
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i];
    if (l.includes("#") && (l !== "#" || i !== levels.length - 1)) {
      throw new InvalidTopicError(
        `Invalid topic pattern "${pattern}": "#" must be the whole last level`,
      );
    }
    if (l.includes("+") && l !== "+") {
      throw new InvalidTopicError(
        `Invalid topic pattern "${pattern}": "+" must be a whole level`,
      );
    }
  }
}

/**
 * Whether a topic contains an MQTT wildcard character (`+` or `#`).
 *
 * @param topic The topic.
 * @returns `true` when it has a wildcard.
 *
 * @example
 * ```ts
 * import { hasWildcard } from "@avi/p2p/bridge";
 * console.log(hasWildcard("a/+/b")); // true
 * ```
 */
export function hasWildcard(topic: string): boolean {
  return topic.includes("+") || topic.includes("#");
}

/**
 * Whether a concrete topic matches a pattern (MQTT rules).
 *
 * @param pattern A valid pattern (see {@linkcode validatePattern}).
 * @param topic A concrete topic (no wildcards).
 * @returns `true` on a match.
 *
 * @example
 * ```ts
 * import { matchTopic } from "./topic_pattern.ts";
 * console.log(matchTopic("device/+/sensor/#", "device/7/sensor/temp")); // true
 * console.log(matchTopic("device/#", "device")); // true
 * console.log(matchTopic("+/x", "$sys/x")); // false
 * ```
 */
export function matchTopic(pattern: string, topic: string): boolean {
  if (
    topic.startsWith("$") && (pattern[0] === "+" || pattern[0] === "#")
  ) return false;
  if (pattern === topic) return true;
  const p = pattern.split("/"), t = topic.split("/");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === "#") return true;
    if (i >= t.length) return false;
    if (p[i] !== "+" && p[i] !== t[i]) return false;
  }
  return p.length === t.length;
}
