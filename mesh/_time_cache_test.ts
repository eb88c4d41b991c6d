import assert from "node:assert/strict";
import fc from "fast-check";
import {
  patchTimeCache,
  TIME_CACHE_FIELDS,
  TIME_CACHE_METHODS,
  TIME_CACHE_WRITTEN_FOR,
} from "./_time_cache.ts";
import { type AviP2p, RUNTIME } from "./node.ts";
import { assertWrittenFor } from "../tests/support/written_for.ts";
import {
  houseOfThree,
  publishAndAwaitLast,
  shutdownAll,
  startNode,
} from "../tests/support/mesh_fixture.ts";

Deno.test("time caches: the adjustment was written for the installed @libp2p/gossipsub", async () => {
  await assertWrittenFor(TIME_CACHE_WRITTEN_FOR);
});

type Cache = {
  put(key: string, value?: unknown): boolean;
  get(key: string): unknown;
  has(key: string): boolean;
  prune(): void;
  clear(): void;
  readonly size: number;
  entries: Map<string, unknown>;
};

function pubsubOf(node: AviP2p): Record<string, Cache> {
  return (node as unknown as Record<
    symbol,
    () => { libp2p: { services: { pubsub: Record<string, Cache> } } }
  >)[RUNTIME]().libp2p.services.pubsub;
}

/** The package's `SimpleTimeCache` class, from a node's cache (its prototype is untouched). */
async function packageClass(): Promise<
  new (o: { validityMs: number }) => Cache
> {
  const node = await startNode({ enableKad: false });
  try {
    const cache = pubsubOf(node).seenCache;
    for (const m of TIME_CACHE_METHODS) {
      assert.ok(Object.hasOwn(cache, m), `${m} is the adjustment's own`);
    }
    return cache.constructor as new (o: { validityMs: number }) => Cache;
  } finally {
    await node.shutdown();
  }
}

type Op =
  | { k: "put"; key: number; value: number | undefined }
  | { k: "get" | "has"; key: number }
  | { k: "prune" | "clear" }
  | { k: "wait"; ms: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({
      k: fc.constant("put" as const),
      key: fc.nat(12),
      value: fc.option(fc.nat(3), { nil: undefined }),
    }),
    weight: 5,
  },
  {
    arbitrary: fc.record({ k: fc.constant("get" as const), key: fc.nat(12) }),
    weight: 3,
  },
  {
    arbitrary: fc.record({ k: fc.constant("has" as const), key: fc.nat(12) }),
    weight: 2,
  },
  { arbitrary: fc.record({ k: fc.constant("prune" as const) }), weight: 2 },
  { arbitrary: fc.record({ k: fc.constant("clear" as const) }), weight: 1 },
  {
    arbitrary: fc.record({ k: fc.constant("wait" as const), ms: fc.nat(40) }),
    weight: 3,
  },
);

Deno.test("time caches: the adjusted cache answers every call as the package's (fast-check, on a fake clock)", async () => {
  const Package = await packageClass();
  const realNow = Date.now;
  let now = 1_000_000;
  Date.now = () => now;
  try {
    fc.assert(
      fc.property(
        fc.integer({ min: -5, max: 60 }),
        fc.array(op, { maxLength: 80 }),
        (validityMs, ops) => {
          const theirs = new Package({ validityMs });
          const ours = new Package({ validityMs });
          patchTimeCache(ours);
          for (const o of ops) {
            const k = `k${(o as { key?: number }).key}`;
            switch (o.k) {
              case "put":
                assert.equal(ours.put(k, o.value), theirs.put(k, o.value));
                break;
              case "get":
                assert.equal(ours.get(k), theirs.get(k));
                break;
              case "has":
                assert.equal(ours.has(k), theirs.has(k));
                break;
              case "prune":
                ours.prune();
                theirs.prune();
                break;
              case "clear":
                ours.clear();
                theirs.clear();
                break;
              case "wait":
                now += o.ms;
            }
            assert.equal(ours.size, theirs.size);
          }
        },
      ),
      { numRuns: 3000 },
    );
  } finally {
    Date.now = realNow;
  }
});

Deno.test("time caches: thousands of entries pruned in order keep the same answers (the arrays' front is dropped)", async () => {
  const Package = await packageClass();
  const realNow = Date.now;
  let now = 5_000_000;
  Date.now = () => now;
  try {
    const theirs = new Package({ validityMs: 100 });
    const ours = new Package({ validityMs: 100 });
    patchTimeCache(ours);
    for (let i = 0; i < 20_000; i++) {
      const k = `m${i}`;
      assert.equal(ours.put(k, i), theirs.put(k, i));
      if (i % 10 === 0) now++;
      if (i % 500 === 0) {
        ours.prune();
        theirs.prune();
        assert.equal(ours.size, theirs.size);
        const probe = `m${i - 999}`;
        assert.equal(ours.get(probe), theirs.get(probe));
        assert.equal(ours.has(probe), theirs.has(probe));
      }
    }
    assert.ok(ours.size < 20_000, "old entries were pruned");
  } finally {
    Date.now = realNow;
  }
});

Deno.test("time caches: a cache that already holds entries, or one of another shape, is refused", async () => {
  const Package = await packageClass();
  const used = new Package({ validityMs: 10 });
  used.put("x");
  assert.throws(() => patchTimeCache(used), /already holds entries/);
  assert.throws(
    () => patchTimeCache({ entries: new Map() }),
    /no longer applies/,
  );
});

Deno.test("time caches: a running node's caches are adjusted, and a house of three delivers each message once", async () => {
  const topic = "tc/topic";
  const nodes = await houseOfThree(topic);
  const [a, b, c] = nodes;
  try {
    for (const n of nodes) {
      const ps = pubsubOf(n);
      for (const f of TIME_CACHE_FIELDS) {
        const cache = ps[f];
        if (cache === undefined) continue;
        for (const m of TIME_CACHE_METHODS) {
          assert.ok(Object.hasOwn(cache, m), `${f}.${m} is the adjustment's`);
        }
      }
    }
    // b and c each get a's messages from a and again from each other: the
    // seen caches must drop the second copies.
    const counts = [b, c].map((n) => {
      const got = new Map<number, number>();
      const events = n.events();
      void (async () => {
        for await (const e of events) {
          if (e.type === "message" && e.from === a.peerId) {
            got.set(e.data[0], (got.get(e.data[0]) ?? 0) + 1);
          }
        }
      })();
      return { got, events };
    });
    for (let i = 0; i < 20; i++) {
      await a.handle().publish(topic, new Uint8Array([i]));
    }
    // A fence each way between b and c: once b has c's later message, it
    // has every copy c relayed before it (one connection, in order).
    await publishAndAwaitLast(c, b, topic, 1);
    await publishAndAwaitLast(b, c, topic, 1);
    for (const { got, events } of counts) {
      await events.return?.();
      assert.equal(got.size, 20);
      for (const [i, n] of got) {
        assert.equal(n, 1, `message ${i} delivered ${n} times`);
      }
    }
  } finally {
    await shutdownAll(...nodes);
  }
});
