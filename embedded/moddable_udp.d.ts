import type { DeviceSocket } from "./types.ts";

/** Options of {@linkcode createModdableUdpSocket}. */
export interface ModdableUdpSocketOptions {
  /**
   * The ECMA-419 UDP class (`import UDP from "embedded:io/socket/udp"`).
   * @default device.network.udp.io
   */
  // deno-lint-ignore no-explicit-any
  UDP?: any;
  /**
   * Local port to bind.
   * @default any free port
   */
  port?: number;
  /** Local address to bind. */
  address?: string;
}

/**
 * Opens a UDP socket for `AviEmbedded` on Moddable (ECMA-419 `embedded:io/socket/udp`).
 *
 * @param options The UDP class and local port.
 * @returns The socket.
 * @example
 * ```ts ignore
 * import UDP from "embedded:io/socket/udp";
 * import { AviEmbedded, createModdableUdpSocket } from "@avi/p2p/embedded";
 * const socket = createModdableUdpSocket({ UDP });
 * ```
 */
export function createModdableUdpSocket(
  options?: ModdableUdpSocketOptions,
): DeviceSocket;
