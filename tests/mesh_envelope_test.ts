import assert from "node:assert/strict";
import type { AviEvent, MessageEvent } from "../core/events.ts";
import { InvalidTopicError, TooLargeError } from "../core/errors.ts";
import { ENVELOPE_TOPIC } from "../mesh/_envelope.ts";
import { rawPublish } from "./support/raw_pubsub.ts";
import {
  shutdownAll,
  startNode,
  waitForEvent,
} from "./support/mesh_fixture.ts";
import { until } from "./support/wait.ts";

const te = new TextEncoder();
const td = new TextDecoder();
const isMsg = (e: AviEvent): e is MessageEvent => e.type === "message";

Deno.test("publishBatch: each node gets ordinary message events for its own topics only", async () => {
  const a = await startNode();
  const b = await startNode({ bootstrapPeers: [a.listenAddresses[0]] });
  const c = await startNode({ bootstrapPeers: [a.listenAddresses[0]] });
  const evB = b.events();
  const evC = c.events();
  try {
    await b.handle().subscribe("t/1");
    await b.handle().subscribe("t/2");
    await c.handle().subscribe("t/1");
    await until(
      async () => (await a.handle().topicPeers("t/1")).length === 2,
      20_000,
      "a to see b and c on t/1",
    );
    await until(
      async () => (await a.handle().topicPeers(ENVELOPE_TOPIC)).length === 2,
      20_000,
      "a to see b and c on the envelope topic",
    );
    // and a's own stream to each is open (they heard a's subscriptions)
    for (const n of [b, c]) {
      await until(
        async () =>
          (await n.handle().topicPeers(ENVELOPE_TOPIC)).includes(a.peerId),
        20_000,
        "a's stream to each peer",
      );
    }
    const reached = await a.handle().publishBatch([
      { topic: "t/1", data: te.encode("x1") },
      { topic: "t/2", data: te.encode("x2") },
      { topic: "t/3", data: te.encode("x3") },
      { topic: "t/1", data: te.encode("x4") },
    ]);
    assert.ok(reached >= 1);
    const got = async (ev: AsyncIterableIterator<AviEvent>, n: number) => {
      const out: string[] = [];
      while (out.length < n) {
        const m = await waitForEvent(ev, isMsg, 20_000, "a message");
        assert.equal(m.from, a.peerId);
        out.push(`${m.topic}=${td.decode(m.data)}`);
      }
      return out;
    };
    assert.deepEqual(await got(evB, 3), ["t/1=x1", "t/2=x2", "t/1=x4"]);
    // c is not on t/2: its entry would have come before x4
    assert.deepEqual(await got(evC, 2), ["t/1=x1", "t/1=x4"]);
    // one message is an ordinary publish on its topic
    await a.handle().publishBatch([{ topic: "t/2", data: te.encode("solo") }]);
    assert.deepEqual(await got(evB, 1), ["t/2=solo"]);
    assert.equal(b.stats().messagesDropped, 0);
  } finally {
    await evB.return?.();
    await evC.return?.();
    await shutdownAll(a, b, c);
  }
});

Deno.test("publishBatch: a malformed envelope is counted and dropped; bad input is refused", async () => {
  const a = await startNode({ maxMessageBytes: 1024 });
  const b = await startNode({ bootstrapPeers: [a.listenAddresses[0]] });
  const evB = b.events();
  try {
    await b.handle().subscribe("t/1");
    await until(
      async () => (await a.handle().topicPeers(ENVELOPE_TOPIC)).length === 1,
      20_000,
      "a to see b on the envelope topic",
    );
    await until(
      async () =>
        (await b.handle().topicPeers(ENVELOPE_TOPIC)).includes(a.peerId),
      20_000,
      "a's stream to b",
    );
    // garbage on the reserved topic (which the handle refuses: an attacker's
    // raw pub/sub), then a good message
    await assert.rejects(
      a.handle().publish(ENVELOPE_TOPIC, te.encode("x")),
      InvalidTopicError,
    );
    await rawPublish(a, ENVELOPE_TOPIC, te.encode("not an envelope"));
    await rawPublish(
      a,
      ENVELOPE_TOPIC,
      new Uint8Array([0xa1, 0, 3, 0x74, 0x2f, 0x31, 0, 0, 0, 9, 1]),
    );
    await a.handle().publish("t/1", te.encode("after"));
    const m = await waitForEvent(evB, isMsg, 20_000, "the good message");
    assert.equal(td.decode(m.data), "after");
    await until(
      () => Promise.resolve(b.stats().messagesDropped === 2),
      20_000,
      "both envelopes counted as dropped",
    );
    await assert.rejects(
      a.handle().publishBatch([
        { topic: "t/1", data: new Uint8Array(600) },
        { topic: "t/1", data: new Uint8Array(600) },
      ]),
      TooLargeError,
    );
    await assert.rejects(
      a.handle().publishBatch([
        { topic: "t/1", data: new Uint8Array(1) },
        { topic: "", data: new Uint8Array(1) },
      ]),
      InvalidTopicError,
    );
    await assert.rejects(a.handle().publishBatch([]), TypeError);
  } finally {
    await evB.return?.();
    await shutdownAll(a, b);
  }
});
