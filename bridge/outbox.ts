/**
 * The gateway's one sender: replies outside a session (cookies, rejects,
 * GwInfo) and each session's queue of messages, packed into as few sealed
 * frames as fit, handed to the transport.
 *
 * @module
 */

import {
  FrameEncodeError,
  Limits,
  type Message,
  type SecureSession,
} from "../protocol/mod.ts";
import { BoundedQueue } from "./bounded_queue.ts";
import { MAX_PENDING_REPLIES } from "./options.ts";
import type { BridgeStats } from "./stats.ts";
import type { Endpoint, GatewayTransport } from "./transport.ts";

/** What the outbox needs of a session. */
export interface OutboundPeer {
  /** Its keys and frame bound. */
  readonly secure: SecureSession;
  /** Where its frames go (follows the device's address). */
  addr: Endpoint;
  /** Messages waiting for it (oldest dropped when full). */
  readonly out: BoundedQueue<Message>;
  /** Set once the session ended: nothing more is queued for it. */
  closed: boolean;
}

/** Queues and sends; see the module doc. */
export class Outbox {
  #transport: GatewayTransport;
  #stats: BridgeStats;
  #raw = new BoundedQueue<[Uint8Array, Endpoint]>(MAX_PENDING_REPLIES);
  #ready = new Set<OutboundPeer>();
  #pumping = false;
  #closed = false;

  /**
   * @param transport Where datagrams go.
   * @param stats Counters (`outboundDropped`, `bundledOut`, `tooLarge`, `internalErrors`).
   */
  constructor(transport: GatewayTransport, stats: BridgeStats) {
    this.#transport = transport;
    this.#stats = stats;
  }

  /** Replies waiting for the transport. */
  get pendingReplies(): number {
    return this.#raw.length;
  }

  /** Queue a message for a session (dropping its oldest when full). */
  queue(s: OutboundPeer, m: Message): void {
    if (s.closed) return;
    if (s.out.push(m) !== undefined) this.#stats.outboundDropped++;
    this.#ready.add(s);
    this.#kick();
  }

  /** Queue a reply outside any session (copied). */
  sendRaw(b: Uint8Array, to: Endpoint): void {
    if (this.#raw.push([b.slice(), to]) !== undefined) {
      this.#stats.outboundDropped++;
    }
    this.#kick();
  }

  /** Stop sending for an ended session. */
  forget(s: OutboundPeer): void {
    this.#ready.delete(s);
  }

  /** Send nothing more. */
  close(): void {
    this.#closed = true;
  }

  #kick(): void {
    if (this.#pumping || this.#closed) return;
    this.#pumping = true;
    // Start at the end of this job, so that what it queues for one device
    // (the acks of one envelope, the answers to one frame) leaves together.
    queueMicrotask(() => void this.#pump());
  }

  /**
   * One sender: raw replies first, then one frame per ready session in turn,
   * each frame carrying as many of that session's queued messages as fit.
   * The transport's backpressure (a promise from `send`) holds the pump.
   * Frames may leave slightly out of order: the replay window allows it.
   */
  async #pump(): Promise<void> {
    const batch: Message[] = [];
    try {
      while (!this.#closed) {
        const raw = this.#raw.shift();
        if (raw !== undefined) {
          await this.#transport.send(raw[0], raw[1]);
          continue;
        }
        if (this.#ready.size === 0) return;
        for (const s of [...this.#ready]) {
          if (this.#closed) return;
          if (s.closed) s.out.clear();
          batch.length = 0;
          const n = Math.min(s.out.length, Limits.MAX_MESSAGES_PER_FRAME);
          for (let i = 0; i < n; i++) batch.push(s.out.peek(i)!);
          let frame: Uint8Array | undefined;
          let count = 1; // what leaves the queue: the frame's, or the one refused
          if (n > 0) {
            try {
              ({ frame, count } = s.secure.sealMessages(
                batch,
                new Uint8Array(s.secure.maxFrame),
              ));
            } catch (e) {
              if (e instanceof FrameEncodeError) this.#stats.tooLarge++;
              else this.#stats.internalErrors++;
            }
          }
          for (let i = 0; i < count; i++) s.out.shift();
          if (s.out.length === 0) this.#ready.delete(s);
          if (frame === undefined) continue;
          if (count > 1) this.#stats.bundledOut++;
          await this.#transport.send(frame, s.addr);
          if (this.#raw.length > 0) break;
        }
      }
    } finally {
      // Cleared here, synchronously: a message queued after the last check
      // above starts a new pump instead of waiting for the next one.
      this.#pumping = false;
    }
  }
}
