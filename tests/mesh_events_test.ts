import assert from "node:assert/strict";
import type { AviEvent, MessageEvent } from "../core/events.ts";
import { shutdownAll, startNode } from "./support/mesh_fixture.ts";
import { until } from "./support/wait.ts";

Deno.test("a slow event consumer does not stop delivery to a fast one, and gets lagged {dropped}", async () => {
  const QUEUE = 8;
  const COUNT = 60;
  const a = await startNode({ eventQueueSize: QUEUE });
  const b = await startNode({ bootstrapPeers: [a.listenAddresses[0]] });
  try {
    const slow = a.handle().events(); // never read until the end
    const fast = a.events();
    await a.handle().subscribe("t");
    await until(async () => (await b.handle().topicPeers("t")).length === 1);
    const got: number[] = [];
    const reading = (async () => {
      for await (const e of fast) {
        if (e.type === "message") {
          got.push(e.data[0]);
          if (got.length === COUNT) return;
        }
      }
    })();
    for (let i = 0; i < COUNT; i++) {
      await b.handle().publish("t", new Uint8Array([i]));
    }
    await reading;
    assert.deepEqual(got, Array.from({ length: COUNT }, (_, i) => i));
    assert.ok(slow.stats().queued <= QUEUE);
    // now the slow consumer reads: a lagged notice first, then the newest events
    const first = await slow.next();
    assert.equal(first.value?.type, "lagged");
    const dropped =
      (first.value as Extract<AviEvent, { type: "lagged" }>).dropped;
    assert.ok(dropped > 0);
    const rest: AviEvent[] = [];
    while (slow.stats().queued > 0) {
      rest.push((await slow.next()).value as AviEvent);
    }
    const last = rest.filter((e): e is MessageEvent => e.type === "message").at(
      -1,
    );
    assert.equal(last?.data[0], COUNT - 1);
    assert.equal(slow.stats().dropped, dropped);
    assert.ok(a.stats().eventsDropped >= dropped);
    await slow.return();
    await fast.return();
  } finally {
    await shutdownAll(a, b);
  }
});

Deno.test("a slow event consumer holds at most eventQueueBytes of messages", async () => {
  const BYTES = 256 * 1024;
  const SIZE = 64 * 1024;
  const COUNT = 40; // 2.5 MiB: ten times the bound, far fewer than 1024 events
  const a = await startNode({ eventQueueBytes: BYTES });
  const b = await startNode({ bootstrapPeers: [a.listenAddresses[0]] });
  try {
    const slow = a.events(); // never read until the end
    const fast = a.events();
    await a.handle().subscribe("big");
    await until(async () => (await b.handle().topicPeers("big")).length === 1);
    const got: number[] = [];
    const reading = (async () => {
      for await (const e of fast) {
        if (e.type === "message") {
          got.push(e.data[0]);
          if (got.length === COUNT) return;
        }
      }
    })();
    for (let i = 0; i < COUNT; i++) {
      await b.handle().publish("big", new Uint8Array(SIZE).fill(i));
    }
    await reading;
    assert.deepEqual(got, Array.from({ length: COUNT }, (_, i) => i));
    // the slow consumer holds under 256 KiB: at most 3 of the 64 KiB messages
    const held = slow.stats();
    assert.ok(held.queuedBytes <= BYTES, `${held.queuedBytes} bytes queued`);
    assert.ok(held.queued <= 4, `${held.queued} events queued`);
    // it reads a lagged notice, then the newest messages, the last one last
    const first = await slow.next();
    assert.equal(first.value?.type, "lagged");
    const rest: AviEvent[] = [];
    while (slow.stats().queued > 0) {
      rest.push((await slow.next()).value as AviEvent);
    }
    const messages = rest.filter((e): e is MessageEvent =>
      e.type === "message"
    );
    assert.ok(messages.length >= 1);
    assert.equal(messages.at(-1)?.data[0], COUNT - 1);
    assert.ok(a.stats().eventsDropped >= COUNT - 4);
    await slow.return();
    await fast.return();
  } finally {
    await shutdownAll(a, b);
  }
});
