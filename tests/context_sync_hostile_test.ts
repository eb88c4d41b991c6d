// ContextSync against a hostile neighbour speaking the direct anti-entropy
// messages itself, over the in-memory fixture network with real Ed25519
// signatures (issue 10, findings 1, 4, 5 and 9). The same attacks over
// gossip on real libp2p nodes are in tests/context_hostile_test.ts.
import assert from "node:assert/strict";
import { decode, encode } from "../context/_msgpack.ts";
import { ContextSync, type ContextSyncOptions } from "../context/sync.ts";
import { encodeDelta } from "../context/delta.ts";
import { MemoryContextStore } from "../context/store.ts";
import { TooLargeError } from "../core/errors.ts";
import {
  MemoryNetwork,
  type MemoryTransport,
} from "./support/context_fixture.ts";
import { until } from "./support/wait.ts";

async function node(
  net: MemoryNetwork,
  extra: Partial<ContextSyncOptions> = {},
): Promise<{ sync: ContextSync; transport: MemoryTransport }> {
  const transport = await net.join();
  const sync = new ContextSync({
    transport,
    emit: () => {},
    antiEntropyIntervalMs: 40,
    connectSyncDelayMs: 5,
    ...extra,
  });
  await sync.start();
  return { sync, transport };
}

/** A member that runs no ContextSync: it sends what it likes, and records what it gets. */
async function attacker(net: MemoryNetwork) {
  const transport = await net.join();
  const got: Uint8Array[] = [];
  transport.onDirect((m) => got.push(m.data));
  return { transport, got };
}

Deno.test("ContextSync: a neighbour's range claim is capped at the writer's newest signed change", async () => {
  const net = new MemoryNetwork();
  const w = await node(net);
  const v = await node(net);
  const evil = await attacker(net);
  try {
    await w.sync.setPath("avi.lamp", "before");
    await until(
      () => v.sync.getContext("avi.lamp") === "before",
      15_000,
      "first",
    );
    const writer = w.sync.writerId;
    // A bare claim, then one with a "head" that evil signed itself.
    await evil.transport.send(
      v.transport.localPeerId,
      encode([1, [], [writer, 0, Number.MAX_SAFE_INTEGER], 0, null]),
    );
    const fake = encodeDelta({
      writer,
      seq: 1_000_000,
      wall: Date.now(),
      counter: 0,
      entries: [{ path: ["avi", "x"], kind: "set", value: 1 }],
    });
    await evil.transport.send(
      v.transport.localPeerId,
      encode([1, [], [writer, 0, 1_000_000], 0, [
        fake,
        await evil.transport.privateKey.sign(fake),
      ]]),
    );
    await until(
      () => v.sync.stats().rejectedForged >= 1,
      15_000,
      "the fake head",
    );
    assert.equal(v.sync.version()[writer], 1);
    await w.sync.setPath("avi.lamp", "after");
    await until(
      () => v.sync.getContext("avi.lamp") === "after",
      15_000,
      "next",
    );
    assert.equal(v.sync.version()[writer], 2);
  } finally {
    await w.sync.stop();
    await v.sync.stop();
    net.close();
  }
});

Deno.test("ContextSync: a flood of digests gets few, bounded answers, to the asker alone", async () => {
  const net = new MemoryNetwork();
  const maxAnswerBytes = 32_768;
  const w = await node(net, { antiEntropyIntervalMs: 600_000 });
  const v = await node(net, { maxAnswerBytes, antiEntropyIntervalMs: 600_000 });
  const bystander = await attacker(net);
  const evil = await attacker(net);
  try {
    for (let i = 0; i < 300; i++) {
      await w.sync.setPath(`avi.k${i}`, "x".repeat(500));
    }
    await until(
      () => v.sync.getContext("avi.k299") !== undefined,
      15_000,
      "300",
    );
    await new Promise((r) => setTimeout(r, 50)); // connect-time digests settle
    bystander.got.length = 0;
    const digest = encode([2, []]);
    for (let i = 0; i < 50; i++) {
      await evil.transport.send(v.transport.localPeerId, digest);
    }
    await until(
      () => v.sync.stats().digestsDeferred >= 49,
      15_000,
      "the flood",
    );
    // One answer at once, then one for the latest deferred digest.
    await until(
      () =>
        evil.got.filter((m) => (decode(m) as number[])[0] === 1).length >= 2,
      15_000,
      "the deferred answer",
    );
    const answers = evil.got.filter((m) => (decode(m) as number[])[0] === 1);
    const bytes = answers.reduce((n, m) => n + m.length, 0);
    assert.ok(answers.length <= 3 * 2, `answer messages: ${answers.length}`);
    // Each answer holds at most maxAnswerBytes of deltas (plus one delta and framing).
    assert.ok(bytes <= 3 * (maxAnswerBytes + 2048), `bytes: ${bytes}`);
    assert.ok(v.sync.stats().answersCut >= 1);
    assert.equal(
      bystander.got.filter((m) => (decode(m) as number[])[0] === 1).length,
      0,
      "a bystander got offers",
    );
  } finally {
    await w.sync.stop();
    await v.sync.stop();
    net.close();
  }
});

Deno.test("ContextSync: state kept per peer is bounded, and dropped when the peer goes", async () => {
  const net = new MemoryNetwork();
  const v = await node(net);
  const evil = await attacker(net);
  try {
    await v.sync.setPath("avi.a", 1);
    const rows: [string, number][] = [];
    for (let i = 0; i < 5_000; i++) rows.push([`forged-writer-${i}`, 5]);
    await evil.transport.send(v.transport.localPeerId, encode([2, rows]));
    await until(() => v.sync.stats().peerStates === 1, 15_000, "a peer state");
    net.partition((id) => id === evil.transport.localPeerId ? 1 : 0);
    await until(() => v.sync.stats().peerStates === 0, 15_000, "state dropped");
  } finally {
    await v.sync.stop();
    net.close();
  }
});

Deno.test("ContextSync: one writer's kept changes are bounded (maxWriterBytes)", async () => {
  const net = new MemoryNetwork();
  const w = await node(net, { maxWriterBytes: 1_000_000_000 });
  const v = await node(net, { maxWriterBytes: 8192 });
  try {
    for (let i = 0; i < 40; i++) {
      await w.sync.setPath(`avi.s${i}`, "y".repeat(500));
    }
    await until(() => v.sync.stats().rejectedQuota > 0, 15_000, "refusals");
    const kept = Object.keys(
      (v.sync.getContext("avi") as Record<string, unknown>) ?? {},
    ).filter((k) => k.startsWith("s")).length;
    assert.ok(kept < 40 && kept >= 8, `kept ${kept}`);
    // Locally, the writer is told at once.
    await assert.rejects(async () => {
      for (let i = 0; i < 40; i++) {
        await v.sync.setPath(`avi.t${i}`, "z".repeat(500));
      }
    }, TooLargeError);
    // A change that only deletes still passes.
    await v.sync.deletePath("avi.t0");
    assert.equal(v.sync.getContext("avi.t0"), undefined);
  } finally {
    await w.sync.stop();
    await v.sync.stop();
    net.close();
  }
});

Deno.test("ContextSync persistence: a change is one append to the log, not a rewrite; a restart replays it", async () => {
  const net = new MemoryNetwork();
  const store = new MemoryContextStore();
  const w = await node(net);
  const v = await node(net, { store });
  try {
    for (let i = 0; i < 50; i++) {
      await w.sync.setPath(`avi.sensors.s${i}`, "v".repeat(200));
    }
    await v.sync.setPath("avi.own", 1);
    await until(
      () => v.sync.getContext("avi.sensors.s49") !== undefined,
      15_000,
      "the writes",
    );
    assert.equal(store.saves, 0, "no snapshot rewritten");
    assert.ok(store.appends >= 51, `appends: ${store.appends}`);
    // A crash (no clean stop): the next start replays the log.
    const again = new ContextSync({
      transport: await net.join(),
      emit: () => {},
      store,
    });
    await again.start();
    try {
      assert.deepEqual(again.getContext(), v.sync.getContext());
    } finally {
      await again.stop();
    }
  } finally {
    await w.sync.stop();
    await v.sync.stop();
    net.close();
  }
});

Deno.test("ContextSync: a node restarted many times does not grow every version vector", async () => {
  const net = new MemoryNetwork();
  const store = new MemoryContextStore();
  const v = await node(net);
  const key = await (await net.join()).privateKey;
  try {
    for (let run = 0; run < 6; run++) {
      const transport = await net.join(key);
      const w = new ContextSync({
        transport,
        emit: () => {},
        store,
        antiEntropyIntervalMs: 40,
        connectSyncDelayMs: 5,
      });
      await w.start();
      await w.setPath("avi.volume", run);
      await until(
        () => v.sync.getContext("avi.volume") === run,
        15_000,
        `run ${run}`,
      );
      await w.stop();
      net.leave(transport);
    }
    // Only the newest epoch of that node still counts (with v's own).
    await until(
      () => Object.keys(v.sync.version()).length <= 2,
      15_000,
      "old epochs retired",
    );
  } finally {
    await v.sync.stop();
    net.close();
  }
});
