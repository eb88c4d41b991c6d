import assert from "node:assert/strict";
import type { MessageEvent } from "../core/events.ts";
import { shutdownAll, startNode, until, waitForEvent } from "./mesh_fixture.ts";

Deno.test("three nodes joined by bootstrap address exchange pub/sub messages", async () => {
  const a = await startNode({ nodeName: "a" });
  const b = await startNode({
    nodeName: "b",
    bootstrapPeers: [a.listenAddresses[0]],
  });
  const c = await startNode({
    nodeName: "c",
    bootstrapPeers: [a.listenAddresses[0]],
  });
  try {
    const topic = "home/lights";
    for (const n of [a, b, c]) await n.handle().subscribe(topic);
    const evB = b.events();
    const evC = c.events();
    await until(
      async () => (await a.handle().topicPeers(topic)).length === 2,
      20_000,
      "a to see 2 subscribers",
    );
    await until(
      async () => (await b.handle().topicPeers(topic)).length >= 1,
      20_000,
      "b to see a subscriber",
    );
    const reached = await a.handle().publish(
      topic,
      new TextEncoder().encode("on"),
    );
    assert.ok(reached >= 1);
    const isMsg = (e: { type: string }): e is MessageEvent =>
      e.type === "message";
    const mb = await waitForEvent(evB, isMsg);
    const mc = await waitForEvent(evC, isMsg);
    for (const m of [mb, mc]) {
      assert.equal(m.from, a.peerId);
      assert.equal(m.topic, topic);
      assert.equal(new TextDecoder().decode(m.data), "on");
    }
    // c's message reaches b through a (c and b need not be connected)
    await c.handle().publish(topic, new TextEncoder().encode("off"));
    const m2 = await waitForEvent(evB, isMsg);
    assert.equal(m2.from, c.peerId);
    assert.equal(new TextDecoder().decode(m2.data), "off");
  } finally {
    await shutdownAll(a, b, c);
  }
});
