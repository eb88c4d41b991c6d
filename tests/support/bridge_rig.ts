/**
 * Shared setup of the bridge tests: a gateway mesh node with a second node
 * bootstrapped to it, and an EmbeddedBridge on 127.0.0.1 with a random UDP
 * port.
 *
 * @module
 */

import { EmbeddedBridge } from "../../bridge/mod.ts";
import type { BridgeMesh, BridgeOptions } from "../../bridge/mod.ts";
import type { AviEvent } from "../../core/events.ts";
import type { AviP2p } from "../../mesh/mod.ts";
import { startNode } from "../mesh_fixture.ts";
import { ChaosProxy } from "./chaos_proxy.ts";

/** Starts a node named "gateway" and a node named "peer" bootstrapped to it. */
export async function startGatewayAndPeer(): Promise<
  { gw: AviP2p; peer: AviP2p }
> {
  const gw = await startNode({ nodeName: "gateway" });
  const peer = await startNode({
    nodeName: "peer",
    bootstrapPeers: [gw.listenAddresses[0]],
  });
  return { gw, peer };
}

/** Starts a bridge on 127.0.0.1, UDP port 0, for `devices`. */
export function startLocalBridge(
  mesh: BridgeMesh,
  devices: BridgeOptions["devices"],
  opts: Partial<BridgeOptions> = {},
): Promise<EmbeddedBridge> {
  return EmbeddedBridge.start(mesh, {
    udpPort: 0,
    hostname: "127.0.0.1",
    devices,
    ...opts,
  });
}

/**
 * A mesh binding that accepts every subscribe and unsubscribe, publishes
 * with `publish` (by default: accepted at once) and reads `events`.
 */
export function fakeMesh(
  events: () => AsyncIterableIterator<AviEvent>,
  publish: BridgeMesh["publish"] = async () => {},
): BridgeMesh {
  return {
    subscribe: async () => {},
    unsubscribe: async () => {},
    publish,
    events,
  };
}

/** Mesh events that never come (the iterator only ends when returned). */
export function idleEvents(): AsyncIterableIterator<AviEvent> {
  const it: AsyncIterableIterator<AviEvent> = {
    [Symbol.asyncIterator]: () => it,
    next: () => new Promise(() => {}),
    return: () => Promise.resolve({ done: true, value: undefined }),
  };
  return it;
}

/**
 * A chaos proxy in front of `port` on 127.0.0.1: 10% loss, 5% duplication
 * and 20% reordering each way, seeded with 20261124.
 */
export function startChaosProxy(port: number): Promise<ChaosProxy> {
  const chaos = { loss: 0.1, duplicate: 0.05, reorder: 0.2 };
  return ChaosProxy.start({
    target: { hostname: "127.0.0.1", port },
    seed: 20261124,
    up: chaos,
    down: chaos,
  });
}
