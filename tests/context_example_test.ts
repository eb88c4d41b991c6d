// examples/context_sync.ts as its documentation runs it: two processes, the
// volume changed in one shows in the other.
import assert from "node:assert/strict";

const DENO = Deno.execPath();

class Proc {
  child: Deno.ChildProcess;
  output = "";
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #done: Promise<void>;

  constructor(args: string[]) {
    this.child = new Deno.Command(DENO, {
      args: ["run", "-P=node", "examples/context_sync.ts", ...args],
      cwd: new URL("..", import.meta.url).pathname,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#writer = this.child.stdin.getWriter();
    const read = async (s: ReadableStream<Uint8Array>) => {
      for await (const chunk of s.pipeThrough(new TextDecoderStream())) {
        this.output += chunk;
      }
    };
    this.#done = Promise.all([read(this.child.stdout), read(this.child.stderr)])
      .then(() => {});
  }

  async send(line: string): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(line + "\n"));
  }

  async waitFor(
    pattern: RegExp,
    what: string,
    ms = 30_000,
  ): Promise<RegExpMatchArray> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const m = this.output.match(pattern);
      if (m) return m;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`timed out waiting for ${what}; output:\n${this.output}`);
  }

  async quit(): Promise<void> {
    try {
      await this.send("quit");
      await this.#writer.close();
    } catch { /* already gone */ }
    const timer = setTimeout(() => {
      try {
        this.child.kill();
      } catch { /* exited */ }
    }, 10_000);
    await this.child.status;
    clearTimeout(timer);
    await this.#done;
  }
}

Deno.test("examples/context_sync.ts: a volume change in one terminal shows in the other", async () => {
  const tag = `ctx-${crypto.randomUUID().slice(0, 8)}`;
  const common = ["--host", "127.0.0.1", "--data-dir", "none", "--tag", tag];
  const kitchen = new Proc(["--name", "kitchen", ...common]);
  let hall: Proc | undefined;
  try {
    const [addr] = await kitchen.waitFor(
      /\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\w+/,
      "address",
    );
    hall = new Proc(["--name", "hall", ...common, "--bootstrap", addr]);
    await hall.waitFor(/\+ peer /, "hall connects");
    await kitchen.waitFor(/\+ peer /, "kitchen sees hall");
    await kitchen.send("volume 40");
    await hall.waitFor(
      /changed avi\.device\.audio\.volume \(volume: 40\)/,
      "the volume in hall",
    );
    await hall.send('set avi.device.lights "on"');
    await kitchen.waitFor(
      /changed avi\.device\.lights/,
      "the lights in kitchen",
    );
    await kitchen.send("get avi.device.lights");
    await kitchen.waitFor(/^"on"$/m, "get");
  } finally {
    await kitchen.quit();
    await hall?.quit();
  }
  assert.match(kitchen.output, /~ me changed avi\.device\.audio\.volume/);
});
