/**
 * `avi pub`: publish once, or once per input line.
 *
 * @module
 */

import {
  CliError,
  flag,
  int,
  type Parsed,
  seconds,
  str,
  UsageError,
} from "./_args.ts";
import { connect } from "./_mesh.ts";
import { log } from "./_log.ts";

/** Runs `avi pub`. */
export async function pub(p: Parsed): Promise<number> {
  const topic = str(p, "topic");
  if (!topic) throw new UsageError("give the topic with -t TOPIC");
  const sources = ["message", "file", "stdin"].filter((k) =>
    k === "stdin" ? flag(p, k) : str(p, k) !== undefined
  );
  if (sources.length !== 1) {
    throw new UsageError("give exactly one of -m TEXT, -f FILE, --stdin");
  }
  const minSubscribers = int(p, "min-subscribers", 1, 0, 1000);
  const timeoutMs = seconds(p, "timeout", 5000)!;
  let single: Uint8Array | undefined;
  const text = str(p, "message");
  if (text !== undefined) single = new TextEncoder().encode(text);
  const file = str(p, "file");
  if (file !== undefined) {
    try {
      single = await Deno.readFile(file);
    } catch (e) {
      throw new CliError(`cannot read ${file}: ${(e as Error).message}`);
    }
  }
  const logger = log("pub");
  const access = await connect(p);
  try {
    const send = async (data: Uint8Array) => {
      const reached = await access.publish(topic, data, {
        minSubscribers,
        timeoutMs,
      });
      logger.info("sent {bytes} bytes on {topic} to {reached} peer(s)", {
        bytes: data.length,
        topic,
        reached,
      });
    };
    if (single) {
      await send(single);
      return 0;
    }
    const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
    let buffer = "";
    for await (const chunk of lines) {
      buffer += chunk;
      let at: number;
      while ((at = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, at).replace(/\r$/, "");
        buffer = buffer.slice(at + 1);
        await send(new TextEncoder().encode(line));
      }
    }
    if (buffer.length > 0) await send(new TextEncoder().encode(buffer));
    return 0;
  } finally {
    await access.close();
  }
}
