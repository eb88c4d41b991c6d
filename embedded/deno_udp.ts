/**
 * The Deno adapter of the device client: a UDP socket on
 * `Deno.listenDatagram`, and the pure-JS crypto with Deno's random source.
 * Requires `--allow-net` and `--unstable-net` (or `"unstable": ["net"]` in deno.json).
 *
 * @module
 */

import { nobleCrypto, type ProtocolCrypto } from "../protocol/mod.ts";
import type { DatagramReceiver, DeviceSocket } from "./types.ts";

/** Options of {@linkcode createDenoUdpSocket}. */
export interface DenoUdpSocketOptions {
  /**
   * Local address to bind.
   * @default "0.0.0.0"
   */
  hostname?: string;
  /**
   * Local port (0 = any free port).
   * @default 0
   */
  port?: number;
  /**
   * Largest datagram read.
   * @default 1472
   */
  maxDatagram?: number;
}

/** A {@linkcode DeviceSocket} on Deno, with its bound port. */
export interface DenoUdpSocket extends DeviceSocket {
  /** The local port bound. */
  readonly localPort: number;
  /** Settles when the receive loop has ended after `close()`. */
  readonly closed: Promise<void>;
}

interface DenoDatagramConn {
  addr: { hostname: string; port: number };
  receive(
    p?: Uint8Array,
  ): Promise<[Uint8Array, { hostname: string; port: number }]>;
  send(
    p: Uint8Array,
    addr: { transport: "udp"; hostname: string; port: number },
  ): Promise<number>;
  close(): void;
}

/**
 * Opens a UDP socket for {@linkcode AviEmbedded}. Datagrams received before
 * the client installs its receiver are dropped.
 *
 * @param options Bind address and port.
 * @returns The socket.
 * @throws {Error} If `Deno.listenDatagram` is missing (run with `--unstable-net`).
 * @example
 * ```ts ignore
 * import { createDenoUdpSocket } from "@avi/p2p/embedded";
 * const sock = await createDenoUdpSocket({ hostname: "127.0.0.1" });
 * console.log(sock.localPort);
 * sock.close();
 * await sock.closed;
 * ```
 */
export function createDenoUdpSocket(
  options: DenoUdpSocketOptions = {},
): Promise<DenoUdpSocket> {
  const D = (globalThis as { Deno?: { listenDatagram?: unknown } }).Deno;
  if (!D || typeof D.listenDatagram !== "function") {
    return Promise.reject(
      new Error(
        "Deno.listenDatagram is not available: run with --unstable-net (and --allow-net)",
      ),
    );
  }
  const listen = D.listenDatagram as (o: {
    transport: "udp";
    hostname: string;
    port: number;
  }) => DenoDatagramConn;
  const conn = listen({
    transport: "udp",
    hostname: options.hostname ?? "0.0.0.0",
    port: options.port ?? 0,
  });
  let receiver = null as DatagramReceiver | null;
  let open = true;
  const max = options.maxDatagram ?? 1472;
  const loop = (async () => {
    while (open) {
      let got: [Uint8Array, { hostname: string; port: number }];
      try {
        got = await conn.receive(new Uint8Array(max));
      } catch {
        if (!open) return;
        continue; // e.g. ICMP port unreachable surfaced as an error
      }
      try {
        receiver?.(got[0], got[1].hostname, got[1].port);
      } catch {
        // The client never throws out of receive; be safe anyway.
      }
    }
  })();
  const sock: DenoUdpSocket = {
    localPort: conn.addr.port,
    closed: loop,
    send(data, hostname, port) {
      if (!open) return;
      conn.send(data.slice(), { transport: "udp", hostname, port }).catch(
        () => {},
      );
    },
    setReceiver(fn) {
      receiver = fn;
    },
    close() {
      if (!open) return;
      open = false;
      conn.close();
    },
  };
  return Promise.resolve(sock);
}

/**
 * The pure-JS crypto ({@linkcode nobleCrypto}) with `crypto.getRandomValues`.
 *
 * @returns A {@linkcode ProtocolCrypto}.
 * @example
 * ```ts
 * import { denoCrypto } from "@avi/p2p/embedded";
 * const c = denoCrypto();
 * const b = new Uint8Array(8);
 * c.randomBytes(b);
 * ```
 */
export function denoCrypto(): ProtocolCrypto {
  return nobleCrypto({ random: (b) => void crypto.getRandomValues(b) });
}
