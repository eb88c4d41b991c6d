// examples/context_sync.ts as its documentation runs it: two processes, the
// volume changed in one shows in the other.
import assert from "node:assert/strict";
import { textChunks } from "./support/text.ts";

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
      for await (const chunk of textChunks(s)) {
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

Deno.test("examples/context_sync.ts: two runs with no flags start side by side and see each other's changes", async () => {
  // As the header says: the same command in two terminals. Each run names
  // itself ctx-<pid> and keeps nothing on disk, so the second is not
  // refused; mDNS (default tag) lets them find each other.
  const first = new Proc([]);
  let second: Proc | undefined;
  try {
    const idLine = /^(ctx-\d+): (12D3KooW\w+)$/m;
    const [, firstName, firstId] = await first.waitFor(idLine, "first id");
    second = new Proc([]);
    const [, secondName, secondId] = await second.waitFor(
      idLine,
      "second id",
    );
    assert.notEqual(firstName, secondName);
    assert.notEqual(firstId, secondId);
    await first.waitFor(
      new RegExp(`^\\+ peer ${secondId}$`, "m"),
      "first sees second",
      60_000,
    );
    await second.waitFor(
      new RegExp(`^\\+ peer ${firstId}$`, "m"),
      "second sees first",
      60_000,
    );
    // Each change is told apart by its writer (the last 8 of its peer id).
    const volume = 1 + Math.floor(Math.random() * 99);
    await first.send(`volume ${volume}`);
    await second.waitFor(
      new RegExp(
        `^~ ${firstId.slice(-8)} changed avi\\.device\\.audio\\.volume ` +
          `\\(volume: ${volume}\\)$`,
        "m",
      ),
      "the first run's volume in the second",
    );
    await second.send('set avi.device.lights "on"');
    await first.waitFor(
      new RegExp(
        `^~ ${secondId.slice(-8)} changed avi\\.device\\.lights `,
        "m",
      ),
      "the second run's lights in the first",
    );
    // Nothing was written under the library's default data dir.
    for (const name of [firstName, secondName]) {
      await assert.rejects(
        Deno.stat(new URL(`../.avi-p2p/${name}`, import.meta.url)),
        Deno.errors.NotFound,
      );
    }
  } finally {
    await first.quit();
    await second?.quit();
  }
  assert.doesNotMatch(first.output + (second?.output ?? ""), /refus|Error/);
});
