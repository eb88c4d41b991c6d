import assert from "node:assert/strict";
import fc from "fast-check";
import { EventStream } from "./event_queue.ts";

type Ev = number | { lagged: number };
const open = (queueSize: number, queueBytes?: number) => {
  let ended = 0;
  const s = new EventStream<Ev>(
    queueSize,
    (n) => ({ lagged: n }),
    () => ended++,
    queueBytes,
  );
  return { s, ended: () => ended };
};
const drain = async (s: EventStream<Ev>) => {
  const out: Ev[] = [];
  s.end();
  for await (const e of s) out.push(e);
  return out;
};

Deno.test("EventStream grows past its first slots up to the bound, oldest first", async () => {
  const { s } = open(40);
  for (let n = 0; n < 100; n++) s.push(n);
  const want = [
    { lagged: 60 },
    ...Array.from({ length: 40 }, (_, i) => 60 + i),
  ];
  assert.deepEqual(await drain(s), want);
});

Deno.test("EventStream: no count bound (Infinity or NaN) keeps everything; a fractional one rounds up", async () => {
  for (const cap of [Infinity, NaN]) {
    const { s } = open(cap);
    for (let n = 0; n < 1000; n++) s.push(n);
    assert.equal(s.stats().queued, 1000);
    assert.equal((await drain(s)).length, 1000);
  }
  const { s } = open(2.5);
  for (let n = 0; n < 5; n++) s.push(n);
  assert.deepEqual(await drain(s), [{ lagged: 2 }, 2, 3, 4]);
});

Deno.test("EventStream with room for less than one event keeps the newest only", async () => {
  const { s } = open(0);
  s.push(1);
  s.push(2);
  s.push(3);
  assert.deepEqual(await drain(s), [{ lagged: 2 }, 3]);
});

Deno.test("EventStream.end(): queued events and the lagged notice survive, later pushes are ignored, onEnd once", async () => {
  const { s, ended } = open(1);
  s.push(1);
  s.push(2);
  s.end();
  assert.equal(s.push(3), 0);
  assert.equal(ended(), 0, "not before the queue drains");
  assert.deepEqual(await drain(s), [{ lagged: 1 }, 2]);
  assert.equal(ended(), 1);
  await s.return();
  assert.equal(ended(), 1);
});

Deno.test("EventStream law: delivered + dropped = pushed, order kept, both bounds held", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 40 }),
      fc.integer({ min: 1, max: 100 }),
      fc.array(fc.integer({ min: 0, max: 30 }), { maxLength: 200 }),
      async (cap, maxBytes, sizes) => {
        const { s } = open(cap, maxBytes);
        let dropped = 0;
        sizes.forEach((b, i) => {
          dropped += s.push(i, b);
          const st = s.stats();
          assert.ok(st.queued <= cap);
          assert.ok(st.queued === 1 || st.queuedBytes <= maxBytes);
        });
        const got = await drain(s);
        const values = got.filter((e): e is number => typeof e === "number");
        const lost = got.reduce<number>(
          (a, e) => a + (typeof e === "number" ? 0 : e.lagged),
          0,
        );
        assert.equal(lost, dropped);
        assert.equal(values.length + dropped, sizes.length);
        assert.deepEqual(values, [...values].sort((a, b) => a - b));
      },
    ),
  );
});
