/**
 * The mesh runtime: start a node, make calls through its handle, read its
 * events. Peers find each other by mDNS (LAN), Kademlia and bootstrap
 * addresses; talk over TCP + Noise + Yamux; publish signed GossipSub
 * messages; and keep a persistent Ed25519 identity under `dataDir`.
 *
 * @example Start a node, subscribe, publish, shut down
 * ```ts ignore
 * import { AviP2p } from "@avi/p2p";
 *
 * const node = await AviP2p.start({ nodeName: "living-room-speaker" });
 * const handle = node.handle();
 * await handle.subscribe("home/lights");
 * const reached = await handle.publish("home/lights", new TextEncoder().encode("on"));
 * console.log(`${node.peerId} reached ${reached} peers`);
 * await node.shutdown();
 * ```
 *
 * @module
 */
export { AviP2p } from "./node.ts";
export { AviP2pHandle } from "./handle.ts";
export type { AviP2pConfig } from "./config.ts";
export { CONFIG_DEFAULTS } from "./config.ts";
export { EventStream } from "./event_hub.ts";
export type { EventStreamStats } from "./event_hub.ts";
export type { MeshStats, PeerInfoView } from "./types.ts";
export { parsePeerId } from "./peer_id.ts";
