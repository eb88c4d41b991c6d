import assert from "node:assert/strict";
import { type BridgeEvent, BridgeEventStream } from "./bridge_events.ts";

const gone = (id: string): BridgeEvent => ({
  type: "deviceGone",
  deviceId: id,
  reason: "timeout",
});

Deno.test("BridgeEventStream delivers in order and reports what a slow consumer lost", async () => {
  let ended = 0;
  const s = new BridgeEventStream(2, () => ended++);
  s.push(gone("1"));
  s.push(gone("2"));
  s.push(gone("3"));
  s.push(gone("4"));
  assert.deepEqual((await s.next()).value, { type: "lagged", dropped: 2 });
  assert.deepEqual((await s.next()).value, gone("3"));
  assert.deepEqual((await s.next()).value, gone("4"));
  const waiting = s.next();
  s.push(gone("5"));
  assert.deepEqual((await waiting).value, gone("5"));
  s.push(gone("6"));
  s.end();
  assert.deepEqual(
    (await s.next()).value,
    gone("6"),
    "queued events survive end()",
  );
  assert.equal((await s.next()).done, true);
  assert.equal(ended, 1);
});

Deno.test("BridgeEventStream.return() ends a pending next()", async () => {
  const s = new BridgeEventStream(4, () => {});
  const p = s.next();
  await s.return();
  assert.equal((await p).done, true);
});
