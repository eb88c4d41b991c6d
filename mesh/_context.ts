/**
 * The mesh side of the shared context: a {@linkcode ContextTransport} over a
 * small port of the node ({@linkcode ContextPort}: its internal pub/sub,
 * peer events, and the libp2p calls of a direct protocol for anti-entropy)
 * and the node's Ed25519 key; and the start of the {@linkcode ContextSync}
 * service with persistence under `dataDir`.
 *
 * @module
 */

import { peerIdFromString } from "@libp2p/peer-id";
import type {
  Connection,
  Libp2p,
  PrivateKey,
  Stream,
  StreamMessageEvent,
} from "@libp2p/interface";
import { ContextSync } from "../context/sync.ts";
import { FileContextStore } from "../context/file_store.ts";
import type {
  ContextTransport,
  TransportMessage,
} from "../context/transport.ts";
import type { AviEvent } from "../core/events.ts";
import type { PeerId } from "../core/peer_id.ts";

/**
 * What the context service needs of its mesh node: a port, not the node.
 * The runtime builds it from its pub/sub, its peers and its libp2p node.
 */
export interface ContextPort {
  /** This node's peer id. */
  readonly peerId: PeerId;
  /** Whether the node runs (false once shutdown began). */
  running(): boolean;
  /** Throws NotStartedError once the node stopped. */
  assertRunning(): void;
  /**
   * Publishes a signed message on an internal topic (no application
   * checks); rejects with NotStartedError after shutdown.
   */
  publish(topic: string, data: Uint8Array): Promise<void>;
  /**
   * Delivers the messages of an internal topic with their signed author
   * (authors off `allowedPeers` already dropped); returns the remover.
   */
  subscribe(
    topic: string,
    handler: (from: PeerId, data: Uint8Array) => void,
  ): () => void;
  /** Calls `fn` with each newly connected peer; returns the remover. */
  onPeerConnected(fn: (peer: PeerId) => void): () => void;
  /** The peers connected now. */
  connectedPeers(): PeerId[];
  /** The libp2p calls of the direct protocol. */
  readonly protocols: Pick<Libp2p, "handle" | "unhandle" | "dialProtocol">;
  /** Receives the service's events (`contextUpdated`, ...). */
  emit(ev: AviEvent): void;
  /** Receives warnings (`onWarning`). */
  warn(message: string): void;
  /**
   * Whether changes written by `writer` are accepted (with `allowedPeers`:
   * this node and the peers on it); `undefined`: every writer's.
   */
  readonly canWrite: ((writer: PeerId) => boolean) | undefined;
}

/** The file, inside `dataDir`, that keeps the context replica. */
export const CONTEXT_FILE = "context.bin";

/** The direct protocol of context anti-entropy (one message per stream). */
export const CONTEXT_PROTOCOL = "/avi/context/1.0.0";

/** The largest direct message accepted (ContextSync's default `maxMessageBytes`). */
const MAX_DIRECT_BYTES = 262_144;
/** A direct message must be sent (or received) whole within this many ms. */
const DIRECT_TIMEOUT_MS = 10_000;
/** Direct streams open at once per connection, each way. */
const DIRECT_STREAMS = 8;

/**
 * Builds the transport `ContextSync` runs over.
 *
 * - `subscribe` delivers GossipSub messages with their signed sender
 *   (`StrictSign`) and never this node's own messages (`emitSelf: false`).
 * - `send` opens a stream of {@linkcode CONTEXT_PROTOCOL} to a connected
 *   peer and writes one message; sends to one peer go one after another.
 * - `sign` uses the node's Ed25519 key; `verify` the key inlined in the
 *   peer id, resolving `false` for anything it cannot check.
 */
async function contextTransport(
  port: ContextPort,
  privateKey: PrivateKey,
): Promise<ContextTransport> {
  const direct = new Set<(m: TransportMessage) => void>();
  const chains = new Map<string, Promise<void>>();
  await port.protocols.handle(
    CONTEXT_PROTOCOL,
    (stream: Stream, connection: Connection) =>
      readDirect(stream, connection, (m) => {
        for (const h of direct) h(m);
      }),
    {
      maxInboundStreams: DIRECT_STREAMS,
      maxOutboundStreams: DIRECT_STREAMS,
      force: true,
    },
  );
  const sendNow = async (peer: PeerId, data: Uint8Array) => {
    port.assertRunning();
    const signal = AbortSignal.timeout(DIRECT_TIMEOUT_MS);
    const stream = await port.protocols.dialProtocol(
      peerIdFromString(peer),
      CONTEXT_PROTOCOL,
      { signal },
    );
    try {
      stream.send(data);
      await stream.close({ signal });
    } catch (e) {
      stream.abort(e as Error);
      throw e;
    }
  };
  return {
    localPeerId: port.peerId,
    publish(topic, data) {
      return port.publish(topic, data);
    },
    subscribe(topic, handler) {
      return port.subscribe(topic, (from, data) => handler({ from, data }));
    },
    send(peer, data) {
      const run = (chains.get(peer) ?? Promise.resolve()).then(() =>
        sendNow(peer, data)
      );
      const tail = run.catch(() => {});
      chains.set(peer, tail);
      tail.then(() => {
        if (chains.get(peer) === tail) chains.delete(peer);
      });
      return run;
    },
    onDirect(handler) {
      direct.add(handler);
      return () => {
        direct.delete(handler);
        if (direct.size === 0 && port.running()) {
          port.protocols.unhandle(CONTEXT_PROTOCOL).catch(() => {});
        }
      };
    },
    onPeerConnected(handler) {
      return port.onPeerConnected(handler);
    },
    connectedPeers(): PeerId[] {
      return port.running() ? port.connectedPeers() : [];
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

/** Reads one message (the whole stream, at most MAX_DIRECT_BYTES) and hands it on. */
function readDirect(
  stream: Stream,
  connection: Connection,
  deliver: (m: TransportMessage) => void,
): void {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const timer = setTimeout(
    () => stream.abort(new Error("context message too slow")),
    DIRECT_TIMEOUT_MS,
  );
  stream.addEventListener("message", (evt: StreamMessageEvent) => {
    const parts = evt.data instanceof Uint8Array ? [evt.data] : [...evt.data];
    for (const part of parts) {
      size += part.length;
      if (size > MAX_DIRECT_BYTES) {
        clearTimeout(timer);
        stream.abort(new Error("context message too large"));
        return;
      }
      chunks.push(part.slice());
    }
  });
  stream.addEventListener("end", () => {
    clearTimeout(timer);
    const data = new Uint8Array(size);
    let at = 0;
    for (const c of chunks) {
      data.set(c, at);
      at += c.length;
    }
    stream.close().catch(() => {});
    deliver({ from: connection.remotePeer.toString() as PeerId, data });
  });
  stream.addEventListener("close", () => clearTimeout(timer));
}

/**
 * Starts the context service of a node. The replica persists in
 * `<dir>/context.bin`. The node gives its `dataDir` only when its identity
 * persists there too, else `null`: a replica is tied to its writer id, so an
 * ephemeral identity keeps an in-memory context.
 *
 * A replica that cannot be loaded (damaged, or not a snapshot) is moved
 * aside to `context.bin.corrupt-<time>` with a warning, and the node starts
 * with an empty context that it saves as usual and that catches up from its
 * peers; it never runs on unsaved. When even that fails (the directory
 * cannot be written), the start fails.
 */
export async function startContext(
  port: ContextPort,
  privateKey: PrivateKey,
  dir: string | null,
): Promise<ContextSync> {
  const store = dir !== null
    ? new FileContextStore({ dir, fileName: CONTEXT_FILE })
    : undefined;
  const make = async () =>
    new ContextSync({
      transport: await contextTransport(port, privateKey),
      emit: (ev) => port.emit(ev),
      store,
      // With an allow-list, changes written by peers off it are refused,
      // whoever relays them.
      canWrite: port.canWrite,
    });
  const sync = await make();
  try {
    await sync.start();
    return sync;
  } catch (e) {
    if (store === undefined) throw e;
    const aside = await store.quarantine();
    port.warn(
      `avi-p2p: cannot load the context from ${store.path} (${
        (e as Error)?.message ?? e
      }); moved it to ${aside} and starting with an empty context, ` +
        `which is saved and catches up from peers`,
    );
    const fresh = await make();
    await fresh.start();
    return fresh;
  }
}
