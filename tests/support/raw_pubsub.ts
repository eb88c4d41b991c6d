/**
 * The raw pub/sub of a node, for the tests that play an attacker: publish
 * and read on the topics the mesh keeps for itself (the context topic),
 * which the handle refuses.
 *
 * @module
 */

import type { AviP2p } from "../../mesh/mod.ts";
import { RUNTIME } from "../../mesh/node.ts";
import type { PeerId } from "../../core/peer_id.ts";

/** Publishes `data` on `topic` as `node`, reserved topics included. */
export async function rawPublish(
  node: AviP2p,
  topic: string,
  data: Uint8Array,
): Promise<void> {
  await node[RUNTIME]().pubsub.publishInternal(topic, data);
}

/** Calls `handler` with each message on `topic` that `node` receives; returns the remover. */
export function rawSubscribe(
  node: AviP2p,
  topic: string,
  handler: (from: PeerId, data: Uint8Array) => void,
): () => void {
  return node[RUNTIME]().pubsub.subscribeInternal(topic, handler);
}
