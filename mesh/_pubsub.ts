/**
 * Pub/sub of a mesh node (internal): the application's topics and the
 * services' internal ones over one GossipSub, inbound checks (signed, size,
 * `allowedPeers`), and envelopes (`publishBatch`).
 *
 * @module
 */

import type { GossipSub, Message } from "@libp2p/gossipsub";
import {
  NotStartedError,
  NotSubscribedError,
  TooLargeError,
} from "../core/errors.ts";
import type { AviEvent } from "../core/events.ts";
import type { PeerId } from "../core/peer_id.ts";
import { checkNotReserved, checkTopic } from "./topic.ts";
import {
  decodeEnvelope,
  encodeEnvelope,
  ENVELOPE_TOPIC,
  type EnvelopeEntry,
} from "./_envelope.ts";

/** Internal handler of messages on a topic (used by services such as context). */
export type TopicHandler = (from: PeerId, data: Uint8Array) => void;

/** What {@linkcode MeshPubSub} needs of its node. */
export interface MeshPubSubInit {
  pubsub: GossipSub;
  maxMessageBytes: number;
  maxTopicLength: number;
  /** Receives `message` events. */
  emit(ev: AviEvent): void;
  /** Whether a message signed by `peer` may be delivered (`allowedPeers`). */
  isAllowed(peer: string): boolean;
  /** Whether the node runs (false once shutdown began). */
  running(): boolean;
}

/**
 * The node's topics: those the application subscribed to (delivered as
 * `message` events) and those of internal handlers (never surfaced), each
 * subscribed on GossipSub while anyone wants it. Envelopes are unpacked
 * into `message` events from the start.
 */
export class MeshPubSub {
  /**
   * Inbound messages dropped: unsigned, over the size limit, or a malformed
   * envelope.
   */
  messagesDropped = 0;
  /** Inbound messages dropped because their signed author is not allowed. */
  messagesNotAllowed = 0;
  /** Messages this node published (the application's, one per envelope). */
  messagesPublished = 0;
  /** Messages delivered to the application as `message` events. */
  messagesReceived = 0;
  readonly #pubsub: GossipSub;
  readonly #o: MeshPubSubInit;
  readonly #userTopics = new Set<string>();
  readonly #internalTopics = new Map<string, Set<TopicHandler>>();

  constructor(init: MeshPubSubInit) {
    this.#pubsub = init.pubsub;
    this.#o = init;
    this.subscribeInternal(
      ENVELOPE_TOPIC,
      (from, data) => this.#onEnvelope(from, data),
    );
  }

  /** GossipSub's `message` event: checks, then internal handlers and events. */
  receive(msg: Message): void {
    if (msg.type !== "signed" || msg.data.length > this.#o.maxMessageBytes) {
      this.messagesDropped++;
      return;
    }
    const from = msg.from.toString() as PeerId;
    // allowedPeers holds for content too: a peer off the list reaches us
    // only through an allowed one, which relays what the author signed
    if (!this.#o.isAllowed(from)) {
      this.messagesNotAllowed++;
      return;
    }
    const handlers = this.#internalTopics.get(msg.topic);
    if (handlers !== undefined) {
      for (const h of handlers) {
        try {
          h(from, msg.data);
        } catch { /* counted by the service itself */ }
      }
    }
    if (this.#userTopics.has(msg.topic)) {
      this.messagesReceived++;
      this.#o.emit({ type: "message", from, topic: msg.topic, data: msg.data });
    }
  }

  /** Unpacks an envelope into `message` events for our own topics. */
  #onEnvelope(from: PeerId, data: Uint8Array): void {
    let entries: EnvelopeEntry[];
    try {
      entries = decodeEnvelope(data, this.#o.maxTopicLength);
    } catch {
      this.messagesDropped++;
      return;
    }
    for (const e of entries) {
      if (!this.#userTopics.has(e.topic)) continue;
      this.messagesReceived++;
      this.#o.emit({ type: "message", from, topic: e.topic, data: e.data });
    }
  }

  #refreshSubscription(topic: string): void {
    const want = this.#userTopics.has(topic) ||
      (this.#internalTopics.get(topic)?.size ?? 0) > 0;
    const has = this.#pubsub.getTopics().includes(topic);
    if (want && !has) this.#pubsub.subscribe(topic);
    if (!want && has) this.#pubsub.unsubscribe(topic);
  }

  // ---- internal topics (services) -----------------------------------------

  /** Subscribes an internal handler (not surfaced as `message` events). */
  subscribeInternal(topic: string, handler: TopicHandler): () => void {
    let set = this.#internalTopics.get(topic);
    if (set === undefined) this.#internalTopics.set(topic, set = new Set());
    set.add(handler);
    this.#refreshSubscription(topic);
    return () => {
      set!.delete(handler);
      if (set!.size === 0) this.#internalTopics.delete(topic);
      if (this.#o.running()) this.#refreshSubscription(topic);
    };
  }

  /**
   * Publishes a service's message as it is: none of the application's
   * checks (topic, `maxMessageBytes`); the service bounds its own messages.
   * Rejects with NotStartedError after shutdown.
   */
  async publishInternal(topic: string, data: Uint8Array): Promise<void> {
    if (!this.#o.running()) throw new NotStartedError();
    await this.#pubsub.publish(topic, data);
  }

  /** Forgets every internal handler (at shutdown). */
  clearInternal(): void {
    this.#internalTopics.clear();
  }

  // ---- the handle's calls -------------------------------------------------

  subscribe(topic: string): void {
    checkTopic(topic, this.#o.maxTopicLength);
    checkNotReserved(topic);
    this.#userTopics.add(topic);
    this.#refreshSubscription(topic);
  }

  unsubscribe(topic: string): void {
    checkTopic(topic, this.#o.maxTopicLength);
    if (!this.#userTopics.delete(topic)) throw new NotSubscribedError(topic);
    this.#refreshSubscription(topic);
  }

  subscriptions(): string[] {
    return [...this.#userTopics];
  }

  async publish(topic: string, data: Uint8Array): Promise<number> {
    checkTopic(topic, this.#o.maxTopicLength);
    checkNotReserved(topic);
    if (!(data instanceof Uint8Array)) {
      throw new TypeError("Cannot publish: data must be a Uint8Array");
    }
    if (data.length > this.#o.maxMessageBytes) {
      throw new TooLargeError("message", data.length, this.#o.maxMessageBytes);
    }
    const result = await this.#pubsub.publish(topic, data);
    this.messagesPublished++;
    return result.recipients.length;
  }

  async publishBatch(
    messages: readonly { topic: string; data: Uint8Array }[],
  ): Promise<number> {
    if (!Array.isArray(messages) || messages.length === 0) {
      throw new TypeError("Cannot publish: no messages");
    }
    if (messages.length === 1) {
      return await this.publish(messages[0].topic, messages[0].data);
    }
    for (const m of messages) {
      checkTopic(m?.topic, this.#o.maxTopicLength);
      checkNotReserved(m.topic);
      if (!(m.data instanceof Uint8Array)) {
        throw new TypeError("Cannot publish: data must be a Uint8Array");
      }
    }
    const envelope = encodeEnvelope(
      messages.map((m) => ({ topic: m.topic, data: m.data })),
    );
    if (envelope.length > this.#o.maxMessageBytes) {
      throw new TooLargeError(
        "message",
        envelope.length,
        this.#o.maxMessageBytes,
      );
    }
    const result = await this.#pubsub.publish(ENVELOPE_TOPIC, envelope);
    this.messagesPublished += messages.length;
    return result.recipients.length;
  }

  topicPeers(topic: string): PeerId[] {
    checkTopic(topic, this.#o.maxTopicLength);
    return this.#pubsub.getSubscribers(topic).map((p) =>
      p.toString() as PeerId
    );
  }
}
