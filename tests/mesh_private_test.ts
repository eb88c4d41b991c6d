import assert from "node:assert/strict";
import type { AviEvent } from "../core/events.ts";
import { NetworkError } from "../core/errors.ts";
import { shutdownAll, startNode, until } from "./mesh_fixture.ts";

const KEY = "a1".repeat(32);
const OTHER_KEY = new Uint8Array(32).fill(7);

async function collect(events: AsyncIterable<AviEvent>): Promise<AviEvent[]> {
  const out: AviEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}

Deno.test("meshKey: nodes with the key connect; a node without it (or with another key) never does", async () => {
  const a = await startNode({ nodeName: "a", meshKey: KEY });
  const evA = a.events();
  const member = await startNode({
    nodeName: "m",
    meshKey: KEY,
    bootstrapPeers: [a.listenAddresses[0]],
  });
  const outsider = await startNode({ nodeName: "o" });
  const wrongKey = await startNode({ nodeName: "w", meshKey: OTHER_KEY });
  try {
    await until(
      async () => (await a.handle().connectedPeers()).includes(member.peerId),
      20_000,
      "member connects",
    );
    await assert.rejects(
      outsider.handle().dial(a.listenAddresses[0]),
      NetworkError,
    );
    await assert.rejects(
      wrongKey.handle().dial(a.listenAddresses[0]),
      NetworkError,
    );
    await assert.rejects(
      a.handle().dial(outsider.listenAddresses[0]),
      NetworkError,
    );
    assert.deepEqual(await a.handle().connectedPeers(), [member.peerId]);
    assert.deepEqual(await outsider.handle().connectedPeers(), []);
    await shutdownAll(a, member, outsider, wrongKey);
    const connectedToA = (await collect(evA))
      .filter((e) => e.type === "peerConnected")
      .map((e) => e.type === "peerConnected" && e.peerId);
    assert.deepEqual(connectedToA, [member.peerId]);
  } finally {
    await shutdownAll(a, member, outsider, wrongKey);
  }
});

Deno.test("allowedPeers: a peer off the list is refused in both directions", async () => {
  const friend = await startNode({ nodeName: "friend" });
  const stranger = await startNode({ nodeName: "stranger" });
  const a = await startNode({ nodeName: "a", allowedPeers: [friend.peerId] });
  const evA = a.events();
  try {
    assert.equal(await friend.handle().dial(a.listenAddresses[0]), a.peerId);
    // the stranger's own dial may complete its half of the handshake before
    // a refuses it; what matters is that no connection survives
    await stranger.handle().dial(a.listenAddresses[0]).catch(() => {});
    await assert.rejects(
      a.handle().dial(stranger.listenAddresses[0]),
      NetworkError,
    );
    await until(
      async () => (await stranger.handle().connectedPeers()).length === 0,
      20_000,
      "stranger dropped",
    );
    assert.deepEqual(await a.handle().connectedPeers(), [friend.peerId]);
    assert.ok(a.stats().refusedNotAllowed >= 1);
    await shutdownAll(friend, stranger, a);
    const connectedToA = (await collect(evA))
      .filter((e) => e.type === "peerConnected")
      .map((e) => e.type === "peerConnected" && e.peerId);
    assert.deepEqual(connectedToA, [friend.peerId]);
  } finally {
    await shutdownAll(friend, stranger, a);
  }
});
