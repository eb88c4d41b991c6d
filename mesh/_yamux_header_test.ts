import assert from "node:assert/strict";
import fc from "fast-check";
import {
  encodeHeader,
  hasSlabHeaders,
  HEADER_BYTES,
  YAMUX_HEADER_WRITTEN_FOR,
} from "./_yamux_header.ts";
import { RUNTIME } from "./node.ts";
import { assertWrittenFor } from "../tests/support/written_for.ts";
import {
  pairOnTopic,
  publishAndAwaitLast,
  shutdownAll,
} from "../tests/support/mesh_fixture.ts";

Deno.test("yamux header: the adjustment was written for the installed @chainsafe/libp2p-yamux", async () => {
  await assertWrittenFor(YAMUX_HEADER_WRITTEN_FOR);
});

Deno.test("yamux header: the same 12 bytes as the package's encodeHeader, in a shared slab (fast-check)", async () => {
  const { encodeHeader: packageEncode } = await import(
    new URL(
      "encode.js",
      import.meta.resolve("@chainsafe/libp2p-yamux"),
    ).href
  ) as { encodeHeader(h: unknown): Uint8Array };
  fc.assert(
    fc.property(
      fc.record({
        type: fc.integer({ min: 0, max: 3 }),
        flag: fc.integer({ min: 0, max: 0xffff }),
        streamID: fc.integer({ min: 0, max: 0xffffffff }),
        length: fc.integer({ min: 0, max: 0xffffffff }),
      }),
      (h) => {
        const ours = encodeHeader(h);
        assert.equal(ours.length, HEADER_BYTES);
        assert.deepEqual([...ours], [...packageEncode(h)]);
      },
    ),
    { numRuns: 1000 },
  );
  const h = { type: 0, flag: 0, streamID: 1, length: 10 };
  assert.equal(encodeHeader(h).buffer, encodeHeader(h).buffer);
});

Deno.test("yamux header: between two real nodes, data frames go with slab headers and messages arrive", async () => {
  const TOPIC = "yamux-header/t";
  const [a, b] = await pairOnTopic(TOPIC);
  try {
    const [conn] = a[RUNTIME]().libp2p.getConnections();
    assert.ok(hasSlabHeaders(conn), "the muxer class is adjusted");
    await publishAndAwaitLast(a, b, TOPIC, 20);
  } finally {
    await shutdownAll(a, b);
  }
});
