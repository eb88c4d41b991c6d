/**
 * The library's logging, through LogTape (`@logtape/logtape`, made for
 * libraries): every part logs under the `avi` category (`avi.mesh`,
 * `avi.bridge`, `avi.context`, ...) and stays silent until the application
 * configures LogTape with its own sinks and levels, as the `avi` command
 * does.
 *
 * @module
 */

import { getLogger, type Logger } from "@logtape/logtape";

/**
 * The logger of one part of the library.
 *
 * @param part The part, e.g. `"bridge"` (category `avi.bridge`).
 * @returns A LogTape logger; silent unless the application configures one.
 *
 * @example
 * ```ts
 * import { configure, getConsoleSink } from "@logtape/logtape";
 * // In an application: show the library's warnings and above.
 * await configure({
 *   sinks: { console: getConsoleSink() },
 *   loggers: [{ category: ["avi"], lowestLevel: "warning", sinks: ["console"] }],
 * });
 * ```
 */
export function aviLogger(part: string): Logger {
  return getLogger(["avi", part]);
}
