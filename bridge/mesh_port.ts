/**
 * What the bridge needs from a mesh node: the subset of the node handle it
 * calls. The handle of `AviP2p` satisfies it; tests of one function may pass
 * a small fake.
 *
 * @module
 */

import type { AviEvent, JsonObject, JsonValue } from "../core/events.ts";

/**
 * The mesh calls the bridge uses. Pub/sub and events are required; context
 * and streams are used when present.
 *
 * @example
 * ```ts
 * import type { BridgeMesh } from "@avi/p2p/bridge";
 * const quiet: BridgeMesh = {
 *   subscribe: async () => {},
 *   unsubscribe: async () => {},
 *   publish: async () => {},
 *   events: () => ({
 *     [Symbol.asyncIterator]() { return this; },
 *     next: () => new Promise(() => {}),
 *     return: async () => ({ done: true, value: undefined }),
 *   }),
 * };
 * ```
 */
export interface BridgeMesh {
  /** Subscribe the node to a topic. */
  subscribe(topic: string): Promise<unknown> | unknown;
  /** Unsubscribe the node from a topic. */
  unsubscribe(topic: string): Promise<unknown> | unknown;
  /** The node's own subscriptions (so the bridge leaves the application's alone). */
  subscriptions?(): Promise<string[]>;
  /** Publish; resolves once the mesh accepted the message. */
  publish(topic: string, data: Uint8Array): Promise<unknown>;
  /**
   * Publish several messages as one mesh message that receiving nodes
   * unpack into one `message` event each (`AviP2pHandle.publishBatch`).
   * Without it, device events are published one by one.
   */
  publishBatch?(
    messages: { topic: string; data: Uint8Array }[],
  ): Promise<unknown>;
  /** The node's events (only `message` and stream events are used). */
  events(): AsyncIterableIterator<AviEvent>;
  /**
   * Deep-merge a patch into the shared context; resolves once the change is
   * applied to the node's replica. Sensor readings are acknowledged to
   * devices only after it resolved.
   */
  updateContext?(patch: JsonObject): Promise<unknown>;
  /**
   * The value at a dotted path of the shared context. With it, the bridge
   * counts the sensors a device already has in the context against
   * `maxSensorsPerDevice`, and replaces (rather than merges into) the
   * readings found there.
   */
  getContext?(path: string): Promise<JsonValue | undefined>;
  /** Ask a peer for a stream; resolves with the stream id once accepted. */
  requestStream?(
    peerId: string,
    reason: string,
    options?: { mode?: "reliable" | "realtime" },
  ): Promise<string>;
  /** Send one frame on a stream. */
  sendStreamData?(
    streamId: string,
    data: Uint8Array,
  ): Promise<unknown> | unknown;
  /** Close a stream. */
  closeStream?(streamId: string): Promise<unknown> | unknown;
}
