/**
 * Dotted paths (`avi.device.audio.volume`) and their limits.
 *
 * @module
 */

import { InvalidPathError } from "../core/errors.ts";

/** The deepest path accepted, in segments. */
export const MAX_PATH_DEPTH = 32;
/** The longest key accepted, in UTF-16 code units. */
export const MAX_KEY_LENGTH = 256;

/**
 * Checks one key: non-empty, no `.`, not `__proto__`, at most {@linkcode MAX_KEY_LENGTH}.
 * @throws {InvalidPathError} When the key is not allowed.
 */
export function checkKey(key: string, where = key): void {
  if (key.length === 0) {
    throw new InvalidPathError(`Empty key in path "${where}"`);
  }
  if (key === "__proto__") {
    throw new InvalidPathError(
      `Key "__proto__" is not allowed (in "${where}")`,
    );
  }
  if (key.includes(".")) {
    throw new InvalidPathError(`Key "${key}" contains a dot (in "${where}")`);
  }
  if (key.length > MAX_KEY_LENGTH) {
    throw new InvalidPathError(
      `Key of ${key.length} characters exceeds ${MAX_KEY_LENGTH} (in "${where}")`,
    );
  }
}

/**
 * Whether {@linkcode checkKey} certainly accepts `key` (so that the path for
 * its error message need not be formatted for every key). Internal: not
 * exported from `mod.ts`.
 */
export function plainKey(key: string): boolean {
  return key.length > 0 && key.length <= MAX_KEY_LENGTH &&
    key !== "__proto__" && !key.includes(".");
}

/**
 * Splits a dotted path into keys. The empty string is the root.
 *
 * @param path A dotted path such as `avi.device.audio.volume`, or `""`.
 * @returns Its keys.
 * @throws {InvalidPathError} Empty segment, too deep, or a key too long.
 *
 * @example
 * ```ts
 * import { parsePath } from "@avi/p2p/context";
 * console.log(parsePath("avi.device.audio")); // ["avi", "device", "audio"]
 * ```
 */
export function parsePath(path: string): string[] {
  if (typeof path !== "string") {
    throw new InvalidPathError("A path must be a string");
  }
  if (path === "") return [];
  const keys = path.split(".");
  if (keys.length > MAX_PATH_DEPTH) {
    throw new InvalidPathError(
      `Path "${
        path.slice(0, 64)
      }" has ${keys.length} segments; the limit is ${MAX_PATH_DEPTH}`,
    );
  }
  for (const key of keys) checkKey(key, path);
  return keys;
}

/**
 * Joins keys into a dotted path.
 *
 * @example
 * ```ts
 * import { formatPath } from "@avi/p2p/context";
 * console.log(formatPath(["avi", "device"])); // "avi.device"
 * ```
 */
export function formatPath(keys: readonly string[]): string {
  return keys.join(".");
}
