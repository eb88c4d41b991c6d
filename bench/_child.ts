/**
 * A benchmark's helper process (a device fleet, a subscriber, one side of a
 * hop) that reports on stdout, one JSON line per phase (`{"phase": ...}`),
 * and takes commands on stdin, one line each. Shared by bench/bridge.ts,
 * bench/mqtt.ts, bench/streams.ts and bench/hop.ts.
 *
 * @module
 */

/** A running helper process. */
export interface Child {
  /** Resolves with the line of that phase. */
  phase(name: string): Promise<Record<string, number>>;
  /** The line of that phase if it comes within `ms`, else `undefined`. */
  phaseWithin(
    name: string,
    ms: number,
  ): Promise<Record<string, number> | undefined>;
  /** Writes a line to its stdin. */
  tell(line: string): Promise<void>;
  /** Closes its stdin and waits for it to exit (killed after `killAfterMs`). */
  close(): Promise<void>;
}

/** How to end a helper that does not exit once its stdin is closed. */
export interface KillOptions {
  /** How long to wait for the exit. @default 15_000 */
  killAfterMs?: number;
  /** @default "SIGTERM" */
  signal?: Deno.Signal;
}

/** Starts `deno <args>` as a helper (stdin and stdout piped, stderr shown). */
export function spawnPhased(
  args: string[],
  options: KillOptions & { cwd?: string } = {},
): Child {
  const proc = new Deno.Command(Deno.execPath(), {
    args,
    cwd: options.cwd,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const stdin = proc.stdin.getWriter();
  const seen = new Map<string, Record<string, number>>();
  const waiters = new Map<string, (v: Record<string, number>) => void>();
  const reader = (async () => {
    const dec = new TextDecoder();
    let buf = "";
    for await (const chunk of proc.stdout) {
      buf += dec.decode(chunk, { stream: true });
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          const o = JSON.parse(line);
          seen.set(o.phase, o);
          waiters.get(o.phase)?.(o);
        } catch { /* not ours */ }
      }
    }
  })();
  const phase = (name: string) => {
    const o = seen.get(name);
    if (o) return Promise.resolve(o);
    return new Promise<Record<string, number>>((r) => waiters.set(name, r));
  };
  return {
    phase,
    async phaseWithin(name, ms) {
      let t: ReturnType<typeof setTimeout> | undefined;
      const r = await Promise.race([
        phase(name),
        new Promise<undefined>((r) => (t = setTimeout(() => r(undefined), ms))),
      ]);
      clearTimeout(t);
      return r;
    },
    tell: (line) => stdin.write(new TextEncoder().encode(line + "\n")),
    async close() {
      try {
        await stdin.close();
      } catch { /* closed */ }
      const t = setTimeout(() => {
        try {
          proc.kill(options.signal ?? "SIGTERM");
        } catch { /* gone */ }
      }, options.killAfterMs ?? 15_000);
      await proc.status;
      clearTimeout(t);
      await reader;
    },
  };
}

/** Starts the helper script `bench/<script>` with `job`, with the `node` permission set. */
export function spawnChild(
  script: string,
  job: Record<string, unknown>,
): Child {
  return spawnPhased([
    "run",
    "-P=node",
    `--config=${new URL("../deno.json", import.meta.url).pathname}`,
    new URL(`./${script}`, import.meta.url).pathname,
    JSON.stringify(job),
  ]);
}

/** In a helper: the lines its parent writes on stdin, until it closes it. */
export async function* stdinLines(): AsyncGenerator<string> {
  let buf = "";
  for await (
    const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())
  ) {
    buf += chunk;
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, i);
      buf = buf.slice(i + 1);
    }
  }
}
