import assert from "node:assert/strict";
import { StreamState, YamuxStream } from "@chainsafe/libp2p-yamux/stream";
import {
  patchYamuxWindowUpdates,
  YAMUX_WINDOW_WRITTEN_FOR,
} from "./_yamux_window.ts";
import { assertWrittenFor } from "../tests/support/written_for.ts";

const WINDOW = 256 * 1024;

Deno.test("yamux: the adjustment was written for the installed @chainsafe/libp2p-yamux", async () => {
  await assertWrittenFor(YAMUX_WINDOW_WRITTEN_FOR);
});

/** A stream with just the fields window updates use; records frames sent. */
function stream(state: StreamState, used: number) {
  const frames: { flag: number; length: number }[] = [];
  const s = Object.assign(Object.create(YamuxStream.prototype), {
    state,
    streamId: 1,
    recvWindow: WINDOW,
    recvWindowCapacity: WINDOW - used,
    maxStreamWindowSize: 16 * 1024 * 1024,
    epochStart: 0,
    getRTT: () => -1,
    sendFrame: (f: { flag: number; length: number }) => frames.push(f),
  });
  return { s, frames };
}

Deno.test("yamux: no window update until half the receive window is used", () => {
  patchYamuxWindowUpdates();
  patchYamuxWindowUpdates(); // idempotent
  for (const state of [StreamState.Established, StreamState.SYNSent]) {
    const small = stream(state, 200);
    small.s.sendWindowUpdate();
    assert.deepEqual(small.frames, []);
    assert.equal(small.s.recvWindowCapacity, WINDOW - 200);
    const half = stream(state, WINDOW / 2);
    half.s.sendWindowUpdate();
    assert.equal(half.frames.length, 1);
    assert.equal(half.frames[0].length, WINDOW / 2);
    assert.equal(half.s.recvWindowCapacity, WINDOW);
  }
});

Deno.test("yamux: an update that opens a stream is sent at once; a paused stream sends none", () => {
  patchYamuxWindowUpdates();
  const opening = stream(StreamState.SYNReceived, 0);
  opening.s.sendWindowUpdate();
  assert.equal(opening.frames.length, 1);
  assert.notEqual(opening.frames[0].flag, 0, "carries the ACK flag");
  const init = stream(StreamState.Init, 0);
  init.s.sendWindowUpdate();
  assert.equal(init.frames.length, 1);
  const paused = stream(StreamState.Paused, WINDOW);
  paused.s.sendWindowUpdate();
  assert.deepEqual(paused.frames, []);
});
