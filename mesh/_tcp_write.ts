/**
 * One socket write per send on a TCP connection (internal).
 *
 * `@libp2p/tcp` 11.0.28 hands what a connection sends to its socket one
 * buffer at a time (`TCPSocketMultiaddrConnection.sendData`: a
 * `socket.write` per buffer of the list). Noise sends every frame as two
 * buffers, its 2-byte length and the ciphertext, so every message became
 * two writes through `node:net`, two syscalls, two TCP segments, and on the
 * receiving side usually two reads, each a trip through the runtime's I/O,
 * the socket's stream and the connection's events before Noise can decrypt
 * anything.
 *
 * {@linkcode patchTcpWrites} gives the class a `sendData` that writes a list
 * of up to {@linkcode ONE_WRITE_MAX_BYTES} as one buffer (copied once; Deno's
 * `node:net` joins the buffers of a corked or queued write into one copy
 * anyway), and larger lists buffer by buffer as before. What the
 * connection is told (bytes sent, whether to wait for `drain`) keeps the
 * package's meaning. A change any user of the package would want (see
 * docs/PERFORMANCE.md).
 *
 * The class is not exported: the adjustment finds it as the class of a
 * node's first TCP connection.
 *
 * @module
 */

import type { WrittenFor } from "./_written_for.ts";
import { ConnectionClassMethod, type NodeEvents } from "./_connection_class.ts";

/** The version this adjustment was written for: it replaces `sendData` of its connection class and uses the `socket` field. */
export const TCP_WRITE_WRITTEN_FOR: WrittenFor = {
  name: "@libp2p/tcp",
  version: "11.0.28",
  adjustment: "mesh/_tcp_write.ts",
};

/** A list this size or smaller goes to the socket as one buffer. */
export const ONE_WRITE_MAX_BYTES = 64 * 1024;

/** The class name of `@libp2p/tcp`'s connections. */
const CONNECTION_CLASS = "TCPSocketMultiaddrConnection";

/** A list of buffers as the connection is given it (a `Uint8ArrayList`). */
interface BufferList extends Iterable<Uint8Array> {
  readonly byteLength: number;
  subarray(): Uint8Array;
}

/** What `sendData` uses of a connection. */
interface ConnectionFields {
  socket: { write(buf: Uint8Array): boolean };
}

/** The package's `sendData` for a small list, as one write. */
export function sendData(
  this: ConnectionFields,
  data: BufferList,
): { sentBytes: number; canSendMore: boolean } {
  // (`bufs` is the list's own array of buffers; without it, as the package)
  const count = (data as unknown as { bufs?: Uint8Array[] }).bufs?.length ?? 0;
  if (count > 1 && data.byteLength <= ONE_WRITE_MAX_BYTES) {
    return {
      sentBytes: data.byteLength,
      canSendMore: this.socket.write(data.subarray()),
    };
  }
  // the package's own loop
  let sentBytes = 0;
  let canSendMore = true;
  for (const buf of data) {
    sentBytes += buf.byteLength;
    canSendMore = this.socket.write(buf);
    if (!canSendMore) break;
  }
  return { sentBytes, canSendMore };
}

const adjustment = new ConnectionClassMethod({
  field: "maConn",
  className: CONNECTION_CLASS,
  method: "sendData",
  replacement: sendData,
  fits: (proto, maConn) =>
    Object.hasOwn(proto, "sendData") && "socket" in maConn,
});

/**
 * Puts the package's `sendData` back (the hop bench's "before"); it stays
 * until the process ends.
 */
export function undoTcpWrites(): void {
  adjustment.undo();
}

/**
 * Applies the adjustment to the class of the node's TCP connections, at its
 * first one (already open, or when it opens).
 *
 * @param node A libp2p node.
 */
export function patchTcpWrites(node: NodeEvents): void {
  adjustment.patch(node);
}

/** Whether the connection's class has the adjustment (for tests). */
export function hasOneWrite(connection: unknown): boolean {
  return adjustment.has(connection);
}
