/**
 * Per-device topic permissions: which topics a device may publish to and
 * subscribe to, as MQTT-style patterns (see {@linkcode matchTopic}).
 *
 * The default, when a device has no entry of its own:
 * - publish: `device/{id}/#` only (its own subtree);
 * - subscribe: `#` (any topic).
 *
 * `{id}` in a pattern is replaced by the device's id. Whatever the patterns
 * say, two hard rules always hold:
 * - no device may publish to a reserved topic (the context topics, see
 *   {@linkcode DEFAULT_RESERVED_TOPICS}), nor subscribe to one;
 * - no device may publish under `device/<other id>/...`.
 *
 * @module
 */

import { matchTopic, validatePattern } from "./topic_pattern.ts";

/** The patterns a device is allowed to use. */
export interface TopicRules {
  /** Patterns the device may publish to. @default ["device/{id}/#"] */
  publish?: string[];
  /** Patterns the device may subscribe to. @default ["#"] */
  subscribe?: string[];
}

/**
 * Topics no device may touch: the shared-context topics of the mesh.
 *
 * @example
 * ```ts
 * import { DEFAULT_RESERVED_TOPICS } from "@avi/p2p/bridge";
 * console.log(DEFAULT_RESERVED_TOPICS.includes("avi-context-updates"));
 * ```
 */
export const DEFAULT_RESERVED_TOPICS: readonly string[] = Object.freeze([
  "avi-context-updates",
  "avi-context/#",
  "avi/context/#",
]);

/** Default publish patterns. */
export const DEFAULT_PUBLISH: readonly string[] = Object.freeze([
  "device/{id}/#",
]);
/** Default subscribe patterns. */
export const DEFAULT_SUBSCRIBE: readonly string[] = Object.freeze(["#"]);

/**
 * Compiled permissions for one device.
 *
 * @example
 * ```ts
 * import { DevicePermissions } from "@avi/p2p/bridge";
 * const p = new DevicePermissions("7");
 * console.log(p.canPublish("device/7/sensor/t")); // true
 * console.log(p.canPublish("device/8/sensor/t")); // false
 * console.log(p.canSubscribe("home/lights")); // true
 * ```
 */
export class DevicePermissions {
  readonly #id: string;
  readonly #pub: string[];
  readonly #sub: string[];
  readonly #reserved: readonly string[];

  /**
   * Compile a device's rules.
   *
   * @param deviceId The device's id (as it appears in `device/<id>/...`).
   * @param rules Its own rules; missing lists take the defaults.
   * @param reserved Reserved topic patterns.
   *   @default DEFAULT_RESERVED_TOPICS
   * @throws {InvalidTopicError} When a pattern is malformed.
   */
  constructor(
    deviceId: string,
    rules: TopicRules = {},
    reserved: readonly string[] = DEFAULT_RESERVED_TOPICS,
  ) {
    this.#id = deviceId;
    const sub = (p: string) => p.replaceAll("{id}", deviceId);
    this.#pub = (rules.publish ?? DEFAULT_PUBLISH).map(sub);
    this.#sub = (rules.subscribe ?? DEFAULT_SUBSCRIBE).map(sub);
    for (const p of [...this.#pub, ...this.#sub, ...reserved]) {
      validatePattern(p);
    }
    this.#reserved = reserved;
  }

  #isReserved(topic: string): boolean {
    for (const r of this.#reserved) if (matchTopic(r, topic)) return true;
    return false;
  }

  /**
   * Whether the device may publish to a concrete topic.
   *
   * @param topic The topic.
   * @returns `true` when allowed.
   */
  canPublish(topic: string): boolean {
    if (this.#isReserved(topic)) return false;
    if (topic.startsWith("device/")) {
      const end = topic.indexOf("/", 7);
      const owner = topic.slice(7, end === -1 ? topic.length : end);
      if (owner !== this.#id) return false;
    }
    for (const p of this.#pub) if (matchTopic(p, topic)) return true;
    return false;
  }

  /**
   * Whether the device may subscribe to a concrete topic.
   *
   * @param topic The topic.
   * @returns `true` when allowed.
   */
  canSubscribe(topic: string): boolean {
    if (this.#isReserved(topic)) return false;
    for (const p of this.#sub) if (matchTopic(p, topic)) return true;
    return false;
  }
}
