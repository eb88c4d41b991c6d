import assert from "node:assert/strict";
import type { AviEvent } from "../core/events.ts";
import {
  peerConnected,
  peerDiscovered,
  shutdownAll,
  startNode,
  uniqueTag,
  waitForEvent,
} from "./support/mesh_fixture.ts";
import { until } from "./support/wait.ts";

Deno.test("mDNS: two nodes with the same discovery tag find and connect to each other; another tag stays apart", async () => {
  const tag = uniqueTag();
  const mdns = { enableMdns: true, discoveryTag: tag, mdnsIntervalMs: 300 };
  const a = await startNode({ ...mdns, nodeName: "a" });
  const evA = a.events();
  const b = await startNode({ ...mdns, nodeName: "b" });
  const evB = b.events();
  const other = await startNode({
    enableMdns: true,
    discoveryTag: uniqueTag(),
    mdnsIntervalMs: 300,
  });
  const evO = other.events();
  try {
    await waitForEvent(
      evA,
      peerDiscovered(b.peerId),
      30_000,
      "a to discover b",
    );
    await waitForEvent(
      evB,
      peerDiscovered(a.peerId),
      30_000,
      "b to discover a",
    );
    await until(
      async () => (await a.handle().connectedPeers()).includes(b.peerId),
      30_000,
      "a-b connection",
    );
    const c = await waitForEvent(
      evB,
      peerConnected(a.peerId),
      30_000,
      "b peerConnected a",
    );
    assert.match(c.address, /^\/ip4\/127\.0\.0\.1\/tcp\/\d+/);
    // several mDNS rounds later, still one peerDiscovered per peer, and the
    // node with another tag saw nobody
    await new Promise((r) => setTimeout(r, 1500));
    await shutdownAll(a, b, other);
    const rest: AviEvent[] = [];
    for await (const e of evA) rest.push(e);
    assert.equal(rest.filter((e) => e.type === "peerDiscovered").length, 0);
    const seenByOther: AviEvent[] = [];
    for await (const e of evO) seenByOther.push(e);
    assert.deepEqual(
      seenByOther.filter((e) =>
        e.type === "peerDiscovered" || e.type === "peerConnected"
      ),
      [],
    );
    assert.equal(a.stats().peersDiscovered, 1);
  } finally {
    await shutdownAll(a, b, other);
  }
});

Deno.test("bootstrap: a node dials its bootstrap peer at start and both see peerConnected", async () => {
  const a = await startNode({ nodeName: "a" });
  const evA = a.events();
  const b = await startNode({
    nodeName: "b",
    bootstrapPeers: [a.listenAddresses[0]],
  });
  const evB = b.events();
  try {
    const started = await evB.next();
    assert.equal(started.value?.type, "started");
    await waitForEvent(
      evB,
      peerDiscovered(a.peerId),
      20_000,
      "b discovers a (bootstrap)",
    );
    await waitForEvent(evB, peerConnected(a.peerId), 20_000, "b connects to a");
    await waitForEvent(evA, peerConnected(b.peerId), 20_000, "a sees b");
    assert.deepEqual(await b.handle().connectedPeers(), [a.peerId]);
    assert.ok((await b.handle().discoverPeers()).includes(a.peerId));
  } finally {
    await shutdownAll(a, b);
  }
});

Deno.test("Kademlia: a node finds a peer of its bootstrap peer through discoverPeers()", async () => {
  const hub = await startNode({ nodeName: "hub" });
  const x = await startNode({
    nodeName: "x",
    bootstrapPeers: [hub.listenAddresses[0]],
  });
  const y = await startNode({
    nodeName: "y",
    bootstrapPeers: [hub.listenAddresses[0]],
  });
  const evY = y.events();
  try {
    await until(
      async () => (await hub.handle().connectedPeers()).length === 2,
      20_000,
      "hub to have 2 peers",
    );
    // identify must have run so the DHT knows x's addresses
    await until(
      async () => {
        await y.handle().discoverPeers();
        return (await y.handle().connectedPeers()).includes(x.peerId);
      },
      30_000,
      "y to find x through the DHT",
    );
    await waitForEvent(
      evY,
      peerDiscovered(x.peerId),
      5_000,
      "y peerDiscovered x",
    );
  } finally {
    await shutdownAll(hub, x, y);
  }
});

Deno.test("enableKad: false runs no DHT (the peer announces no Kademlia protocol); true does", async () => {
  const withKad = await startNode({ nodeName: "kad" });
  const noKad = await startNode({ nodeName: "nokad", enableKad: false });
  const observer = await startNode({ nodeName: "obs", enableKad: false });
  try {
    await observer.handle().dial(withKad.listenAddresses[0]);
    await observer.handle().dial(noKad.listenAddresses[0]);
    const protocolsOf = async (id: string) => {
      let protocols: string[] = [];
      await until(
        async () => {
          const info = await observer.handle().peerInfo(id).catch(() =>
            undefined
          );
          protocols = info?.protocols ?? [];
          return protocols.length > 0;
        },
        20_000,
        "identify",
      );
      return protocols;
    };
    assert.ok(
      (await protocolsOf(withKad.peerId)).includes("/avi/lan/kad/1.0.0"),
    );
    const none = await protocolsOf(noKad.peerId);
    assert.ok(!none.some((p) => p.includes("/kad/")), none.join(","));
    assert.ok(none.some((p) => p.includes("meshsub")));
  } finally {
    await shutdownAll(withKad, noKad, observer);
  }
});

Deno.test("a peer that only connected in is discovered too: one peerDiscovered, before its first peerConnected", async () => {
  const a = await startNode({ nodeName: "a" });
  const b = await startNode({ nodeName: "b" });
  const seen: AviEvent[] = [];
  const reading = (async () => {
    for await (const e of a.events()) seen.push(e);
  })();
  const count = (type: string) =>
    seen.filter((e) =>
      e.type === type && "peerId" in e && e.peerId === b.peerId
    )
      .length;
  try {
    // b dials a: a never discovered b through mDNS, the DHT or bootstrap
    await b.handle().dial(a.listenAddresses[0]);
    await until(() => count("peerConnected") === 1, 20_000, "a sees b");
    await b.handle().disconnect(a.peerId);
    await until(() => count("peerDisconnected") >= 1, 20_000, "b drops a");
    await b.handle().dial(a.listenAddresses[0]);
    await until(() => count("peerConnected") >= 2, 20_000, "b back");
    assert.equal(count("peerDiscovered"), 1);
    const order = seen.filter((e) =>
      (e.type === "peerDiscovered" || e.type === "peerConnected") &&
      e.peerId === b.peerId
    ).map((e) => e.type);
    assert.equal(order[0], "peerDiscovered");
    assert.equal(order[1], "peerConnected");
    assert.equal(a.stats().peersDiscovered, 1);
    assert.ok((await a.handle().discoverPeers()).includes(b.peerId));
  } finally {
    await shutdownAll(a, b);
    await reading;
  }
  assert.equal(count("peerDiscovered"), 1);
});
