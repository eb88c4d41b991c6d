/**
 * Receive-side figures of one stream: loss, reordering, jitter, latency.
 *
 * @module
 */

/** Tracks the sequence numbers and timestamps of received data frames. */
export class ReceiveStats {
  frames = 0;
  bytes = 0;
  lost = 0;
  reordered = 0;
  jitterMs = 0;
  latencyMs = 0;
  #nextSeq = 0;
  #lastArrival = NaN;
  #lastTimestamp = NaN;

  /**
   * Record one data frame.
   *
   * @param seq Its sequence number.
   * @param timestamp Its capture timestamp (ms).
   * @param bytes Its payload length.
   * @param arrival When it arrived (ms, same clock as `timestamp`).
   */
  record(seq: number, timestamp: number, bytes: number, arrival: number): void {
    this.frames++;
    this.bytes += bytes;
    if (seq >= this.#nextSeq) {
      this.lost += seq - this.#nextSeq;
      this.#nextSeq = seq + 1;
    } else {
      this.reordered++;
      if (this.lost > 0) this.lost--;
    }
    const transit = arrival - timestamp;
    if (Number.isFinite(transit)) {
      this.latencyMs = this.frames === 1
        ? transit
        : this.latencyMs + (transit - this.latencyMs) / 16;
      if (!Number.isNaN(this.#lastArrival)) {
        const d = (arrival - this.#lastArrival) -
          (timestamp - this.#lastTimestamp);
        if (Number.isFinite(d)) {
          this.jitterMs += (Math.abs(d) - this.jitterMs) / 16;
        }
      }
      this.#lastArrival = arrival;
      this.#lastTimestamp = timestamp;
    }
  }
}
