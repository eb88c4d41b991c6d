/**
 * A secure session: the keys, send counter and replay window of one side of
 * an established device session. Both ends use it.
 *
 * @module
 */

import type { ProtocolCrypto } from "./crypto.ts";
import { ErrorCode, Limits, Sizes } from "./constants.ts";
import { FrameEncodeError } from "./errors.ts";
import { type SealedFrame, writeSealedHeader } from "./frames.ts";
import {
  decodeMessage,
  decodeMessages,
  encodeMessage,
  type Message,
} from "./messages.ts";
import { Writer } from "./msgpack.ts";
import { ReplayWindow } from "./replay_window.ts";
import { FrameDecodeError } from "./errors.ts";

/** Options of {@linkcode SecureSession}. */
export interface SecureSessionOptions {
  /** Nonzero session id. */
  sessionId: number;
  /** 32-byte key of the direction this side sends. */
  sendKey: Uint8Array;
  /** 32-byte key of the direction this side receives. */
  recvKey: Uint8Array;
  /**
   * Agreed maximum frame size.
   * @default 1024
   */
  maxFrame?: number;
}

/**
 * One side of an established session. `seal*` numbers frames from 1 upward;
 * `open*` verifies, decrypts and checks the 64-entry replay window.
 *
 * @example
 * ```ts
 * import { nobleCrypto, SecureSession, decodeFrame } from "@avi/p2p/protocol";
 * const c = nobleCrypto({ random: (b) => crypto.getRandomValues(b) });
 * const k1 = new Uint8Array(32).fill(1), k2 = new Uint8Array(32).fill(2);
 * const dev = new SecureSession(c, { sessionId: 7, sendKey: k1, recvKey: k2 });
 * const gw = new SecureSession(c, { sessionId: 7, sendKey: k2, recvKey: k1 });
 * const frame = dev.sealMessage({ type: "ping" }, new Uint8Array(1024));
 * const f = decodeFrame(frame);
 * if (f.kind === "sealed") console.log(gw.openMessage(f)); // { type: "ping" }
 * ```
 */
export class SecureSession {
  /** Session id. */
  readonly id: number;
  /** Agreed maximum frame size. */
  readonly maxFrame: number;
  /** Next sequence number to send. */
  sendSeq = 1;
  /** Receive-side replay window. */
  readonly window: ReplayWindow = new ReplayWindow();
  #crypto: ProtocolCrypto;
  #sendKey: Uint8Array;
  #recvKey: Uint8Array;
  #nonce = new Uint8Array(12);
  #writer: Writer | null = null;
  #writerOut: Uint8Array | null = null;

  /**
   * Creates one side of a session.
   * @param crypto Crypto implementation.
   * @param options Id, keys and frame limit.
   */
  constructor(crypto: ProtocolCrypto, options: SecureSessionOptions) {
    this.#crypto = crypto;
    this.id = options.sessionId;
    this.#sendKey = options.sendKey;
    this.#recvKey = options.recvKey;
    this.maxFrame = options.maxFrame ?? Limits.DEFAULT_MAX_FRAME;
  }

  #setNonce(seq: number): Uint8Array {
    const n = this.#nonce;
    n[8] = seq >>> 24;
    n[9] = (seq >>> 16) & 0xff;
    n[10] = (seq >>> 8) & 0xff;
    n[11] = seq & 0xff;
    return n;
  }

  /**
   * Tells whether the send counter is spent.
   * @returns True when the send counter is spent: a new handshake is needed.
   */
  exhausted(): boolean {
    return this.sendSeq > Limits.MAX_SEQ;
  }

  /**
   * Seals a plaintext that is already at `out[10, 10 + length)`, in place.
   *
   * @param out Buffer holding the plaintext at offset 10.
   * @param length Plaintext length.
   * @returns The frame: a view of `out`.
   * @throws {FrameEncodeError} If it exceeds the frame size or the counter is spent.
   */
  sealInPlace(out: Uint8Array, length: number): Uint8Array {
    const total = length + Limits.SEALED_OVERHEAD;
    if (total > this.maxFrame || total > out.length) {
      throw new FrameEncodeError(
        `Cannot encode frame: ${total} bytes exceed the ${
          Math.min(this.maxFrame, out.length)
        }-byte limit`,
      );
    }
    if (this.exhausted()) {
      throw new FrameEncodeError("Cannot encode frame: session counter spent");
    }
    const seq = this.sendSeq++;
    writeSealedHeader(out, this.id, seq);
    const header = out.subarray(0, Sizes.SEALED_HEADER);
    const body = out.subarray(
      Sizes.SEALED_HEADER,
      Sizes.SEALED_HEADER + length,
    );
    this.#crypto.seal(
      this.#sendKey,
      this.#setNonce(seq),
      header,
      body,
      out.subarray(Sizes.SEALED_HEADER, total),
    );
    return out.subarray(0, total);
  }

  /**
   * Seals raw plaintext bytes into `out`.
   *
   * @param plaintext The bytes.
   * @param out Destination; defaults to a new buffer of `maxFrame` bytes.
   * @returns The frame (a view of `out`).
   */
  seal(plaintext: Uint8Array, out?: Uint8Array): Uint8Array {
    const o = out ?? new Uint8Array(plaintext.length + Limits.SEALED_OVERHEAD);
    if (plaintext.length + Sizes.SEALED_HEADER > o.length) {
      throw new FrameEncodeError("Cannot encode frame: buffer too small");
    }
    o.set(plaintext, Sizes.SEALED_HEADER);
    return this.sealInPlace(o, plaintext.length);
  }

  // One Writer per output buffer, kept: no allocation per message.
  #writerFor(out: Uint8Array): Writer {
    let w = this.#writer;
    if (w === null || this.#writerOut !== out) {
      const limit = Math.min(out.length, this.maxFrame) - Sizes.TAG;
      w = this.#writer = new Writer(out.subarray(0, limit));
      this.#writerOut = out;
    }
    return w;
  }

  /**
   * Encodes and seals one message into `out`.
   *
   * @param m The message.
   * @param out Scratch buffer (at least the frame's size).
   * @returns The frame (a view of `out`).
   * @throws {FrameEncodeError} If it does not fit `maxFrame`.
   */
  sealMessage(m: Message, out: Uint8Array): Uint8Array {
    const w = this.#writerFor(out);
    w.reset(Sizes.SEALED_HEADER);
    encodeMessage(w, m);
    return this.sealInPlace(out, w.pos - Sizes.SEALED_HEADER);
  }

  /**
   * Encodes as many of `messages` as fit one frame (in order, from the
   * first, at most `Limits.MAX_MESSAGES_PER_FRAME`), back to back, and seals
   * them: several small messages (acks, sensor readings) cost one datagram.
   * A message that does not fit, or fails to encode, ends the frame before
   * it; it is then the first of the next call.
   *
   * @param messages Messages to send, oldest first (at least one).
   * @param out Scratch buffer (at least the frame's size).
   * @returns The frame (a view of `out`) and how many messages it carries.
   * @throws {FrameEncodeError} If the first message alone does not encode or fit.
   * @example
   * ```ts
   * import { nobleCrypto, SecureSession } from "@avi/p2p/protocol";
   * const c = nobleCrypto({ random: (b) => crypto.getRandomValues(b) });
   * const k = new Uint8Array(32);
   * const s = new SecureSession(c, { sessionId: 7, sendKey: k, recvKey: k });
   * const { count } = s.sealMessages(
   *   [{ type: "ping" }, { type: "ack", msgId: 9, code: 0 }],
   *   new Uint8Array(1024),
   * );
   * console.log(count); // 2
   * ```
   */
  sealMessages(
    messages: readonly Message[],
    out: Uint8Array,
  ): { frame: Uint8Array; count: number } {
    const w = this.#writerFor(out);
    w.reset(Sizes.SEALED_HEADER);
    const n = Math.min(messages.length, Limits.MAX_MESSAGES_PER_FRAME);
    let count = 0;
    for (; count < n; count++) {
      const before = w.pos;
      try {
        encodeMessage(w, messages[count]);
      } catch (e) {
        if (count === 0 || !(e instanceof FrameEncodeError)) throw e;
        w.pos = before;
        break;
      }
    }
    if (count === 0) {
      throw new FrameEncodeError("Cannot encode frame: no message");
    }
    const frame = this.sealInPlace(out, w.pos - Sizes.SEALED_HEADER);
    return { frame, count };
  }

  /**
   * {@linkcode open} then decode every message of the frame (one or more,
   * docs/PROTOCOL.md section 4). Byte fields are views of the frame.
   *
   * @param f A decoded sealed frame.
   * @returns The messages, or an `ErrorCode` (`MALFORMED` if it authenticated
   *   but any message does not decode: the whole frame is refused).
   */
  openMessages(f: SealedFrame): Message[] | number {
    const pt = this.open(f);
    if (typeof pt === "number") return pt;
    try {
      return decodeMessages(pt);
    } catch (e) {
      if (e instanceof FrameDecodeError) return ErrorCode.MALFORMED;
      throw e;
    }
  }

  /**
   * Verifies and decrypts a sealed frame, in place (the frame's bytes are overwritten).
   *
   * @param f A decoded sealed frame.
   * @returns The plaintext (a view), or an `ErrorCode`: `UNKNOWN_SESSION`
   *   (another session id), `REPLAYED` (seen or too old), `NOT_AUTHORISED` (forged or damaged).
   */
  open(f: SealedFrame): Uint8Array | number {
    if (f.sessionId !== this.id) return ErrorCode.UNKNOWN_SESSION;
    if (!this.window.check(f.seq)) return ErrorCode.REPLAYED;
    const out = f.sealed.subarray(0, f.sealed.length - Sizes.TAG);
    const pt = this.#crypto.open(
      this.#recvKey,
      this.#setNonce(f.seq),
      f.header,
      f.sealed,
      out,
    );
    if (pt === null) return ErrorCode.NOT_AUTHORISED;
    this.window.accept(f.seq);
    return pt;
  }

  /**
   * {@linkcode open} then decode. Byte fields of the message are views of the frame.
   *
   * @param f A decoded sealed frame.
   * @returns The message or an `ErrorCode` (`MALFORMED` if it authenticated but does not decode).
   */
  openMessage(f: SealedFrame): Message | number {
    const pt = this.open(f);
    if (typeof pt === "number") return pt;
    try {
      return decodeMessage(pt);
    } catch (e) {
      if (e instanceof FrameDecodeError) return ErrorCode.MALFORMED;
      throw e;
    }
  }
}
