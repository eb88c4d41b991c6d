/**
 * The Deno adapter of the gateway: {@linkcode EmbeddedBridge} runs the
 * transport-neutral `GatewayCore` on a `Deno.listenDatagram` UDP socket
 * (with gateway discovery on multicast), and {@linkcode loadDeviceKeys}
 * reads a key file.
 *
 * Requires `--allow-net` and `--unstable-net` (Deno.listenDatagram).
 *
 * @module
 */

import { UnstableApiError } from "../core/errors.ts";
import type { BridgeEvent } from "./bridge_events.ts";
import { GatewayCore } from "./gateway.ts";
import type { BridgeMesh } from "./mesh_port.ts";
import {
  type BridgeOptions,
  type DeviceTable,
  parseDeviceKeyFile,
  parseDeviceTable,
  resolveBridgeOptions,
  type ResolvedBridgeOptions,
} from "./options.ts";
import type {
  BridgeStats,
  BridgeTableSizes,
  DeviceInfo,
  DeviceTableChange,
} from "./stats.ts";
import type { Endpoint } from "./transport.ts";

/** Sends in flight at once on the gateway's socket. */
const SEND_WINDOW = 64;
/** Concurrent receive calls on the gateway's socket. */
const RECEIVERS = 4;

/**
 * The embedded bridge: a UDP gateway that lets devices speaking
 * docs/PROTOCOL.md take part in the mesh.
 *
 * Requires `--allow-net` and `--unstable-net`.
 *
 * @example
 * ```ts ignore
 * import { AviP2p } from "@avi/p2p";
 * import { EmbeddedBridge } from "@avi/p2p/bridge";
 * const node = await AviP2p.start({ nodeName: "gateway" });
 * const bridge = await EmbeddedBridge.start(node.handle(), {
 *   udpPort: 8888,
 *   devices: { "7": "11".repeat(32) },
 * });
 * for await (const ev of bridge.events()) console.log(ev);
 * ```
 */
export class EmbeddedBridge {
  /** The UDP port the bridge listens on. */
  readonly port: number;
  /** The gateway id sent in Welcome and GwInfo (random at start). */
  readonly gatewayId: number;
  #core: GatewayCore;
  #conn: Deno.DatagramConn;
  #recvLoop: Promise<void>;
  #multicast: Deno.MulticastV4Membership | undefined;
  #closed = false;
  #inflightSends = 0;
  #sendSlot: (() => void) | undefined;

  private constructor(
    mesh: BridgeMesh,
    conn: Deno.DatagramConn,
    options: ResolvedBridgeOptions,
  ) {
    this.#conn = conn;
    this.port = (conn.addr as Deno.NetAddr).port;
    this.#core = new GatewayCore({
      mesh,
      transport: { send: (b, to) => this.#windowedSend(b, to) },
      options,
      port: this.port,
    });
    this.gatewayId = this.#core.gatewayId;
    this.#recvLoop = Promise.all(
      Array.from({ length: RECEIVERS }, () => this.#receive()),
    ).then(() => {});
  }

  /**
   * Start a bridge on a mesh node.
   *
   * @param mesh The node's handle (or anything with the {@linkcode BridgeMesh} calls).
   * @param options Port, device keys, limits.
   * @returns The running bridge.
   * @throws {UnstableApiError} Without `--unstable-net`.
   * @throws {ConfigError} On a bad option.
   */
  static start(
    mesh: BridgeMesh,
    options: BridgeOptions,
  ): Promise<EmbeddedBridge> {
    // deno-lint-ignore no-explicit-any
    if (typeof (Deno as any).listenDatagram !== "function") {
      return Promise.reject(
        new UnstableApiError("Deno.listenDatagram", "--unstable-net"),
      );
    }
    try {
      const opts = resolveBridgeOptions(options);
      const conn = Deno.listenDatagram({
        transport: "udp",
        hostname: opts.hostname,
        port: opts.udpPort,
      });
      const bridge = new EmbeddedBridge(mesh, conn, opts);
      if (opts.discoveryGroup !== null && opts.hostname === "0.0.0.0") {
        // Best effort: a host without a multicast route still gets unicast
        // and broadcast SearchGw.
        conn.joinMulticastV4(opts.discoveryGroup, "0.0.0.0").then(
          (m) => (bridge.#multicast = m),
          () => {},
        );
      }
      return bridge.#core.holdMeshTopics().then(() => bridge, async (e) => {
        await bridge.close();
        throw e;
      });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * The devices with a live session.
   *
   * @returns One entry per connected device.
   */
  devices(): DeviceInfo[] {
    return this.#core.devices();
  }

  /**
   * Replaces the device table while running (a gateway's table was edited):
   * a new device may connect at once; a removed device, or one whose key or
   * rules changed, loses its session at once (`deviceGone` with reason
   * `"removed"`) and what it held in the mesh; the others keep theirs.
   *
   * @param table The whole new table, as `devices` at start.
   * @returns The device ids added, removed and changed.
   * @throws {ConfigError} When the table is malformed (the old one stays).
   * @example
   * ```ts ignore
   * bridge.setDevices({ "42": "00".repeat(32) });
   * ```
   */
  setDevices(
    table: DeviceTable,
  ): DeviceTableChange {
    return this.#core.setDevices(parseDeviceTable(table));
  }

  /**
   * Current sizes of the bridge's tables (each bounded by a limit of
   * {@linkcode BridgeLimits}): for monitoring, and for tests that check the
   * bounds hold under attack.
   *
   * @returns Entries per table.
   */
  tableSizes(): BridgeTableSizes {
    return this.#core.tableSizes();
  }

  /** A snapshot of the counters. */
  stats(): BridgeStats {
    return this.#core.stats();
  }

  /**
   * The bridge's events (device connected, gone, sleeping, awake). Each call
   * returns a new consumer with its own bounded queue.
   *
   * @param options `queueSize`: events kept for a slow consumer. @default 256
   * @returns An async iterator; `return()` (or `break`) ends it.
   */
  events(
    options: { queueSize?: number } = {},
  ): AsyncIterableIterator<BridgeEvent> {
    return this.#core.events(options);
  }

  /**
   * Loss and reordering counted on a device's stream (device → mesh).
   *
   * @param deviceId The device.
   * @param streamId Its stream id (0..255).
   * @returns The counters, or undefined if no such stream is open.
   */
  streamStats(
    deviceId: string,
    streamId: number,
  ): { lost: number; reordered: number } | undefined {
    return this.#core.streamStats(deviceId, streamId);
  }

  async #receive(): Promise<void> {
    while (!this.#closed) {
      let data: Uint8Array, from: Deno.Addr;
      try {
        [data, from] = await this.#conn.receive();
      } catch {
        if (this.#closed) return;
        continue;
      }
      if (this.#closed) return;
      const { hostname, port } = from as Deno.NetAddr;
      this.#core.receive(data, { address: hostname, port });
    }
  }

  /**
   * Up to `SEND_WINDOW` sends are in flight at once (a Deno send resolves a
   * loop turn later; one at a time would cap the rate at the loop's pace).
   * Resolves once this datagram is on its way and a slot is taken.
   */
  async #windowedSend(b: Uint8Array, to: Endpoint): Promise<void> {
    if (this.#inflightSends >= SEND_WINDOW) {
      await new Promise<void>((r) => (this.#sendSlot = r));
    }
    this.#inflightSends++;
    this.#conn.send(b, {
      transport: "udp",
      hostname: to.address,
      port: to.port,
    })
      .catch(() => {
        // Unreachable address, closed socket: nothing to do.
      }).finally(() => {
        this.#inflightSends--;
        const r = this.#sendSlot;
        this.#sendSlot = undefined;
        r?.();
      });
  }

  /**
   * Stop: close the socket, end every session (releasing their mesh
   * subscriptions and streams), end the event streams.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#multicast?.leave();
    } catch { /* not a member */ }
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    await this.#recvLoop;
    await this.#core.close();
  }
}

/**
 * Read a JSON key file: `{ "<deviceId>": "<64 hex>" | {key, publish?, subscribe?} }`.
 * Requires `--allow-read` for the path.
 *
 * @param path The file.
 * @returns The device table, ready for `EmbeddedBridge.start`.
 * @throws {ConfigError} When the file is not valid JSON of that shape.
 *
 * @example
 * ```ts ignore
 * import { loadDeviceKeys } from "@avi/p2p/bridge";
 * const devices = await loadDeviceKeys("./devices.json");
 * ```
 */
export async function loadDeviceKeys(path: string): Promise<DeviceTable> {
  return parseDeviceKeyFile(await Deno.readTextFile(path), path);
}
