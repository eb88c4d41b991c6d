/**
 * Shared helpers of the mesh tests: nodes on 127.0.0.1 with a unique mDNS
 * tag per test, and waiting for events with generous deadlines.
 *
 * @module
 */

import { AviP2p, type AviP2pConfig } from "../../mesh/mod.ts";
import { RUNTIME } from "../../mesh/node.ts";
import { until } from "./wait.ts";
import type {
  AviEvent,
  PeerConnectedEvent,
  PeerDisconnectedEvent,
  PeerDiscoveredEvent,
  StreamDataEvent,
  StreamRequestedEvent,
} from "../../core/events.ts";

/** A tag no other test on this machine uses. */
export function uniqueTag(): string {
  return `t-${crypto.randomUUID().slice(0, 12)}`;
}

/** Starts a node on 127.0.0.1 (no mDNS, no disk unless asked). */
export function startNode(config: AviP2pConfig = {}): Promise<AviP2p> {
  return AviP2p.start({
    listenHost: "127.0.0.1",
    dataDir: null,
    enableMdns: false,
    redialInitialMs: 200,
    redialMaxMs: 2000,
    onWarning: () => {},
    ...config,
  });
}

/** Reads `events` until one matches; throws after `ms`. */
export async function waitForEvent<T extends AviEvent>(
  events: AsyncIterator<AviEvent>,
  match: (ev: AviEvent) => ev is T,
  ms = 20_000,
  what = "event",
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out waiting for ${what}`)),
      ms,
    );
  });
  try {
    return await Promise.race([
      (async () => {
        while (true) {
          const r = await events.next();
          if (r.done) {
            throw new Error(`event stream ended while waiting for ${what}`);
          }
          if (match(r.value)) return r.value;
        }
      })(),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Matches the peerDiscovered event of peer `id` (for {@link waitForEvent}). */
export const peerDiscovered =
  (id: string) => (e: AviEvent): e is PeerDiscoveredEvent =>
    e.type === "peerDiscovered" && e.peerId === id;

/** Matches the peerConnected event of peer `id` (for {@link waitForEvent}). */
export const peerConnected =
  (id: string) => (e: AviEvent): e is PeerConnectedEvent =>
    e.type === "peerConnected" && e.peerId === id;

/** Matches the peerDisconnected event of peer `id` (for {@link waitForEvent}). */
export const peerDisconnected =
  (id: string) => (e: AviEvent): e is PeerDisconnectedEvent =>
    e.type === "peerDisconnected" && e.peerId === id;

/** Matches any streamRequested event (for {@link waitForEvent}). */
export const isStreamRequested = (e: AviEvent): e is StreamRequestedEvent =>
  e.type === "streamRequested";

/** Matches any streamData event (for {@link waitForEvent}). */
export const isStreamData = (e: AviEvent): e is StreamDataEvent =>
  e.type === "streamData";

/**
 * Waits (20 s at most) until `watcher` sees `other` among the peers of
 * `topic`.
 */
export function untilTopicPeer(
  watcher: AviP2p,
  other: AviP2p,
  topic: string,
  what = `a node to see the other on ${topic}`,
): Promise<void> {
  return until(
    async () =>
      (await watcher.handle().topicPeers(topic)).includes(other.peerId),
    20_000,
    what,
  );
}

/** Waits (20 s at most) until `node` is connected to `other`. */
export function untilConnectedTo(node: AviP2p, other: AviP2p): Promise<void> {
  return until(async () =>
    (await node.handle().connectedPeers()).includes(other.peerId)
  );
}

/** Shuts every node down, ignoring errors. */
export async function shutdownAll(
  ...nodes: (AviP2p | undefined)[]
): Promise<void> {
  await Promise.all(nodes.map((n) => n?.shutdown().catch(() => {})));
}

/**
 * Publishes `count` one-byte messages (0, 1, ...) from `from` on `topic` and
 * waits until `to` has delivered the last.
 */
export async function publishAndAwaitLast(
  from: AviP2p,
  to: AviP2p,
  topic: string,
  count = 10,
): Promise<void> {
  const events = to.events()[Symbol.asyncIterator]();
  for (let i = 0; i < count; i++) {
    await from.handle().publish(topic, new Uint8Array([i]));
  }
  for (;;) {
    const { value } = await events.next();
    if (value.type === "message" && value.data[0] === count - 1) break;
  }
  await events.return?.();
}

/**
 * Two nodes (without Kademlia), the second bootstrapped to the first and
 * subscribed to `topic`, once the first sees it there: `[sender, receiver]`.
 * Shuts down what it started if it fails.
 */
export async function pairOnTopic(topic: string): Promise<[AviP2p, AviP2p]> {
  const nodes: AviP2p[] = [];
  try {
    const a = await startNode({ enableKad: false });
    nodes.push(a);
    const b = await startNode({
      enableKad: false,
      bootstrapPeers: [a.listenAddresses[0]],
    });
    nodes.push(b);
    await b.handle().subscribe(topic);
    await untilTopicPeer(a, b, topic);
    return [a, b];
  } catch (e) {
    await shutdownAll(...nodes);
    throw e;
  }
}

/**
 * A house of three nodes (without Kademlia) subscribed to `topic`, each with
 * both others in its GossipSub mesh for it, so that each relays what it
 * receives from one to the other. Shuts down what it started if it fails.
 */
export async function houseOfThree(
  topic: string,
): Promise<[AviP2p, AviP2p, AviP2p]> {
  const nodes: AviP2p[] = [];
  try {
    const a = await startNode({ enableKad: false });
    nodes.push(a);
    const b = await startNode({
      enableKad: false,
      bootstrapPeers: [a.listenAddresses[0]],
    });
    nodes.push(b);
    const c = await startNode({
      enableKad: false,
      bootstrapPeers: [a.listenAddresses[0], b.listenAddresses[0]],
    });
    nodes.push(c);
    for (const n of nodes) await n.handle().subscribe(topic);
    const meshPeers = (n: AviP2p) =>
      (n[RUNTIME]().libp2p.services.pubsub as unknown as {
        getMeshPeers(t: string): string[];
      }).getMeshPeers(topic).length;
    await until(
      () => nodes.every((n) => meshPeers(n) === 2),
      20_000,
      "a full mesh of three",
    );
    return [a, b, c];
  } catch (e) {
    await shutdownAll(...nodes);
    throw e;
  }
}
