/**
 * Streams between peers: one libp2p stream per logical stream, binary
 * length-prefixed frames (type, sequence number, capture timestamp, flags,
 * raw payload) on the protocol `/avi/stream/2.0.0`.
 *
 * Two delivery modes: `"reliable"` (every byte in order, `send` waits while
 * the peer is slow) and `"realtime"` (bounded queues that drop the oldest
 * frames, counted, so latency never piles up). A stream can also be used as a
 * web `ReadableStream` of frames and a `WritableStream` of byte chunks.
 *
 * The service is wired into the node's handle by the mesh runtime (its
 * `requestStream`, `sendStreamData`, `streamReadable`, ... calls); on its own
 * it needs a host: a running js-libp2p node satisfies {@linkcode StreamsHost}
 * as it is.
 *
 * @example Two peers talk, through the handle of a node
 * ```ts
 * import { AviP2p, type PeerId } from "@avi/p2p";
 *
 * async function talk(peer: PeerId): Promise<void> {
 *   const node = await AviP2p.start({ nodeName: "mic", dataDir: null });
 *   const handle = node.handle();
 *   const id = await handle.requestStream(peer, "voice", { mode: "realtime" });
 *   await handle.sendStreamData(id, new Uint8Array(640));
 *   console.log((await handle.streamStats(id)).framesSent); // 1
 *   await handle.closeStream(id);
 *   await node.shutdown();
 * }
 * ```
 *
 * @module
 */
export { StreamService } from "./service.ts";
export { MAX_REASON_BYTES, type StreamServiceInit } from "./options.ts";
export type {
  HostConnection,
  HostHandleOptions,
  HostPeer,
  HostStream,
  HostStreamEvents,
  StreamsHost,
} from "./host.ts";
export {
  DEFAULT_MAX_FRAME_BYTES,
  FRAME_HEADER_BYTES,
  MAX_UNACCEPTED_FRAME_BYTES,
  STREAM_PROTOCOL,
} from "./frame.ts";
export type {
  RequestStreamOptions,
  SendStreamOptions,
  StreamFrame,
  StreamMode,
  StreamServiceCounters,
  StreamStats,
} from "./types.ts";
