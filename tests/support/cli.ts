/**
 * Runs the real `avi` program (cli/main.ts) as a subprocess, for the CLI
 * tests: one-shot commands to completion, long-running ones (`avi node`,
 * `avi gateway`, `avi sub`) in the background with their lines readable as
 * they come.
 *
 * @module
 */

import { textChunks } from "./text.ts";

const MAIN = new URL("../../cli/main.ts", import.meta.url).pathname;

/** The `deno` arguments that run `avi` with `args`. */
export function aviArgs(args: string[]): string[] {
  return ["run", "-A", "--unstable-net", MAIN, ...args];
}

/** The outcome of a finished `avi` run. */
export interface AviResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `avi args` to completion (stdin from `input`, if given). */
export async function avi(args: string[], input?: string): Promise<AviResult> {
  const cmd = new Deno.Command(Deno.execPath(), {
    args: aviArgs(args),
    stdin: input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  });
  const child = cmd.spawn();
  if (input !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(input));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
  };
}

/** A running `avi` process whose output lines are collected as they come. */
export class AviProcess {
  readonly child: Deno.ChildProcess;
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  #done: Promise<Deno.CommandStatus>;

  constructor(args: string[]) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: aviArgs(args),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const read = async (s: ReadableStream<Uint8Array>, into: string[]) => {
      let buf = "";
      for await (const chunk of textChunks(s)) {
        buf += chunk;
        let at: number;
        while ((at = buf.indexOf("\n")) >= 0) {
          into.push(buf.slice(0, at));
          buf = buf.slice(at + 1);
        }
      }
      if (buf) into.push(buf);
    };
    const reading = Promise.all([
      read(this.child.stdout, this.stdout),
      read(this.child.stderr, this.stderr),
    ]);
    this.#done = reading.then(() => this.child.status);
  }

  /** Waits for a line (of stdout or stderr) matching `re`; returns its match. */
  async line(
    re: RegExp,
    ms = 30_000,
    from: "stdout" | "stderr" | "any" = "any",
  ): Promise<RegExpMatchArray> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const pools = from === "any" ? [this.stdout, this.stderr] : [this[from]];
      for (const pool of pools) {
        for (const l of pool) {
          const m = l.match(re);
          if (m) return m;
        }
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(
      `no line matching ${re} within ${ms} ms; stderr:\n${
        this.stderr.join("\n")
      }\nstdout:\n${this.stdout.join("\n")}`,
    );
  }

  /** The control endpoint it logged (`avi node`/`avi gateway`). */
  async controlUrl(): Promise<string> {
    const m = await this.line(/control endpoint on \\?"?(http:\/\/[^\s"\\]+)/);
    return m[1];
  }

  /** Its first 127.0.0.1 mesh address. */
  async meshAddress(): Promise<string> {
    const m = await this.line(
      /listening on \\?"?(\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/[A-Za-z0-9]+)/,
    );
    return m[1];
  }

  /** Waits for it to exit; returns its status. */
  status(): Promise<Deno.CommandStatus> {
    return this.#done;
  }

  /** Sends `signal` and waits for the exit. */
  async stop(signal: Deno.Signal = "SIGINT"): Promise<Deno.CommandStatus> {
    try {
      this.child.kill(signal);
    } catch { /* already gone */ }
    return await this.#done;
  }
}
