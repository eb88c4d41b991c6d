import assert from "node:assert/strict";
import fc from "fast-check";
import { Uint8ArrayList as ListV3 } from "uint8arraylist";
import { Uint8ArrayList as ListV2 } from "uint8arraylist-v2";
import { CONSUME_WRITTEN_FOR, patchConsume } from "./_consume.ts";

/** The version of the `uint8arraylist` package that `spec` resolves to. */
async function versionOf(spec: string): Promise<string> {
  let dir = new URL(".", import.meta.resolve(spec));
  for (;;) {
    try {
      const pkg = JSON.parse(
        await Deno.readTextFile(new URL("package.json", dir)),
      );
      if (pkg.name === "uint8arraylist") return pkg.version;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    const up = new URL("..", dir);
    if (up.href === dir.href) throw new Error(`no package.json for ${spec}`);
    dir = up;
  }
}

Deno.test("consume: the adjustment was written for the installed uint8arraylist versions", async () => {
  for (const w of CONSUME_WRITTEN_FOR) {
    const installed = await versionOf(w.name);
    assert.equal(
      installed,
      w.version,
      `${w.name} is ${installed}, but ${w.adjustment} was written for ${w.version}: check it, then update CONSUME_WRITTEN_FOR and the pin in deno.json`,
    );
  }
});

Deno.test("consume: patched, it gives what the original gives (fast-check), on both versions", () => {
  patchConsume();
  for (const List of [ListV3, ListV2]) {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 0, maxLength: 9 }), {
          maxLength: 20,
        }),
        fc.array(fc.integer({ min: -3, max: 40 }), { maxLength: 6 }),
        (chunks, cuts) => {
          const list = new List(...chunks);
          let flat = new Uint8Array(chunks.flatMap((c) => [...c]));
          for (const cut of cuts) {
            list.consume(cut);
            if (cut > 0) flat = flat.subarray(Math.min(cut, flat.length));
            assert.equal(list.byteLength, flat.length);
            assert.deepEqual(list.subarray(), flat);
          }
        },
      ),
      { numRuns: 500 },
    );
  }
});

Deno.test("consume: whole buffers leave in one splice, never one shift() each (the quadratic case)", () => {
  patchConsume();
  for (const List of [ListV3, ListV2]) {
    const list = new List();
    for (let i = 0; i < 10_000; i++) list.append(new Uint8Array(1));
    const shift = Array.prototype.shift;
    let shifts = 0;
    Array.prototype.shift = function (this: unknown[]) {
      shifts++;
      return shift.call(this);
    };
    try {
      list.consume(9_999);
    } finally {
      Array.prototype.shift = shift;
    }
    assert.equal(shifts, 0);
    assert.equal(list.byteLength, 1);
  }
});
