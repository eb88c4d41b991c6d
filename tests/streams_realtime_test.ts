import assert from "node:assert/strict";
import {
  encodeFrame,
  FrameDecoder,
  FrameType,
  STREAM_PROTOCOL,
} from "../streams/frame.ts";
import type { PeerId } from "../core/peer_id.ts";
import type { Stream } from "@libp2p/interface";
import {
  connect,
  openStream,
  openStreamWithReadable,
  sleep,
  startStreamPeer,
  startTestNode,
  withStreamPair,
} from "./support/streams_fixture.ts";
import { until } from "./support/wait.ts";

Deno.test("realtime: a stalled reader loses its oldest frames, counted, with bounded memory", async () => {
  // a large in-flight window: this test is about the reader's queue
  await withStreamPair(async ({ a, b }) => {
    const { id, readable } = await openStreamWithReadable(a, b, "realtime");
    const N = 500;
    let maxBuffered = 0;
    for (let i = 0; i < N; i++) {
      await a.service.send(id, new Uint8Array(640).fill(i & 0xff));
      if (i % 50 === 49) {
        // let each burst arrive, so only the reader (not the link) drops
        await until(() => b.service.stats(id).framesReceived === i + 1);
        maxBuffered = Math.max(maxBuffered, b.service.stats(id).bufferedBytes);
      }
    }
    await until(() => b.service.stats(id).framesReceived === N);
    const s = b.service.stats(id);
    assert.equal(s.dropped, N - 10);
    assert.equal(s.lost, 0); // the network lost nothing; the reader did
    assert.ok(s.bufferedBytes <= 10 * 640, `holds ${s.bufferedBytes} bytes`);
    assert.ok(maxBuffered <= 10 * 640 + 64 * 1024, `held ${maxBuffered}`);
    // the reader gets the newest frames, in order
    const reader = readable.getReader();
    const got: number[] = [];
    for (let i = 0; i < 10; i++) got.push((await reader.read()).value!.seq);
    assert.deepEqual(got, Array.from({ length: 10 }, (_, i) => N - 10 + i));
    reader.releaseLock();
    await readable.cancel();
  }, {
    realtimeQueueFrames: 10,
    realtimeMaxInFlight: 1000,
  });
});

Deno.test("realtime: when the link falls behind, send() never waits and the oldest frames are dropped", async () => {
  await withStreamPair(async ({ a, b }) => {
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
    await until(() => {
      const s = a.service.stats(id);
      return s.framesSent + s.dropped === N;
    });
    const sent = a.service.stats(id);
    await until(() => b.service.stats(id).framesReceived === sent.framesSent);
    const got = b.service.stats(id);
    // the receiver sees the sender's drops as gaps in the sequence
    assert.equal(got.lost, sent.dropped);
    assert.equal(lastSeq(b, id), N - 1);
    assert.equal(got.reordered, 0);
  }, { realtimeQueueFrames: 4 });
});

Deno.test("realtime: stats report latency and jitter figures", async () => {
  await withStreamPair(async ({ a, b }) => {
    const id = await openStream(a, b, "realtime");
    for (let i = 0; i < 20; i++) {
      await a.service.send(id, new Uint8Array(640));
      await sleep(5);
    }
    await until(() => b.service.stats(id).framesReceived === 20);
    const s = b.service.stats(id);
    assert.equal(s.mode, "realtime");
    assert.equal(s.direction, "inbound");
    assert.equal(s.bytesReceived, 20 * 640);
    assert.ok(Number.isFinite(s.latencyMs) && s.latencyMs >= 0);
    assert.ok(Number.isFinite(s.jitterMs) && s.jitterMs >= 0);
  });
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

Deno.test("realtime: a receiver that stops acknowledging holds the sender to realtimeMaxInFlight frames; the rest queue and drop", async () => {
  const a = await startStreamPeer({
    realtimeQueueFrames: 10,
    realtimeMaxInFlight: 16,
  });
  // b speaks the protocol by hand: it accepts, then acknowledges only when told
  const b = await startTestNode();
  let raw: Stream | undefined;
  const seqs: number[] = [];
  await b.libp2p.handle(STREAM_PROTOCOL, (stream) => {
    raw = stream;
    const d = new FrameDecoder(1 << 20);
    stream.addEventListener("message", (e) => {
      d.push(e.data instanceof Uint8Array ? e.data : e.data.subarray());
      for (let f = d.next(); f; f = d.next()) {
        if (f.type === FrameType.Request) {
          stream.send(encodeFrame(FrameType.Accept, 0, 0));
        } else if (f.type === FrameType.Data) seqs.push(f.seq);
      }
    });
  });
  try {
    await connect(a.node, b);
    const id = await a.service.request(b.id as PeerId, "voice", {
      mode: "realtime",
    });
    for (let i = 0; i < 100; i++) {
      await a.service.send(id, new Uint8Array(640));
    }
    let s = a.service.stats(id);
    assert.equal(s.framesSent, 16);
    assert.equal(s.dropped, 100 - 16 - 10);
    await until(() => seqs.length === 16);
    assert.deepEqual(seqs, Array.from({ length: 16 }, (_, i) => i));

    // an ack for seq 15 frees the window: the 10 newest queued frames go out
    raw!.send(encodeFrame(FrameType.Ack, 15, 0));
    await until(() => seqs.length === 26);
    assert.deepEqual(
      seqs.slice(16),
      Array.from({ length: 10 }, (_, i) => 90 + i),
    );
    s = a.service.stats(id);
    assert.equal(s.framesSent, 26);
    assert.equal(s.bufferedBytes, 0);
  } finally {
    await a.stop();
    await b.stop();
  }
});

Deno.test("realtime: a window smaller than the ack interval still frees: the frame that fills it is acknowledged at once", async () => {
  for (const window of [1, 2, 3, 7]) {
    await withStreamPair(async ({ a, b }) => {
      const id = await openStream(a, b, "realtime");
      // (before, the receiver acked only every 4th frame: after `window`
      // frames the sender's window never freed and every later frame was
      // queued and dropped)
      for (let i = 0; i < 12; i++) {
        await a.service.send(id, new Uint8Array(64));
        await until(
          () => b.service.stats(id).framesReceived === i + 1,
          5_000,
          `frame ${i} with a window of ${window}`,
        );
      }
      assert.equal(a.service.stats(id).dropped, 0);
    }, { realtimeMaxInFlight: window });
  }
});

Deno.test("realtime: acks keep a window of 5 moving (every 8th frame, and each that fills the window)", async () => {
  await withStreamPair(async ({ a, b }) => {
    const id = await openStream(a, b, "realtime");
    // 200 frames paced by the window: they all arrive because acks keep
    // freeing it (send never waits, so pace on the receiver's count)
    for (let i = 0; i < 200; i++) {
      await a.service.send(id, new Uint8Array(64));
      await until(() => b.service.stats(id).framesReceived === i + 1);
    }
    const s = a.service.stats(id);
    assert.equal(s.framesSent, 200);
    assert.equal(s.dropped, 0);
  }, { realtimeMaxInFlight: 5 });
});
