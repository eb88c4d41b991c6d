import assert from "node:assert/strict";
import type { AviEvent, StreamClosedEvent } from "../core/events.ts";
import { LimitExceededError } from "../core/errors.ts";
import {
  isStreamRequested,
  shutdownAll,
  startNode,
  untilConnectedTo,
  waitForEvent,
} from "./support/mesh_fixture.ts";

Deno.test("AviP2p handle: a realtime voice call through writable/readable; limits; a disconnect closes it for good", async () => {
  const a = await startNode({ nodeName: "a", maxStreams: 1 });
  const b = await startNode({
    nodeName: "b",
    bootstrapPeers: [a.listenAddresses[0]],
  });
  const evA = a.events();
  const evB = b.events();
  try {
    await untilConnectedTo(a, b);
    const asking = a.handle().requestStream(b.peerId, "voice", {
      mode: "realtime",
    });
    const req = await waitForEvent(evB, isStreamRequested);
    assert.equal(req.mode, "realtime");
    const frames = await b.handle().streamReadable(req.streamId);
    await b.handle().acceptStream(req.streamId);
    const id = await asking;

    // a's limit is one stream: a second request fails locally
    await assert.rejects(
      a.handle().requestStream(b.peerId, "another"),
      LimitExceededError,
    );

    // 50 frames of 640 bytes, 20 ms apart, through the WritableStream
    const writer = (await a.handle().streamWritable(id)).getWriter();
    const reader = frames.getReader();
    for (let i = 0; i < 50; i++) {
      await writer.write(new Uint8Array(640).fill(i));
      const { value } = await reader.read();
      assert.equal(value!.seq, i);
      assert.equal(value!.data.length, 640);
      assert.equal(value!.data[639], i);
      await new Promise((r) => setTimeout(r, 20));
    }
    writer.releaseLock();
    const stats = await b.handle().streamStats(id);
    assert.equal(stats.framesReceived, 50);
    assert.equal(stats.lost + stats.dropped, 0);
    assert.equal(stats.mode, "realtime");

    // the connection drops: both ends see reason "remote", and the reader ends
    await a.handle().disconnect(b.peerId);
    for (const events of [evA, evB]) {
      const closed = await waitForEvent(
        events,
        (e: AviEvent): e is StreamClosedEvent =>
          e.type === "streamClosed" && e.streamId === id,
      );
      assert.equal(closed.reason, "remote");
    }
    assert.equal((await reader.read()).done, true);
    // the mesh redials, but the stream does not come back
    await untilConnectedTo(a, b);
    await assert.rejects(
      a.handle().sendStreamData(id, new Uint8Array(1)),
      { name: "StreamNotFoundError" },
    );
    assert.equal((await a.handle().streamStats(id)).state, "closed");
  } finally {
    await shutdownAll(a, b);
  }
});
