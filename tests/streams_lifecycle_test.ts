import assert from "node:assert/strict";
import { StreamRejectedError } from "../core/errors.ts";
import { StreamService } from "../streams/service.ts";
import {
  openStream,
  sleep,
  startStreamPeer,
  withStreamPair,
} from "./support/streams_fixture.ts";
import { until } from "./support/wait.ts";

Deno.test("request() resolves once the peer accepts; both sides see the lifecycle events", async () => {
  await withStreamPair(async ({ a, b }) => {
    const pending = a.service.request(b.id, "voice", { mode: "realtime" });
    const req = await b.waitEvent("streamRequested");
    assert.equal(req.from, a.id);
    assert.equal(req.reason, "voice");
    assert.equal(req.mode, "realtime");
    assert.equal(b.service.stats(req.streamId).state, "pending");
    await b.service.accept(req.streamId);
    const id = await pending;
    assert.equal(id, req.streamId);
    const acc = await a.waitEvent("streamAccepted");
    assert.equal(acc.streamId, id);
    assert.equal(acc.peerId, b.id);

    await a.service.send(id, new Uint8Array([1, 2, 3]), { timestamp: 42 });
    await b.service.send(id, new Uint8Array([4]));
    const atB = await b.waitEvent("streamData");
    assert.equal(atB.from, a.id);
    assert.deepEqual(atB.data, new Uint8Array([1, 2, 3]));
    assert.equal(atB.seq, 0);
    assert.equal(atB.timestamp, 42);
    const atA = await a.waitEvent("streamData");
    assert.deepEqual(atA.data, new Uint8Array([4]));
    assert.equal(a.service.stats(id).framesSent, 1);
    assert.equal(a.service.stats(id).framesReceived, 1);
    assert.equal(b.service.stats(id).bytesReceived, 3);
  });
});

Deno.test("reject() makes request() throw StreamRejectedError with the reason", async () => {
  await withStreamPair(async ({ a, b }) => {
    const pending = a.service.request(b.id, "voice");
    const req = await b.waitEvent("streamRequested");
    await b.service.reject(req.streamId, "busy");
    await assert.rejects(pending, (e: unknown) => {
      assert.ok(e instanceof StreamRejectedError);
      assert.equal(e.name, "StreamRejectedError");
      assert.equal(e.reason, "busy");
      return true;
    });
    const ev = await a.waitEvent("streamRejected");
    assert.equal(ev.reason, "busy");
    assert.equal(ev.streamId, req.streamId);
    await assert.rejects(a.service.send(req.streamId, new Uint8Array(1)), {
      name: "StreamNotFoundError",
    });
    await assert.rejects(b.service.accept(req.streamId), {
      name: "StreamNotFoundError",
    });
  });
});

Deno.test("an unanswered request is rejected with reason timeout", async () => {
  await withStreamPair(async ({ a, b }) => {
    const pending = a.service.request(b.id, "voice");
    const req = await b.waitEvent("streamRequested");
    await assert.rejects(pending, {
      name: "StreamRejectedError",
      reason: "timeout",
    });
    const ev = await a.waitEvent("streamRejected");
    assert.equal(ev.reason, "timeout");
    const closed = await b.waitEvent("streamClosed");
    assert.equal(closed.streamId, req.streamId);
    // b's own timer says "error"; the requester giving up first says "remote"
    assert.ok(["error", "remote"].includes(closed.reason));
    await assert.rejects(b.service.accept(req.streamId), {
      name: "StreamNotFoundError",
    });
  }, { requestTimeoutMs: 300 });
});

for (const closer of ["requester", "responder"] as const) {
  Deno.test(`close() by the ${closer} closes both ends (local here, remote there)`, async () => {
    await withStreamPair(async ({ a, b }) => {
      const id = await openStream(a, b);
      const [here, there] = closer === "requester" ? [a, b] : [b, a];
      // data sent before close arrives before the close
      await here.service.send(id, new Uint8Array([7]));
      await here.service.close(id);
      const local = await here.waitEvent("streamClosed");
      assert.equal(local.reason, "local");
      const remote = await there.waitEvent("streamClosed");
      assert.equal(remote.reason, "remote");
      assert.equal(remote.streamId, id);
      assert.ok(there.events.some((e) => e.type === "streamData"));
      const dataAt = there.events.findIndex((e) => e.type === "streamData");
      const closeAt = there.events.findIndex((e) => e.type === "streamClosed");
      assert.ok(dataAt < closeAt);
      for (const p of [a, b]) {
        await assert.rejects(p.service.send(id, new Uint8Array(1)), {
          name: "StreamNotFoundError",
        });
        await assert.rejects(p.service.close(id), {
          name: "StreamNotFoundError",
        });
        assert.equal(p.service.stats(id).state, "closed");
      }
      // the underlying libp2p streams go away on both nodes
      await until(
        () =>
          [a, b].every((p) =>
            p.node.libp2p.getConnections().every((c) =>
              c.streams.every((s) => s.protocol !== "/avi/stream/2.0.0")
            )
          ),
        20_000,
        "libp2p streams to close",
      );
    });
  });
}

Deno.test("a dropped connection closes its streams with reason remote, and they stay closed", async () => {
  await withStreamPair(async ({ a, b }) => {
    const id1 = await openStream(a, b, "reliable");
    const id2 = await openStream(b, a, "realtime");
    await a.node.libp2p.hangUp(b.node.libp2p.peerId);
    for (const p of [a, b]) {
      for (const id of [id1, id2]) {
        const ev = await p.waitEvent("streamClosed", (e) => e.streamId === id);
        assert.equal(ev.reason, "remote", `${ev.reason} ${ev.error ?? ""}`);
      }
    }
    // reconnecting does not bring them back
    await a.node.libp2p.dial(b.node.libp2p.getMultiaddrs()[0]);
    await sleep(100);
    await assert.rejects(a.service.send(id1, new Uint8Array(1)), {
      name: "StreamNotFoundError",
    });
    assert.equal(b.service.stats(id2).state, "closed");
  });
});

Deno.test("a pending request is rejected when the connection drops", async () => {
  await withStreamPair(async ({ a, b }) => {
    const pending = a.service.request(b.id, "voice");
    const req = await b.waitEvent("streamRequested");
    await b.node.libp2p.hangUp(a.node.libp2p.peerId);
    await assert.rejects(pending, { name: "StreamRejectedError" });
    const closed = await b.waitEvent("streamClosed");
    assert.equal(closed.streamId, req.streamId);
  });
});

Deno.test("maxStreams: a local request beyond it throws LimitExceededError", async () => {
  await withStreamPair(async ({ a, b }) => {
    await openStream(a, b);
    await openStream(b, a); // inbound streams count too
    await assert.rejects(a.service.request(b.id, "third"), {
      name: "LimitExceededError",
    });
  }, { maxStreams: 2 });
});

Deno.test("maxStreams: the peer at its limit rejects the request", async () => {
  const a = await startStreamPeer({ maxStreams: 5 });
  const b = await startStreamPeer({ maxStreams: 1 });
  try {
    await a.node.libp2p.dial(b.node.libp2p.getMultiaddrs()[0]);
    await openStream(a, b);
    await assert.rejects(a.service.request(b.id, "second"), (e: unknown) => {
      assert.ok(e instanceof StreamRejectedError);
      assert.match(e.reason, /maxStreams \(1\)/);
      return true;
    });
    assert.equal(b.service.counters().refusedRequests, 1);
    assert.equal(
      b.events.filter((e) => e.type === "streamRequested").length,
      1,
    );
  } finally {
    await a.stop();
    await b.stop();
  }
});

Deno.test("request() to a malformed or unconnected peer throws PeerNotFoundError", async () => {
  const a = await startStreamPeer();
  const b = await startStreamPeer();
  try {
    await assert.rejects(
      // deno-lint-ignore no-explicit-any
      a.service.request("not-a-peer" as any, "x"),
      { name: "PeerNotFoundError" },
    );
    await assert.rejects(a.service.request(b.id, "x"), {
      name: "PeerNotFoundError",
    });
    await assert.rejects(
      a.service.request(b.id, "x".repeat(2000)),
      { name: "TooLargeError" },
    );
  } finally {
    await a.stop();
    await b.stop();
  }
});

Deno.test("request() honours an abort signal; close() withdraws a pending request", async () => {
  await withStreamPair(async ({ a, b }) => {
    const ac = new AbortController();
    const pending = a.service.request(b.id, "one", { signal: ac.signal });
    const req1 = await b.waitEvent("streamRequested");
    ac.abort(new Error("caller gave up"));
    await assert.rejects(pending, { message: "caller gave up" });
    const gone = await b.waitEvent(
      "streamClosed",
      (e) => e.streamId === req1.streamId,
    );
    assert.equal(gone.reason, "remote");

    // the responder closing an unanswered request rejects it
    const second = a.service.request(b.id, "two");
    const req2 = await b.waitEvent(
      "streamRequested",
      (e) => e.reason === "two",
    );
    await b.service.close(req2.streamId);
    await assert.rejects(second, {
      name: "StreamRejectedError",
      reason: "closed",
    });
  });
});

Deno.test("stop() closes open streams (local here, remote there) and rejects pending requests", async () => {
  await withStreamPair(async ({ a, b }) => {
    const id = await openStream(a, b);
    const pending = a.service.request(b.id, "late");
    await b.waitEvent("streamRequested", (e) => e.reason === "late");
    await a.service.stop();
    await assert.rejects(pending, { name: "StreamRejectedError" });
    const local = await a.waitEvent("streamClosed", (e) => e.streamId === id);
    assert.equal(local.reason, "local");
    const remote = await b.waitEvent("streamClosed", (e) => e.streamId === id);
    assert.equal(remote.reason, "remote");
    await assert.rejects(a.service.request(b.id, "x"), {
      name: "NotStartedError",
    });
  });
});

Deno.test("new StreamService() refuses limits that are not positive integers", async () => {
  const a = await startStreamPeer();
  try {
    for (
      const bad of [
        { maxStreams: 0 },
        { maxStreams: 1.5 },
        { maxStreams: 5, requestTimeoutMs: -1 },
        { maxStreams: 5, maxFrameBytes: 0 },
        { maxStreams: 5, realtimeQueueFrames: 0 },
        { maxStreams: 5, readableHighWaterMark: NaN },
      ]
    ) {
      assert.throws(
        () =>
          new StreamService({
            libp2p: a.node.libp2p,
            emit: () => {},
            ...bad,
          }),
        RangeError,
      );
    }
  } finally {
    await a.stop();
  }
});
