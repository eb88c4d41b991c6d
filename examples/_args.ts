/**
 * The command line of the examples: strict flags (`node:util`'s
 * `parseArgs`), `--help`, one-line errors, and a permission check.
 *
 * - `--help` (or `-h`) prints the usage and every flag with its default;
 *   exit status 0.
 * - A bad argument (unknown flag, missing value, a number that is not one)
 *   prints `<program>: <what is wrong>` and the usage to stderr; exit
 *   status 2, no stack trace.
 * - A missing permission flag is named in one line; exit status 2. Call
 *   {@linkcode requirePermissions} before the library is imported (with
 *   `await import("../mod.ts")`): js-libp2p's logger reads the environment
 *   as it is imported, so without `--allow-env` a static import fails before
 *   any line of the program runs.
 *
 * This module imports nothing of the library, on purpose.
 *
 * @module
 */

import { parseArgs } from "node:util";

/** One flag of a program. */
export interface Flag {
  /** `string` takes a value; `boolean` is a switch (default off). */
  type: "string" | "boolean";
  /** The flag may be given several times (its value is a list, default empty). */
  multiple?: boolean;
  /** The value when the flag is absent (string flags). */
  default?: string;
  /** How the default reads in the help, when `default` is computed (`node-<pid>`). */
  shown?: string;
  /** The value's name in the help (`N`, `DIR`, `MULTIADDR`). */
  arg?: string;
  /** One line of help. */
  help: string;
}

/** A program: its name, what it does, how to run it, its flags. */
export interface Program<F extends Record<string, Flag>> {
  /** The name in messages: `simple_node.ts`. */
  name: string;
  /** One line: what the program does. */
  summary: string;
  /** Usage lines (how to run it). */
  usage: string[];
  /** The flags, without `--help` (every program has it). */
  flags: F;
  /** Text after the flags (permissions, examples). */
  notes?: string;
  /** The permission set of deno.json that fits (`node`, `gateway`), for hints. */
  permissionSet?: string;
}

/** Declares a program (an identity function that keeps the flags' types). */
export function program<const F extends Record<string, Flag>>(
  p: Program<F>,
): Program<F> {
  return p;
}

/** The parsed value of each flag, typed from its declaration. */
export type Values<F extends Record<string, Flag>> = {
  -readonly [K in keyof F]: F[K] extends { type: "boolean" } ? boolean
    : F[K] extends { multiple: true } ? string[]
    : F[K] extends { default: string } ? string
    : string | undefined;
};

/** The help text: usage, every flag with its default, notes. */
export function helpText<F extends Record<string, Flag>>(
  program: Program<F>,
): string {
  const lines = [`${program.name}: ${program.summary}`, "", "Usage:"];
  for (const u of program.usage) lines.push(`  ${u}`);
  lines.push("", "Flags:");
  const rows: [string, string][] = Object.entries(program.flags).map(
    ([name, f]) => {
      const arg = f.type === "string" ? ` ${f.arg ?? "VALUE"}` : "";
      let help = f.help;
      if (f.multiple) help += " (repeatable)";
      const shown = f.shown ?? f.default;
      if (shown !== undefined) help += ` (default: ${shown})`;
      else if (f.type === "boolean") help += " (default: off)";
      return [`  --${name}${arg}`, help];
    },
  );
  rows.push(["  -h, --help", "show this help and exit"]);
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  for (const [l, h] of rows) lines.push(l.padEnd(width) + h);
  if (program.notes) lines.push("", program.notes.trimEnd());
  return lines.join("\n");
}

/**
 * Prints `<program>: <message>` and the usage to stderr, and exits with
 * status 2.
 */
export function usageError<F extends Record<string, Flag>>(
  program: Program<F>,
  message: string,
): never {
  console.error(`${program.name}: ${message}`);
  console.error(
    [
      "Usage:",
      ...program.usage.map((u) => `  ${u}`),
      `Run it with --help for every flag.`,
    ].join("\n"),
  );
  Deno.exit(2);
}

/** node:util's message for a parse error, said in one line, our way. */
function explain(error: unknown): string {
  const message = String((error as Error)?.message ?? error);
  const quoted = /'([^']*)'/.exec(message)?.[1] ?? "";
  const flag = quoted.split(" ")[0];
  if (/^Unknown option/.test(message)) return `unknown flag ${flag}`;
  if (/argument missing$/.test(message)) return `${flag} needs a value`;
  if (/does not take an argument/.test(message)) {
    return `${flag} takes no value`;
  }
  if (/argument is ambiguous/.test(message)) {
    return `${flag} needs a value (for a value that starts with "-", write ${flag}=-VALUE)`;
  }
  if (/^Unexpected argument/.test(message)) {
    return `unexpected argument "${quoted}" (every value follows its flag)`;
  }
  return message.split("\n")[0];
}

/**
 * Parses `args` for `program`, strictly. On `--help` prints the help and
 * exits 0; on a bad argument prints one line and the usage and exits 2.
 */
export function parseFlags<F extends Record<string, Flag>>(
  program: Program<F>,
  args: string[] = Deno.args,
): Values<F> {
  const end = args.indexOf("--");
  const before = end < 0 ? args : args.slice(0, end);
  if (before.includes("--help") || before.includes("-h")) {
    console.log(helpText(program));
    Deno.exit(0);
  }
  const options: Record<
    string,
    {
      type: "string" | "boolean";
      multiple?: boolean;
      default?: string | boolean | string[];
    }
  > = {};
  for (const [name, f] of Object.entries(program.flags)) {
    options[name] = {
      type: f.type,
      ...(f.multiple ? { multiple: true } : {}),
      default: f.multiple ? [] : f.type === "boolean" ? false : f.default,
    };
    if (options[name].default === undefined) delete options[name].default;
  }
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false })
      .values as Values<F>;
  } catch (error) {
    return usageError(program, explain(error));
  }
}

/** What a number flag may be. */
export interface NumberRule {
  /** Whole numbers only. */
  integer?: boolean;
  /** The smallest value allowed. */
  min?: number;
  /** The largest value allowed. */
  max?: number;
  /** Strictly above zero. */
  positive?: boolean;
}

/**
 * The number a flag's value spells; a usage error (exit 2) when it is not
 * one, or is out of range. `undefined` stays `undefined`.
 */
export function numberFlag<F extends Record<string, Flag>>(
  program: Program<F>,
  name: string,
  value: string,
  rule?: NumberRule,
): number;
export function numberFlag<F extends Record<string, Flag>>(
  program: Program<F>,
  name: string,
  value: string | undefined,
  rule?: NumberRule,
): number | undefined;
export function numberFlag<F extends Record<string, Flag>>(
  program: Program<F>,
  name: string,
  value: string | undefined,
  rule: NumberRule = {},
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  const shape = rule.integer ? /^[+-]?\d+$/ : /^[+-]?(\d+\.?\d*|\.\d+)$/;
  const ok = shape.test(value.trim()) && Number.isFinite(n) &&
    (!rule.integer || Number.isSafeInteger(n)) &&
    (rule.min === undefined || n >= rule.min) &&
    (rule.max === undefined || n <= rule.max) &&
    (!rule.positive || n > 0);
  if (!ok) {
    const kind = rule.integer ? "a whole number" : "a number";
    const range = rule.min !== undefined && rule.max !== undefined
      ? ` from ${rule.min} to ${rule.max}`
      : rule.positive
      ? " above 0"
      : rule.min !== undefined
      ? ` of at least ${rule.min}`
      : rule.max !== undefined
      ? ` of at most ${rule.max}`
      : "";
    usageError(
      program,
      `--${name} must be ${kind}${range}, not ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/** The TCP/UDP port a flag names (0: any). */
export function portFlag<F extends Record<string, Flag>>(
  program: Program<F>,
  name: string,
  value: string,
): number {
  return numberFlag(program, name, value, {
    integer: true,
    min: 0,
    max: 65535,
  });
}

/** A permission the program needs, or `--unstable-net` (`Deno.listenDatagram`). */
export type Need = Deno.PermissionDescriptor | "unstable-net";

/** The `deno run` flag that grants `need`. */
function flagFor(need: Need): string {
  if (need === "unstable-net") return "--unstable-net";
  switch (need.name) {
    case "sys":
      return `--allow-sys${need.kind ? `=${need.kind}` : ""}`;
    case "read":
    case "write":
      return `--allow-${need.name}${need.path ? `=${need.path}` : ""}`;
    case "net":
      return `--allow-net${need.host ? `=${need.host}` : ""}`;
    case "env":
      return `--allow-env${need.variable ? `=${need.variable}` : ""}`;
    default:
      return `--allow-${need.name}`;
  }
}

function has(need: Need): boolean {
  if (need === "unstable-net") {
    return typeof (Deno as { listenDatagram?: unknown }).listenDatagram ===
      "function";
  }
  try {
    return Deno.permissions.querySync(need).state === "granted";
  } catch {
    return true; // no permission API: let the call itself decide
  }
}

/**
 * Exits with status 2 and one line naming the missing flags when a
 * permission in `needs` is not granted. Call it before importing the
 * library.
 */
export function requirePermissions<F extends Record<string, Flag>>(
  program: Program<F>,
  needs: Need[],
): void {
  const absent = needs.filter((n) => !has(n));
  if (absent.length === 0) return;
  const missing = absent.map(flagFor);
  const them = missing.length === 1 ? "it" : "them";
  // deno.json's sets grant files only at their usual paths: no hint then.
  const onPath = absent.some((n) =>
    n !== "unstable-net" && (n.name === "read" || n.name === "write")
  );
  const set = program.permissionSet && !onPath
    ? ` (inside this project, -P=${program.permissionSet} grants ${them})`
    : "";
  console.error(
    `${program.name}: missing permission ${
      missing.join(" ")
    }: add ${them} to "deno run"${set}`,
  );
  Deno.exit(2);
}

/**
 * Reports an error of the library at start (a bad config, a port in use) in
 * one line and exits: status 2 for a `ConfigError` (a bad argument), 1
 * otherwise.
 */
export function startFailed<F extends Record<string, Flag>>(
  program: Program<F>,
  error: unknown,
): never {
  const e = error as Error;
  const name = e?.name ?? "Error";
  console.error(
    `${program.name}: ${name}: ${String(e?.message ?? e).split("\n")[0]}`,
  );
  Deno.exit(name === "ConfigError" ? 2 : 1);
}
