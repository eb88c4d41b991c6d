/**
 * Argument parsing for the `avi` commands: `node:util`'s strict
 * `parseArgs`, with every mistake turned into a {@linkcode UsageError} (one
 * line, then the command's usage, exit status 2).
 *
 * @module
 */

import { parseArgs } from "node:util";

/** A mistake in the command line: printed as one line and the usage; exit 2. */
export class UsageError extends Error {
  /** @param message What is wrong, in one line. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A failure the user can act on (nobody reached, timeout, bad file): one line; exit 1. */
export class CliError extends Error {
  /**
   * @param message What failed, in one line.
   * @param exitCode The exit status. @default 1
   */
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = "CliError";
  }
}

/** One option of a command: its parseArgs form and its line of help. */
export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
  /** The value's name in the help (`TOPIC`), for string options. */
  arg?: string;
  help: string;
  default?: string | boolean | string[];
}

/** A command: its name, one-line summary, usage lines, options. */
export interface CommandSpec {
  name: string;
  summary: string;
  usage: string[];
  options: Record<string, OptionSpec>;
  /** Extra help text after the options. */
  notes?: string;
}

/** The options every command takes. */
export const COMMON_OPTIONS: Record<string, OptionSpec> = {
  help: { type: "boolean", short: "h", help: "show this help and exit" },
  "log-level": {
    type: "string",
    arg: "LEVEL",
    help: "trace, debug, info, warning, error or fatal (default: info)",
  },
  "log-format": {
    type: "string",
    arg: "FORMAT",
    help: "text or json (one object per line) (default: text)",
  },
};

/** The help text of a command. */
export function helpText(cmd: CommandSpec): string {
  const lines = [`avi ${cmd.name}: ${cmd.summary}`, "", "Usage:"];
  for (const u of cmd.usage) lines.push(`  ${u}`);
  lines.push("", "Options:");
  const all = { ...cmd.options, ...COMMON_OPTIONS };
  const rows = Object.entries(all).map(([name, o]) => {
    const short = o.short ? `-${o.short}, ` : "    ";
    const arg = o.type === "string" ? ` ${o.arg ?? "VALUE"}` : "";
    return [`  ${short}--${name}${arg}`, o.help];
  });
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  for (const [l, h] of rows) lines.push(l.padEnd(width) + h);
  if (cmd.notes) lines.push("", cmd.notes.trimEnd());
  return lines.join("\n");
}

/** The usage lines of a command and where to find more (after a usage error). */
export function shortUsage(cmd: CommandSpec): string {
  return [
    "Usage:",
    ...cmd.usage.map((u) => `  ${u}`),
    `Run "avi ${cmd.name} --help" for the options.`,
  ].join("\n");
}

/** The parsed options (and positionals) of a command. */
export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/**
 * Parses `args` for `cmd`, strictly.
 * @throws {UsageError} An unknown option, a missing value, a value where none is taken.
 */
export function parse(cmd: CommandSpec, args: string[]): Parsed {
  const options: Record<
    string,
    {
      type: "string" | "boolean";
      short?: string;
      multiple?: boolean;
      default?: string | boolean | string[];
    }
  > = {};
  for (
    const [name, o] of Object.entries({ ...cmd.options, ...COMMON_OPTIONS })
  ) {
    options[name] = {
      type: o.type,
      ...(o.short ? { short: o.short } : {}),
      ...(o.multiple ? { multiple: true } : {}),
      ...(o.default !== undefined ? { default: o.default } : {}),
    };
  }
  try {
    const { values, positionals } = parseArgs({
      args,
      options,
      strict: true,
      allowPositionals: true,
    });
    return { values: values as Parsed["values"], positionals };
  } catch (e) {
    // node:util's messages name the option; keep only the first line.
    const msg = String((e as Error).message ?? e).split("\n")[0]
      .replace(/\. To specify a positional.*$/, "");
    throw new UsageError(msg);
  }
}

/** A string option's value, or undefined. */
export function str(p: Parsed, name: string): string | undefined {
  const v = p.values[name];
  return typeof v === "string" ? v : undefined;
}

/** A repeatable string option's values. */
export function strs(p: Parsed, name: string): string[] {
  const v = p.values[name];
  return Array.isArray(v) ? v : typeof v === "string" ? [v] : [];
}

/** A boolean option. */
export function flag(p: Parsed, name: string): boolean {
  return p.values[name] === true;
}

/**
 * A whole number option within `[min, max]`.
 * @throws {UsageError} Not a whole number in range.
 */
export function int(
  p: Parsed,
  name: string,
  fallback: number,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const v = str(p, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!/^-?\d+$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(
      `--${name} must be a whole number from ${min} to ${max}, not "${v}"`,
    );
  }
  return n;
}

/**
 * A number of seconds (decimals allowed) as milliseconds.
 * @throws {UsageError} Not a positive number.
 */
export function seconds(
  p: Parsed,
  name: string,
  fallbackMs: number | undefined,
): number | undefined {
  const v = str(p, name);
  if (v === undefined) return fallbackMs;
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || !(n > 0) || n > 86_400 * 365) {
    throw new UsageError(`--${name} must be a number of seconds, not "${v}"`);
  }
  return Math.round(n * 1000);
}

/**
 * `HOST:PORT` (`:PORT` alone means 127.0.0.1).
 * @throws {UsageError} Malformed.
 */
export function hostPort(
  value: string,
  name: string,
): { hostname: string; port: number } {
  const m = /^(.*):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) {
    throw new UsageError(`--${name} must be HOST:PORT, not "${value}"`);
  }
  const host = m[1].replace(/^\[(.*)\]$/, "$1") || "127.0.0.1";
  return { hostname: host, port };
}
