import assert from "node:assert/strict";
import type { StreamFrame } from "../streams/types.ts";
import { openStream, sleep, streamPair, waitFor } from "./streams_fixture.ts";

Deno.test("realtime: a stalled reader loses its oldest frames, counted, with bounded memory", async () => {
  const { a, b } = await streamPair({ realtimeQueueFrames: 10 });
  try {
    let readable: ReadableStream<StreamFrame> | undefined;
    const id = await openStream(a, b, "realtime", (sid) => {
      readable = b.service.readable(sid);
    });
    const N = 500;
    let maxBuffered = 0;
    for (let i = 0; i < N; i++) {
      await a.service.send(id, new Uint8Array(640).fill(i & 0xff));
      if (i % 50 === 49) {
        await sleep(5);
        maxBuffered = Math.max(maxBuffered, b.service.stats(id).bufferedBytes);
      }
    }
    await waitFor(() => b.service.stats(id).framesReceived === N);
    const s = b.service.stats(id);
    assert.equal(s.dropped, N - 10);
    assert.equal(s.lost, 0); // the network lost nothing; the reader did
    assert.ok(s.bufferedBytes <= 10 * 640, `holds ${s.bufferedBytes} bytes`);
    assert.ok(maxBuffered <= 10 * 640 + 64 * 1024, `held ${maxBuffered}`);
    // the reader gets the newest frames, in order
    const reader = readable!.getReader();
    const got: number[] = [];
    for (let i = 0; i < 10; i++) got.push((await reader.read()).value!.seq);
    assert.deepEqual(got, Array.from({ length: 10 }, (_, i) => N - 10 + i));
    reader.releaseLock();
    await readable!.cancel();
  } finally {
    await a.stop();
    await b.stop();
  }
});

Deno.test("realtime: when the link falls behind, send() never waits and the oldest frames are dropped", async () => {
  const { a, b } = await streamPair({ realtimeQueueFrames: 4 });
  try {
    const id = await openStream(a, b, "realtime");
    const FRAME = 256 * 1024;
    const N = 100; // 25 MiB offered at once, far more than the link takes
    for (let i = 0; i < N; i++) {
      await a.service.send(id, new Uint8Array(FRAME));
      assert.ok(
        a.service.stats(id).bufferedBytes <= 6 * (FRAME + 18),
        `sender holds ${a.service.stats(id).bufferedBytes} bytes`,
      );
    }
    assert.ok(a.service.stats(id).dropped > 0, "nothing dropped");
    // the queued newest frames go out as the link drains
    await waitFor(() => {
      const s = a.service.stats(id);
      return s.framesSent + s.dropped === N;
    });
    const sent = a.service.stats(id);
    await waitFor(() => b.service.stats(id).framesReceived === sent.framesSent);
    const got = b.service.stats(id);
    // the receiver sees the sender's drops as gaps in the sequence
    assert.equal(got.lost, sent.dropped);
    assert.equal(lastSeq(b, id), N - 1);
    assert.equal(got.reordered, 0);
  } finally {
    await a.stop();
    await b.stop();
  }
});

Deno.test("realtime: stats report latency and jitter figures", async () => {
  const { a, b } = await streamPair();
  try {
    const id = await openStream(a, b, "realtime");
    for (let i = 0; i < 20; i++) {
      await a.service.send(id, new Uint8Array(640));
      await sleep(5);
    }
    await waitFor(() => b.service.stats(id).framesReceived === 20);
    const s = b.service.stats(id);
    assert.equal(s.mode, "realtime");
    assert.equal(s.direction, "inbound");
    assert.equal(s.bytesReceived, 20 * 640);
    assert.ok(Number.isFinite(s.latencyMs) && s.latencyMs >= 0);
    assert.ok(Number.isFinite(s.jitterMs) && s.jitterMs >= 0);
  } finally {
    await a.stop();
    await b.stop();
  }
});

function lastSeq(
  p: { events: { type: string; streamId?: string; seq?: number }[] },
  id: string,
): number {
  let last = -1;
  for (const e of p.events) {
    if (e.type === "streamData" && e.streamId === id) last = e.seq!;
  }
  return last;
}
