// Runs examples/simple_node.ts twice as real processes with the smallest
// permission set, types a line into one, and reads it from the other. Also
// proves that a process exits on its own after shutdown (no socket or
// BroadcastChannel left open; js-libp2p's Kademlia may hold a 10 s
// AbortSignal.timeout that delays the exit, which Deno counts as pending).
import assert from "node:assert/strict";
import { uniqueTag } from "./support/mesh_fixture.ts";

const EXAMPLE = new URL("../examples/simple_node.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;

interface Proc {
  child: Deno.ChildProcess;
  lines: string[];
  writer: WritableStreamDefaultWriter<Uint8Array>;
  done: Promise<void>;
}

function start(name: string, tag: string): Proc {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--config",
      CONFIG,
      "--allow-net",
      "--allow-env",
      "--allow-sys=networkInterfaces",
      EXAMPLE,
      "--name",
      name,
      "--tag",
      tag,
      "--host",
      "127.0.0.1",
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const lines: string[] = [];
  const done = (async () => {
    let buf = "";
    for await (
      const chunk of child.stdout.pipeThrough(new TextDecoderStream())
    ) {
      buf += chunk;
      const parts = buf.split("\n");
      buf = parts.pop()!;
      lines.push(...parts);
    }
  })();
  return { child, lines, writer: child.stdin.getWriter(), done };
}

async function waitLine(p: Proc, re: RegExp, what: string): Promise<string> {
  const end = Date.now() + 60_000;
  while (Date.now() < end) {
    const hit = p.lines.find((l) => re.test(l));
    if (hit !== undefined) return hit;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(
    `timed out waiting for ${what}; output:\n${p.lines.join("\n")}`,
  );
}

Deno.test("examples/simple_node.ts: two processes find each other by mDNS and a typed line crosses", async () => {
  const tag = uniqueTag();
  const alice = start("alice", tag);
  const bob = start("bob", tag);
  try {
    await waitLine(alice, /^\+ 12D3KooW\S+ connected/, "alice to connect");
    await waitLine(bob, /^\+ 12D3KooW\S+ connected/, "bob to connect");
    // GossipSub needs a moment to learn bob's subscription; resend until seen
    const end = Date.now() + 60_000;
    while (!bob.lines.some((l) => l === "<alice> hello from alice")) {
      if (Date.now() > end) {
        throw new Error(`bob never got it:\n${bob.lines.join("\n")}`);
      }
      await alice.writer.write(new TextEncoder().encode("hello from alice\n"));
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    // closing stdin makes each example shut down and exit by itself
    await alice.writer.close().catch(() => {});
    await bob.writer.close().catch(() => {});
    const [sa, sb] = await Promise.all([alice.child.status, bob.child.status]);
    await Promise.all([alice.done, bob.done]);
    assert.equal(sa.code, 0);
    assert.equal(sb.code, 0);
  }
});
