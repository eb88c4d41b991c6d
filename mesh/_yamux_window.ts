/**
 * Fewer Yamux window updates (internal).
 *
 * `@chainsafe/libp2p-yamux` 8 answers every data frame it receives with a
 * window-update frame, so each small gossip message costs its receiver a
 * second, encrypted frame to send (two socket writes) and its sender one to
 * read: about as much work again as the message itself at a few hundred
 * messages a second. {@linkcode patchYamuxWindowUpdates} makes a stream send
 * an update only once at least half of its receive window has been used, as
 * the Go and Rust Yamux implementations do; an update that carries a flag
 * (opening a stream) or ends a pause is sent as before. The sender always
 * keeps at least half a window (128 KiB at first) to write into, so nothing
 * waits on the change.
 *
 * @module
 */

import { StreamState, YamuxStream } from "@chainsafe/libp2p-yamux/stream";
import type { WrittenFor } from "./_written_for.ts";

/**
 * The version this adjustment was written for: it replaces a method of
 * `YamuxStream` and reads its private window fields.
 */
export const YAMUX_WINDOW_WRITTEN_FOR: WrittenFor = {
  name: "@chainsafe/libp2p-yamux",
  version: "8.0.1",
  adjustment: "mesh/_yamux_window.ts",
};

interface WindowFields {
  state: StreamState;
  recvWindow: number;
  recvWindowCapacity: number;
  sendWindowUpdate(): void;
}

let patched = false;

/** Applies the patch to every Yamux stream (idempotent). */
export function patchYamuxWindowUpdates(): void {
  if (patched) return;
  patched = true;
  const proto = YamuxStream.prototype as unknown as WindowFields;
  const original = proto.sendWindowUpdate;
  proto.sendWindowUpdate = function (this: WindowFields): void {
    const plain = this.state === StreamState.Established ||
      this.state === StreamState.SYNSent;
    const used = this.recvWindow - this.recvWindowCapacity;
    if (plain && used < this.recvWindow / 2) return;
    original.call(this);
  };
}
