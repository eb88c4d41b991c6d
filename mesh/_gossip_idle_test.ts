import assert from "node:assert/strict";
import {
  emitGossip,
  GOSSIP_IDLE_WRITTEN_FOR,
  patchGossipIdle,
} from "./_gossip_idle.ts";
import { assertWrittenFor } from "../tests/support/written_for.ts";
import { RUNTIME } from "./node.ts";
import { startNode } from "../tests/support/mesh_fixture.ts";

Deno.test("gossip idle: the adjustment was written for the installed @libp2p/gossipsub", async () => {
  await assertWrittenFor(GOSSIP_IDLE_WRITTEN_FOR);
});

Deno.test("gossip idle: a running node's GossipSub uses it; no history lookup or shuffle when nobody is there to gossip to", async () => {
  const node = await startNode({ enableKad: false });
  try {
    const pubsub = node[RUNTIME]().libp2p.services.pubsub as unknown as {
      emitGossip: unknown;
    };
    assert.equal(pubsub.emitGossip, emitGossip);
    patchGossipIdle(pubsub); // idempotent
    let lookups = 0;
    const emitted: string[] = [];
    const fake = {
      mcache: {
        getGossipIDs: (topics: Set<string>) => {
          lookups++;
          return new Map([...topics].map((t) => [t, [new Uint8Array([1])]]));
        },
      },
      doEmitGossip: (topic: string) => emitted.push(topic),
    };
    emitGossip.call(fake, new Map([["a", new Set()], ["b", new Set()]]));
    assert.equal(lookups, 0);
    assert.deepEqual(emitted, []);
    emitGossip.call(fake, new Map([["a", new Set()], ["b", new Set(["p"])]]));
    assert.equal(lookups, 1);
    assert.deepEqual(emitted, ["b"]);
  } finally {
    await node.shutdown();
  }
});
