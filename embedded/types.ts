/**
 * The device client's public shapes: what a platform injects (a datagram
 * socket and timers; the crypto interface is `ProtocolCrypto` from
 * `protocol/`), its states, counters and callbacks. The configuration is in
 * `config.ts`.
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

/** Connection state of the client. */
export type EmbeddedState =
  | "idle"
  | "searching"
  | "handshaking"
  | "connected"
  | "reconnecting"
  | "closed";

/** Where a gateway (or the discovery group) listens. */
export interface Endpoint {
  /** IPv4 address. */
  address: string;
  /** UDP port. */
  port: number;
}

/** Counters of the client, for diagnostics. */
export interface EmbeddedStats {
  /** Datagrams sent. */
  framesSent: number;
  /** Messages sent in sealed frames (one frame may carry several). */
  messagesSent: number;
  /** Datagrams received. */
  framesReceived: number;
  /** Datagrams dropped: undecodable, replayed, forged or unexpected. */
  framesDropped: number;
  /** Retransmissions of unacknowledged messages, Hellos and Pings. */
  retransmissions: number;
  /** Completed handshakes (the first one included). */
  handshakes: number;
  /** Downlink QoS 1 duplicates suppressed. */
  duplicates: number;
}

/**
 * Receives messages of subscribed topics. `data` is a view into a buffer
 * the client reuses: copy it to keep it.
 */
export type MessageHandler = (topic: string, data: Uint8Array) => void;

/** Options of {@linkcode AviEmbedded.publish}. */
export interface PublishOptions {
  /**
   * 0: sent once, no ack. 1: acknowledged, retransmitted until the gateway
   * acknowledges it (the promise resolves then).
   * @default 0
   */
  qos?: 0 | 1;
}
