/**
 * The device client of @avi/p2p: {@linkcode AviEmbedded}, for
 * microcontrollers that cannot run libp2p. It speaks the UDP device protocol
 * (docs/PROTOCOL.md) to a gateway (`@avi/p2p/bridge`). Its code uses no Deno,
 * Node or Web API: the socket, clock, timers and crypto are injected, so the
 * same client runs on Deno and on Moddable XS.
 *
 * Adapters: {@linkcode createDenoUdpSocket} + {@linkcode denoCrypto} (Deno,
 * needs `--unstable-net`), and `createModdableUdpSocket` from
 * `embedded/moddable_udp.js` (ECMA-419 `embedded:io/socket/udp`, with the
 * sample `embedded/manifest.json`).
 *
 * @example
 * ```ts ignore
 * import { AviEmbedded, createDenoUdpSocket, denoCrypto } from "@avi/p2p/embedded";
 * const avi = new AviEmbedded(await createDenoUdpSocket(), {
 *   deviceId: 42,
 *   key: myKey, // 32 bytes, also in the gateway's device table
 *   crypto: denoCrypto(),
 *   gateway: { address: "127.0.0.1", port: 8888 },
 * }, (topic, data) => console.log(topic, data.length));
 * await avi.connect();
 * await avi.subscribe("home/lights");
 * await avi.publish("home/switch", new Uint8Array([1]), { qos: 1 });
 * await avi.buttonPressed(1, "single");
 * await avi.updateSensor("temp", { kind: "temperature", value: 21.5 });
 * await avi.close();
 * ```
 *
 * @module
 */

export { AviEmbedded } from "./client.ts";
export type { AviEmbeddedConfig } from "./config.ts";
export type {
  DatagramReceiver,
  DeviceSocket,
  DeviceTimers,
  EmbeddedState,
  EmbeddedStats,
  Endpoint,
  MessageHandler,
  PublishOptions,
} from "./types.ts";
export {
  ClientClosedError,
  GatewayUnreachableError,
  HandshakeRejectedError,
  NotConnectedError,
  QueueFullError,
  RequestRefusedError,
} from "./errors.ts";
export {
  createDenoUdpSocket,
  denoCrypto,
  type DenoUdpSocket,
  type DenoUdpSocketOptions,
} from "./deno_udp.ts";
export {
  createModdableUdpSocket,
  type ModdableUdpSocketOptions,
} from "./moddable_udp.js";
export {
  nobleCrypto,
  type NobleCryptoOptions,
  type PressType,
  type ProtocolCrypto,
  type SensorValue,
} from "../protocol/mod.ts";
