import assert from "node:assert/strict";
import {
  createPeerScoreParams,
  createTopicScoreParams,
  PeerScore,
} from "@libp2p/gossipsub/score";
import {
  GOSSIP_RECORDS_WRITTEN_FOR,
  patchGossipRecords,
} from "./_gossip_records.ts";
import { RUNTIME } from "./node.ts";
import type { AviP2p } from "./node.ts";
import { assertWrittenFor } from "../tests/support/written_for.ts";
import { houseOfThree, shutdownAll } from "../tests/support/mesh_fixture.ts";

Deno.test("gossip records: the adjustment was written for the installed @libp2p/gossipsub", async () => {
  await assertWrittenFor(GOSSIP_RECORDS_WRITTEN_FOR);
});

interface ScoreInternals {
  deliveryRecords: { records: Map<string, unknown> };
  peerStats: Map<
    string,
    { topics: Record<string, Record<string, number | boolean>> }
  >;
  addPeer(id: string): void;
  graft(id: string, topic: string): void;
  validateMessage(id: string): void;
  deliverMessage(from: string, id: string, topic: string): void;
  duplicateMessage(from: string, id: string, topic: string): void;
  rejectMessage(from: string, id: string, topic: string, r: string): void;
}

/**
 * A peer score that scores topic "s" (or nothing); with the adjustment if
 * `patched`.
 */
function score(patched: boolean, scoreS = true): ScoreInternals {
  const log = Object.assign(() => {}, {
    error: () => {},
    trace: () => {},
    enabled: false,
  });
  const s = new PeerScore(
    createPeerScoreParams({
      topics: scoreS ? { s: createTopicScoreParams({ topicWeight: 1 }) } : {},
    }),
    null,
    { forComponent: () => log } as never,
    { scoreCacheValidityMs: 0 },
  ) as unknown as ScoreInternals;
  if (patched) patchGossipRecords({ score: s });
  for (const p of ["p1", "p2", "p3"]) {
    s.addPeer(p);
    s.graft(p, "s");
    s.graft(p, "u");
  }
  return s;
}

/** The same message traffic on a scored ("s") and an unscored ("u") topic. */
function traffic(s: ScoreInternals): void {
  for (const t of ["s", "u"]) {
    for (let i = 0; i < 5; i++) {
      const id = `${t}${i}`;
      s.validateMessage(id);
      s.duplicateMessage("p2", id, t); // a copy while it is being checked
      s.deliverMessage("p1", id, t);
      s.duplicateMessage("p3", id, t);
    }
    s.validateMessage(`${t}-bad`);
    s.rejectMessage("p1", `${t}-bad`, t, "reject");
    s.duplicateMessage("p2", `${t}-bad`, t);
    s.validateMessage(`${t}-ignored`);
    s.rejectMessage("p3", `${t}-ignored`, t, "ignore");
  }
}

Deno.test("gossip records: a scored topic keeps the package's counters and records", () => {
  const theirs = score(false);
  const ours = score(true);
  patchGossipRecords({ score: ours }); // idempotent
  traffic(theirs);
  traffic(ours);
  for (const p of ["p1", "p2", "p3"]) {
    const stats = (s: ScoreInternals) => {
      const { meshTime: _m, graftTime: _g, ...rest } = s.peerStats.get(p)!
        .topics.s;
      return rest;
    };
    assert.deepEqual(stats(ours), stats(theirs), p);
  }
  // p1 delivered five first, one invalid; p2 and p3 sent copies
  const p1 = ours.peerStats.get("p1")!.topics.s;
  assert.equal(p1.firstMessageDeliveries, 5);
  assert.equal(p1.invalidMessageDeliveries, 1);
  assert.ok(
    (ours.peerStats.get("p3")!.topics.s.meshMessageDeliveries as number) > 0,
  );
  const scored = (s: ScoreInternals) =>
    [...s.deliveryRecords.records.keys()].filter((k) => k.startsWith("s"));
  assert.equal(scored(theirs).length, 7);
  assert.deepEqual(scored(ours), scored(theirs));
});

Deno.test("gossip records: while no topic is scored, no message leaves a record", () => {
  const theirs = score(false, false);
  const ours = score(true, false);
  traffic(theirs);
  traffic(ours);
  assert.equal(theirs.deliveryRecords.records.size, 14);
  assert.equal(ours.deliveryRecords.records.size, 0);
});

Deno.test("gossip records: in a house of three, messages and their relayed copies leave no delivery record", async () => {
  const TOPIC = "records/t";
  const N = 20;
  let a: AviP2p | undefined, b: AviP2p | undefined, c: AviP2p | undefined;
  try {
    [a, b, c] = await houseOfThree(TOPIC);
    const nodes = [a, b, c];
    const pubsub = (n: AviP2p) =>
      n[RUNTIME]().libp2p.services.pubsub as unknown as {
        score: ScoreInternals;
      };
    const events = [b, c].map((n) => n.events()[Symbol.asyncIterator]());
    for (let i = 0; i < N; i++) {
      await a.handle().publish(TOPIC, new Uint8Array([i]));
    }
    for (const it of events) {
      for (;;) {
        const { value } = await it.next();
        if (value.type === "message" && value.data[0] === N - 1) break;
      }
    }
    for (const n of nodes) {
      assert.equal(pubsub(n).score.deliveryRecords.records.size, 0);
    }
  } finally {
    await shutdownAll(a, b, c);
  }
});
