// `avi sub` in a real terminal (Debian's tmux), as a person would run it:
// a message published from another process appears on the screen, read back
// with `tmux capture-pane`.
import assert from "node:assert/strict";
import { avi, aviArgs, AviProcess } from "./support/cli.ts";
import { until } from "./support/wait.ts";

async function tmux(...args: string[]): Promise<string> {
  const out = await new Deno.Command("tmux", {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`tmux ${args[0]}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

Deno.test("avi sub in tmux shows what avi pub sends", async () => {
  const dir = await Deno.makeTempDir();
  const node = new AviProcess([
    "node",
    "--no-mdns",
    `--data-dir=${dir}/n`,
    "--control=127.0.0.1:0",
  ]);
  const session = `avi-${crypto.randomUUID().slice(0, 8)}`;
  try {
    const url = await node.controlUrl();
    const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
    const command = [
      Deno.execPath(),
      ...aviArgs(["sub", "-t", "home/tv", "--node", url]),
    ]
      .map(quote).join(" ");
    await tmux(
      "new-session",
      "-d",
      "-s",
      session,
      "-x",
      "120",
      "-y",
      "20",
      command,
    );
    // The subscription is open once a publish finds a reader.
    await until(
      async () => {
        const r = await avi([
          "pub",
          "-t",
          "home/tv",
          "-m",
          "volume up",
          "--timeout",
          "1",
          "--node",
          url,
        ]);
        return r.code === 0;
      },
      30_000,
      "the subscriber",
    );
    let screen = "";
    await until(
      async () => {
        screen = await tmux("capture-pane", "-p", "-t", session);
        return screen.includes("home/tv volume up");
      },
      20_000,
      "the message on the screen",
    );
    assert.match(screen, /^home\/tv volume up$/m);
    // Ctrl-C ends it like any terminal program.
    await tmux("send-keys", "-t", session, "C-c");
    await until(
      async () => {
        const list = await new Deno.Command("tmux", {
          args: ["has-session", "-t", session],
          stderr: "null",
        }).output();
        return !list.success;
      },
      20_000,
      "the session to end",
    );
  } finally {
    await tmux("kill-session", "-t", session).catch(() => {});
    await node.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
