/**
 * A hostile peer against the stream service, on real libp2p nodes: it may
 * hold only its share of the stream slots, and it cannot make a node buffer
 * large frames for a stream nobody accepted.
 */

import assert from "node:assert/strict";
import type { Stream } from "@libp2p/interface";
import { StreamRejectedError } from "../core/errors.ts";
import {
  encodeFrame,
  encodeHeader,
  FrameType,
  MAX_UNACCEPTED_FRAME_BYTES,
  STREAM_PROTOCOL,
} from "../streams/frame.ts";
import { StreamService } from "../streams/service.ts";
import {
  connect,
  startStreamPeer,
  type StreamPeer,
} from "./support/streams_fixture.ts";
import { until } from "./support/wait.ts";

/** Ask `to` for a stream from `from`; `to` accepts that very request. */
async function openFrom(from: StreamPeer, to: StreamPeer): Promise<string> {
  const asking = from.service.request(to.id, "honest");
  const seen = new Set(
    to.events.flatMap((e) => e.type === "streamRequested" ? [e.streamId] : []),
  );
  const req = await to.waitEvent(
    "streamRequested",
    (e) => e.from === from.id && !seen.has(e.streamId),
  );
  await to.service.accept(req.streamId);
  return await asking;
}

/** A raw libp2p stream on the stream protocol, and whether it has ended. */
async function dialRaw(from: StreamPeer, to: StreamPeer) {
  const raw: Stream = await from.node.libp2p.dialProtocol(
    to.node.libp2p.peerId,
    STREAM_PROTOCOL,
  );
  let closed = false;
  raw.addEventListener("close", () => closed = true);
  return { raw, isClosed: () => closed };
}

const requested = (p: StreamPeer, from: string) =>
  p.events.filter((e) => e.type === "streamRequested" && e.from === from);

Deno.test("one peer's unanswered requests take only its share of maxStreams: an honest peer still gets streams", async () => {
  const victim = await startStreamPeer({
    maxStreams: 5,
    requestTimeoutMs: 60_000,
  });
  const hog = await startStreamPeer({ maxStreams: 50 });
  const friend = await startStreamPeer();
  const results: unknown[] = [];
  const hogRequest = (i: number) => {
    const p = hog.service.request(victim.id, `hog ${i}`);
    p.then((v) => results[i] = v, (e) => results[i] = e);
    return p;
  };
  try {
    await connect(hog.node, victim.node);
    await connect(friend.node, victim.node);

    // five requests that the victim's application never answers: three
    // (the share, ceil(5 / 2)) wait, the other two are refused at once
    for (let i = 0; i < 5; i++) hogRequest(i).catch(() => {});
    await until(
      () =>
        requested(victim, hog.id).length +
            results.filter((r) => r !== undefined).length === 5,
      20_000,
      "every request of the hog to be pending or refused",
    );
    const refused = results.filter((r) => r !== undefined);
    assert.equal(refused.length, 2);
    for (const e of refused) {
      assert.ok(e instanceof StreamRejectedError);
      assert.match(e.reason, /maxStreamsPerPeer \(3\)/);
    }
    assert.equal(requested(victim, hog.id).length, 3);
    assert.equal(victim.service.counters().refusedRequests, 2);

    // the friend gets stream after stream; the hog's new requests are
    // refused at once while its three wait
    for (let i = 0; i < 10; i++) {
      const id = await openFrom(friend, victim);
      await friend.service.send(id, new Uint8Array([i]));
      await victim.waitEvent(
        "streamData",
        (e) => e.streamId === id && e.data[0] === i,
      );
      await friend.service.close(id);
      await assert.rejects(
        hogRequest(100 + i),
        (e: unknown) =>
          e instanceof StreamRejectedError &&
          /maxStreamsPerPeer/.test(e.reason),
      );
    }
    // two at once: the slots the hog's share leaves
    const both = [
      await openFrom(friend, victim),
      await openFrom(friend, victim),
    ];
    assert.equal(both.length, 2);
    assert.equal(requested(victim, hog.id).length, 3);

    // answering one of the hog's requests gives that slot back to the hog
    await Promise.all(both.map((id) => friend.service.close(id)));
    const first = requested(victim, hog.id)[0];
    assert.equal(first.type, "streamRequested");
    await victim.service.reject(first.streamId, "no");
    hogRequest(200).catch(() => {});
    await until(
      () => requested(victim, hog.id).length === 4,
      20_000,
      "the hog's new request to be pending",
    );
  } finally {
    await hog.stop();
    await friend.stop();
    await victim.stop();
  }
});

Deno.test("maxStreamsPerPeer: an option, checked, and never above maxStreams in effect", async () => {
  const a = await startStreamPeer({ maxStreams: 2, maxStreamsPerPeer: 2 });
  const b = await startStreamPeer();
  try {
    for (const bad of [0, 1.5, NaN]) {
      assert.throws(
        () =>
          new StreamService({
            libp2p: a.node.libp2p,
            emit: () => {},
            maxStreams: 5,
            maxStreamsPerPeer: bad,
          }),
        RangeError,
      );
    }
    await connect(b.node, a.node);
    await openFrom(b, a);
    await openFrom(b, a);
    await assert.rejects(
      b.service.request(a.id, "third"),
      (e: unknown) =>
        e instanceof StreamRejectedError && /maxStreams \(2\)/.test(e.reason),
    );
  } finally {
    await a.stop();
    await b.stop();
  }
});

Deno.test("a frame larger than the pre-accept limit, before any request, resets the stream at once", async () => {
  const victim = await startStreamPeer({ requestTimeoutMs: 60_000 });
  const raw = await startStreamPeer();
  try {
    await connect(raw.node, victim.node);
    // the header of a 1 MiB request, and 64 KiB of it, then nothing
    const s = await dialRaw(raw, victim);
    s.raw.send(encodeHeader(FrameType.Request, 0, 0, 1 << 20));
    s.raw.send(new Uint8Array(64 * 1024).fill(0x20));
    await until(s.isClosed, 10_000, "the half-sent request to be reset");
    assert.equal(victim.service.counters().protocolErrors, 1);
    assert.equal(requested(victim, raw.id).length, 0);

    // the largest honest request still fits: 1024 bytes of control
    // characters, each escaped to six in the JSON
    const reason = "\u0001".repeat(1024);
    assert.ok(
      JSON.stringify({ id: crypto.randomUUID(), reason, mode: "realtime" })
        .length < MAX_UNACCEPTED_FRAME_BYTES,
    );
    const asking = raw.service.request(victim.id, reason);
    const req = await victim.waitEvent("streamRequested");
    assert.equal(req.reason, reason);
    await victim.service.accept(req.streamId);
    assert.equal(await asking, req.streamId);
  } finally {
    await raw.stop();
    await victim.stop();
  }
});

Deno.test("a large frame on a requested but unaccepted stream resets it, counted; once accepted, 1 MiB frames pass both ways", async () => {
  const victim = await startStreamPeer({ requestTimeoutMs: 60_000 });
  const raw = await startStreamPeer();
  try {
    await connect(raw.node, victim.node);
    const s = await dialRaw(raw, victim);
    s.raw.send(encodeFrame(
      FrameType.Request,
      0,
      0,
      new TextEncoder().encode(
        JSON.stringify({ id: "half", reason: "r", mode: "reliable" }),
      ),
    ));
    const req = await victim.waitEvent("streamRequested");
    assert.equal(victim.service.stats(req.streamId).state, "pending");
    // data before the accept: the header of a 1 MiB frame and part of it
    s.raw.send(encodeHeader(FrameType.Data, 0, 0, 1 << 20));
    s.raw.send(new Uint8Array(64 * 1024));
    const closed = await victim.waitEvent(
      "streamClosed",
      (e) => e.streamId === "half",
    );
    assert.equal(closed.reason, "error");
    assert.match(closed.error ?? "", /exceeds the limit/);
    assert.equal(victim.service.counters().protocolErrors, 1);
    assert.equal(victim.service.stats("half").bufferedBytes, 0);
    await until(s.isClosed, 10_000, "the raw stream to be reset");
    await assert.rejects(victim.service.accept("half"), {
      name: "StreamNotFoundError",
    });

    // an accepted stream takes full-size frames, the first one sent by the
    // accepting side right after its accept
    const big = new Uint8Array(1 << 20).fill(7);
    const asking = raw.service.request(victim.id, "big");
    const next = await victim.waitEvent(
      "streamRequested",
      (e) => e.streamId !== "half",
    );
    await victim.service.accept(next.streamId);
    const sent = victim.service.send(next.streamId, big);
    const id = await asking;
    await sent;
    await raw.waitEvent("streamData", (e) => e.data.length === big.length);
    await raw.service.send(id, big);
    await victim.waitEvent(
      "streamData",
      (e) => e.streamId === id && e.data.length === big.length,
    );
    assert.equal(victim.service.counters().protocolErrors, 1);
  } finally {
    await raw.stop();
    await victim.stop();
  }
});
