import assert from "node:assert/strict";
import { Redialer } from "./reconnect.ts";

const until = async (cond: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
};

Deno.test("Redialer doubles the delay after each failure up to maxMs, then stops on success", async () => {
  let fails = 3;
  const dialed: string[] = [];
  const r = new Redialer({
    initialMs: 10,
    maxMs: 40,
    isConnected: () => false,
    dial: (p) => {
      dialed.push(p);
      return fails-- > 0
        ? Promise.reject(new Error("refused"))
        : Promise.resolve();
    },
  });
  r.disconnected("p1");
  assert.equal(r.delayOf("p1"), 10);
  await until(() => dialed.length === 1);
  await until(() => r.delayOf("p1") === 20);
  await until(() => r.delayOf("p1") === 40);
  await until(() => dialed.length === 4 && r.stats().pending === 0);
  assert.deepEqual(dialed, ["p1", "p1", "p1", "p1"]);
  r.stop();
});

Deno.test("Redialer makes no dial when the peer reconnected by itself, and stop() clears timers", async () => {
  let dials = 0;
  const r = new Redialer({
    initialMs: 10,
    maxMs: 10,
    isConnected: () => true,
    dial: () => (dials++, Promise.resolve()),
  });
  r.disconnected("a");
  await until(() => r.stats().pending === 0);
  assert.equal(dials, 0);
  r.disconnected("b");
  r.connected("b");
  r.disconnected("c");
  r.stop();
  assert.equal(r.stats().pending, 0);
  r.disconnected("d"); // ignored after stop
  assert.equal(r.stats().pending, 0);
});
