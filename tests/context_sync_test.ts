// ContextSync over the in-memory fixture network (loss, duplication,
// reordering, partitions, restarts). The real-mesh proof is in
// tests/context_mesh_test.ts.
import assert from "node:assert/strict";
import { encode } from "../context/_msgpack.ts";
import { ContextSync, type ContextSyncOptions } from "../context/sync.ts";
import { MemoryContextStore } from "../context/store.ts";
import { FileContextStore } from "../context/file_store.ts";
import { encodeDelta } from "../context/delta.ts";
import { jsonEqual } from "../context/doc.ts";
import { compareVersions } from "../context/version_vector.ts";
import type { ContextUpdatedEvent } from "../core/events.ts";
import type { PrivateKey } from "@libp2p/interface";
import {
  MemoryNetwork,
  type MemoryTransport,
} from "./support/context_fixture.ts";
import { until } from "./support/wait.ts";

interface Node {
  sync: ContextSync;
  transport: MemoryTransport;
  events: ContextUpdatedEvent[];
}

async function node(
  net: MemoryNetwork,
  extra: Partial<ContextSyncOptions> = {},
  key?: PrivateKey,
): Promise<Node> {
  const transport = await net.join(key);
  const events: ContextUpdatedEvent[] = [];
  const sync = new ContextSync({
    transport,
    emit: (e) => events.push(e),
    antiEntropyIntervalMs: 40,
    connectSyncDelayMs: 5,
    ...extra,
  });
  await sync.start();
  return { sync, transport, events };
}

const same = (nodes: Node[]) => {
  const first = nodes[0].sync.getContext();
  return nodes.every((n) =>
    jsonEqual(n.sync.getContext()!, first!) &&
    compareVersions(n.sync.version(), nodes[0].sync.version()) === "equal"
  );
};

async function stopAll(net: MemoryNetwork, nodes: Node[]) {
  for (const n of nodes) await n.sync.stop();
  net.close();
}

Deno.test("ContextSync: five nodes converge under loss, duplication and reordering", async () => {
  const net = new MemoryNetwork({
    seed: 7,
    drop: 0.3,
    duplicate: 0.3,
    maxDelayMs: 15,
  });
  const nodes = await Promise.all([0, 1, 2, 3, 4].map(() => node(net)));
  try {
    await Promise.all(nodes.map(async (n, i) => {
      for (let k = 0; k < 20; k++) {
        await n.sync.updateContext({
          avi: { device: { audio: { volume: i * 100 + k } } },
        });
        await n.sync.setPath(`avi.device.n${i}`, k);
        if (k % 5 === 0) await n.sync.deletePath(`avi.device.n${(i + 1) % 5}`);
      }
    }));
    await until(() => same(nodes), 15_000, "convergence");
    const doc = nodes[0].sync.getContext() as {
      avi: { device: Record<string, unknown> };
    };
    assert.equal(
      typeof (doc.avi.device.audio as { volume: number }).volume,
      "number",
    );
    // Each node's writes are attributed to it (n{i} is only set by node i).
    for (let i = 0; i < 5; i++) {
      const mine = nodes[1].sync.getPeerContext(
        nodes[i].transport.localPeerId,
      ) as {
        avi?: { device?: Record<string, unknown> };
      };
      assert.equal(mine.avi?.device?.[`n${i}`], doc.avi.device[`n${i}`]);
      for (const k of Object.keys(mine.avi?.device ?? {})) {
        assert.ok(
          k === `n${i}` || k === "audio",
          `node ${i} credited with ${k}`,
        );
      }
    }
    const remoteEvents = nodes[0].events.filter((e) =>
      e.peerId !== nodes[0].transport.localPeerId
    );
    assert.ok(remoteEvents.length > 0);
    assert.ok(remoteEvents.every((e) => e.changedPaths.length > 0));
  } finally {
    await stopAll(net, nodes);
  }
});

Deno.test("ContextSync: an update made with no peer connected is sent when one connects", async () => {
  const net = new MemoryNetwork();
  const a = await node(net);
  try {
    await a.sync.updateContext({ avi: { device: { lights: "on" } } });
    assert.ok(a.sync.stats().publishFailures >= 1);
    const b = await node(net);
    try {
      await until(() => same([a, b]), 15_000, "late joiner");
      assert.equal(b.sync.getContext("avi.device.lights"), "on");
      assert.deepEqual(b.sync.getPeerContext(a.transport.localPeerId), {
        avi: { device: { lights: "on" } },
      });
      const ev = b.events.at(-1)!;
      assert.equal(ev.peerId, a.transport.localPeerId);
      assert.deepEqual(ev.changedPaths, ["avi.device.lights"]);
    } finally {
      await b.sync.stop();
    }
  } finally {
    await a.sync.stop();
    net.close();
  }
});

Deno.test("ContextSync: a partitioned node heals; relayed deltas keep their writer", async () => {
  const net = new MemoryNetwork({ seed: 3 });
  const nodes = await Promise.all([0, 1, 2].map(() => node(net)));
  const [a, b, c] = nodes;
  try {
    await until(() => same(nodes), 15_000, "start");
    // a | b c
    net.partition((id) => (id === a.transport.localPeerId ? 1 : 2));
    await a.sync.setPath("avi.device.a", 1);
    await b.sync.setPath("avi.device.b", 2);
    await c.sync.setPath("avi.device.b", 3);
    await until(() => same([b, c]), 15_000, "b and c");
    assert.equal(a.sync.getContext("avi.device.b"), undefined);
    // a talks only to b; c must get a's write relayed through b.
    net.partition((id) => (id === c.transport.localPeerId ? 2 : 1));
    await until(() => same([a, b]), 15_000, "a and b");
    net.heal();
    await until(() => same(nodes), 15_000, "all three");
    assert.equal(c.sync.getContext("avi.device.a"), 1);
    assert.deepEqual(c.sync.getPeerContext(a.transport.localPeerId), {
      avi: { device: { a: 1 } },
    });
    assert.equal(c.sync.stats().rejectedForged, 0);
  } finally {
    await stopAll(net, nodes);
  }
});

Deno.test("ContextSync rejects and counts forged, oversized and malformed deltas", async () => {
  const net = new MemoryNetwork();
  const a = await node(net, { maxDeltaBytes: 4096, maxMessageBytes: 8192 });
  const evil = await net.join();
  const victim = await net.join();
  try {
    await until(
      () => a.transport.connectedPeers().length === 2,
      15_000,
      "peers",
    );
    // Forged: evil claims victim wrote it, signs with its own key.
    const forged = encodeDelta({
      writer: victim.localPeerId,
      seq: 1,
      wall: Date.now(),
      counter: 0,
      entries: [{
        path: ["avi", "device", "door"],
        kind: "set",
        value: "open",
      }],
    });
    await evil.publish(
      "avi-context/1",
      encode([1, [[forged, await evil.sign(forged)]], null]),
    );
    // Oversized delta, oversized message, garbage.
    const big = encodeDelta({
      writer: evil.localPeerId,
      seq: 1,
      wall: Date.now(),
      counter: 0,
      entries: [{ path: ["x"], kind: "set", value: "y".repeat(5000) }],
    });
    await evil.publish(
      "avi-context/1",
      encode([1, [[big, await evil.sign(big)]], null]),
    );
    await evil.publish("avi-context/1", new Uint8Array(9000));
    await evil.publish("avi-context/1", new Uint8Array([0xc1, 0xff]));
    await evil.publish("avi-context/1", encode([1, [["not bytes"]], null]));
    await until(
      () => {
        const s = a.sync.stats();
        return s.rejectedForged === 1 && s.rejectedTooLarge === 2 &&
          s.rejectedMalformed === 2;
      },
      15_000,
      "rejection counters",
    );
    // A genuine delta by evil, signed by evil, is accepted.
    const ok = encodeDelta({
      writer: evil.localPeerId,
      seq: 1,
      wall: Date.now(),
      counter: 0,
      entries: [{ path: ["avi", "device", "ok"], kind: "set", value: true }],
    });
    await evil.publish(
      "avi-context/1",
      encode([1, [[ok, await evil.sign(ok)]], null]),
    );
    await until(
      () => a.sync.getContext("avi.device.ok") === true,
      15_000,
      "genuine delta",
    );
    assert.equal(a.sync.getContext("avi.device.door"), undefined);
  } finally {
    await a.sync.stop();
    net.close();
  }
});

Deno.test("ContextSync canWrite: a writer may only write the paths it is allowed", async () => {
  const net = new MemoryNetwork();
  const gateway = await node(net);
  const gid = gateway.transport.localPeerId;
  const home = await node(net, {
    canWrite: (writer, path) =>
      writer !== gid || path.startsWith("avi.sensors."),
  });
  try {
    await gateway.sync.setPath("avi.sensors.d1.temp", 21);
    await gateway.sync.setPath("avi.device.volume", 99);
    await until(
      () => home.sync.getContext("avi.sensors.d1.temp") === 21,
      15_000,
      "sensor write",
    );
    await until(
      () => home.sync.stats().rejectedUnauthorized > 0,
      15_000,
      "refusal",
    );
    assert.equal(home.sync.getContext("avi.device.volume"), undefined);
  } finally {
    await gateway.sync.stop();
    await home.sync.stop();
    net.close();
  }
});

Deno.test("ContextSync: a node stopped, updated past and restarted from its store catches up", async () => {
  const dir = await Deno.makeTempDir();
  const net = new MemoryNetwork({ seed: 11, drop: 0.2 });
  const a = await node(net);
  const b0 = await node(net, { store: new FileContextStore({ dir }) });
  const secret = b0.transport.privateKey;
  let b = b0;
  try {
    await b0.sync.setPath("avi.device.mine", "kept");
    await b0.sync.setPath("avi.device.gone", 1);
    await b0.sync.deletePath("avi.device.gone");
    await until(() => same([a, b0]), 15_000, "first sync");
    await b0.sync.stop();
    net.leave(b0.transport);
    await a.sync.setPath("avi.device.while", "away");
    await a.sync.setPath("avi.device.mine", "overwritten");
    b = await node(net, { store: new FileContextStore({ dir }) }, secret);
    assert.equal(b.transport.localPeerId, b0.transport.localPeerId);
    assert.equal(
      b.sync.getContext("avi.device.gone"),
      undefined,
      "not resurrected",
    );
    await until(() => same([a, b]), 15_000, "catch-up");
    assert.equal(b.sync.getContext("avi.device.while"), "away");
    // The restarted writer continues its sequence: a new write is not a duplicate.
    await b.sync.setPath("avi.device.back", true);
    await until(
      () => a.sync.getContext("avi.device.back") === true,
      15_000,
      "new write after restart",
    );
  } finally {
    await a.sync.stop();
    await b.sync.stop();
    net.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ContextSync methods before start() throw NotStartedError; bounds are checked", async () => {
  const net = new MemoryNetwork();
  const sync = new ContextSync({ transport: await net.join(), emit: () => {} });
  assert.throws(
    () => sync.getContext(),
    (e: Error) => e.name === "NotStartedError",
  );
  await assert.rejects(
    sync.updateContext({}),
    (e: Error) => e.name === "NotStartedError",
  );
  const transport = await net.join();
  for (
    const bad of [
      { antiEntropyIntervalMs: 0 },
      { maxDeltaBytes: -1 },
      { tombstoneHorizonMs: 0 },
      { connectSyncDelayMs: -1 },
      { maxClockSkewMs: -5 },
      { maxDeltaBytes: 65_536, maxMessageBytes: 65_536 },
    ]
  ) {
    assert.throws(
      () => new ContextSync({ transport, emit: () => {}, ...bad }),
      RangeError,
    );
  }
  const store = new MemoryContextStore();
  const s2 = new ContextSync({
    transport: await net.join(),
    emit: () => {},
    store,
  });
  await s2.start();
  await assert.rejects(
    s2.updateContext({ "a.b": 1 }),
    (e: Error) => e.name === "InvalidPathError",
  );
  await s2.updateContext({ a: 1 });
  assert.ok(store.saves + store.appends >= 1);
  await s2.stop();
  net.close();
});

Deno.test("ContextSync collects a tombstone once every node has seen it, and it stays deleted", async () => {
  const net = new MemoryNetwork({ seed: 2 });
  const nodes = await Promise.all([0, 1, 2].map(() => node(net)));
  const [a, b, c] = nodes;
  try {
    await a.sync.setPath("avi.device.timer", 5);
    await until(() => same(nodes), 15_000, "the write");
    await b.sync.deletePath("avi.device.timer");
    await until(() => same(nodes), 15_000, "the delete");
    // Not collectable yet: the delete still marks its parents as objects.
    assert.ok(nodes.every((n) => n.sync.stats().tombstones === 1));
    await c.sync.setPath("avi.device.other", 1); // a later write under the parent
    await until(() => same(nodes), 15_000, "the later write");
    await until(
      () => nodes.every((n) => n.sync.stats().tombstonesCollected === 1),
      15_000,
      "collection on every node",
    );
    assert.ok(nodes.every((n) => n.sync.stats().tombstones === 0));
    assert.equal(a.sync.getContext("avi.device.timer"), undefined);
    // A late joiner learns the same document (nothing comes back).
    const late = await node(net);
    await until(() => same([...nodes, late]), 15_000, "late joiner");
    assert.equal(late.sync.getContext("avi.device.timer"), undefined);
    await late.sync.stop();
  } finally {
    await stopAll(net, nodes);
  }
});

Deno.test("ContextSync: answers split over several messages still let a late joiner catch up fully", async () => {
  const net = new MemoryNetwork({ seed: 4 });
  const small = { maxDeltaBytes: 1024, maxMessageBytes: 2048 };
  const a = await node(net, small);
  try {
    // 80 keys, each written twice: half of the deltas are superseded (gaps).
    for (let i = 0; i < 80; i++) {
      await a.sync.setPath(`avi.device.k${i}`, `first ${i}`);
      if (i > 0) {
        await a.sync.setPath(`avi.device.k${i - 1}`, `second ${i - 1}`);
      }
    }
    const late = await node(net, small);
    try {
      await until(
        () => same([a, late]),
        15_000,
        "late joiner, document and version",
      );
      assert.equal(late.sync.getContext("avi.device.k10"), "second 10");
    } finally {
      await late.sync.stop();
    }
  } finally {
    await a.sync.stop();
    net.close();
  }
});
