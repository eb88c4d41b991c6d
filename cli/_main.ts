/**
 * The `avi` command's dispatch (see `main.ts`, which checks permissions
 * first and then loads this module).
 *
 * @module
 */

import {
  CliError,
  type CommandSpec,
  helpText,
  parse,
  type Parsed,
  shortUsage,
  str,
  UsageError,
} from "./_args.ts";
import { setupLogging } from "./_log.ts";
import { CTX, DEVICES, GATEWAY, NODE, PEERS, PUB, SUB } from "./_specs.ts";

/** The version printed by `avi --version`. */
export const VERSION = "0.1.0";

/** Each command's spec, and its code, loaded only when it runs. */
const COMMANDS: [CommandSpec, () => Promise<(p: Parsed) => Promise<number>>][] =
  [
    [NODE, async () => (await import("./node.ts")).node],
    [GATEWAY, async () => (await import("./gateway.ts")).gateway],
    [PUB, async () => (await import("./pub.ts")).pub],
    [SUB, async () => (await import("./sub.ts")).sub],
    [CTX, async () => (await import("./ctx.ts")).ctx],
    [PEERS, async () => (await import("./peers.ts")).peers],
    [DEVICES, async () => (await import("./devices.ts")).devices],
  ];

function usage(): string {
  const width = Math.max(...COMMANDS.map(([c]) => c.name.length)) + 2;
  return [
    "avi: run, watch and steer a home mesh (@avi/p2p)",
    "",
    "Usage: avi COMMAND [OPTIONS]      avi COMMAND --help      avi --version",
    "",
    "Commands:",
    ...COMMANDS.map(([c]) => `  ${c.name.padEnd(width)}${c.summary}`),
    "",
    "Exit status: 0 success, 1 failure (one line says why), 2 bad arguments.",
  ].join("\n");
}

function fail(message: string, help?: string): void {
  console.error(`avi: ${message}`);
  if (help) console.error(`\n${help}`);
}

/** Runs `avi` with `args`; resolves with the exit status. */
export async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (
    name === undefined || name === "--help" || name === "-h" || name === "help"
  ) {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === "--version" || name === "-V") {
    console.log(`avi ${VERSION} (@avi/p2p, Deno ${Deno.version.deno})`);
    return 0;
  }
  const entry = COMMANDS.find(([c]) => c.name === name);
  if (!entry) {
    fail(`unknown command "${name}"`, usage());
    return 2;
  }
  const [spec, load] = entry;
  try {
    const p = parse(spec, rest);
    if (p.values.help) {
      console.log(helpText(spec));
      return 0;
    }
    await setupLogging(
      str(p, "log-level") ?? "info",
      str(p, "log-format") ?? "text",
    );
    return await (await load())(p);
  } catch (e) {
    if (e instanceof UsageError) {
      fail(e.message, shortUsage(spec));
      return 2;
    }
    if (e instanceof CliError) {
      fail(e.message);
      return e.exitCode;
    }
    if (
      e instanceof Deno.errors.NotCapable ||
      e instanceof Deno.errors.PermissionDenied
    ) {
      fail(`a permission is missing: ${(e as Error).message.split("\n")[0]}`);
      return 1;
    }
    const err = e as Error;
    // A typed error of the library (InvalidTopicError, ...) is the user's to fix.
    fail(`${err?.name ?? "Error"}: ${err?.message ?? e}`);
    return 1;
  }
}
