import assert from "node:assert/strict";
import type { AviEvent } from "../core/events.ts";
import {
  InvalidAddressError,
  NotStartedError,
  PeerNotFoundError,
  StreamRejectedError,
} from "../core/errors.ts";
import {
  isStreamData,
  isStreamRequested,
  shutdownAll,
  startNode,
  untilConnectedTo,
  waitForEvent,
} from "./support/mesh_fixture.ts";

const PEER = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";

Deno.test("streams through the handle: request, accept, send, readable, stats, close; reject", async () => {
  const a = await startNode({ nodeName: "a" });
  const b = await startNode({
    nodeName: "b",
    bootstrapPeers: [a.listenAddresses[0]],
  });
  const evB = b.events();
  const evA = a.events();
  try {
    await untilConnectedTo(a, b);
    const asking = a.handle().requestStream(b.peerId, "voice", {
      mode: "reliable",
    });
    const req = await waitForEvent(evB, isStreamRequested);
    assert.equal(req.from, a.peerId);
    assert.equal(req.reason, "voice");
    const frames = await b.handle().streamReadable(req.streamId);
    await b.handle().acceptStream(req.streamId);
    const id = await asking;
    await a.handle().sendStreamData(id, new Uint8Array([1, 2, 3]));
    const ev = await waitForEvent(evB, isStreamData);
    assert.deepEqual([...ev.data], [1, 2, 3]);
    const reader = frames.getReader();
    const first = await reader.read();
    assert.deepEqual([...first.value!.data], [1, 2, 3]);
    assert.equal(first.value!.seq, 0);
    reader.releaseLock();
    assert.equal((await a.handle().streamStats(id)).framesSent, 1);
    await a.handle().closeStream(id);
    await waitForEvent(
      evB,
      (e: AviEvent): e is AviEvent => e.type === "streamClosed",
    );

    // rejection reaches the requester as StreamRejectedError
    const again = a.handle().requestStream(b.peerId, "video");
    const req2 = await waitForEvent(evB, isStreamRequested);
    await b.handle().rejectStream(req2.streamId, "busy");
    await assert.rejects(
      again,
      (e: unknown) => e instanceof StreamRejectedError && e.reason === "busy",
    );
    await waitForEvent(
      evA,
      (e: AviEvent): e is AviEvent => e.type === "streamRejected",
    );

    await assert.rejects(
      a.handle().requestStream("nope", "x"),
      InvalidAddressError,
    );
    await assert.rejects(
      a.handle().requestStream(PEER, "x"),
      PeerNotFoundError,
    );
  } finally {
    await shutdownAll(a, b);
  }
  await assert.rejects(
    a.handle().requestStream(b.peerId, "x"),
    NotStartedError,
  );
  await assert.rejects(a.handle().streamStats("s"), NotStartedError);
});

Deno.test("maxStreams and streamRequestTimeoutMs are honoured through the handle", async () => {
  const a = await startNode({ maxStreams: 1, streamRequestTimeoutMs: 300 });
  const b = await startNode({ bootstrapPeers: [a.listenAddresses[0]] });
  try {
    await untilConnectedTo(a, b);
    // b never answers: the request times out with reason "timeout"
    const first = a.handle().requestStream(b.peerId, "one");
    // while it is pending it holds the only slot
    await assert.rejects(
      a.handle().requestStream(b.peerId, "two"),
      (e: unknown) => (e as Error).name === "LimitExceededError",
    );
    await assert.rejects(
      first,
      (e: unknown) =>
        e instanceof StreamRejectedError && e.reason === "timeout",
    );
  } finally {
    await shutdownAll(a, b);
  }
});

Deno.test("maxStreamsPerPeer is honoured through the config: one peer's extra request is refused at once", async () => {
  const a = await startNode({ maxStreams: 4, maxStreamsPerPeer: 1 });
  const b = await startNode({ bootstrapPeers: [a.listenAddresses[0]] });
  const evA = a.events();
  try {
    await untilConnectedTo(a, b);
    // a never answers b's first request: it holds b's only share
    const first = b.handle().requestStream(a.peerId, "one");
    first.catch(() => {});
    await waitForEvent(evA, isStreamRequested);
    await assert.rejects(
      b.handle().requestStream(a.peerId, "two"),
      (e: unknown) =>
        e instanceof StreamRejectedError &&
        /maxStreamsPerPeer \(1\)/.test(e.reason),
    );
  } finally {
    await shutdownAll(a, b);
  }
});
