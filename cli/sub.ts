/**
 * `avi sub`: print the messages of one or more topics as they arrive.
 *
 * @module
 */

import {
  CliError,
  type CommandSpec,
  int,
  type Parsed,
  seconds,
  str,
  strs,
  UsageError,
} from "./_args.ts";
import { type Format, formatMessage, println } from "./_format.ts";
import { CLIENT_OPTIONS, connect } from "./_mesh.ts";
import { log } from "./_log.ts";

/** The command. */
export const SUB: CommandSpec = {
  name: "sub",
  summary: "print the messages of topics as they arrive",
  usage: [
    "avi sub -t TOPIC [-t TOPIC ...] [-C COUNT] [-W SECONDS] [--format text|json|hex]",
  ],
  options: {
    topic: {
      type: "string",
      short: "t",
      multiple: true,
      arg: "TOPIC",
      help: "a topic to follow, repeatable",
    },
    count: {
      type: "string",
      short: "C",
      arg: "COUNT",
      help: "exit after COUNT messages",
    },
    wait: {
      type: "string",
      short: "W",
      arg: "SECONDS",
      help: "exit after SECONDS (with -C: fail if fewer came)",
    },
    format: {
      type: "string",
      arg: "FORMAT",
      help:
        "text (topic and payload), json (one object per line: ts, from, topic, data) or hex",
    },
    ...CLIENT_OPTIONS,
  },
  notes: `Exit status: 0 at -C COUNT messages, at -W without -C, or at Ctrl-C;
1 when -W passes before -C COUNT messages came, or the node goes; 2 for bad
arguments.`,
};

/** Runs `avi sub`. */
export async function sub(p: Parsed): Promise<number> {
  const topics = strs(p, "topic");
  if (topics.length === 0) throw new UsageError("give at least one -t TOPIC");
  const format = (str(p, "format") ?? "text") as Format;
  if (!["text", "json", "hex"].includes(format)) {
    throw new UsageError(`--format must be text, json or hex, not "${format}"`);
  }
  const count = str(p, "count") === undefined
    ? undefined
    : int(p, "count", 0, 1);
  const waitMs = seconds(p, "wait", undefined);
  const logger = log("sub");
  const access = await connect(p);
  const abort = new AbortController();
  let timedOut = false;
  const timer = waitMs === undefined ? undefined : setTimeout(() => {
    timedOut = true;
    abort.abort();
  }, waitMs);
  const onSignal = () => abort.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  let seen = 0;
  try {
    logger.info("following {topics} through {where}", {
      topics: topics.join(", "),
      where: access.description,
    });
    for await (const m of access.messages(topics, abort.signal)) {
      println(formatMessage(m, format));
      seen++;
      if (count !== undefined && seen >= count) break;
    }
    if (count !== undefined && seen < count) {
      if (timedOut) {
        throw new CliError(
          `${seen} of ${count} message(s) within ${waitMs! / 1000} s`,
        );
      }
      if (!abort.signal.aborted) throw new CliError("the subscription ended");
    }
    return 0;
  } finally {
    clearTimeout(timer);
    Deno.removeSignalListener("SIGINT", onSignal);
    abort.abort();
    await access.close();
  }
}
