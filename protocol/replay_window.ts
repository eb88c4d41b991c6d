/**
 * The 64-entry sliding replay window of a session's receive direction.
 *
 * @module
 */

/**
 * Accepts each sequence number at most once, and refuses numbers more than
 * 63 below the highest accepted. Use {@linkcode ReplayWindow.check} before
 * decrypting and {@linkcode ReplayWindow.accept} after the tag verified.
 *
 * @example
 * ```ts
 * import { ReplayWindow } from "@avi/p2p/protocol";
 * const w = new ReplayWindow();
 * console.log(w.check(5)); // true
 * w.accept(5);
 * console.log(w.check(5)); // false
 * ```
 */
export class ReplayWindow {
  /** Highest accepted sequence number (0 = none yet). */
  highest = 0;
  // Bit i of (hi:lo) set = highest - i was accepted; bit 0 is `highest`.
  #lo = 0;
  #hi = 0;

  /**
   * Tells whether a sequence number may be accepted.
   * @param seq Sequence number of a received frame (1..2^32-1).
   * @returns True if it is new and inside the window.
   */
  check(seq: number): boolean {
    if (seq === 0) return false;
    if (seq > this.highest) return true;
    const d = this.highest - seq;
    if (d >= 64) return false;
    return d < 32
      ? ((this.#lo >>> d) & 1) === 0
      : ((this.#hi >>> (d - 32)) & 1) === 0;
  }

  /**
   * Marks `seq` as received; call only after {@linkcode check} passed and the frame verified.
   * @param seq The sequence number.
   */
  accept(seq: number): void {
    if (seq > this.highest) {
      const s = seq - this.highest;
      if (this.highest === 0 || s >= 64) {
        this.#lo = 0;
        this.#hi = 0;
      } else if (s >= 32) {
        this.#hi = this.#lo << (s - 32);
        this.#lo = 0;
      } else {
        this.#hi = (this.#hi << s) | (this.#lo >>> (32 - s));
        this.#lo = this.#lo << s;
      }
      this.#lo |= 1;
      this.highest = seq;
      return;
    }
    const d = this.highest - seq;
    if (d < 32) this.#lo |= 1 << d;
    else if (d < 64) this.#hi |= 1 << (d - 32);
  }
}
