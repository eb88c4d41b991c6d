/**
 * AviEmbedded through a seeded UDP chaos proxy (10% loss each way, 5%
 * duplication, 20% reordering) to the real bridge and a second mesh node:
 * every QoS 1 publish reaches the mesh exactly once.
 */
import assert from "node:assert/strict";
import type { AviEvent, MessageEvent } from "../core/events.ts";
import {
  AviEmbedded,
  createDenoUdpSocket,
  denoCrypto,
} from "../embedded/mod.ts";
import { shutdownAll, untilTopicPeer } from "./support/mesh_fixture.ts";
import { until } from "./support/wait.ts";
import {
  startChaosProxy,
  startGatewayAndPeer,
  startLocalBridge,
} from "./support/bridge_rig.ts";

const KEY = crypto.getRandomValues(new Uint8Array(32));
const TOTAL = 1000;

Deno.test("AviEmbedded: 1,000 QoS 1 publishes through loss, duplication and reordering arrive exactly once", async () => {
  const { gw, peer } = await startGatewayAndPeer();
  const bridge = await startLocalBridge(gw.handle(), { "5": KEY });
  const proxy = await startChaosProxy(bridge.port);
  const seen = new Map<string, number>();
  const ev = peer.events();
  const peerLoop = (async () => {
    for await (const e of ev as AsyncIterable<AviEvent>) {
      if (
        e.type === "message" && (e as MessageEvent).topic === "device/5/load"
      ) {
        const k = new TextDecoder().decode((e as MessageEvent).data);
        seen.set(k, (seen.get(k) ?? 0) + 1);
      }
    }
  })();
  const avi = new AviEmbedded(
    await createDenoUdpSocket({ hostname: "127.0.0.1" }),
    {
      deviceId: 5,
      key: KEY,
      crypto: denoCrypto(),
      gateway: { address: "127.0.0.1", port: proxy.port },
      retryInitialMs: 200,
      retryMaxMs: 1000,
      connectTimeoutMs: 20_000,
    },
    () => {},
  );
  try {
    await avi.connect();
    await peer.handle().subscribe("device/5/load");
    await untilTopicPeer(gw, peer, "device/5/load", "gateway to see the peer");
    const te = new TextEncoder();
    // Sixteen in flight at a time (the client's queue size).
    let next = 0;
    const worker = async () => {
      while (next < TOTAL) {
        const i = next++;
        await avi.publish("device/5/load", te.encode(String(i)), { qos: 1 });
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    await until(() => seen.size === TOTAL, 30_000, "every publish at the peer");
    await new Promise((r) => setTimeout(r, 500)); // room for late duplicates
    for (let i = 0; i < TOTAL; i++) {
      assert.equal(seen.get(String(i)), 1, `message ${i}`);
    }
    assert.ok(
      avi.stats.retransmissions > 0,
      "the chaos caused retransmissions",
    );
  } finally {
    await avi.close();
    await proxy.close();
    await bridge.close();
    await ev.return?.();
    await peerLoop;
    await shutdownAll(peer, gw);
  }
});
