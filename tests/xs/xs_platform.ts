/**
 * The device client's platform inside xsnap: the XS counterpart of the Deno
 * adapter. The socket, clock, timers and random source go through
 * {@link ./xs_runtime.ts} (and so through `issueCommand` to a real UDP
 * socket on the host); the crypto is the same pure-JS `nobleCrypto` the
 * client uses on Deno. No `TextEncoder`, `console` or Deno/Node API.
 *
 * @example
 * ```ts ignore
 * import { xsPlatform } from "./xs_platform.ts";
 * const { socket, timers, now, crypto } = xsPlatform();
 * ```
 * @module
 */

import { nobleCrypto, type ProtocolCrypto } from "../../protocol/mod.ts";
import type {
  DatagramReceiver,
  DeviceSocket,
  DeviceTimers,
} from "../../embedded/types.ts";
import {
  hostNow,
  hostRandom,
  xsClearTimer,
  xsSetTimeout,
  xsSocket,
} from "./xs_runtime.ts";

/** What the XS platform provides. */
export interface XsPlatform {
  /** The device's UDP socket. */
  socket: DeviceSocket;
  /** setTimeout/clearTimeout on the host clock. */
  timers: DeviceTimers;
  /** Monotonic milliseconds. */
  now: () => number;
  /** Fills a buffer with random bytes. */
  random: (out: Uint8Array) => void;
  /** Pure-JS crypto (`nobleCrypto`) with the host's random source. */
  crypto: ProtocolCrypto;
}

/**
 * Builds the platform over the XS runtime's socket, timers and clock.
 *
 * @returns The platform parts.
 * @example
 * ```ts ignore
 * const p = xsPlatform();
 * p.socket.setReceiver((data, address, port) => {});
 * ```
 */
export function xsPlatform(): XsPlatform {
  let open = true;
  const socket: DeviceSocket = {
    send(data, address, port) {
      if (!open) throw new Error("Cannot send: socket closed");
      xsSocket.send(data, address, port);
    },
    setReceiver(fn: DatagramReceiver) {
      xsSocket.onDatagram = (payload, host, port) => {
        if (open) fn(payload, host, port);
      };
    },
    close() {
      open = false;
      xsSocket.onDatagram = undefined;
    },
  };
  const timers: DeviceTimers = {
    setTimeout: (fn, ms) => xsSetTimeout(fn, ms),
    clearTimeout: (h) => xsClearTimer(h as number | undefined),
  };
  const random = (out: Uint8Array) => {
    hostRandom(out);
  };
  return {
    socket,
    timers,
    now: hostNow,
    random,
    crypto: nobleCrypto({ random }),
  };
}
