/**
 * Builds the js-libp2p node behind a mesh node (internal: no libp2p type
 * leaves `mesh/`).
 *
 * @module
 */

import { createLibp2p } from "libp2p";
import { tcp } from "@libp2p/tcp";
import { noise } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import { gossipsub } from "@libp2p/gossipsub";
import type { GossipSub } from "@libp2p/gossipsub";
import { kadDHT, removePublicAddressesMapper } from "@libp2p/kad-dht";
import type { KadDHT } from "@libp2p/kad-dht";
import { mdns } from "@libp2p/mdns";
import { identify } from "@libp2p/identify";
import { ping } from "@libp2p/ping";
import { preSharedKey } from "@libp2p/pnet";
import type {
  ConnectionGater,
  Libp2p,
  PeerId as Libp2pPeerId,
  PrivateKey,
} from "@libp2p/interface";
import type { ResolvedConfig } from "./config.ts";
import { patchEd25519KeyCache } from "./_ed25519_cache.ts";
import { patchYamuxWindowUpdates } from "./_yamux_window.ts";
import { patchConsume } from "./_consume.ts";
import { patchGossipIdle } from "./_gossip_idle.ts";
import { patchGossipValidate } from "./_gossip_validate.ts";
import { patchGossipRecords } from "./_gossip_records.ts";
import { patchMessageCache } from "./_message_cache.ts";
import { patchTimeCaches } from "./_time_cache.ts";
import { patchChachaSeal } from "./_chacha_seal.ts";
import { patchLengthPrefixedDecoder } from "./_lp_decoder.ts";
import { patchTcpWrites } from "./_tcp_write.ts";
import { patchYamuxHeaders } from "./_yamux_header.ts";
import { fastMsgId, msgIdFn, msgIdToStr } from "./_msg_id.ts";
import type { WrittenFor } from "./_written_for.ts";

/**
 * The versions the adjustments of {@linkcode buildLibp2p} were written for:
 * it sets Identify's private `host.protocolVersion`, and Kademlia's private
 * `rpc.incomingMessageTimeout` (which 16.4.5 accepts but never passes on).
 */
export const LIBP2P_ADJUSTMENTS_WRITTEN_FOR: readonly WrittenFor[] = [
  {
    name: "@libp2p/identify",
    version: "4.1.14",
    adjustment: "mesh/_libp2p.ts (Identify protocol version)",
  },
  {
    name: "@libp2p/kad-dht",
    version: "16.4.5",
    adjustment: "mesh/_libp2p.ts (Kademlia inbound request timeout)",
  },
];

/** The Identify protocol version every mesh node announces. */
export const IDENTIFY_PROTOCOL_VERSION = "/avi/1.0.0";
/** The Kademlia protocol id of the LAN DHT. */
export const KAD_PROTOCOL = "/avi/lan/kad/1.0.0";

/**
 * How long a peer's inbound ping or Kademlia request may take (per message)
 * before its stream is aborted: 3 s (libp2p's default is 10 s). A LAN peer
 * answers in milliseconds. The bound is kept short because both handlers
 * leave their `AbortSignal.timeout` listener attached after the request is
 * served, and Deno keeps a process alive while such a timer has a listener:
 * with the defaults a process could linger up to 10 s after `shutdown`; with
 * this bound, at most about 3 s after the last request it served.
 */
export const INBOUND_REQUEST_TIMEOUT_MS = 3000;

/**
 * How long an inbound TCP connection may take to finish its upgrade (the
 * mesh-key exchange, Noise, Yamux), in milliseconds: 3 s (libp2p's default
 * is 10 s). A LAN peer finishes in milliseconds; a socket that sends
 * nothing (or too little) is closed after this, so an idle socket holds an
 * upgrade slot for 3 s at most.
 */
export const INBOUND_UPGRADE_TIMEOUT_MS = 3000;

/**
 * The most inbound connections upgrading at once, from all addresses: 128
 * (libp2p's default is 10, which 10 idle sockets filled for 10 s each, so
 * that no peer, keyed or not, could connect). A further connection is
 * closed at once. An idle socket costs a file descriptor and a few
 * kilobytes.
 */
export const MAX_PENDING_INBOUND = 128;

/**
 * The most inbound connections one IP address may open per second: 5 (the
 * libp2p default, made explicit). Further ones in the same second are
 * closed at once. With {@linkcode INBOUND_UPGRADE_TIMEOUT_MS}, one address
 * holds at most about 5 × (3 + 1) = 20 upgrade slots, far below
 * {@linkcode MAX_PENDING_INBOUND}: an attacker needs 7 addresses to fill
 * them. The trade-off: peers that share the attacker's address (behind one
 * NAT, or on 127.0.0.1) share its rate, so an attacker that opens
 * connections faster than this delays them (they get in through redials);
 * peers on other addresses are not affected.
 */
export const INBOUND_CONNECTIONS_PER_ADDRESS_PER_SECOND = 5;

/**
 * How long GossipSub remembers a message it has seen (to drop copies), in
 * milliseconds: 30 s (the package's default is 2 minutes). A copy can only
 * come back while some peer still relays it or holds it in its gossip
 * history (5 heartbeats, 5 s here), so 30 s leaves a wide margin, and the
 * seen-cache, the fast-id cache (mesh/_msg_id.ts) and the cache of this
 * node's own message ids hold a quarter of what they would: at 1,000
 * messages a second, about 30,000 entries each instead of 120,000.
 */
export const SEEN_TTL_MS = 30_000;

/** The services of a mesh libp2p node. */
export interface MeshServices extends Record<string, unknown> {
  pubsub: GossipSub;
  identify: unknown;
  ping: unknown;
  dht?: KadDHT;
}

/** The libp2p node type used inside mesh/. */
export type MeshLibp2p = Libp2p<MeshServices>;

/**
 * Deno's BroadcastChannel has no `unref()`. `mortice` (the lock used by the
 * libp2p peer store) opens a BroadcastChannel with a message listener and
 * calls `channel.unref?.()`; without it the channel keeps a Deno process
 * alive for ever after every node has stopped. This adds the missing method
 * through Deno's own internal ref switch, once, and only when it is absent.
 */
export function patchBroadcastChannelUnref(): void {
  const BC = (globalThis as { BroadcastChannel?: { prototype: object } })
    .BroadcastChannel;
  if (BC === undefined || "unref" in BC.prototype) return;
  const sym = Object.getOwnPropertySymbols(BC.prototype).find((s) =>
    s.description === "refBroadcastChannel"
  );
  if (sym === undefined) return;
  const proto = BC.prototype as Record<symbol | string, unknown>;
  const ref = proto[sym] as (this: unknown, on: boolean) => void;
  Object.defineProperty(BC.prototype, "unref", {
    value: function unref(this: unknown) {
      ref.call(this, false);
    },
    configurable: true,
    writable: true,
  });
}

/**
 * The adjustments to the transport stack every node of this process gets
 * (they patch shared classes, once): Yamux window updates, linear
 * `Uint8ArrayList.consume`, a length-prefixed decoder that does not throw
 * at every frame (Noise's), small Noise ciphertexts in slabs, the Ed25519
 * key cache, unref'd broadcast
 * channels. `buildLibp2p` applies them; so do the benches that build bare
 * libp2p nodes, so that they measure the stack the product runs.
 */
export async function applyStackAdjustments(): Promise<void> {
  patchBroadcastChannelUnref();
  patchYamuxWindowUpdates();
  patchConsume();
  patchLengthPrefixedDecoder();
  patchChachaSeal();
  await patchEd25519KeyCache();
}

/**
 * Builds (and starts) the libp2p node.
 *
 * @param config The resolved configuration.
 * @param privateKey The node's Ed25519 key.
 * @param gater Connection gate (allow-list, maxPeers).
 */
export async function buildLibp2p(
  config: ResolvedConfig,
  privateKey: PrivateKey,
  gater: ConnectionGater,
): Promise<MeshLibp2p> {
  await applyStackAdjustments();
  const host = config.listenHost;
  const listen = host.includes(":")
    ? `/ip6/${host}/tcp/${config.listenPort}`
    : `/ip4/${host}/tcp/${config.listenPort}`;
  const services: Record<string, unknown> = {
    identify: identify({ timeout: 5000 }),
    // handle.ping and libp2p's connection monitor may ping at once
    ping: ping({
      timeout: INBOUND_REQUEST_TIMEOUT_MS,
      maxInboundStreams: 4,
      maxOutboundStreams: 4,
    }),
    pubsub: gossipsub({
      // StrictSign is the default: every message is signed and checked
      globalSignaturePolicy: "StrictSign",
      allowPublishToZeroTopicPeers: true,
      emitSelf: false,
      heartbeatInterval: 1000,
      seenTTL: SEEN_TTL_MS,
      maxInboundDataLength: config.maxMessageBytes + 64 * 1024,
      fallbackToFloodsub: false,
      // the same ids, made without detours; copies already seen are
      // recognised before their signature is checked again (mesh/_msg_id.ts)
      msgIdFn,
      msgIdToStrFn: msgIdToStr,
      fastMsgIdFn: fastMsgId,
    }),
  };
  if (config.enableKad) {
    services.dht = kadDHT({
      protocol: KAD_PROTOCOL,
      clientMode: false,
      peerInfoMapper: removePublicAddressesMapper,
      logPrefix: "libp2p:dht-avi",
      incomingMessageTimeout: INBOUND_REQUEST_TIMEOUT_MS,
    });
  }
  const node = await createLibp2p({
    privateKey,
    nodeInfo: { userAgent: config.nodeName },
    addresses: { listen: [listen] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionProtector: config.swarmKey
      ? preSharedKey({ psk: config.swarmKey })
      : undefined,
    connectionGater: gater,
    connectionManager: {
      // connections, not peers: allow a few per peer; the gater caps peers
      maxConnections: config.maxPeers * 4 + 4,
      dialTimeout: 10_000,
      // idle or slow sockets must not lock peers out (see the constants)
      inboundUpgradeTimeout: INBOUND_UPGRADE_TIMEOUT_MS,
      maxIncomingPendingConnections: MAX_PENDING_INBOUND,
      inboundConnectionThreshold: INBOUND_CONNECTIONS_PER_ADDRESS_PER_SECOND,
    },
    peerDiscovery: config.enableMdns
      ? [mdns({
        serviceTag: `_${config.discoveryTag}._udp.local`,
        interval: config.mdnsIntervalMs,
      })]
      : [],
    // deno-lint-ignore no-explicit-any
    services: services as any,
  }) as unknown as MeshLibp2p;
  patchGossipIdle(node.services.pubsub as object);
  patchGossipValidate(node.services.pubsub as object);
  patchGossipRecords(node.services.pubsub as object);
  patchMessageCache(node.services.pubsub as object);
  patchTimeCaches(node.services.pubsub as object);
  patchTcpWrites(node);
  patchYamuxHeaders(node);
  // The Identify protocol id stays the standard /ipfs/id/1.0.0 (so any
  // libp2p peer can identify us); the announced protocol version is ours.
  const host_ =
    (node.services.identify as { host?: { protocolVersion: string } })
      ?.host;
  if (host_ !== undefined) host_.protocolVersion = IDENTIFY_PROTOCOL_VERSION;
  // kad-dht 16.4.5 accepts `incomingMessageTimeout` but never hands it to
  // its RPC handler (which keeps 10 s): set it there, when the field exists
  const rpc = (node.services.dht as
    | { rpc?: { incomingMessageTimeout?: unknown } }
    | undefined)
    ?.rpc;
  if (rpc !== undefined && typeof rpc.incomingMessageTimeout === "number") {
    rpc.incomingMessageTimeout = INBOUND_REQUEST_TIMEOUT_MS;
  }
  return node;
}

/** Our string form of a libp2p peer id. */
export function idOf(peer: Libp2pPeerId): string {
  return peer.toString();
}
