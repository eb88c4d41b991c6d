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
  publishAndAwaitLast,
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

/**
 * Sets and maps as sorted arrays, bytes as arrays, and object fields that
 * are `undefined` left out (absent from the protobuf encoding alike), for
 * comparing results.
 */
function plain(v: unknown): unknown {
  if (v instanceof Set) return [...v].sort();
  if (v instanceof Map) {
    return [...v].map(([k, x]) => [plain(k), plain(x)]).sort();
  }
  if (v instanceof Uint8Array) return [...v];
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(
      Object.entries(v).filter(([, x]) => x !== undefined).map((
        [k, x],
      ) => [k, plain(x)]),
    );
  }
  return v;
}

const bytes = fc.option(fc.uint8Array({ maxLength: 70 }), {
  nil: undefined,
});
/** The byte fields of a message: any of them absent or `undefined`. */
const fields = fc.record({
  from: bytes,
  data: bytes,
  seqno: bytes,
  signature: bytes,
  key: bytes,
}, { requiredKeys: [] });

const op = fc.oneof(
  fc.record({
    k: fc.constant("put"),
    id: fc.nat(5),
    topic: fc.constantFrom("a", "b"),
    validated: fc.boolean(),
    fields,
    // a message with something packing does not keep is kept as given
    odd: fc.boolean(),
  }),
  fc.record({ k: fc.constant("get"), id: fc.nat(5) }),
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
  fields?: Record<string, Uint8Array | undefined>;
  odd?: boolean;
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
        { topic: o.topic, ...o.fields, ...(o.odd ? { extra: 1 } : {}) },
        o.validated,
      );
    case "get":
      return c.get(msgId);
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

Deno.test("message cache: the same results as the package's own, from one packed array per entry", async () => {
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
    // an entry is one packed array (no message object, no id array) and,
    // while nobody sent a copy of it or asked for it, neither collection
    const c = new Pristine(3, 5, msgIdToStr);
    patchMessageCache({ mcache: c });
    const msgId = new Uint8Array([1]);
    c.put({ msgId, msgIdStr: msgIdToStr(msgId) }, {
      topic: "a",
      data: new Uint8Array([1, 2]),
      key: undefined,
    }, true);
    const entry = c.msgs.get(msgIdToStr(msgId))!;
    assert.ok(entry.packed instanceof Uint8Array);
    assert.equal(entry.message, undefined);
    assert.equal(entry.msgId, undefined);
    assert.ok(!("originatingPeers" in entry) && !("iwantCounts" in entry));
    // and a cache that already holds messages is not adjusted under them
    assert.throws(() => patchMessageCache({ mcache: c }), /already holds/);
  } finally {
    await node.shutdown();
  }
});

Deno.test("message cache: in a running house, sent, received and relayed messages are cached packed, without the empty collections", async () => {
  const TOPIC = "mcache/t";
  let a: AviP2p | undefined, b: AviP2p | undefined, c: AviP2p | undefined;
  try {
    [a, b, c] = await houseOfThree(TOPIC);
    await publishAndAwaitLast(a, b, TOPIC);
    for (const n of [a, b, c]) {
      const { mcache } = n[RUNTIME]().libp2p.services.pubsub as unknown as {
        mcache: Cache;
      };
      await until(() => mcache.msgs.size >= 10, 5_000, "ten cached");
      for (const e of mcache.msgs.values()) {
        assert.ok(e.packed instanceof Uint8Array);
        assert.equal(e.message, undefined);
        assert.equal(e.originatingPeers, undefined);
        assert.equal(e.iwantCounts, undefined);
      }
    }
  } finally {
    await shutdownAll(a, b, c);
  }
});
