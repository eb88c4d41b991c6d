/**
 * Logging for the `avi` programs, through LogTape: every log line goes to
 * stderr (stdout carries the command's output), as text or as one JSON
 * object per line. The library itself logs under the `avi` category
 * (`avi.mesh`, `avi.bridge`, ...) and stays silent unless a program
 * configures LogTape, as this module does.
 *
 * @module
 */

import {
  configure,
  getLogger,
  getTextFormatter,
  jsonLinesFormatter,
  type Logger,
  type LogLevel,
  type LogRecord,
  reset,
} from "@logtape/logtape";
import { UsageError } from "./_args.ts";

const LEVELS: LogLevel[] = [
  "trace",
  "debug",
  "info",
  "warning",
  "error",
  "fatal",
];

/**
 * Sends log records at `level` and above to stderr in `format`.
 * @throws {UsageError} An unknown level or format.
 */
export async function setupLogging(
  level = "info",
  format = "text",
): Promise<void> {
  if (!LEVELS.includes(level as LogLevel)) {
    throw new UsageError(
      `--log-level must be one of ${LEVELS.join(", ")}, not "${level}"`,
    );
  }
  if (format !== "text" && format !== "json") {
    throw new UsageError(`--log-format must be text or json, not "${format}"`);
  }
  const formatter = format === "json"
    ? jsonLinesFormatter
    : getTextFormatter({ value: "bare" });
  const encoder = new TextEncoder();
  const sink = (record: LogRecord) => {
    const line = formatter(record);
    try {
      Deno.stderr.writeSync(
        encoder.encode(line.endsWith("\n") ? line : `${line}\n`),
      );
    } catch { /* stderr closed: nothing to do */ }
  };
  await reset();
  await configure({
    sinks: { stderr: sink },
    loggers: [
      { category: ["avi"], lowestLevel: level as LogLevel, sinks: ["stderr"] },
      {
        category: ["logtape", "meta"],
        lowestLevel: "warning",
        sinks: ["stderr"],
      },
    ],
  });
}

/** The logger of one part of the command line (`avi.cli.<name>`). */
export function log(name: string): Logger {
  return getLogger(["avi", "cli", name]);
}
