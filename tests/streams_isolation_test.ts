import assert from "node:assert/strict";
import type { Stream } from "@libp2p/interface";
import {
  encodeFrame,
  FrameDecoder,
  FrameType,
  STREAM_PROTOCOL,
} from "../streams/frame.ts";
import {
  connect,
  openStream,
  sleep,
  startStreamPeer,
  type StreamPeer,
} from "./support/streams_fixture.ts";
import { until } from "./support/wait.ts";

/** Collect the frames a raw libp2p stream receives, and whether it closed. */
function watch(raw: Stream) {
  const decoder = new FrameDecoder(1 << 20);
  const frames: ReturnType<FrameDecoder["next"]>[] = [];
  let closed = false;
  raw.addEventListener("message", (e) => {
    decoder.push(e.data instanceof Uint8Array ? e.data : e.data.subarray());
    for (let f = decoder.next(); f; f = decoder.next()) frames.push(f);
  });
  raw.addEventListener("close", () => closed = true);
  return { frames, isClosed: () => closed };
}

/** Opens a raw libp2p stream on the stream protocol from `from` to `to`, watched. */
async function dialRaw(from: StreamPeer, to: StreamPeer) {
  const raw = await from.node.libp2p.dialProtocol(
    to.node.libp2p.peerId,
    STREAM_PROTOCOL,
  );
  return { raw, seen: watch(raw) };
}

/** Sends a Request frame for `request` on a raw stream. */
function sendRequest(
  raw: Stream,
  request: { id: string; reason: string; mode: string },
): void {
  raw.send(encodeFrame(
    FrameType.Request,
    0,
    0,
    new TextEncoder().encode(JSON.stringify(request)),
  ));
}

Deno.test("a third peer cannot inject frames into, or close, a stream between two others", async () => {
  const a = await startStreamPeer();
  const b = await startStreamPeer();
  const c = await startStreamPeer();
  try {
    await connect(a.node, b.node);
    await connect(c.node, b.node);
    await connect(c.node, a.node);
    const id = await openStream(a, b);

    // 1. a request reusing the id is refused
    const { raw: dup, seen: dupSeen } = await dialRaw(c, b);
    sendRequest(dup, { id, reason: "hijack", mode: "reliable" });
    await until(() => dupSeen.frames.length > 0);
    assert.equal(dupSeen.frames[0]!.type, FrameType.Reject);
    assert.equal(
      new TextDecoder().decode(dupSeen.frames[0]!.payload),
      "duplicate stream id",
    );

    // 2. data or close frames without a request end only the intruder's stream
    for (const type of [FrameType.Data, FrameType.Close, FrameType.Accept]) {
      const { raw, seen } = await dialRaw(c, b);
      raw.send(encodeFrame(type, 0, Date.now(), new TextEncoder().encode(id)));
      await until(seen.isClosed, 20_000, "the intruder's stream to close");
    }
    assert.equal(b.service.counters().protocolErrors, 3);

    // 3. the intruder's own service knows nothing of the stream
    await assert.rejects(c.service.close(id), { name: "StreamNotFoundError" });
    await assert.rejects(c.service.send(id, new Uint8Array(1)), {
      name: "StreamNotFoundError",
    });

    // 4. the real stream is untouched and still carries data both ways
    await a.service.send(id, new Uint8Array([1]));
    await b.service.send(id, new Uint8Array([2]));
    await b.waitEvent("streamData", (e) => e.data[0] === 1);
    await a.waitEvent("streamData", (e) => e.data[0] === 2);
    await sleep(50);
    for (const p of [a, b]) {
      assert.ok(!p.events.some((e) => e.type === "streamClosed"));
      assert.ok(
        p.events.every((e) => e.type !== "streamData" || e.from !== c.id),
      );
      assert.equal(p.service.stats(id).framesReceived, 1);
    }
    assert.equal(
      b.events.filter((e) => e.type === "streamRequested").length,
      1,
    );
  } finally {
    await a.stop();
    await b.stop();
    await c.stop();
  }
});

Deno.test("a malformed frame from the peer ends the stream with reason error, counted", async () => {
  const a = await startStreamPeer();
  const b = await startStreamPeer();
  try {
    await connect(a.node, b.node);
    const { raw, seen } = await dialRaw(a, b);
    sendRequest(raw, { id: "x1", reason: "r", mode: "realtime" });
    const req = await b.waitEvent("streamRequested");
    await b.service.accept(req.streamId);
    await until(() => seen.frames.length > 0);
    const bad = encodeFrame(FrameType.Data, 0, 0, new Uint8Array(4));
    bad[4] = 77; // unknown type
    raw.send(bad);
    const closed = await b.waitEvent("streamClosed");
    assert.equal(closed.reason, "error");
    assert.match(closed.error ?? "", /unknown type 77/);
    assert.equal(b.service.counters().protocolErrors, 1);
    await until(seen.isClosed);
  } finally {
    await a.stop();
    await b.stop();
  }
});

Deno.test("garbage on the protocol never breaks the service: each bad stream ends, good ones still work", async () => {
  const a = await startStreamPeer();
  const b = await startStreamPeer({ requestTimeoutMs: 500 });
  try {
    await connect(a.node, b.node);
    let seed = 12345;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const watchers: ReturnType<typeof watch>[] = [];
    for (let i = 0; i < 30; i++) {
      const { raw, seen } = await dialRaw(a, b);
      const junk = new Uint8Array(1 + Math.floor(rand() * 300));
      for (let k = 0; k < junk.length; k++) junk[k] = Math.floor(rand() * 256);
      if (i % 3 === 0) junk[4] = FrameType.Request; // plausible but broken
      raw.send(junk);
      if (i % 2 === 0) await raw.close().catch(() => {});
      watchers.push(seen);
    }
    await until(
      () => watchers.every((w) => w.isClosed()),
      20_000,
      "every garbage stream to end",
    );
    assert.ok(b.service.counters().protocolErrors > 0);
    assert.ok(!b.events.some((e) => e.type === "streamRequested"));
    const id = await openStream(a, b);
    await a.service.send(id, new Uint8Array([42]));
    await b.waitEvent("streamData", (e) => e.data[0] === 42);
  } finally {
    await a.stop();
    await b.stop();
  }
});
