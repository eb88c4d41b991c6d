/**
 * Topic helpers of the MQTT bridge: MQTT-style pattern matching (`+`, `#`),
 * a context key as one topic level, and ids Home Assistant accepts in a
 * discovery topic.
 *
 * @module
 */

/**
 * Whether an MQTT-style pattern (`+` one level, `#` the rest, last only)
 * matches a topic.
 *
 * @param pattern The pattern, e.g. `home/+/light` or `home/#`.
 * @param topic A topic without wildcards.
 * @returns True when it matches.
 * @example
 * ```ts
 * import { matchPattern } from "./topics.ts";
 * console.log(matchPattern("home/#", "home/hall/light")); // true
 * ```
 */
export function matchPattern(pattern: string, topic: string): boolean {
  if (pattern === topic) return true;
  const p = pattern.split("/");
  const t = topic.split("/");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === "#") return true;
    if (i >= t.length) return false;
    if (p[i] !== "+" && p[i] !== t[i]) return false;
  }
  return p.length === t.length;
}

/**
 * Checks an MQTT-style pattern: non-empty, `#` only as the whole last level,
 * `+` only as a whole level.
 *
 * @param pattern The pattern.
 * @returns The problem, or undefined when it is valid.
 */
export function patternProblem(pattern: string): string | undefined {
  if (typeof pattern !== "string" || pattern.length === 0) {
    return "must be a non-empty string";
  }
  const levels = pattern.split("/");
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i];
    if (l.includes("#") && (l !== "#" || i !== levels.length - 1)) {
      return `"${pattern}": # must be the whole last level`;
    }
    if (l.includes("+") && l !== "+") {
      return `"${pattern}": + must be a whole level`;
    }
  }
  return undefined;
}

/** Whether a topic holds an MQTT wildcard character. */
export function hasMqttWildcard(topic: string): boolean {
  return topic.includes("+") || topic.includes("#");
}

/**
 * A context path (or key) as one MQTT topic level: `/`, `+`, `#`, `%` and
 * control characters are percent-encoded, everything else is kept (dots
 * included), so `avi.device.audio.volume` stays readable.
 *
 * @example
 * ```ts
 * import { topicLevel } from "./topics.ts";
 * console.log(topicLevel("avi.lights.a/b")); // "avi.lights.a%2Fb"
 * ```
 */
export function topicLevel(s: string): string {
  return s.replace(
    // deno-lint-ignore no-control-regex
    /[/+#%\u0000-\u001f]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`,
  );
}

/**
 * An id made of `[a-zA-Z0-9_-]` only (what Home Assistant accepts as a
 * discovery topic's node id and object id): other characters become `_`.
 *
 * @example
 * ```ts
 * import { safeId } from "./topics.ts";
 * console.log(safeId("avi.device.audio.volume")); // "avi_device_audio_volume"
 * ```
 */
export function safeId(s: string): string {
  return s.replace(/[^a-zA-Z0-9_-]/g, "_");
}

/** A device event topic of the bridge, taken apart. */
export type DeviceTopic =
  | { kind: "sensor"; deviceId: string; name: string }
  | { kind: "button"; deviceId: string };

/**
 * Recognises `device/<id>/sensor/<name>` and `device/<id>/button` (the
 * topics the bridge publishes device events on, docs/PROTOCOL.md 4.5).
 *
 * @returns The parts, or undefined for any other topic.
 */
export function parseDeviceTopic(topic: string): DeviceTopic | undefined {
  if (!topic.startsWith("device/")) return undefined;
  const parts = topic.split("/");
  if (!/^[0-9]+$/.test(parts[1] ?? "")) return undefined;
  if (parts.length === 4 && parts[2] === "sensor" && parts[3] !== "") {
    return { kind: "sensor", deviceId: parts[1], name: parts[3] };
  }
  if (parts.length === 3 && parts[2] === "button") {
    return { kind: "button", deviceId: parts[1] };
  }
  return undefined;
}
