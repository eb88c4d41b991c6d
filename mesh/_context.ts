/**
 * The mesh side of the shared context: a {@linkcode ContextTransport} over the
 * runtime's GossipSub, peer events and Ed25519 key, and the start of the
 * {@linkcode ContextSync} service with persistence under `dataDir`.
 *
 * @module
 */

import { peerIdFromString } from "@libp2p/peer-id";
import type { PrivateKey } from "@libp2p/interface";
import { ContextSync } from "../context/sync.ts";
import { FileContextStore } from "../context/file_store.ts";
import type { ContextTransport } from "../context/transport.ts";
import type { PeerId } from "../core/peer_id.ts";
import type { MeshRuntime } from "./_runtime.ts";

/** The file, inside `dataDir`, that keeps the context replica. */
export const CONTEXT_FILE = "context.bin";

/**
 * Builds the transport `ContextSync` runs over.
 *
 * - `subscribe` delivers GossipSub messages with their signed sender
 *   (`StrictSign`) and never this node's own messages (`emitSelf: false`).
 * - `sign` uses the node's Ed25519 key; `verify` the key inlined in the
 *   peer id, resolving `false` for anything it cannot check.
 */
export function contextTransport(
  rt: MeshRuntime,
  privateKey: PrivateKey,
): ContextTransport {
  return {
    localPeerId: rt.peerId,
    async publish(topic, data) {
      rt.assertRunning();
      await rt.libp2p.services.pubsub.publish(topic, data);
    },
    subscribe(topic, handler) {
      return rt.subscribeInternal(
        topic,
        (from, data) => handler({ from, data }),
      );
    },
    onPeerConnected(handler) {
      return rt.onPeerConnected(handler);
    },
    connectedPeers(): PeerId[] {
      return rt.running ? rt.connectedPeers() : [];
    },
    sign(data) {
      return Promise.resolve(privateKey.sign(data));
    },
    async verify(peerId, data, signature) {
      try {
        const key = peerIdFromString(peerId).publicKey;
        if (key === undefined) return false;
        return await key.verify(data, signature);
      } catch {
        return false;
      }
    },
  };
}

/**
 * Starts the context service of a runtime. The replica persists in
 * `<dataDir>/context.bin` when the identity persists too (a replica is tied
 * to its writer id, so an ephemeral identity keeps an in-memory context).
 */
export async function startContext(
  rt: MeshRuntime,
  privateKey: PrivateKey,
): Promise<ContextSync> {
  const dir = rt.config.dataDir;
  const store = dir !== null && rt.identityPersisted
    ? new FileContextStore({ dir, fileName: CONTEXT_FILE })
    : undefined;
  const sync = new ContextSync({
    transport: contextTransport(rt, privateKey),
    emit: (ev) => rt.hub.emit(ev),
    store,
  });
  try {
    await sync.start();
  } catch (e) {
    if (store === undefined) throw e;
    rt.config.onWarning(
      `avi-p2p: cannot load the context from ${dir}/${CONTEXT_FILE} (${e}); ` +
        `starting with an empty, unsaved context`,
    );
    const fresh = new ContextSync({
      transport: contextTransport(rt, privateKey),
      emit: (ev) => rt.hub.emit(ev),
    });
    await fresh.start();
    return fresh;
  }
  return sync;
}
