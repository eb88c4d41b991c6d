/**
 * What a platform injects into the device client: a datagram socket, a clock
 * and timers. (The crypto interface is `ProtocolCrypto` from `protocol/`.)
 *
 * @module
 */

/** Receives one datagram: bytes (the client may overwrite them), source address and port. */
export type DatagramReceiver = (
  data: Uint8Array,
  address: string,
  port: number,
) => void;

/**
 * A minimal UDP socket. Adapters: `createDenoUdpSocket` (Deno) and
 * `createModdableUdpSocket` (ECMA-419 `embedded:io/socket/udp`).
 *
 * @example An in-memory socket
 * ```ts
 * import type { DatagramReceiver, DeviceSocket } from "@avi/p2p/embedded";
 * let rx: DatagramReceiver | null = null;
 * const sock: DeviceSocket = {
 *   send: (data, address, port) => console.log(data.length, address, port),
 *   setReceiver: (fn) => { rx = fn; },
 *   close: () => {},
 * };
 * ```
 */
export interface DeviceSocket {
  /**
   * Sends one datagram. The client reuses `data`'s buffer afterwards, so
   * the socket must send (or copy) it before returning.
   * @param data The bytes.
   * @param address Destination IPv4 address.
   * @param port Destination port.
   */
  send(data: Uint8Array, address: string, port: number): void;
  /**
   * Installs the function that receives datagrams.
   * @param fn The receiver.
   */
  setReceiver(fn: DatagramReceiver): void;
  /** Closes the socket. */
  close(): void;
  /** Optional: settles once the socket has fully stopped (awaited by `AviEmbedded.close()`). */
  readonly closed?: Promise<void>;
}

/**
 * Timers, as `setTimeout`/`clearTimeout`.
 *
 * @example
 * ```ts
 * import type { DeviceTimers } from "@avi/p2p/embedded";
 * const timers: DeviceTimers = {
 *   setTimeout: (fn, ms) => setTimeout(fn, ms),
 *   clearTimeout: (h) => clearTimeout(h as number),
 * };
 * ```
 */
export interface DeviceTimers {
  /**
   * Schedules a callback.
   * @param fn Callback.
   * @param ms Delay in milliseconds.
   * @returns A handle for `clearTimeout`.
   */
  setTimeout(fn: () => void, ms: number): unknown;
  /**
   * Cancels a scheduled callback.
   * @param handle A handle from `setTimeout`.
   */
  clearTimeout(handle: unknown): void;
}
