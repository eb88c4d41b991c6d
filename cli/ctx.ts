/**
 * `avi ctx get|set|del|watch`: the shared context.
 *
 * @module
 */

import type { JsonValue } from "../mod.ts";
import { flag, type Parsed, seconds, UsageError } from "./_args.ts";
import { println } from "./_format.ts";
import { connect, untilPeers } from "./_mesh.ts";
import { sleep } from "./_access.ts";
import { log } from "./_log.ts";

/** A JSON value from the command line; a bare word is taken as a string. */
export function parseValue(text: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    if (/^[\w\-.:/ ]*$/.test(text)) return text;
    throw new UsageError(`not JSON: ${text} (quote a string: '"text"')`);
  }
}

/** Runs `avi ctx`. */
export async function ctx(p: Parsed): Promise<number> {
  const [verb, path, value, ...rest] = p.positionals;
  const arity: Record<string, [number, number]> = {
    get: [0, 1],
    set: [2, 2],
    del: [1, 1],
    watch: [0, 1],
  };
  if (!verb || !(verb in arity)) {
    throw new UsageError(
      `avi ctx needs get, set, del or watch${verb ? `, not "${verb}"` : ""}`,
    );
  }
  const n = [path, value].filter((x) => x !== undefined).length + rest.length;
  const [lo, hi] = arity[verb];
  if (n < lo || n > hi) {
    throw new UsageError(
      `avi ctx ${verb} takes ${lo === hi ? lo : `${lo} or ${hi}`} argument(s)`,
    );
  }
  const parsedValue = verb === "set" ? parseValue(value!) : undefined;
  const indent = flag(p, "compact") ? undefined : 2;
  const access = await connect(p);
  try {
    const shortLived = access.description.startsWith("a short");
    if (shortLived && verb !== "watch") {
      // Catch up before reading or writing: find peers, then ask each for
      // what this node lacks until none names anything.
      const waitMs = seconds(p, "sync-wait", 3000)!;
      const started = Date.now();
      if (await untilPeers(access, waitMs) > 0) {
        const left = Math.max(1000, waitMs - (Date.now() - started));
        if (!(await access.syncContext(left))) {
          log("ctx").warn("not caught up with every peer within {s} s", {
            s: waitMs / 1000,
          });
        }
      }
    }
    switch (verb) {
      case "get": {
        const v = await access.getContext(path);
        println(v === undefined ? "null" : JSON.stringify(v, null, indent));
        return v === undefined && path ? 1 : 0;
      }
      case "set": {
        const changed = await access.setContext(path!, parsedValue!);
        println(changed.length ? `changed ${changed.join(", ")}` : "unchanged");
        if (shortLived) await sleep(500); // let the change leave before we do
        return 0;
      }
      case "del": {
        const changed = await access.deleteContext(path!);
        println(changed.length ? `deleted ${changed.join(", ")}` : "absent");
        if (shortLived) await sleep(500);
        return 0;
      }
      default: {
        const abort = new AbortController();
        const stop = () => abort.abort();
        Deno.addSignalListener("SIGINT", stop);
        try {
          for await (const c of access.watchContext(path, abort.signal)) {
            println(JSON.stringify({
              ts: new Date(c.ts).toISOString(),
              writer: c.peerId,
              changed: c.changedPaths,
              value: c.value,
            }));
          }
        } finally {
          Deno.removeSignalListener("SIGINT", stop);
        }
        return 0;
      }
    }
  } finally {
    await access.close();
  }
}
