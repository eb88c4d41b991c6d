import assert from "node:assert/strict";
import type { MessageEvent } from "../core/events.ts";
import {
  shutdownAll,
  startNode,
  waitForEvent,
} from "./support/mesh_fixture.ts";
import { until } from "./support/wait.ts";

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
    for (const n of [b, c]) {
      await until(
        async () => (await n.handle().topicPeers(topic)).length >= 1,
        20_000,
        `${n.nodeName} to see a subscriber`,
      );
    }
    const reached = await a.handle().publish(
      topic,
      new TextEncoder().encode("on"),
    );
    assert.ok(reached >= 1);
    const isMsg = (e: { type: string }): e is MessageEvent =>
      e.type === "message";
    const mb = await waitForEvent(evB, isMsg, 20_000, "b to get a's message");
    const mc = await waitForEvent(evC, isMsg, 20_000, "c to get a's message");
    for (const m of [mb, mc]) {
      assert.equal(m.from, a.peerId);
      assert.equal(m.topic, topic);
      assert.equal(new TextDecoder().decode(m.data), "on");
    }
    // c's message reaches b through a (c and b need not be connected)
    assert.ok(
      await c.handle().publish(topic, new TextEncoder().encode("off")) >= 1,
    );
    const m2 = await waitForEvent(evB, isMsg, 20_000, "b to get c's message");
    assert.equal(m2.from, c.peerId);
    assert.equal(new TextDecoder().decode(m2.data), "off");
  } finally {
    await shutdownAll(a, b, c);
  }
});

Deno.test("a message of exactly maxMessageBytes (1 MiB) is delivered; one byte more is refused", async () => {
  const a = await startNode();
  const b = await startNode({ bootstrapPeers: [a.listenAddresses[0]] });
  try {
    await b.handle().subscribe("big");
    const evB = b.events();
    await until(async () => (await a.handle().topicPeers("big")).length === 1);
    const big = new Uint8Array(1_048_576).fill(7);
    big[0] = 1;
    assert.equal(await a.handle().publish("big", big), 1);
    const m = await waitForEvent(
      evB,
      (e: { type: string }): e is MessageEvent => e.type === "message",
      20_000,
      "the 1 MiB message",
    );
    assert.equal(m.data.length, big.length);
    assert.equal(m.data[0], 1);
    await assert.rejects(
      a.handle().publish("big", new Uint8Array(1_048_577)),
      (e: unknown) => (e as Error).name === "TooLargeError",
    );
  } finally {
    await shutdownAll(a, b);
  }
});
