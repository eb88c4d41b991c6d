/**
 * What a platform gives the gateway core: a way to send datagrams and a
 * clock with timers. The core is fed datagrams by its adapter
 * (`GatewayCore.receive`); it never opens a socket itself. The Deno adapter
 * is `deno_udp.ts`; a Node or Bun adapter is the same few lines on
 * `node:dgram` or `Bun.udpSocket`.
 *
 * @module
 */

/** A datagram source or destination. */
export interface Endpoint {
  /** IP address, as the transport spells it. */
  readonly address: string;
  /** UDP port. */
  readonly port: number;
}

/** Sends datagrams for the core. */
export interface GatewayTransport {
  /**
   * Send one datagram. The core never reuses `data` afterwards. A returned
   * promise is backpressure: the core sends nothing more until it settles
   * (it should settle once the transport can take another datagram, not
   * when this one left). Send errors are the transport's to swallow.
   */
  send(data: Uint8Array, to: Endpoint): void | Promise<void>;
}

/** Wall-clock time and timers, as `Date.now`, `setTimeout`, `clearTimeout`. */
export interface GatewayClock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Call `fn` once after `ms` milliseconds; returns a handle for `clearTimeout`. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancel a timer of `setTimeout` (a handle already fired is ignored). */
  clearTimeout(handle: unknown): void;
}

/** The host's clock and timers (any runtime with the web timer APIs). */
export const systemClock: GatewayClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** `"address:port"`: the key of a source for rate limits and reports. */
export function endpointKey(e: Endpoint): string {
  return `${e.address}:${e.port}`;
}
