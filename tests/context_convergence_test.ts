// Property tests (fast-check) of the context CRDT: merge laws, and five
// replicas converging under random schedules with reordering, duplication and
// loss repaired by anti-entropy.
import assert from "node:assert/strict";
import fc from "fast-check";
import { ContextDoc } from "../context/doc.ts";
import { decodeDelta } from "../context/delta.ts";
import type { JsonObject, JsonValue } from "../core/events.ts";
import type { VersionVector } from "../context/version_vector.ts";

const KEYS = ["avi", "device", "a", "b"];
const arbKey = fc.constantFrom(...KEYS);
const arbPath = fc.array(arbKey, { minLength: 1, maxLength: 3 }).map((k) =>
  k.join(".")
);
const arbLeaf: fc.Arbitrary<JsonValue> = fc.oneof(
  fc.integer({ min: 0, max: 5 }),
  fc.constantFrom("x", "y"),
  fc.boolean(),
  fc.array(fc.integer({ min: 0, max: 2 }), { maxLength: 2 }),
);
const { obj: arbObj } = fc.letrec<{ obj: JsonObject }>((tie) => ({
  obj: fc.dictionary(
    arbKey,
    fc.oneof({ depthSize: "small" }, arbLeaf, tie("obj")),
    {
      maxKeys: 3,
    },
  ) as fc.Arbitrary<JsonObject>,
}));
const { patch: arbPatch } = fc.letrec<{ patch: JsonObject }>((tie) => ({
  patch: fc.dictionary(
    arbKey,
    fc.oneof({ depthSize: "small" }, arbLeaf, fc.constant(null), tie("patch")),
    { minKeys: 1, maxKeys: 3 },
  ) as fc.Arbitrary<JsonObject>,
}));

type Action =
  | { k: "set"; path: string; value: JsonValue }
  | { k: "setObj"; path: string; value: JsonObject }
  | { k: "delete"; path: string }
  | { k: "update"; patch: JsonObject }
  | { k: "replace"; data: JsonObject };

const arbAction: fc.Arbitrary<Action> = fc.oneof(
  {
    arbitrary: fc.record({
      k: fc.constant("set" as const),
      path: arbPath,
      value: arbLeaf,
    }),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      k: fc.constant("setObj" as const),
      path: arbPath,
      value: arbObj,
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({ k: fc.constant("delete" as const), path: arbPath }),
    weight: 3,
  },
  {
    arbitrary: fc.record({
      k: fc.constant("update" as const),
      patch: arbPatch,
    }),
    weight: 3,
  },
  {
    arbitrary: fc.record({ k: fc.constant("replace" as const), data: arbObj }),
    weight: 1,
  },
);

function act(doc: ContextDoc, a: Action) {
  switch (a.k) {
    case "set":
      return doc.set(a.path, a.value);
    case "setObj":
      return doc.set(a.path, a.value);
    case "delete":
      return doc.delete(a.path);
    case "update":
      return doc.update(a.patch);
    case "replace":
      return doc.replace(a.data);
  }
}

/** Anti-entropy: `to` learns what `from` has that it lacks (or `asked` lacked). */
function pull(to: ContextDoc, from: ContextDoc, asked: ContextDoc = to): void {
  for (const offer of from.offer(asked.version())) {
    let ok = true;
    for (const d of offer.deltas) {
      if (to.merge(d.bytes).status === "clock-ahead") ok = false;
    }
    if (offer.head) to.proveHead(offer.head.bytes);
    if (ok) to.joinRange(offer.writer, offer.from, offer.to);
  }
}

function clone(doc: ContextDoc, now: () => number): ContextDoc {
  return ContextDoc.restore(doc.snapshot(), { replicaId: doc.replicaId, now });
}

/** A copy of `into` that has pulled everything of `from`. */
function merged(
  into: ContextDoc,
  from: ContextDoc,
  now: () => number,
): ContextDoc {
  const doc = clone(into, now);
  pull(doc, from);
  return doc;
}

const sameState = (x: ContextDoc, y: ContextDoc) => {
  assert.deepEqual(x.get(), y.get());
  assert.deepEqual(x.version(), y.version());
};

/** Builds a replica for each of 3 writers by random local actions and syncs. */
const arbReplicas = fc.array(
  fc.record({
    r: fc.integer({ min: 0, max: 2 }),
    action: arbAction,
    sync: fc.option(fc.integer({ min: 0, max: 2 }), { freq: 3 }),
    dt: fc.integer({ min: 0, max: 2 }),
  }),
  { maxLength: 12 },
).map((steps) => {
  let t = 1000;
  const now = () => t;
  const docs = ["A", "B", "C"].map((replicaId) =>
    new ContextDoc({ replicaId, now })
  );
  for (const s of steps) {
    t += s.dt;
    act(docs[s.r], s.action);
    if (s.sync !== null && s.sync !== s.r) pull(docs[s.sync], docs[s.r]);
  }
  return { docs, now };
});

Deno.test("merge is commutative, associative and idempotent (fast-check)", () => {
  fc.assert(
    fc.property(arbReplicas, ({ docs: [x, y, z], now }) => {
      // commutative
      const xy = merged(x, y, now);
      const yx = merged(y, x, now);
      sameState(xy, yx);
      // associative
      const xy_z = merged(xy, z, now);
      const yz = merged(y, z, now);
      const x_yz = merged(x, yz, now);
      sameState(xy_z, x_yz);
      // idempotent
      const xx = merged(x, x, now);
      sameState(xx, x);
      pull(xy, y);
      sameState(xy, yx);
    }),
    { numRuns: 500 },
  );
});

Deno.test("delta merge is order-free and duplicate-free (fast-check)", () => {
  fc.assert(
    fc.property(
      arbReplicas,
      fc.array(fc.nat(), { minLength: 1, maxLength: 40 }),
      ({ docs, now }, picks) => {
        const all = docs.flatMap((d) =>
          d.offer({}).flatMap((o) => o.deltas.map((h) => h.bytes))
        );
        const inOrder = new ContextDoc({ replicaId: "R1", now });
        for (const b of all) inOrder.merge(b);
        const shuffled = new ContextDoc({ replicaId: "R2", now });
        const pool = [...all];
        for (const p of picks) {
          if (pool.length) shuffled.merge(pool[p % pool.length]); // dups
        }
        for (let i = pool.length - 1; i >= 0; i--) {
          shuffled.merge(pool[(i * 7) % pool.length]);
        }
        for (const b of all) shuffled.merge(b);
        assert.deepEqual(shuffled.get(), inOrder.get());
      },
    ),
    { numRuns: 500 },
  );
});

type Step =
  | { t: "op"; r: number; action: Action; dt: number; fate: number[] }
  | { t: "deliver"; i: number }
  | { t: "ae"; a: number; b: number; c: number }
  | { t: "gc"; r: number };

const N = 5;
const arbStep: fc.Arbitrary<Step> = fc.oneof(
  {
    arbitrary: fc.record({
      t: fc.constant("op" as const),
      r: fc.integer({ min: 0, max: N - 1 }),
      action: arbAction,
      dt: fc.integer({ min: 0, max: 3 }),
      // per other replica: 0 lost, 1 delivered once, 2 duplicated
      fate: fc.array(fc.integer({ min: 0, max: 2 }), {
        minLength: N,
        maxLength: N,
      }),
    }),
    weight: 4,
  },
  {
    arbitrary: fc.record({ t: fc.constant("deliver" as const), i: fc.nat() }),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      t: fc.constant("ae" as const),
      a: fc.integer({ min: 0, max: N - 1 }),
      b: fc.integer({ min: 0, max: N - 1 }),
      // a third replica that overhears b's answer to a (gossip is broadcast)
      c: fc.integer({ min: 0, max: N - 1 }),
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      t: fc.constant("gc" as const),
      r: fc.integer({ min: 0, max: N - 1 }),
    }),
    weight: 1,
  },
);

let schedules = 0;
let dropped = 0;

Deno.test("five replicas converge under 10,000 random schedules (reorder, duplicate, loss)", () => {
  fc.assert(
    fc.property(
      fc.array(arbStep, { minLength: 1, maxLength: 24 }),
      fc.array(fc.integer({ min: 0, max: 50 }), { minLength: N, maxLength: N }),
      (steps, skew) => {
        schedules++;
        const clocks = skew.map((s) => 1_000_000 + s);
        const docs = Array.from(
          { length: N },
          (_, r) =>
            new ContextDoc({ replicaId: `peer-${r}`, now: () => clocks[r] }),
        );
        // known[r][j]: the version replica r last heard from replica j
        const known: VersionVector[][] = docs.map(() => docs.map(() => ({})));
        const inflight: { to: number; bytes: Uint8Array }[] = [];
        const every: Uint8Array[] = [];
        for (const s of steps) {
          if (s.t === "op") {
            clocks[s.r] += s.dt;
            const { delta } = act(docs[s.r], s.action);
            if (!delta) continue;
            const bytes = docs[s.r].deltasSince({
              [delta.writer]: delta.seq - 1,
            }, delta.writer)
              .find((h) => h.delta.seq === delta.seq)?.bytes;
            if (!bytes) continue; // superseded on arrival (cannot happen locally)
            every.push(bytes);
            for (let j = 0; j < N; j++) {
              if (j === s.r) continue;
              for (let k = 0; k < s.fate[j]; k++) {
                inflight.push({ to: j, bytes });
              }
            }
          } else if (s.t === "deliver") {
            if (inflight.length === 0) continue;
            const [m] = inflight.splice(s.i % inflight.length, 1);
            docs[m.to].merge(m.bytes);
          } else if (s.t === "ae") {
            if (s.a === s.b) continue;
            known[s.b][s.a] = docs[s.a].version();
            if (s.c !== s.a && s.c !== s.b) {
              pull(docs[s.c], docs[s.b], docs[s.a]);
            }
            pull(docs[s.a], docs[s.b]);
            known[s.a][s.b] = docs[s.b].version();
          } else {
            dropped += docs[s.r].collectGarbage(
              known[s.r].filter((_, j) => j !== s.r),
            );
          }
        }
        // Late deliveries of whatever is still in flight (duplicates, old ones).
        const late = inflight.splice(0);
        for (const m of late.slice(0, late.length >> 1)) {
          docs[m.to].merge(m.bytes);
        }
        // Anti-entropy repairs the losses: two rounds of every pair.
        for (let round = 0; round < 2; round++) {
          for (let a = 0; a < N; a++) {
            for (let b = 0; b < N; b++) if (a !== b) pull(docs[a], docs[b]);
          }
        }
        for (const m of late.slice(late.length >> 1)) docs[m.to].merge(m.bytes);
        for (let r = 1; r < N; r++) {
          assert.deepEqual(
            docs[r].get(),
            docs[0].get(),
            `replica ${r} diverged`,
          );
          assert.deepEqual(docs[r].version(), docs[0].version());
        }
        // And they equal a fresh replica that merged every delta ever made.
        const reference = new ContextDoc({
          replicaId: "ref",
          now: () => 2_000_000,
        });
        for (const b of every) reference.merge(b);
        assert.deepEqual(
          docs[0].get(),
          reference.get(),
          "lost or resurrected a change",
        );
        // Everyone collects what is now stable; nothing visible changes.
        const before = docs[0].get();
        for (let r = 0; r < N; r++) {
          dropped += docs[r].collectGarbage(
            docs.filter((_, j) => j !== r).map((d) => d.version()),
          );
          assert.deepEqual(docs[r].get(), before, "GC changed the document");
        }
        // A late joiner that learns everything from one replica (after its GC).
        const joiner = new ContextDoc({
          replicaId: "late",
          now: () => 2_000_000,
        });
        pull(joiner, docs[N - 1]);
        assert.deepEqual(joiner.get(), docs[0].get(), "late joiner differs");
        // A restart (snapshot, restore) changes nothing.
        const back = ContextDoc.restore(docs[0].snapshot(), {
          replicaId: "peer-0",
          now: () => clocks[0],
        });
        assert.deepEqual(back.get(), docs[0].get());
      },
    ),
    { numRuns: 10_000 },
  );
  assert.equal(schedules >= 10_000, true);
  assert.ok(dropped > 100, `tombstones collected: ${dropped}`);
  console.log(`schedules: ${schedules}, tombstones collected: ${dropped}`);
});

/** Asserts that `v` and everything in it is frozen. */
function assertDeepFrozen(v: JsonValue): void {
  if (typeof v !== "object" || v === null) return;
  assert.ok(Object.isFrozen(v), "a view object is not frozen");
  for (const x of Array.isArray(v) ? v : Object.values(v)) assertDeepFrozen(x);
}

Deno.test("view() is the document, frozen, sharing every top-level value no change wrote under (fast-check)", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          r: fc.integer({ min: 0, max: 2 }),
          action: arbAction,
          from: fc.option(fc.integer({ min: 0, max: 2 }), { freq: 2 }),
          gc: fc.boolean(),
          dt: fc.integer({ min: 0, max: 2 }),
        }),
        { maxLength: 16 },
      ),
      (steps) => {
        let t = 1000;
        const now = () => t;
        const docs = ["A", "B", "C"].map((replicaId) =>
          new ContextDoc({ replicaId, now, tombstoneHorizonMs: 3 })
        );
        const views = docs.map((d) => d.view());
        for (const s of steps) {
          t += s.dt;
          const doc = docs[s.r];
          // the paths the step's changes wrote at (and cleared under)
          const written: (readonly string[])[] = [];
          if (s.from !== null && s.from !== s.r) {
            for (const offer of docs[s.from].offer(doc.version())) {
              for (const d of offer.deltas) {
                doc.merge(d.bytes);
                written.push(
                  ...decodeDelta(d.bytes).entries.map((e) => e.path),
                );
              }
            }
          } else {
            const r = act(doc, s.action);
            written.push(...(r.delta?.entries.map((e) => e.path) ?? []));
          }
          // a collection changes nothing visible: it must keep every view
          if (s.gc) doc.collectGarbage(docs.map((d) => d.version()));
          const v = doc.view();
          assert.deepEqual(v, doc.toJSON());
          assertDeepFrozen(v);
          const before = views[s.r];
          if (!written.some((p) => p.length === 0)) {
            for (const k of Object.keys(v)) {
              if (written.some((p) => p[0] === k)) continue;
              assert.strictEqual(v[k], before[k], `"${k}" was rebuilt`);
            }
          }
          views[s.r] = v;
        }
      },
    ),
    { numRuns: 1000 },
  );
});
