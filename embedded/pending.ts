/**
 * The device client's unacknowledged messages, its retransmission slots
 * (docs/PROTOCOL.md 4.1): each message holds its msgId until answered and
 * is retransmitted, exactly as built, after 1 s, 2 s, 4 s, ... (the
 * configured delays); a data message's payload lives in one of `maxPending`
 * slots of `maxFrame` bytes reserved at the start, so nothing is allocated
 * per message.
 *
 * Flow control: a message goes out only while its msgId is less than 16
 * (SEND_WINDOW) ids after the oldest unacknowledged one. Every id first
 * seen by the receiver after a message X is then within 16 of X, so the
 * receiver's memory of the last 32 ids holds X for as long as X may be
 * retransmitted.
 *
 * @module
 */

import { Limits, type Message } from "../protocol/mod.ts";
import { QueueFullError } from "./errors.ts";
import type { EmbeddedStats } from "./types.ts";

/** The answer a pending message waits for. */
export type AckType = "ack" | "subscribeAck" | "unsubscribeAck" | "regAck";

/** One unacknowledged message. */
export interface Pending {
  /** Its msgId. */
  msgId: number;
  /**
   * What is sent, every time: built once, so that each retransmission has
   * the bytes of the first transmission, in any session (the gateway
   * recognises a repeated message by them, across sessions too).
   */
  msg: Message;
  /** The answer it waits for. */
  ackType: AckType;
  /** Its payload slot, -1 if none. */
  slot: number;
  /** Transmissions in this session. */
  transmissions: number;
  /** When it was first sent in this session. */
  firstSentAt: number;
  /** When it is due next. */
  nextAt: number;
  /** Settles the caller's promise: acknowledged with code 0. */
  resolve: () => void;
  /** Settles the caller's promise: refused, or given up. */
  reject: (e: Error) => void;
  /** Called with the answer's code before the promise settles. */
  onAck?: (code: number) => void;
}

/** The unacknowledged messages, made by {@linkcode createPendingQueue}. */
export interface PendingQueue {
  /** The messages held, in msgId allocation order (changed in place). */
  readonly list: Pending[];
  /**
   * The delay before the next transmission after `tx` transmissions (1 or
   * more): the first delay, doubled each time up to the largest.
   */
  delay(tx: number): number;
  /** The next msgId (1..65535), skipping those still held. */
  allocId(): number;
  /** Takes a free payload slot: its index, or -1 when all are in use. */
  takeSlot(): number;
  /** Frees a payload slot (-1: none). */
  freeSlot(slot: number): void;
  /** Messages held without a payload slot (Subscribe, Unsubscribe, Register). */
  controls(): number;
  /** Copies a payload (at most `maxFrame` bytes) into a slot; returns the copy. */
  copy(slot: number, data: Uint8Array): Uint8Array;
  /** Removes the first message that `match` picks, frees its slot and returns it. */
  take(match: (p: Pending) => boolean): Pending | undefined;
  /** Appends to `out` every message due at `now` in the send window, counting the transmission. */
  due(now: number, out: Message[]): void;
  /** When the next message in the send window falls due (or Infinity). */
  nextAt(): number;
  /**
   * Tells whether the gateway is presumed lost: a message transmitted
   * `maxTx` times and due again, with nothing heard since its first send.
   */
  lost(now: number, maxTx: number, lastRecv: number): boolean;
  /** A new session: every message held is due at once, counted afresh. */
  restart(now: number): void;
}

const SEND_WINDOW = Limits.SEND_WINDOW;

/**
 * Reserves `maxPending` slots of `maxFrame` bytes.
 * @param maxPending Data messages held at once.
 * @param maxFrame Bytes of each slot.
 * @param firstId The first msgId (random, 1..65535).
 * @param retryInitial First retransmission delay, ms.
 * @param retryMax Largest retransmission delay, ms.
 * @param stats Where retransmissions are counted.
 * @returns The empty queue.
 */
export function createPendingQueue(
  maxPending: number,
  maxFrame: number,
  firstId: number,
  retryInitial: number,
  retryMax: number,
  stats: EmbeddedStats,
): PendingQueue {
  const list: Pending[] = [];
  const slab = new Uint8Array(maxPending * maxFrame);
  const used = new Uint8Array(maxPending);
  let nextId = firstId;

  function delay(tx: number): number {
    let d = retryInitial;
    for (let i = 1; i < tx && d < retryMax; i++) d *= 2;
    return Math.min(d, retryMax);
  }

  function freeSlot(i: number): void {
    if (i >= 0) used[i] = 0;
  }

  // Pending entries are in allocation order: the first is the oldest.
  function inWindow(p: Pending): boolean {
    const first = list[0];
    return first === undefined ||
      (p.msgId - first.msgId + 0xffff) % 0xffff < SEND_WINDOW;
  }

  return {
    list,
    delay,
    freeSlot,
    allocId() {
      for (let n = 0; n < 0xffff; n++) {
        const id = nextId;
        nextId = id === 0xffff ? 1 : id + 1;
        if (!list.some((p) => p.msgId === id)) return id;
      }
      throw new QueueFullError(list.length);
    },
    takeSlot() {
      for (let i = 0; i < maxPending; i++) {
        if (used[i] === 0) {
          used[i] = 1;
          return i;
        }
      }
      return -1;
    },
    controls() {
      let n = list.length;
      for (let i = 0; i < maxPending; i++) n -= used[i];
      return n;
    },
    copy(slot, data) {
      if (!(data instanceof Uint8Array) || data.length > maxFrame) {
        throw new RangeError(
          `data must be a Uint8Array of at most ${maxFrame} bytes`,
        );
      }
      const base = slot * maxFrame;
      slab.set(data, base);
      return slab.subarray(base, base + data.length);
    },
    take(match) {
      const i = list.findIndex(match);
      if (i < 0) return undefined;
      const p = list.splice(i, 1)[0];
      freeSlot(p.slot);
      return p;
    },
    due(now, out) {
      for (const p of list) {
        if (!inWindow(p)) break;
        if (p.nextAt > now) continue;
        if (p.transmissions === 0) p.firstSentAt = now;
        else stats.retransmissions++;
        p.transmissions++;
        p.nextAt = now + delay(p.transmissions);
        out.push(p.msg);
      }
    },
    nextAt() {
      let t = Infinity;
      for (const p of list) {
        if (!inWindow(p)) break;
        t = Math.min(t, p.nextAt);
      }
      return t;
    },
    lost(now, maxTx, lastRecv) {
      return list.some((p) =>
        p.transmissions >= maxTx && now >= p.nextAt &&
        lastRecv < p.firstSentAt
      );
    },
    restart(now) {
      for (const p of list) {
        p.transmissions = 0;
        p.nextAt = now;
      }
    },
  };
}
