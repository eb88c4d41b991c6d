import assert from "node:assert/strict";
import fc from "fast-check";
import {
  MESSAGE_CACHE_WRITTEN_FOR,
  patchMessageCache,
} from "./_message_cache.ts";
import { msgIdToStr } from "./_msg_id.ts";
import { type AviP2p, RUNTIME } from "./node.ts";
import { assertWrittenFor } from "../tests/support/written_for.ts";
import {
  houseOfThree,
  shutdownAll,
  startNode,
} from "../tests/support/mesh_fixture.ts";
import { until } from "../tests/support/wait.ts";

type Cache = Record<string, (...a: unknown[]) => unknown> & {
  msgs: Map<string, Record<string, unknown>>;
  size: number;
  notValidatedCount: number;
};

Deno.test("message cache: the adjustment was written for the installed @libp2p/gossipsub", async () => {
  await assertWrittenFor(MESSAGE_CACHE_WRITTEN_FOR);
});

/** Sets and maps as sorted arrays, for comparing results. */
function plain(v: unknown): unknown {
  if (v instanceof Set) return [...v].sort();
  if (v instanceof Map) {
    return [...v].map(([k, x]) => [plain(k), plain(x)]).sort();
  }
  if (v instanceof Uint8Array) return [...v];
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(
      Object.entries(v).map(([k, x]) => [k, plain(x)]),
    );
  }
  return v;
}

const op = fc.oneof(
  fc.record({
    k: fc.constant("put"),
    id: fc.nat(5),
    topic: fc.constantFrom("a", "b"),
    validated: fc.boolean(),
  }),
  fc.record({ k: fc.constant("dup"), id: fc.nat(5), peer: fc.nat(2) }),
  fc.record({ k: fc.constant("iwant"), id: fc.nat(5), peer: fc.nat(2) }),
  fc.record({ k: fc.constant("validate"), id: fc.nat(5) }),
  fc.record({ k: fc.constant("remove"), id: fc.nat(5) }),
  fc.record({ k: fc.constant("shift") }),
  fc.record({ k: fc.constant("gossip") }),
);
type Op = {
  k: string;
  id?: number;
  topic?: string;
  validated?: boolean;
  peer?: number;
};

function run(c: Cache, o: Op): unknown {
  const msgId = new Uint8Array([o.id ?? 0, 7]);
  const msgIdStr = msgIdToStr(msgId);
  const peer = `peer${o.peer}`;
  switch (o.k) {
    case "put":
      return c.put(
        { msgId, msgIdStr },
        { topic: o.topic, data: msgId },
        o
          .validated,
      );
    case "dup":
      return c.observeDuplicate(msgIdStr, peer);
    case "iwant":
      return c.getWithIWantCount(msgIdStr, peer);
    case "validate":
      return c.validate(msgIdStr);
    case "remove": {
      const e = c.remove(msgIdStr) as Record<string, unknown> | null;
      // what callers read of a removed entry
      return e && {
        message: e.message,
        validated: e.validated,
        originatingPeers: e.originatingPeers,
        iwantCounts: e.iwantCounts,
      };
    }
    case "shift":
      return c.shift();
    default:
      return c.getGossipIDs(new Set(["a", "b"]));
  }
}

Deno.test("message cache: the same results as the package's own, without an empty Set and Map per entry", async () => {
  const node = await startNode({ enableKad: false });
  try {
    const pubsub = node[RUNTIME]().libp2p.services.pubsub as unknown as {
      mcache: Cache;
    };
    // the node's cache has the adjustment; its class is the package's own
    assert.ok(Object.hasOwn(pubsub.mcache, "put"));
    const Pristine = Object.getPrototypeOf(pubsub.mcache).constructor as new (
      gossip: number,
      length: number,
      toStr: (id: Uint8Array) => string,
    ) => Cache;
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const theirs = new Pristine(3, 5, msgIdToStr);
        const ours = new Pristine(3, 5, msgIdToStr);
        patchMessageCache({ mcache: ours });
        for (const o of ops) {
          assert.deepEqual(plain(run(ours, o)), plain(run(theirs, o)), o.k);
          assert.equal(ours.size, theirs.size);
          assert.equal(ours.notValidatedCount, theirs.notValidatedCount);
        }
      }),
      { numRuns: 400 },
    );
    // an entry nobody sent a copy of or asked for holds neither collection
    const c = new Pristine(3, 5, msgIdToStr);
    patchMessageCache({ mcache: c });
    const msgId = new Uint8Array([1]);
    c.put({ msgId, msgIdStr: msgIdToStr(msgId) }, { topic: "a" }, true);
    assert.deepEqual(Object.keys(c.msgs.get(msgIdToStr(msgId))!).sort(), [
      "message",
      "validated",
    ]);
  } finally {
    await node.shutdown();
  }
});

Deno.test("message cache: in a running house, sent, received and relayed messages are cached without the empty collections", async () => {
  const TOPIC = "mcache/t";
  let a: AviP2p | undefined, b: AviP2p | undefined, c: AviP2p | undefined;
  try {
    [a, b, c] = await houseOfThree(TOPIC);
    const events = b.events()[Symbol.asyncIterator]();
    for (let i = 0; i < 10; i++) {
      await a.handle().publish(TOPIC, new Uint8Array([i]));
    }
    for (;;) {
      const { value } = await events.next();
      if (value.type === "message" && value.data[0] === 9) break;
    }
    for (const n of [a, b, c]) {
      const { mcache } = n[RUNTIME]().libp2p.services.pubsub as unknown as {
        mcache: Cache;
      };
      await until(() => mcache.msgs.size >= 10, 5_000, "ten cached");
      for (const e of mcache.msgs.values()) {
        assert.equal(e.originatingPeers, undefined);
        assert.equal(e.iwantCounts, undefined);
      }
    }
  } finally {
    await shutdownAll(a, b, c);
  }
});
