import assert from "node:assert/strict";
import type { AviEvent, MessageEvent } from "../core/events.ts";
import { shutdownAll, startNode, until } from "./mesh_fixture.ts";

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
