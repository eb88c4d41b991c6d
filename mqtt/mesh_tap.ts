/**
 * The node handle as the UDP bridge sees it when the MQTT bridge runs on
 * the same node: every call goes to the handle (or to what already wraps
 * it), and
 *
 * - what the UDP bridge publishes (device events, device publishes) is
 *   also handed to the MQTT bridge once the mesh accepted it (a node never
 *   receives its own mesh messages, so this is how the MQTT bridge sees
 *   the gateway's devices);
 * - what the MQTT bridge publishes into the mesh (mirrored MQTT messages)
 *   is also handed to the UDP bridge as a `message` event, so that this
 *   gateway's devices subscribed to the topic get it too.
 *
 * @module
 */

import type { BridgeMesh } from "../bridge/mod.ts";
import type { AviEvent, JsonObject, JsonValue, PeerId } from "../mod.ts";

/**
 * What the MQTT bridge needs of a node: what the UDP bridge needs
 * ({@linkcode BridgeMesh}), its peer id, and the shared context. Its handle
 * (`AviP2pHandle`) fits.
 */
export interface MqttMesh extends BridgeMesh {
  /** This node's peer id. */
  readonly peerId: string;
  /** Subscribe the node to a topic. */
  subscribe(topic: string): Promise<unknown>;
  /** Unsubscribe the node from a topic. */
  unsubscribe(topic: string): Promise<unknown>;
  /** Deep-merge a patch into the shared context. */
  updateContext(patch: JsonObject): Promise<unknown>;
  /** The value at a dotted path of the shared context. */
  getContext(path: string): Promise<JsonValue | undefined>;
}

/** Messages injected and not yet read by a slow consumer, at most. */
const INJECT_CAP = 1024;

/** One consumer's events: the node's, with injected messages in between. */
class TapEvents implements AsyncIterableIterator<AviEvent> {
  readonly #inner: AsyncIterableIterator<AviEvent>;
  readonly #onEnd: () => void;
  #injected: AviEvent[] = [];
  #pending: Promise<IteratorResult<AviEvent>> | undefined;
  #wake: (() => void) | undefined;
  #done = false;
  #dropped = 0;

  constructor(inner: AsyncIterableIterator<AviEvent>, onEnd: () => void) {
    this.#inner = inner;
    this.#onEnd = onEnd;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<AviEvent> {
    return this;
  }

  push(ev: AviEvent): void {
    if (this.#done) return;
    if (this.#injected.length >= INJECT_CAP) {
      this.#injected.shift();
      this.#dropped++;
    }
    this.#injected.push(ev);
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  #nextInjected(): IteratorResult<AviEvent> {
    if (this.#dropped > 0) {
      const dropped = this.#dropped;
      this.#dropped = 0;
      return { done: false, value: { type: "lagged", dropped } };
    }
    return { done: false, value: this.#injected.shift()! };
  }

  async next(): Promise<IteratorResult<AviEvent>> {
    while (true) {
      if (this.#injected.length > 0 || this.#dropped > 0) {
        return this.#nextInjected();
      }
      if (this.#done) return { done: true, value: undefined };
      this.#pending ??= this.#inner.next();
      const woken = new Promise<"injected">((r) =>
        this.#wake = () => r("injected")
      );
      const r = await Promise.race([this.#pending, woken]);
      if (r === "injected") continue;
      this.#wake = undefined;
      this.#pending = undefined;
      if (r.done) this.#end();
      return r;
    }
  }

  return(): Promise<IteratorResult<AviEvent>> {
    this.#end();
    this.#injected = [];
    return Promise.resolve({ done: true, value: undefined });
  }

  #end(): void {
    if (this.#done) return;
    this.#done = true;
    this.#inner.return?.().catch(() => {});
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
    this.#onEnd();
  }
}

/** A tapped handle. */
export interface MeshTap {
  /** The handle for `EmbeddedBridge.start`. */
  mesh: BridgeMesh;
  /** Hand a message to the tapped consumers as if it came from the mesh. */
  inject(topic: string, data: Uint8Array): void;
}

/**
 * Wraps a handle (or another wrapper of it).
 *
 * @param inner The node's handle, or what wraps it.
 * @param self This node's peer id (the author of injected messages).
 * @param published Called with each message published through the tap,
 * once the mesh accepted it.
 */
export function tapMesh(
  inner: BridgeMesh,
  self: PeerId,
  published: (topic: string, data: Uint8Array) => void,
): MeshTap {
  const consumers = new Set<TapEvents>();
  const mesh: BridgeMesh = {
    subscribe: (t) => inner.subscribe(t),
    unsubscribe: (t) => inner.unsubscribe(t),
    async publish(topic, data) {
      const r = await inner.publish(topic, data);
      published(topic, data);
      return r;
    },
    events() {
      const c: TapEvents = new TapEvents(
        inner.events(),
        () => consumers.delete(c),
      );
      consumers.add(c);
      return c;
    },
  };
  if (inner.updateContext) mesh.updateContext = (p) => inner.updateContext!(p);
  if (inner.getContext) mesh.getContext = (p) => inner.getContext!(p);
  if (inner.subscriptions) mesh.subscriptions = () => inner.subscriptions!();
  if (inner.publishBatch) {
    mesh.publishBatch = async (messages) => {
      const r = await inner.publishBatch!(messages);
      for (const m of messages) published(m.topic, m.data);
      return r;
    };
  }
  if (inner.requestStream) {
    mesh.requestStream = (p, r, o) => inner.requestStream!(p, r, o);
  }
  if (inner.sendStreamData) {
    mesh.sendStreamData = (s, d) => inner.sendStreamData!(s, d);
  }
  if (inner.closeStream) mesh.closeStream = (s) => inner.closeStream!(s);
  return {
    mesh,
    inject(topic, data) {
      const ev: AviEvent = { type: "message", from: self, topic, data };
      for (const c of consumers) c.push(ev);
    },
  };
}
