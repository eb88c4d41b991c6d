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
 * The service is wired into the node's handle by the mesh runtime; on its own
 * it needs a running js-libp2p node.
 *
 * @example Two peers talk
 * ```ts ignore
 * import { StreamService } from "./mod.ts";
 * const service = new StreamService({ libp2p, emit: (e) => console.log(e.type), maxStreams: 5 });
 * await service.start();
 * const id = await service.request(peer, "voice", { mode: "realtime" });
 * await service.send(id, new Uint8Array(640));
 * console.log(service.stats(id).framesSent); // 1
 * await service.close(id);
 * await service.stop();
 * ```
 *
 * @module
 */
export {
  MAX_REASON_BYTES,
  StreamService,
  type StreamServiceCounters,
  type StreamServiceInit,
} from "./service.ts";
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
  StreamStats,
} from "./types.ts";
