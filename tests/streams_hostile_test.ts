/**
 * A hostile peer against the stream service, on real libp2p nodes: it cannot
 * make a node buffer large frames for a stream nobody accepted.
 */

import assert from "node:assert/strict";
import type { Stream } from "@libp2p/interface";
import {
  encodeFrame,
  encodeHeader,
  FrameType,
  MAX_UNACCEPTED_FRAME_BYTES,
  STREAM_PROTOCOL,
} from "../streams/frame.ts";
import {
  connect,
  startStreamPeer,
  type StreamPeer,
  waitFor,
} from "./streams_fixture.ts";

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

Deno.test("a frame larger than the pre-accept limit, before any request, resets the stream at once", async () => {
  const victim = await startStreamPeer({ requestTimeoutMs: 60_000 });
  const raw = await startStreamPeer();
  try {
    await connect(raw.node, victim.node);
    // the header of a 1 MiB request, and 64 KiB of it, then nothing
    const s = await dialRaw(raw, victim);
    s.raw.send(encodeHeader(FrameType.Request, 0, 0, 1 << 20));
    s.raw.send(new Uint8Array(64 * 1024).fill(0x20));
    await waitFor(s.isClosed, 10_000, "the half-sent request to be reset");
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
    await waitFor(s.isClosed, 10_000, "the raw stream to be reset");
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
