import assert from "node:assert/strict";
import { FileContextStore } from "./file_store.ts";
import { ContextDoc } from "./doc.ts";

Deno.test("FileContextStore load() is undefined before the first save", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.equal(
      await new FileContextStore({ dir: `${dir}/sub` }).load(),
      undefined,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FileContextStore saves atomically and survives a new instance (restart)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const store = new FileContextStore({ dir });
    const doc = new ContextDoc({ replicaId: "A" });
    doc.set("avi.device.volume", 7);
    doc.set("avi.device.lamp", "on");
    doc.delete("avi.device.lamp");
    // Concurrent saves: each completes; the last one wins; no temp file left.
    await Promise.all([
      store.save(new Uint8Array([1])),
      store.save(doc.snapshot()),
    ]);
    const names = [...Deno.readDirSync(dir)].map((e) => e.name);
    assert.deepEqual(names, ["context.bin"]);
    const again = new FileContextStore({ dir });
    const back = ContextDoc.restore((await again.load())!, { replicaId: "A" });
    assert.deepEqual(back.get(), doc.get());
    assert.equal(back.get("avi.device.lamp"), undefined);
    assert.deepEqual(back.version(), { A: 3 });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FileContextStore rejects a bad file name", () => {
  assert.throws(
    () => new FileContextStore({ dir: "/tmp", fileName: "a/b" }),
    TypeError,
  );
  assert.throws(() => new FileContextStore({ dir: "" }), TypeError);
});

Deno.test("FileContextStore log: records come back in order; save empties it; a torn or damaged tail is cut", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const store = new FileContextStore({ dir });
    await store.append(new Uint8Array([1]));
    await store.append(new Uint8Array([2, 2]));
    assert.deepEqual(await new FileContextStore({ dir }).loadLog(), [
      new Uint8Array([1]),
      new Uint8Array([2, 2]),
    ]);
    await store.save(new Uint8Array([9]));
    assert.deepEqual(await store.loadLog(), []);
    await store.append(new Uint8Array([3]));
    await store.append(new Uint8Array([4, 4, 4]));
    // A crash in the middle of an append: half a record at the end.
    const log = await Deno.readFile(store.logPath);
    await Deno.writeFile(store.logPath, log.subarray(0, log.length - 2));
    assert.deepEqual(await store.loadLog(), [new Uint8Array([3])]);
    // The tail was truncated on disk: a later append follows the good record.
    await store.append(new Uint8Array([5]));
    assert.deepEqual(await store.loadLog(), [
      new Uint8Array([3]),
      new Uint8Array([5]),
    ]);
    // One flipped byte in a record's body: it and what follows are dropped.
    const again = await Deno.readFile(store.logPath);
    again[12] ^= 1;
    await Deno.writeFile(store.logPath, again);
    assert.deepEqual(await store.loadLog(), []);
    assert.deepEqual(await store.load(), new Uint8Array([9]));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
