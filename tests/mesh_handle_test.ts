// Handle calls a new user reaches for first: waiting for subscribers before
// a publish, refusing the reserved topics, pinging a peer, and catching up
// with the shared context before reading it (real nodes on 127.0.0.1).
import assert from "node:assert/strict";
import { InvalidTopicError, PeerNotFoundError } from "../core/errors.ts";
import { CONTEXT_TOPIC } from "../context/sync.ts";
import { shutdownAll, startNode } from "./support/mesh_fixture.ts";

Deno.test("handle: waitForSubscribers resolves once a peer subscribes, and times out clearly", async () => {
  const a = await startNode({ nodeName: "a" });
  const b = await startNode({
    nodeName: "b",
    bootstrapPeers: [a.listenAddresses[0]],
  });
  try {
    await assert.rejects(
      a.handle().waitForSubscribers("home/lights", { timeoutMs: 300 }),
      (e: Error) => e.name === "TimeoutError" && /0 of 1/.test(e.message),
    );
    await b.handle().subscribe("home/lights");
    const peers = await a.handle().waitForSubscribers("home/lights", {
      min: 1,
      timeoutMs: 20_000,
    });
    assert.deepEqual(peers, [b.peerId]);
    assert.equal(
      await a.handle().publish("home/lights", new Uint8Array([1])),
      1,
    );
    // A signal ends the wait early.
    const abort = new AbortController();
    const waiting = a.handle().waitForSubscribers("nobody", {
      signal: abort.signal,
    });
    abort.abort(new Error("stop"));
    await assert.rejects(waiting, /stop/);
  } finally {
    await shutdownAll(a, b);
  }
});

Deno.test("handle: the mesh's own topics are refused for subscribe and publish", async () => {
  const a = await startNode({ nodeName: "a" });
  try {
    const h = a.handle();
    for (const t of [CONTEXT_TOPIC, "_avi/envelope/1", "_avi/anything"]) {
      await assert.rejects(h.subscribe(t), InvalidTopicError);
      await assert.rejects(h.publish(t, new Uint8Array(1)), InvalidTopicError);
      await assert.rejects(
        h.publishBatch([
          { topic: "ok", data: new Uint8Array(1) },
          { topic: t, data: new Uint8Array(1) },
        ]),
        InvalidTopicError,
      );
    }
    await h.subscribe("avi/ok"); // a look-alike is fine
  } finally {
    await a.shutdown();
  }
});

Deno.test("handle: ping answers a round-trip time; syncContext catches up before a read", async () => {
  const a = await startNode({ nodeName: "a" });
  try {
    await a.handle().updateContext({ avi: { device: { volume: 7 } } });
    const b = await startNode({
      nodeName: "b",
      bootstrapPeers: [a.listenAddresses[0]],
    });
    try {
      const h = b.handle();
      while ((await h.connectedPeers()).length === 0) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const rtt = await h.ping(a.peerId);
      assert.ok(rtt >= 0 && rtt < 5000, `rtt ${rtt}`);
      assert.equal(await h.syncContext({ timeoutMs: 20_000 }), true);
      assert.equal(await h.getContext("avi.device.volume"), 7);
      await assert.rejects(
        h.ping("12D3KooWGRUVh1zqvT4mK6GyyWKGwRQgzBP9W7wHDgFJ5aN1J8fX"),
        PeerNotFoundError,
      );
    } finally {
      await b.shutdown();
    }
    // Alone: nothing to catch up with.
    assert.equal(await a.handle().syncContext(), true);
  } finally {
    await a.shutdown();
  }
});
