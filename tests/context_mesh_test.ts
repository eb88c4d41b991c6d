// The shared context over real libp2p nodes on 127.0.0.1: five nodes update
// concurrently and converge; a node stopped, updated past and restarted
// catches up; a partitioned node heals.
import assert from "node:assert/strict";
import type { AviP2p } from "../mesh/mod.ts";
import type {
  AviEvent,
  ContextUpdatedEvent,
  JsonValue,
} from "../core/events.ts";
import { jsonEqual } from "../context/doc.ts";
import { encodeDelta } from "../context/delta.ts";
import { CONTEXT_TOPIC } from "../context/sync.ts";
import { encode } from "../context/_msgpack.ts";
import { loadIdentity } from "../mesh/identity.ts";
import {
  shutdownAll,
  startNode,
  waitForEvent,
} from "./support/mesh_fixture.ts";
import { until } from "./support/wait.ts";
import { rawPublish } from "./support/raw_pubsub.ts";

// No mDNS, no DHT: the topology is exactly the bootstrap star, and redials
// are slow so that a partition made by `disconnect` lasts until healed.
const base = {
  enableMdns: false,
  enableKad: false,
  redialInitialMs: 600_000,
  redialMaxMs: 600_000,
};

async function contexts(nodes: AviP2p[]): Promise<JsonValue[]> {
  return await Promise.all(nodes.map((n) => n.handle().getContext()));
}

async function converged(nodes: AviP2p[]): Promise<boolean> {
  const all = await contexts(nodes);
  return all.every((c) => jsonEqual(c as JsonValue, all[0] as JsonValue));
}

/** Starts the hub of the star. */
function startHub(): Promise<AviP2p> {
  return startNode({ ...base, nodeName: "hub" });
}

/** Starts a node bootstrapped to `hub`. */
function startSpoke(
  hub: AviP2p,
  nodeName: string,
  config: { dataDir?: string } = {},
): Promise<AviP2p> {
  return startNode({
    ...base,
    nodeName,
    ...config,
    bootstrapPeers: [hub.listenAddresses[0]],
  });
}

/** Waits until `hub` is connected to `spokes` peers. */
function untilStar(hub: AviP2p, spokes: number): Promise<void> {
  return until(
    async () => (await hub.handle().connectedPeers()).length === spokes,
    20_000,
    "star",
  );
}

Deno.test("context over the mesh: five nodes update concurrently and converge", async () => {
  const hub = await startHub();
  const nodes: AviP2p[] = [hub];
  try {
    for (let i = 1; i < 5; i++) {
      nodes.push(
        await startSpoke(hub, `n${i}`),
      );
    }
    const events = nodes[3].events();
    await untilStar(hub, 4);
    await Promise.all(nodes.map(async (n, i) => {
      const h = n.handle();
      for (let k = 0; k < 10; k++) {
        await h.updateContext({
          avi: { device: { audio: { volume: i * 10 + k } } },
        });
        await h.updateContext({ avi: { device: { [`node${i}`]: k } } });
      }
    }));
    await until(() => converged(nodes), 60_000, "five nodes to converge");
    const ctx = (await hub.handle().getContext()) as {
      avi: { device: Record<string, unknown> };
    };
    for (let i = 0; i < 5; i++) assert.equal(ctx.avi.device[`node${i}`], 9);
    // getPeerContext answers what that peer wrote, not the local document.
    const byN2 = await nodes[4].handle().getPeerContext(nodes[2].peerId);
    assert.equal(
      (byN2 as { avi: { device: Record<string, unknown> } }).avi.device.node2,
      9,
    );
    assert.equal(
      (byN2 as { avi: { device: Record<string, unknown> } }).avi.device.node1,
      undefined,
    );
    // A contextUpdated event names the writer and the changed paths.
    const ev = await waitForEvent(
      events,
      (e: AviEvent): e is ContextUpdatedEvent =>
        e.type === "contextUpdated" && e.peerId === nodes[1].peerId,
      20_000,
      "an event written by n1",
    );
    assert.ok(ev.changedPaths.length > 0);
  } finally {
    await shutdownAll(...nodes);
  }
});

Deno.test("context over the mesh: a node stopped, updated past and restarted catches up", async () => {
  const dir = await Deno.makeTempDir();
  const hub = await startHub();
  const other = await startSpoke(hub, "other");
  let b: AviP2p | undefined;
  try {
    b = await startSpoke(hub, "kitchen", { dataDir: `${dir}/b` });
    const id = b.peerId;
    await b.handle().updateContext({
      avi: { device: { kitchen: { lamp: "on", fan: 1 } } },
    });
    await b.handle().updateContext({
      avi: { device: { kitchen: { fan: null } } },
    });
    await until(() => converged([hub, other, b!]), 30_000, "first sync");
    await b.shutdown();
    // Updated past while b is down.
    await other.handle().updateContext({
      avi: { device: { audio: { volume: 7 } } },
    });
    await hub.handle().updateContext({
      avi: { device: { kitchen: { lamp: "off" } } },
    });
    b = await startSpoke(hub, "kitchen", { dataDir: `${dir}/b` });
    assert.equal(b.peerId, id);
    // Nothing lost, nothing resurrected, before any sync.
    assert.equal(
      await b.handle().getContext("avi.device.kitchen.fan"),
      undefined,
    );
    await until(
      () => converged([hub, other, b!]),
      30_000,
      "catch-up after restart",
    );
    assert.equal(await b.handle().getContext("avi.device.audio.volume"), 7);
    assert.equal(await b.handle().getContext("avi.device.kitchen.lamp"), "off");
    // Its own later writes still reach the others (its sequence continued).
    await b.handle().updateContext({
      avi: { device: { kitchen: { back: true } } },
    });
    await until(
      async () =>
        (await hub.handle().getContext("avi.device.kitchen.back")) === true,
      30_000,
      "a write after the restart",
    );
  } finally {
    await shutdownAll(hub, other, b);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("context over the mesh: a partitioned node heals and converges", async () => {
  const hub = await startHub();
  const a = await startSpoke(hub, "a");
  const lone = await startSpoke(hub, "lone");
  try {
    await untilStar(hub, 2);
    await hub.handle().updateContext({ avi: { device: { shared: 1 } } });
    await until(
      () => converged([hub, a, lone]),
      30_000,
      "before the partition",
    );
    await hub.handle().disconnect(lone.peerId);
    await until(
      async () => (await lone.handle().connectedPeers()).length === 0,
      20_000,
      "cut",
    );
    // Both sides write, including to the same key, while apart.
    await lone.handle().updateContext({
      avi: { device: { shared: 2, alone: "yes" } },
    });
    await a.handle().updateContext({
      avi: { device: { shared: 3, crowd: "yes" } },
    });
    await hub.handle().updateContext({ avi: { device: { shared: null } } });
    await until(() => converged([hub, a]), 30_000, "majority side");
    assert.equal(await hub.handle().getContext("avi.device.alone"), undefined);
    await lone.handle().dial(hub.listenAddresses[0]);
    await until(() => converged([hub, a, lone]), 30_000, "after healing");
    const ctx = (await lone.handle().getContext("avi.device")) as Record<
      string,
      unknown
    >;
    assert.equal(ctx.alone, "yes");
    assert.equal(ctx.crowd, "yes");
  } finally {
    await shutdownAll(hub, a, lone);
  }
});

Deno.test("context over the mesh: a forged delta (writer is not the signer) is rejected", async () => {
  const dir = await Deno.makeTempDir();
  // evil's identity is made here so that the test holds its private key.
  const { privateKey: evilKey } = await loadIdentity(`${dir}/evil`, () => {});
  const hub = await startHub();
  const evil = await startSpoke(hub, "evil", { dataDir: `${dir}/evil` });
  const victim = await startSpoke(hub, "victim");
  try {
    await untilStar(hub, 2);
    await until(
      async () => (await evil.handle().topicPeers(CONTEXT_TOPIC)).length > 0,
      20_000,
      "context topic peers",
    );
    const delta = (writer: string, key: string, value: string) =>
      encodeDelta({
        writer,
        seq: 1,
        wall: Date.now(),
        counter: 0,
        entries: [{ path: ["avi", "device", key], kind: "set", value }],
      });
    // evil signs, with its own key, a delta that claims victim wrote it,
    // then a delta of its own, in one message.
    const forged = delta(victim.peerId, "door", "open");
    const genuine = delta(evil.peerId, "window", "evil-ok");
    await rawPublish(
      evil,
      CONTEXT_TOPIC,
      encode([1, [[forged, await evilKey.sign(forged)], [
        genuine,
        await evilKey.sign(genuine),
      ]], null]),
    );
    await until(
      async () =>
        (await hub.handle().getContext("avi.device.window")) === "evil-ok",
      20_000,
      "the genuine delta",
    );
    assert.equal(await hub.handle().getContext("avi.device.door"), undefined);
    assert.deepEqual(await hub.handle().getPeerContext(victim.peerId), {});
    // The victim's own change to the same key flows, and is credited to it.
    await victim.handle().updateContext({
      avi: { device: { door: "closed" } },
    });
    await until(
      async () =>
        (await hub.handle().getContext("avi.device.door")) === "closed",
      20_000,
      "genuine change",
    );
  } finally {
    await shutdownAll(hub, evil, victim);
    await Deno.remove(dir, { recursive: true });
  }
});
