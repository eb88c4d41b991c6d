import assert from "node:assert/strict";
import fc from "fast-check";
import { EventHub } from "./event_hub.ts";

type Ev =
  | { type: "n"; n: number; bytes?: number }
  | { type: "lagged"; dropped: number };
const mk = (queueSize: number) =>
  new EventHub<Ev>({
    queueSize,
    lagged: (dropped) => ({ type: "lagged", dropped }),
    sticky: (e) => e.type === "n" && e.n === -1,
  });

Deno.test("EventHub delivers every event in order to each consumer", async () => {
  const hub = mk(8);
  const a = hub.subscribe();
  const b = hub.subscribe();
  for (let n = 0; n < 5; n++) hub.emit({ type: "n", n });
  hub.close();
  const seen = async (s: AsyncIterable<Ev>) => {
    const out: Ev[] = [];
    for await (const e of s) out.push(e);
    return out;
  };
  const want = [0, 1, 2, 3, 4].map((n) => ({ type: "n", n }));
  assert.deepEqual(await seen(a), want);
  assert.deepEqual(await seen(b), want);
});

Deno.test("EventHub drops the oldest for a full consumer and sends lagged {dropped}", async () => {
  const hub = mk(3);
  const slow = hub.subscribe();
  const fast = hub.subscribe();
  const fastSeen: number[] = [];
  const fastDone = (async () => {
    for await (const e of fast) if (e.type === "n") fastSeen.push(e.n);
  })();
  for (let n = 0; n < 10; n++) {
    hub.emit({ type: "n", n });
    await Promise.resolve();
  }
  hub.close();
  await fastDone;
  assert.deepEqual(fastSeen, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const slowSeen: Ev[] = [];
  for await (const e of slow) slowSeen.push(e);
  assert.deepEqual(slowSeen, [
    { type: "lagged", dropped: 7 },
    { type: "n", n: 7 },
    { type: "n", n: 8 },
    { type: "n", n: 9 },
  ]);
  assert.equal(slow.stats().dropped, 7);
  assert.equal(fast.stats().dropped, 0);
  assert.equal(hub.stats().dropped, 7);
});

Deno.test("EventHub replays the sticky event to a late consumer", async () => {
  const hub = mk(4);
  hub.emit({ type: "n", n: -1 });
  hub.emit({ type: "n", n: 1 });
  const late = hub.subscribe();
  hub.emit({ type: "n", n: 2 });
  assert.deepEqual((await late.next()).value, { type: "n", n: -1 });
  assert.deepEqual((await late.next()).value, { type: "n", n: 2 });
  hub.close();
  assert.equal((await late.next()).done, true);
});

Deno.test("EventHub: a waiting consumer is released by close(), and break removes it", async () => {
  const hub = mk(4);
  const s = hub.subscribe();
  const pending = s.next();
  hub.close();
  assert.equal((await pending).done, true);
  const hub2 = mk(4);
  const t = hub2.subscribe();
  hub2.emit({ type: "n", n: 1 });
  for await (const _ of t) break;
  assert.equal(hub2.stats().consumers, 0);
  hub2.emit({ type: "n", n: 2 }); // no consumer, no error
  assert.equal(hub.subscribe().stats().queued, 0);
});

Deno.test("EventHub law: received + dropped = emitted, order kept, queue bounded", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 16 }),
      fc.array(fc.boolean(), { maxLength: 200 }),
      async (size, ops) => {
        const hub = mk(size);
        const s = hub.subscribe();
        const got: number[] = [];
        let dropped = 0;
        let n = 0;
        const take = (e: Ev) => {
          if (e.type === "lagged") dropped += e.dropped;
          else got.push(e.n);
        };
        for (const emit of ops) {
          if (emit) hub.emit({ type: "n", n: n++ });
          else if (s.stats().queued > 0) {
            const r = await s.next();
            if (!r.done) take(r.value);
          }
          assert.ok(s.stats().queued <= size);
        }
        hub.close();
        for await (const e of s) take(e);
        assert.equal(got.length + dropped, n);
        assert.equal(s.stats().dropped, dropped);
        assert.deepEqual([...got].sort((a, b) => a - b), got);
      },
    ),
  );
});

const mkBytes = (queueSize: number, queueBytes: number) =>
  new EventHub<Ev>({
    queueSize,
    queueBytes,
    sizeOf: (e) => e.type === "n" ? e.bytes ?? 0 : 0,
    lagged: (dropped) => ({ type: "lagged", dropped }),
  });

async function drain(s: AsyncIterable<Ev>): Promise<Ev[]> {
  const out: Ev[] = [];
  for await (const e of s) out.push(e);
  return out;
}

Deno.test("EventHub bounds each queue in bytes too: the oldest go first, then lagged {dropped}", async () => {
  const hub = mkBytes(100, 10);
  const slow = hub.subscribe();
  for (let n = 0; n < 5; n++) hub.emit({ type: "n", n, bytes: 4 });
  assert.equal(slow.stats().queued, 2);
  assert.equal(slow.stats().queuedBytes, 8);
  assert.equal(slow.stats().dropped, 3);
  assert.equal(hub.stats().dropped, 3);
  hub.close();
  assert.deepEqual(await drain(slow), [
    { type: "lagged", dropped: 3 },
    { type: "n", n: 3, bytes: 4 },
    { type: "n", n: 4, bytes: 4 },
  ]);
  assert.equal(slow.stats().queuedBytes, 0);
});

Deno.test("EventHub queues an event larger than queueBytes alone, and hands it to a waiting consumer", async () => {
  const hub = mkBytes(100, 10);
  const slow = hub.subscribe();
  hub.emit({ type: "n", n: 0, bytes: 4 });
  hub.emit({ type: "n", n: 1, bytes: 4 });
  hub.emit({ type: "n", n: 2, bytes: 25 }); // drops both, kept alone
  assert.equal(slow.stats().queued, 1);
  assert.equal(slow.stats().queuedBytes, 25);
  assert.deepEqual((await slow.next()).value, { type: "lagged", dropped: 2 });
  assert.deepEqual((await slow.next()).value, { type: "n", n: 2, bytes: 25 });
  // a consumer already waiting gets a large event directly
  const waiting = slow.next();
  hub.emit({ type: "n", n: 3, bytes: 1000 });
  assert.deepEqual((await waiting).value, { type: "n", n: 3, bytes: 1000 });
  // and a queued large event goes when a later one would not fit beside it
  hub.emit({ type: "n", n: 4, bytes: 25 });
  hub.emit({ type: "n", n: 5, bytes: 4 });
  hub.close();
  assert.deepEqual(await drain(slow), [
    { type: "lagged", dropped: 1 },
    { type: "n", n: 5, bytes: 4 },
  ]);
});

Deno.test("EventHub refuses a queueBytes that is not a positive number, and survives a bad sizeOf", () => {
  for (const queueBytes of [0, -1, NaN]) {
    assert.throws(() => mkBytes(4, queueBytes), RangeError);
  }
  const hub = new EventHub<Ev>({
    queueSize: 4,
    queueBytes: 10,
    sizeOf: () => {
      throw new Error("bad sizer");
    },
    lagged: (dropped) => ({ type: "lagged", dropped }),
  });
  const s = hub.subscribe();
  hub.emit({ type: "n", n: 0 });
  assert.equal(s.stats().queued, 1);
  assert.equal(s.stats().queuedBytes, 0);
});

Deno.test("EventHub law with bytes: received + dropped = emitted, order kept, both bounds held", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 16 }),
      fc.integer({ min: 1, max: 64 }),
      fc.array(fc.option(fc.integer({ min: 0, max: 80 }), { nil: undefined }), {
        maxLength: 200,
      }),
      async (size, maxBytes, ops) => {
        const hub = mkBytes(size, maxBytes);
        const s = hub.subscribe();
        const got: number[] = [];
        let dropped = 0;
        let n = 0;
        const take = (e: Ev) => {
          if (e.type === "lagged") dropped += e.dropped;
          else got.push(e.n);
        };
        for (const bytes of ops) {
          if (bytes !== undefined) hub.emit({ type: "n", n: n++, bytes });
          else if (s.stats().queued > 0) {
            const r = await s.next();
            if (!r.done) take(r.value);
          }
          const st = s.stats();
          assert.ok(st.queued <= size);
          // over the byte bound only with one event, alone
          assert.ok(st.queuedBytes <= maxBytes || st.queued === 1);
        }
        hub.close();
        for await (const e of s) take(e);
        assert.equal(got.length + dropped, n);
        assert.equal(s.stats().dropped, dropped);
        assert.deepEqual([...got].sort((a, b) => a - b), got);
      },
    ),
  );
});
