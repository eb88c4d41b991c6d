import assert from "node:assert/strict";
import {
  ConfigError,
  InvalidAddressError,
  InvalidTopicError,
  LimitExceededError,
  NotStartedError,
  NotSubscribedError,
  PeerNotFoundError,
  TooLargeError,
} from "../core/errors.ts";
import { AviP2p } from "../mesh/mod.ts";
import { shutdownAll, startNode } from "./support/mesh_fixture.ts";
import { until } from "./support/wait.ts";

const PEER = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";

Deno.test("AviP2p.start() rejects bad config with ConfigError naming the field", async () => {
  await assert.rejects(
    AviP2p.start({ listenPort: 70000 }),
    (e: unknown) => e instanceof ConfigError && e.field === "listenPort",
  );
  await assert.rejects(
    AviP2p.start({ bootstrapPeers: ["/ip4/300.1.1.1/tcp/1/p2p/x"] }),
    (e: unknown) => e instanceof ConfigError && e.field === "bootstrapPeers",
  );
});

Deno.test("handle calls reject bad input with typed errors", async () => {
  const node = await startNode({ maxTopicLength: 16, maxMessageBytes: 1024 });
  const h = node.handle();
  try {
    await assert.rejects(h.dial("not a multiaddr"), InvalidAddressError);
    await assert.rejects(h.dial("/ip4/127.0.0.1/tcp/1"), InvalidAddressError);
    await assert.rejects(
      h.dial("/ip4/127.0.0.1/tcp/1/p2p/notapeer"),
      InvalidAddressError,
    );
    await assert.rejects(h.disconnect("notapeer"), InvalidAddressError);
    await assert.rejects(h.peerInfo("12D3KooWbad"), InvalidAddressError);
    await assert.rejects(h.disconnect(PEER), PeerNotFoundError);
    await assert.rejects(h.peerInfo(PEER), PeerNotFoundError);
    await assert.rejects(h.subscribe(""), InvalidTopicError);
    await assert.rejects(h.subscribe("x".repeat(17)), InvalidTopicError);
    await assert.rejects(h.subscribe("a\nb"), InvalidTopicError);
    await assert.rejects(h.publish("", new Uint8Array(1)), InvalidTopicError);
    await assert.rejects(h.publish("t", new Uint8Array(1025)), TooLargeError);
    await assert.rejects(h.unsubscribe("never"), NotSubscribedError);
    // no peer at all: publish resolves with 0 peers reached
    assert.equal(await h.publish("t", new Uint8Array(1024)), 0);
    await h.subscribe("t");
    await h.subscribe("t"); // idempotent
    assert.deepEqual(await h.subscriptions(), ["t"]);
    await h.unsubscribe("t");
    assert.deepEqual(await h.subscriptions(), []);
  } finally {
    await node.shutdown();
  }
});

Deno.test("after shutdown every handle call rejects with NotStartedError and events end", async () => {
  const node = await startNode();
  const h = node.handle();
  const live = node.events();
  await node.shutdown();
  await node.shutdown(); // a second call is harmless
  assert.equal(node.running, false);
  const calls: (() => Promise<unknown>)[] = [
    () => h.subscribe("t"),
    () => h.unsubscribe("t"),
    () => h.publish("t", new Uint8Array(1)),
    () => h.subscriptions(),
    () => h.topicPeers("t"),
    () => h.connectedPeers(),
    () => h.discoverPeers(),
    () => h.dial("/ip4/127.0.0.1/tcp/1/p2p/" + PEER),
    () => h.disconnect(PEER),
    () => h.peerInfo(PEER),
  ];
  for (const call of calls) await assert.rejects(call(), NotStartedError);
  const seen = [];
  for await (const e of live) seen.push(e.type);
  assert.deepEqual(seen, ["started"]);
  const late = node.events();
  assert.equal((await late.next()).done, true);
});

Deno.test("publish to a topic no peer subscribes resolves with 0; with a subscriber, with 1", async () => {
  const a = await startNode();
  const b = await startNode({ bootstrapPeers: [a.listenAddresses[0]] });
  try {
    await until(async () => (await a.handle().connectedPeers()).length === 1);
    assert.equal(await a.handle().publish("nobody", new Uint8Array([1])), 0);
    await b.handle().subscribe("somebody");
    await until(async () =>
      (await a.handle().topicPeers("somebody")).length === 1
    );
    assert.equal(await a.handle().publish("somebody", new Uint8Array([1])), 1);
  } finally {
    await shutdownAll(a, b);
  }
});

Deno.test("maxPeers is enforced: a node at its limit refuses new peers and dials none", async () => {
  const limited = await startNode({ maxPeers: 1 });
  const p1 = await startNode();
  const p2 = await startNode();
  try {
    await p1.handle().dial(limited.listenAddresses[0]);
    await until(async () =>
      (await limited.handle().connectedPeers()).length === 1
    );
    await p2.handle().dial(limited.listenAddresses[0]).catch(() => {});
    await assert.rejects(
      limited.handle().dial(p2.listenAddresses[0]),
      LimitExceededError,
    );
    await until(
      async () =>
        !(await p2.handle().connectedPeers()).includes(limited.peerId),
      20_000,
      "p2 dropped",
    );
    assert.deepEqual(await limited.handle().connectedPeers(), [p1.peerId]);
    assert.ok(limited.stats().refusedMaxPeers >= 1);
  } finally {
    await shutdownAll(limited, p1, p2);
  }
});

Deno.test("a call in flight when shutdown starts rejects with NotStartedError instead of hanging", async () => {
  // a TCP server that accepts and then says nothing: the dial's handshake waits
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const c of silent) conns.push(c);
    } catch { /* closed */ }
  })();
  const node = await startNode();
  try {
    const port = (silent.addr as Deno.NetAddr).port;
    const dialling = node.handle().dial(
      `/ip4/127.0.0.1/tcp/${port}/p2p/${PEER}`,
    );
    await until(
      () => conns.length > 0,
      20_000,
      "the dial to reach the silent server",
    );
    const stopping = node.shutdown();
    await assert.rejects(dialling, NotStartedError);
    await stopping;
  } finally {
    await node.shutdown();
    silent.close();
    for (const c of conns) {
      try {
        c.close();
      } catch { /* already closed */ }
    }
    await accepting;
  }
});

Deno.test("an unwritable dataDir gives one warning and an ephemeral identity; the node still runs", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/file`, "not a directory");
  const warnings: string[] = [];
  const node = await startNode({
    dataDir: `${dir}/file/node`,
    onWarning: (m) => warnings.push(m),
  });
  try {
    assert.equal(node.identityPersisted, false);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /ephemeral/);
    await node.handle().subscribe("still/works");
  } finally {
    await node.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
