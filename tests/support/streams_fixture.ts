/**
 * A small shared fixture for the stream tests and benchmark: real js-libp2p
 * nodes (TCP + Noise + Yamux on 127.0.0.1, no discovery) that can be dialled
 * to each other.
 *
 * @module
 */

import { createLibp2p } from "libp2p";
import { tcp } from "@libp2p/tcp";
import { noise } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import type { Libp2p } from "@libp2p/interface";
import { multiaddr } from "@multiformats/multiaddr";
import type { AviEvent } from "../../core/events.ts";
import type { PeerId } from "../../core/peer_id.ts";
import {
  StreamService,
  type StreamServiceInit,
} from "../../streams/service.ts";
import type { StreamFrame, StreamMode } from "../../streams/types.ts";
import { until } from "./wait.ts";

/** A running test node. */
export interface TestNode {
  /** The js-libp2p node. */
  libp2p: Libp2p;
  /** Its peer id as a string. */
  id: string;
  /** Stop it. */
  stop(): Promise<void>;
}

/**
 * Start a libp2p node that listens on a free port of 127.0.0.1.
 *
 * @example
 * ```ts ignore
 * const a = await startTestNode();
 * await a.stop();
 * ```
 */
export async function startTestNode(): Promise<TestNode> {
  const libp2p = await createLibp2p({
    addresses: { listen: ["/ip4/127.0.0.1/tcp/0"] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
  });
  await libp2p.start();
  return {
    libp2p,
    id: libp2p.peerId.toString(),
    stop: async () => {
      await libp2p.stop();
    },
  };
}

/**
 * Dial `to` from `from` (by its first listen address) and wait for the
 * connection to open.
 *
 * @example
 * ```ts ignore
 * await connect(a, b);
 * ```
 */
export async function connect(from: TestNode, to: TestNode): Promise<void> {
  const addr = to.libp2p.getMultiaddrs()[0];
  await from.libp2p.dial(multiaddr(addr.toString()));
}

/** A test node with a running {@linkcode StreamService} and its events. */
export interface StreamPeer {
  /** The libp2p node. */
  node: TestNode;
  /** The stream service under test. */
  service: StreamService;
  /** Every event the service emitted, in order. */
  events: AviEvent[];
  /** This node's peer id. */
  id: PeerId;
  /** Wait for an event of `type` matching `match` (within 20 s). */
  waitEvent<T extends AviEvent["type"]>(
    type: T,
    match?: (e: Extract<AviEvent, { type: T }>) => boolean,
  ): Promise<Extract<AviEvent, { type: T }>>;
  /** Stop the service and the node. */
  stop(): Promise<void>;
}

/**
 * Start a libp2p node with a stream service on it.
 *
 * @example
 * ```ts ignore
 * const a = await startStreamPeer({ maxStreams: 2 });
 * await a.stop();
 * ```
 */
export async function startStreamPeer(
  init: Partial<Omit<StreamServiceInit, "libp2p" | "emit">> = {},
): Promise<StreamPeer> {
  const node = await startTestNode();
  const events: AviEvent[] = [];
  const service = new StreamService({
    maxStreams: 5,
    ...init,
    libp2p: node.libp2p,
    emit: (e) => events.push(e),
  });
  await service.start();
  return {
    node,
    service,
    events,
    id: node.id as PeerId,
    async waitEvent<T extends AviEvent["type"]>(
      type: T,
      match: (e: Extract<AviEvent, { type: T }>) => boolean = () => true,
    ): Promise<Extract<AviEvent, { type: T }>> {
      const find = () =>
        events.find((e) =>
          e.type === type && match(e as Extract<AviEvent, { type: T }>)
        ) as Extract<AviEvent, { type: T }> | undefined;
      await until(() => find() !== undefined, 20_000, `a ${type} event`);
      return find()!;
    },
    async stop() {
      await service.stop();
      await node.stop();
    },
  };
}

/**
 * Start two connected stream peers; `b` accepts every request when
 * `autoAccept` is set.
 *
 * @example
 * ```ts ignore
 * const { a, b } = await streamPair();
 * ```
 */
export async function streamPair(
  init: Partial<Omit<StreamServiceInit, "libp2p" | "emit">> = {},
): Promise<{ a: StreamPeer; b: StreamPeer }> {
  const a = await startStreamPeer(init);
  const b = await startStreamPeer(init);
  await connect(a.node, b.node);
  return { a, b };
}

/**
 * Runs `body` with a fresh {@link streamPair}, then stops both peers (also
 * when `body` throws).
 *
 * @example
 * ```ts ignore
 * await withStreamPair(async ({ a, b }) => {
 *   await openStream(a, b);
 * }, { maxFrameBytes: 1000 });
 * ```
 */
export async function withStreamPair(
  body: (pair: { a: StreamPeer; b: StreamPeer }) => Promise<void>,
  init: Partial<Omit<StreamServiceInit, "libp2p" | "emit">> = {},
): Promise<void> {
  const { a, b } = await streamPair(init);
  try {
    await body({ a, b });
  } finally {
    await a.stop();
    await b.stop();
  }
}

/**
 * Open a stream from `a` to `b`, accepting it on `b`.
 *
 * @example
 * ```ts ignore
 * const id = await openStream(a, b, "realtime");
 * ```
 */
export async function openStream(
  a: StreamPeer,
  b: StreamPeer,
  mode: StreamMode = "reliable",
  onRequested?: (id: string) => void,
): Promise<string> {
  const accepted = (async () => {
    const req = await b.waitEvent(
      "streamRequested",
      (e) =>
        !b.events.some((x) =>
          x.type === "streamClosed" && x.streamId === e.streamId
        ) &&
        !answered.has(e.streamId),
    );
    answered.add(req.streamId);
    onRequested?.(req.streamId);
    await b.service.accept(req.streamId);
  })();
  const [id] = await Promise.all([
    a.service.request(b.id, "test", { mode }),
    accepted,
  ]);
  return id;
}

const answered = new Set<string>();

/**
 * {@link openStream}, with `b`'s readable for the stream taken as soon as it
 * is requested (before any frame can arrive).
 *
 * @example
 * ```ts ignore
 * const { id, readable } = await openStreamWithReadable(a, b, "reliable");
 * ```
 */
export async function openStreamWithReadable(
  a: StreamPeer,
  b: StreamPeer,
  mode: StreamMode = "reliable",
): Promise<{ id: string; readable: ReadableStream<StreamFrame> }> {
  let readable: ReadableStream<StreamFrame> | undefined;
  const id = await openStream(a, b, mode, (sid) => {
    readable = b.service.readable(sid);
  });
  return { id, readable: readable! };
}

/** Sleep `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
