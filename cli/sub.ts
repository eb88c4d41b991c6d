/**
 * `avi sub`: print the messages of one or more topics as they arrive.
 *
 * @module
 */

import {
  CliError,
  int,
  type Parsed,
  seconds,
  str,
  strs,
  UsageError,
} from "./_args.ts";
import { type Format, formatMessage, println } from "./_format.ts";
import { connect } from "./_mesh.ts";
import { log } from "./_log.ts";

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
