import assert from "node:assert/strict";
import { ContextDoc, INITIAL_CONTEXT } from "./doc.ts";
import type { ContextDelta } from "./delta.ts";

function pair(now: () => number) {
  return [
    new ContextDoc({ replicaId: "A", now }),
    new ContextDoc({ replicaId: "B", now }),
  ];
}

function syncAll(...docs: ContextDoc[]): void {
  for (let round = 0; round < 2; round++) {
    for (const to of docs) {
      for (const from of docs) {
        if (to === from) continue;
        for (const offer of from.offer(to.version())) {
          let ok = true;
          for (const d of offer.deltas) {
            if (to.merge(d.bytes).status === "clock-ahead") ok = false;
          }
          if (offer.head) to.proveHead(offer.head.bytes);
          if (ok) to.joinRange(offer.writer, offer.from, offer.to);
        }
      }
    }
  }
}

Deno.test("ContextDoc starts as {avi: {device: {}}}", () => {
  const doc = new ContextDoc({ replicaId: "A" });
  assert.deepEqual(doc.get(), INITIAL_CONTEXT);
  assert.deepEqual(doc.get("avi.device"), {});
  assert.equal(doc.get("avi.nothing"), undefined);
  assert.deepEqual(doc.version(), {});
});

Deno.test("update() applies RFC 7396: merge objects, null deletes, arrays replace", () => {
  const doc = new ContextDoc({ replicaId: "A" });
  doc.update({
    avi: { device: { audio: { volume: 40, muted: false }, list: [1, 2] } },
  });
  const r = doc.update({
    avi: { device: { audio: { muted: null }, list: [3] } },
  });
  assert.deepEqual(doc.get(), {
    avi: { device: { audio: { volume: 40 }, list: [3] } },
  });
  assert.deepEqual(r.changedPaths.sort(), [
    "avi.device.audio.muted",
    "avi.device.list",
  ]);
  // A scalar target becomes an object; a no-op patch yields no delta.
  doc.set("avi.x", 5);
  doc.update({ avi: { x: { y: null } } });
  assert.deepEqual(doc.get("avi.x"), {});
  assert.equal(
    doc.update({ avi: { device: { audio: { volume: 40 } } } }).delta,
    undefined,
  );
});

Deno.test("set()/delete() at dotted paths; set of an object replaces the subtree", () => {
  const doc = new ContextDoc({ replicaId: "A" });
  doc.set("avi.device.audio.volume", 10);
  doc.set("avi.device.audio.eq", [1, 2]);
  assert.deepEqual(doc.get("avi.device.audio"), { volume: 10, eq: [1, 2] });
  doc.set("avi.device.audio", { volume: 11 });
  assert.deepEqual(doc.get("avi.device.audio"), { volume: 11 });
  doc.delete("avi.device.audio.volume");
  assert.deepEqual(doc.get("avi.device.audio"), {});
  assert.equal(doc.delete("avi.device.nothing").delta, undefined);
});

Deno.test("replace() replaces the whole document and reports changed paths", () => {
  const doc = new ContextDoc({ replicaId: "A" });
  doc.set("avi.device.a", 1);
  const r = doc.replace({ home: { lights: "on" }, n: null });
  assert.deepEqual(doc.get(), { home: { lights: "on" }, n: null });
  assert.deepEqual(r.changedPaths.sort(), ["avi.device.a", "home.lights", "n"]);
});

Deno.test("invalid paths, keys and values throw InvalidPathError; big deltas TooLargeError", () => {
  const doc = new ContextDoc({ replicaId: "A", maxDeltaBytes: 1024 });
  const bad = (f: () => unknown) =>
    assert.throws(f, (e: Error) => e.name === "InvalidPathError");
  bad(() => doc.get("a..b"));
  bad(() => doc.set("", 1));
  bad(() => doc.update({ "a.b": 1 }));
  bad(() => doc.update({ "": 1 }));
  bad(() => doc.update(JSON.parse('{"__proto__": {"x": 1}}')));
  bad(() => doc.set("a", Number.NaN));
  bad(() => doc.set("a", (() => 1) as unknown as number));
  bad(() => doc.set(Array(40).fill("k").join("."), 1));
  bad(() => doc.delete(""));
  assert.throws(
    () => doc.set("a", "x".repeat(2000)),
    (e: Error) => e.name === "TooLargeError",
  );
  assert.deepEqual(doc.get(), INITIAL_CONTEXT);
});

Deno.test("original fault: two concurrent updates in the same second converge", () => {
  const [a, b] = pair(() => 1_700_000_000_000);
  const da = a.set("avi.device.audio.volume", 30).delta!;
  const db = b.set("avi.device.audio.volume", 50).delta!;
  assert.equal(da.wall, db.wall);
  a.merge(db);
  b.merge(da);
  assert.deepEqual(a.get(), b.get());
  assert.equal(a.get("avi.device.audio.volume"), 50); // same time: greater writer id
});

Deno.test("original fault: a late duplicate after a delete does not resurrect", () => {
  const [a, b] = pair(() => 1000);
  const c = new ContextDoc({ replicaId: "C", now: () => 1000 });
  const put = a.set("avi.device.timer", 5).delta!;
  b.merge(put);
  const del = b.delete("avi.device.timer").delta!;
  a.merge(del);
  assert.equal(a.merge(put).status, "duplicate");
  assert.equal(a.get("avi.device.timer"), undefined);
  // Reordered on a third replica: delete first, then the older write.
  c.merge(del);
  assert.equal(c.merge(put).status, "applied");
  assert.equal(c.get("avi.device.timer"), undefined);
  assert.deepEqual(a.get(), c.get());
});

Deno.test("object versus scalar at one path: the newer wins the whole path", () => {
  let t = 1000;
  const [a, b] = pair(() => t);
  a.set("home.k", 1);
  b.merge(a.offer({})[0].deltas[0].bytes);
  t = 2000;
  const scalar = b.set("home", 5).delta!; // older
  t = 3000;
  const deep = a.set("home.x.y", 1).delta!; // newer
  a.merge(scalar);
  b.merge(deep);
  assert.deepEqual(a.get("home"), { x: { y: 1 } }); // home.k was older than home = 5
  assert.deepEqual(a.get(), b.get());
  // And the other way round: the scalar is newer.
  t = 4000;
  const deep2 = a.set("room.x", 1).delta!;
  t = 5000;
  const scalar2 = b.set("room", 7).delta!;
  a.merge(scalar2);
  b.merge(deep2);
  assert.equal(a.get("room"), 7);
  assert.deepEqual(a.get(), b.get());
});

Deno.test("write versus delete: the newer wins; older siblings stay deleted", () => {
  let t = 1000;
  const [a, b] = pair(() => t);
  a.update({ room: { x: 1, y: 2 } });
  syncAll(a, b);
  t = 2000;
  const del = a.delete("room").delta!;
  t = 3000;
  const put = b.set("room.z", 3).delta!;
  a.merge(put);
  b.merge(del);
  assert.deepEqual(a.get("room"), { z: 3 });
  assert.deepEqual(a.get(), b.get());
});

Deno.test("merge() refuses a far-future clock without freezing the writer", () => {
  let t = 1_000_000;
  const a = new ContextDoc({ replicaId: "A", now: () => t, maxSkewMs: 1000 });
  const future: ContextDelta = {
    writer: "B",
    seq: 1,
    wall: t + 3_600_000,
    counter: 0,
    entries: [{ path: ["x"], kind: "set", value: 1 }],
  };
  assert.equal(a.merge(future).status, "clock-ahead");
  assert.equal(a.get("x"), undefined);
  const mine = a.set("y", 1).delta!;
  assert.ok(mine.wall < t + 1000, "own clock not dragged forward");
  t += 3_600_000;
  assert.equal(a.merge(future).status, "applied");
  assert.equal(a.get("x"), 1);
});

Deno.test("snapshot()/restore() keeps the document, versions and deletions", () => {
  let t = 1000;
  const a = new ContextDoc({ replicaId: "A", now: () => t });
  const b = new ContextDoc({ replicaId: "B", now: () => t });
  a.update({ avi: { device: { v: 1, w: 2 } } });
  t++;
  const old = a.set("avi.device.w", 3).delta!;
  syncAll(a, b);
  t++;
  b.delete("avi.device.w");
  syncAll(a, b);
  const copy = ContextDoc.restore(a.snapshot(), {
    replicaId: "A",
    now: () => t,
  });
  assert.deepEqual(copy.get(), a.get());
  assert.deepEqual(copy.version(), a.version());
  assert.equal(copy.merge(old).status, "duplicate");
  assert.equal(copy.get("avi.device.w"), undefined);
  // The restored writer continues its own sequence.
  assert.equal(copy.set("avi.device.v", 9).delta!.seq, a.version().A + 1);
});

Deno.test("offer()/joinRange(): a replica catches up even when deltas were superseded", () => {
  let t = 1000;
  const [a, b] = pair(() => t);
  for (let i = 0; i < 20; i++, t++) a.set("avi.device.volume", i);
  assert.equal(a.stats().heldDeltas, 1);
  syncAll(a, b);
  assert.deepEqual(b.version(), { A: 20 });
  assert.equal(b.get("avi.device.volume"), 19);
  assert.equal(a.offer(b.version()).length, 0);
});

Deno.test("collectGarbage() drops a stable tombstone and it stays deleted", () => {
  let t = 1000;
  const [a, b] = pair(() => t);
  const put = a.set("lamp", "on").delta!;
  syncAll(a, b);
  t++;
  b.delete("lamp");
  syncAll(a, b);
  assert.equal(a.stats().tombstones, 1);
  assert.equal(
    a.collectGarbage([]),
    1,
    "stable when no other replica is known",
  );
  assert.equal(
    b.collectGarbage([{ A: 0 }]),
    0,
    "not stable: A has not seen it",
  );
  assert.equal(b.collectGarbage([a.version()]), 1);
  assert.deepEqual(a.stats(), {
    heldDeltas: 0,
    tombstones: 0,
    compactTombstones: 1,
  });
  // A late copy of the older write, seen by a restored replica: still deleted.
  const a2 = ContextDoc.restore(a.snapshot(), { replicaId: "A", now: () => t });
  const fresh = new ContextDoc({ replicaId: "Z", now: () => t });
  fresh.merge(put);
  for (const offer of fresh.offer(a2.version())) {
    for (const d of offer.deltas) a2.merge(d.bytes);
  }
  assert.equal(a2.get("lamp"), undefined);
});

Deno.test("collectGarbage() drops an old tombstone after the horizon", () => {
  let t = 1000;
  const a = new ContextDoc({
    replicaId: "A",
    now: () => t,
    tombstoneHorizonMs: 10_000,
  });
  a.set("lamp", 1);
  a.delete("lamp");
  assert.equal(a.collectGarbage([{}]), 0);
  t += 20_000;
  assert.equal(a.collectGarbage([{}]), 1);
  assert.equal(a.get("lamp"), undefined);
});

Deno.test("writtenBy() answers what one writer wrote that is still current", () => {
  let t = 1000;
  const [a, b] = pair(() => t);
  a.update({ avi: { device: { volume: 3, lamp: "on" } } });
  t++;
  b.update({ avi: { device: { volume: 4, fan: {} } } });
  syncAll(a, b);
  assert.deepEqual(a.writtenBy("A"), { avi: { device: { lamp: "on" } } });
  assert.deepEqual(a.writtenBy("B"), {
    avi: { device: { volume: 4, fan: {} } },
  });
  assert.deepEqual(a.writtenBy("nobody"), {});
});

Deno.test("retireWriters() forgets an older epoch of a peer once nothing of it is kept", () => {
  const old = new ContextDoc({ replicaId: "P/0001" });
  const now = new ContextDoc({ replicaId: "P/0002" });
  const other = new ContextDoc({ replicaId: "Q/0001" });
  const early = [old.set("avi.x", 1).delta!, old.set("avi.y", 1).delta!];
  for (const d of early) {
    now.merge(d);
    other.merge(d);
  }
  // P/0001 still holds avi.y: it stays.
  const dx = now.set("avi.x", 2).delta!;
  other.merge(dx);
  assert.equal(other.retireWriters(), 0);
  assert.deepEqual(Object.keys(other.version()).sort(), ["P/0001", "P/0002"]);
  // Once its last kept change is superseded, it goes; the document stays.
  other.merge(now.set("avi.y", 2).delta!);
  const before = other.get();
  assert.equal(other.retireWriters(), 1);
  assert.deepEqual(Object.keys(other.version()), ["P/0002"]);
  assert.deepEqual(other.get(), before);
  // A late copy of its old change merges without changing the document.
  other.merge(early[0]);
  assert.deepEqual(other.get(), before);
  // The newest epoch of a peer, and another peer's only epoch, never go.
  assert.equal(new ContextDoc({ replicaId: "Q/0002" }).retireWriters(), 0);
});

Deno.test("view(): an older scalar arriving late hides older keys under a kept object, and the view shows it", () => {
  let t = 1000;
  const a = new ContextDoc({ replicaId: "A", now: () => t });
  const c = new ContextDoc({ replicaId: "C", now: () => t });
  const r = new ContextDoc({ replicaId: "R", now: () => t });
  const d1 = a.set("home.b.c", 1).delta!;
  t = 2000;
  const d2 = c.set("home", 5).delta!; // older than d3, arrives last
  t = 3000;
  const d3 = a.set("home.b.d", 2).delta!;
  r.merge(d1);
  assert.deepEqual(r.view().home, { b: { c: 1 } });
  r.merge(d3);
  assert.deepEqual(r.view().home, { b: { c: 1, d: 2 } });
  r.merge(d2); // home.b is kept (newer), home.b.c goes (older than home = 5)
  assert.deepEqual(r.get("home"), { b: { d: 2 } });
  assert.deepEqual(r.view(), r.toJSON());
});
