/**
 * Yamux frame headers in shared slabs (internal).
 *
 * `@chainsafe/libp2p-yamux` 8.0.1 makes a new 12-byte `Uint8Array` for the
 * header of every frame it sends (`encodeHeader`, called by the muxer's
 * `sendFrame`). In Deno every new typed array is a backing store of its own
 * (see `core/slab.ts`): one more per message sent, made and later swept.
 * The muxer also formats every frame's header for its trace log before
 * asking whether tracing is on.
 *
 * {@linkcode patchYamuxHeaders} gives the muxer class (found at a node's
 * first connection: it is not exported) a `sendFrame` that, for a data
 * frame with its data, writes the same 12 bytes into a slab view and sends
 * the same list; every other frame goes to the package's own `sendFrame`.
 * The trace line is written, unformatted, only while tracing is on.
 *
 * @module
 */

import { Uint8ArrayList } from "uint8arraylist-v2";
import { slabBytes } from "../core/slab.ts";
import type { WrittenFor } from "./_written_for.ts";
import { ConnectionClassMethod, type NodeEvents } from "./_connection_class.ts";

/** The version this adjustment was written for: it replaces `sendFrame` of its muxer class and calls `send`. */
export const YAMUX_HEADER_WRITTEN_FOR: WrittenFor = {
  name: "@chainsafe/libp2p-yamux",
  version: "8.0.1",
  adjustment: "mesh/_yamux_header.ts",
};

/** The class name of Yamux's muxer. */
const MUXER_CLASS = "YamuxMuxer";
/** Yamux's frame header: version, type, flags (2), stream id (4), length (4). */
export const HEADER_BYTES = 12;
/** Yamux's data frame type. */
const DATA = 0;

/** A frame header as the muxer is given it. */
export interface FrameHeader {
  type: number;
  flag: number;
  streamID: number;
  length: number;
}

/** What `sendFrame` uses of a muxer. */
interface MuxerFields {
  send(data: Uint8Array | Uint8ArrayList): boolean;
  log?: { trace?: ((...a: unknown[]) => void) & { enabled?: boolean } };
}

type SendFrame = (
  this: MuxerFields,
  header: FrameHeader,
  data?: Uint8ArrayList,
) => boolean;

/** The 12 bytes of a frame header, as the package's `encodeHeader` writes them, in a slab view. */
export function encodeHeader(header: FrameHeader): Uint8Array {
  const frame = slabBytes(HEADER_BYTES);
  // byte 0: version 0
  frame[1] = header.type;
  frame[2] = header.flag >>> 8;
  frame[3] = header.flag;
  frame[4] = header.streamID >>> 24;
  frame[5] = header.streamID >>> 16;
  frame[6] = header.streamID >>> 8;
  frame[7] = header.streamID;
  frame[8] = header.length >>> 24;
  frame[9] = header.length >>> 16;
  frame[10] = header.length >>> 8;
  frame[11] = header.length;
  return frame;
}

const sendFrame: SendFrame = function sendFrame(header, data) {
  if (header.type !== DATA || data == null) {
    return adjustment.packageOwn!.call(this, header, data);
  }
  const trace = this.log?.trace;
  if (trace?.enabled) trace("sending frame %o", header);
  return this.send(new Uint8ArrayList(encodeHeader(header), data));
};

const adjustment = new ConnectionClassMethod({
  field: "muxer",
  className: MUXER_CLASS,
  method: "sendFrame",
  replacement: sendFrame,
  fits: (proto) => typeof proto.send === "function",
});

/**
 * Applies the adjustment to the class of the node's Yamux muxers, at its
 * first connection (already open, or when it opens). Streams made before it
 * keep the package's `sendFrame` (bound when they were made).
 *
 * @param node A libp2p node.
 */
export function patchYamuxHeaders(node: NodeEvents): void {
  adjustment.patch(node);
}

/** Whether the connection's muxer class has the adjustment (for tests). */
export function hasSlabHeaders(connection: unknown): boolean {
  return adjustment.has(connection);
}

/**
 * Puts the package's `sendFrame` back (the hop bench's "before"); it stays
 * until the process ends.
 */
export function undoYamuxHeaders(): void {
  adjustment.undo();
}
