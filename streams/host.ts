/**
 * The port through which the stream service reaches the network: only the
 * members of a js-libp2p node it calls, typed with the least it reads from
 * them. A running js-libp2p v3 node satisfies {@linkcode StreamsHost} as it
 * is, without a cast; a test can stand in with a small fake.
 *
 * @module
 */

import type { PeerId as Libp2pPeerId } from "@libp2p/interface";

/**
 * A peer as the host names it (a js-libp2p `PeerId`, made from the peer id
 * text with `peerIdFromString`). The service only passes it back to the host.
 */
export type HostPeer = Libp2pPeerId;

/** The events of a {@linkcode HostStream} the service listens to. */
export interface HostStreamEvents {
  /** Bytes arrived: one chunk, or a list of chunks. */
  message: { readonly data: Uint8Array | Iterable<Uint8Array> };
  /**
   * The stream is finished both ways. With `error`, it failed: `local` when
   * this end aborted it, else the peer reset it.
   */
  close: { readonly error?: Error; readonly local?: boolean };
  /** The peer finished writing and everything it wrote was delivered. */
  end: Event;
  /** The write buffer emptied enough to write again. */
  drain: Event;
  /** The write buffer is empty: every byte was handed to the network. */
  idle: Event;
}

/** One bidirectional byte stream to a peer (a js-libp2p `Stream`). */
export interface HostStream {
  /** `"open"` while it may be written; anything else once it is ending. */
  readonly status: string;
  /** Whether writes should wait for the next `drain` event. */
  readonly writableNeedsDrain: boolean;
  /** Bytes written but not yet handed to the network. */
  readonly writeBufferLength: number;
  /** Bytes received but not yet delivered as `message` events. */
  readonly readBufferLength: number;
  /** The most bytes the read buffer may hold (while paused). */
  maxReadBufferLength: number;
  /** Write bytes; `false` when the caller should wait for `drain`. */
  send(data: Uint8Array): boolean;
  /** Close gracefully: flush, then end our writable side. */
  close(options?: { signal?: AbortSignal }): Promise<void>;
  /** End at once, both ways, with an error. */
  abort(err: Error): void;
  /** Stop delivering `message` events (the peer's writes then wait). */
  pause(): void;
  /** Deliver `message` events again. */
  resume(): void;
  /** Listen to one of the {@linkcode HostStreamEvents}. */
  addEventListener<K extends keyof HostStreamEvents>(
    type: K,
    listener: (event: HostStreamEvents[K]) => void,
  ): void;
  /** Stop listening. */
  removeEventListener<K extends keyof HostStreamEvents>(
    type: K,
    listener: (event: HostStreamEvents[K]) => void,
  ): void;
}

/** The connection an inbound stream came on (a js-libp2p `Connection`). */
export interface HostConnection {
  /** The peer at the other end; its text form is the peer id. */
  readonly remotePeer: { toString(): string };
}

/** How many streams of the protocol one connection may carry. */
export interface HostHandleOptions {
  /** Inbound streams at once, per connection. */
  maxInboundStreams: number;
  /** Outbound streams at once, per connection. */
  maxOutboundStreams: number;
  /** Replace a handler already registered for the protocol. */
  force: true;
}

/**
 * What the stream service needs from the node it runs on: register a
 * protocol handler, open a stream to a peer, and see whether a peer is
 * connected. A js-libp2p v3 node (`Libp2p`) satisfies it structurally.
 *
 * @example
 * ```ts ignore
 * const service = new StreamService({ libp2p, emit, maxStreams: 8 });
 * ```
 */
export interface StreamsHost {
  /** Call `handler` for every inbound stream of `protocol`. */
  handle(
    protocol: string,
    handler: (stream: HostStream, connection: HostConnection) => void,
    options: HostHandleOptions,
  ): Promise<void>;
  /** Stop handling `protocol`. */
  unhandle(protocol: string): Promise<void>;
  /** Open a stream of `protocol` to a connected peer. */
  dialProtocol(
    peer: HostPeer,
    protocol: string,
    options: { signal: AbortSignal },
  ): Promise<HostStream>;
  /** The open connections to `peer` (only their number is used). */
  getConnections(peer: HostPeer): readonly unknown[];
}
