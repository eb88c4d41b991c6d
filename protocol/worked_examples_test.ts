import assert from "node:assert/strict";
import { workedExamples } from "./_worked_examples.ts";

Deno.test("docs/PROTOCOL.md worked examples match what the code produces", async () => {
  const doc = await Deno.readTextFile(
    new URL("../docs/PROTOCOL.md", import.meta.url),
  );
  const ex = workedExamples();
  assert.ok(Object.keys(ex).length >= 15);
  for (const [name, hex] of Object.entries(ex)) {
    assert.ok(doc.includes(hex), `example ${name} is missing or stale`);
  }
});
