import assert from "node:assert/strict";
import {
  peerConnected,
  peerDisconnected,
  shutdownAll,
  startNode,
  waitForEvent,
} from "./support/mesh_fixture.ts";
import { until } from "./support/wait.ts";

Deno.test("a restarted node (same dataDir) keeps its peer id and is redialled by its peer", async () => {
  const dir = await Deno.makeTempDir();
  const a = await startNode({
    nodeName: "a",
    redialInitialMs: 100,
    redialMaxMs: 400,
  });
  const evA = a.events();
  let b = await startNode({
    nodeName: "kitchen",
    dataDir: `${dir}/b`,
    bootstrapPeers: [a.listenAddresses[0]],
  });
  try {
    assert.equal(b.identityPersisted, true);
    const firstId = b.peerId;
    const port = Number(b.listenAddresses[0].split("/")[4]);
    await waitForEvent(
      evA,
      peerConnected(firstId),
      20_000,
      "a connected to b",
    );
    // Identify tells a b's listen address, node name and protocol version
    await until(
      async () => {
        const info = await a.handle().peerInfo(firstId).catch(() => undefined);
        return info !== undefined && info.addresses.length > 0 &&
          info.agentVersion === "kitchen";
      },
      20_000,
      "a to identify b",
    );
    assert.equal(
      (await a.handle().peerInfo(firstId)).protocolVersion,
      "/avi/1.0.0",
    );
    await b.shutdown();
    await waitForEvent(
      evA,
      peerDisconnected(firstId),
      20_000,
      "a sees b drop",
    );
    // b comes back on the same port with the same dataDir and no bootstrap:
    // only a's redial can bring the two together again
    b = await startNode({
      nodeName: "kitchen",
      dataDir: `${dir}/b`,
      listenPort: port,
    });
    assert.equal(b.peerId, firstId);
    await waitForEvent(
      evA,
      peerConnected(firstId),
      30_000,
      "a redials the restarted b",
    );
    assert.ok(a.stats().redials >= 1);
  } finally {
    await shutdownAll(a, b);
    await Deno.remove(dir, { recursive: true });
  }
});
