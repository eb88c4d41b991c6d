/**
 * {@linkcode AviP2p}: start a mesh node, get handles and events, shut down.
 *
 * @module
 */

import type { AviEvent } from "../core/events.ts";
import type { PeerId } from "../core/peer_id.ts";
import { type AviP2pConfig, resolveConfig } from "./config.ts";
import type { EventStream } from "./event_hub.ts";
import { AviP2pHandle } from "./handle.ts";
import { MeshRuntime } from "./_runtime.ts";
import type { MeshStats } from "./types.ts";

/** The key of {@linkcode AviP2p}'s test-only access to its runtime. @ignore */
export const RUNTIME: unique symbol = Symbol("avi.runtime");

/**
 * A running mesh node: TCP + Noise + Yamux, GossipSub (signed messages),
 * Kademlia (LAN), mDNS and Identify, with a persistent Ed25519 identity.
 *
 * Permissions (the smallest set): `--allow-net`; `--allow-env` (js-libp2p's
 * logger lists the whole environment when imported, so naming variables is
 * not enough); `--allow-sys=networkInterfaces` when mDNS is on or the node
 * listens on `0.0.0.0`/`::` (checked at `start`, which then rejects with a
 * `NetworkError` naming the flag); `--allow-read=<dataDir>` and
 * `--allow-write=<dataDir>` to keep the identity (without them: one warning
 * and an ephemeral peer id).
 *
 * @example Two lines: start, publish, shut down
 * ```ts ignore
 * import { AviP2p } from "@avi/p2p";
 * const node = await AviP2p.start({ nodeName: "living-room-speaker" });
 * const handle = node.handle();
 * await handle.subscribe("home/lights");
 * await handle.publish("home/lights", new TextEncoder().encode("on"));
 * for await (const ev of node.events()) {
 *   if (ev.type === "message") console.log(ev.from, ev.topic, ev.data);
 *   break;
 * }
 * await node.shutdown();
 * ```
 */
export class AviP2p {
  #rt: MeshRuntime;

  /**
   * The runtime, for this package's own tests (attacks that need the raw
   * pub/sub). Not part of the API: the key is not exported from `mod.ts`.
   * @ignore
   */
  [RUNTIME](): MeshRuntime {
    return this.#rt;
  }
  #handle: AviP2pHandle;

  /** @ignore */
  private constructor(rt: MeshRuntime) {
    this.#rt = rt;
    this.#handle = new AviP2pHandle(rt);
  }

  /**
   * Starts a node: loads (or creates) its identity, listens, starts
   * discovery and dials the bootstrap peers. The `started` event is the
   * first event every `events()` consumer sees.
   *
   * @param config Every field optional; see {@linkcode AviP2pConfig}.
   * @returns The running node.
   * @throws {ConfigError} When a config field is invalid (`field` names it),
   * or on field `dataDir` when another running node (this process or
   * another) already uses that `dataDir`.
   * @throws {NetworkError} When the node cannot listen (port taken, ...).
   * @example
   * ```ts ignore
   * const node = await AviP2p.start({ listenHost: "127.0.0.1", dataDir: null });
   * console.log(node.peerId, node.listenAddresses);
   * await node.shutdown();
   * ```
   */
  static async start(config?: AviP2pConfig): Promise<AviP2p> {
    const resolved = resolveConfig(config);
    const rt = await MeshRuntime.start(resolved);
    return new AviP2p(rt);
  }

  /** This node's peer id (`12D3KooW...`). */
  get peerId(): PeerId {
    return this.#rt.peerId;
  }

  /** The multiaddrs this node listens on, each ending in `/p2p/<peerId>`. */
  get listenAddresses(): string[] {
    return [...this.#rt.listenAddresses];
  }

  /** The node name given in the config (the Identify agent version). */
  get nodeName(): string {
    return this.#rt.config.nodeName;
  }

  /** Whether the identity key is stored on disk (false: ephemeral). */
  get identityPersisted(): boolean {
    return this.#rt.identityPersisted;
  }

  /** Whether the node is running (false once `shutdown()` began). */
  get running(): boolean {
    return this.#rt.running;
  }

  /**
   * The handle to make calls with. The same object each time; cheap to pass
   * around and safe to share.
   * @example
   * ```ts ignore
   * const handle = node.handle();
   * ```
   */
  handle(): AviP2pHandle {
    return this.#handle;
  }

  /**
   * A new, independent event consumer (an async iterable). Each consumer
   * has its own queue of at most `eventQueueSize` events (default 1024) and
   * `eventQueueBytes` bytes (default 16 MiB): when it falls that far behind,
   * its oldest events are dropped and, before its next event, it receives
   * `{ type: "lagged", dropped }`. A slow consumer never slows the node or
   * the other consumers. The first event is always `started`. The stream
   * ends when the node shuts down (after draining); a consumer made after
   * shutdown ends at once.
   *
   * @example
   * ```ts ignore
   * for await (const ev of node.events()) {
   *   if (ev.type === "lagged") console.warn(`missed ${ev.dropped} events`);
   * }
   * ```
   */
  events(): EventStream<AviEvent> {
    return this.#rt.events();
  }

  /**
   * Counters: events emitted and dropped, peers discovered, connections
   * refused, dial failures, redials, inbound messages dropped (malformed, or
   * authored off `allowedPeers`).
   * @example
   * ```ts ignore
   * console.log(node.stats().eventsDropped);
   * ```
   */
  stats(): MeshStats {
    return this.#rt.stats();
  }

  /**
   * Stops the node: hosted services, discovery, timers, every connection
   * and socket. Event streams end; later handle calls reject with
   * `NotStartedError`. Calling it again returns the same promise.
   *
   * A process then exits by itself, though it may take up to about 3 s:
   * js-libp2p's ping and Kademlia handlers arm an `AbortSignal.timeout` per
   * incoming request and leave its listener attached, and Deno (unlike
   * Node) keeps the process alive for such a timer. The mesh bounds those
   * requests to 3 s (libp2p's default: 10 s). Call `Deno.exit()` after
   * `shutdown()` when even that matters.
   * @example
   * ```ts ignore
   * await node.shutdown();
   * ```
   */
  shutdown(): Promise<void> {
    return this.#rt.shutdown();
  }
}
