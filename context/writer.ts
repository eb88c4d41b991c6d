/**
 * Writer ids: who made a change. A node writes as `<peerId>/<epoch>`, with a
 * new epoch every time its context service starts, so that a node whose
 * replica was lost, corrupted or restored from an older copy can never reuse
 * a sequence number it gave out before (its peers would take the new change
 * for one they already have, and diverge for ever). A plain `<peerId>` (no
 * epoch) is still a valid writer id: the signature of a delta is checked
 * against the peer id part.
 *
 * The epoch is the start time in base 36 (8 characters) followed by 4 random
 * characters, so that epochs of one peer sort by age.
 *
 * @module
 */

/** The separator between the peer id and the epoch of a writer id. */
export const EPOCH_SEPARATOR = "/";

/**
 * The peer id part of a writer id.
 *
 * @example
 * ```ts
 * import { writerPeer } from "@avi/p2p/context";
 * console.log(writerPeer("12D3KooWabc/mh0x1z2a9k3f")); // "12D3KooWabc"
 * console.log(writerPeer("12D3KooWabc")); // "12D3KooWabc"
 * ```
 */
export function writerPeer(writer: string): string {
  const i = writer.indexOf(EPOCH_SEPARATOR);
  return i < 0 ? writer : writer.slice(0, i);
}

/**
 * The epoch part of a writer id (`""` when it has none).
 *
 * @example
 * ```ts
 * import { writerEpoch } from "@avi/p2p/context";
 * console.log(writerEpoch("12D3KooWabc/mh0x1z2a9k3f")); // "mh0x1z2a9k3f"
 * ```
 */
export function writerEpoch(writer: string): string {
  const i = writer.indexOf(EPOCH_SEPARATOR);
  return i < 0 ? "" : writer.slice(i + 1);
}

/**
 * A fresh writer id for `peerId`: a new epoch that sorts after the earlier
 * epochs made on this clock.
 *
 * @example
 * ```ts
 * import { newWriterId, writerPeer } from "@avi/p2p/context";
 * const w = newWriterId("12D3KooWabc");
 * console.log(writerPeer(w)); // "12D3KooWabc"
 * ```
 */
export function newWriterId(peerId: string, now: number = Date.now()): string {
  const time = Math.max(0, Math.floor(now)).toString(36).padStart(8, "0");
  const random = Array.from(
    crypto.getRandomValues(new Uint8Array(4)),
    (b) => (b % 36).toString(36),
  ).join("");
  return `${peerId}${EPOCH_SEPARATOR}${time}${random}`;
}
