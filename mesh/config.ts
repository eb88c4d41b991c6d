/**
 * The configuration of a mesh node ({@linkcode AviP2pConfig}) and its
 * validation. Every field is optional and has a documented default; an
 * invalid value is refused at `AviP2p.start` with a {@linkcode ConfigError}
 * that names the field.
 *
 * @module
 */

import { aviLogger } from "../core/log.ts";
import { multiaddr } from "@multiformats/multiaddr";
import { isIP } from "node:net";
import { ConfigError } from "../core/errors.ts";
import { parsePeerId } from "./peer_id.ts";

/**
 * The configuration of {@linkcode AviP2p.start}. Every field is optional.
 *
 * @example A node in a private mesh that persists its identity
 * ```ts
 * import type { AviP2pConfig } from "@avi/p2p";
 * const config: AviP2pConfig = {
 *   nodeName: "kitchen-speaker",
 *   listenPort: 4001,
 *   dataDir: "/var/lib/avi/kitchen",
 *   meshKey: "6a1f0c2b9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a29180716f5e4d3c2b1a0f9",
 * };
 * console.log(config.nodeName);
 * ```
 */
export interface AviP2pConfig {
  /**
   * The node's human name, sent as the Identify agent version. 1 to 64
   * characters.
   * @default {"avi-node"}
   */
  nodeName?: string;
  /**
   * The TCP port to listen on; 0 picks a free port.
   * @default {0}
   */
  listenPort?: number;
  /**
   * The IPv4 or IPv6 address to listen on. `"0.0.0.0"` listens on every
   * interface; tests use `"127.0.0.1"`.
   * @default {"0.0.0.0"}
   */
  listenHost?: string;
  /**
   * Multiaddrs of peers to dial at start, each ending in `/p2p/<peerId>`
   * (for example `/ip4/192.168.1.20/tcp/4001/p2p/12D3KooW...`). At most 64.
   * @default {[]}
   */
  bootstrapPeers?: string[];
  /**
   * Discover peers on the LAN by mDNS (multicast UDP port 5353).
   * @default {true}
   */
  enableMdns?: boolean;
  /**
   * Run a Kademlia DHT (LAN protocol `/avi/lan/kad/1.0.0`, server mode,
   * private addresses kept) to find peers of peers.
   * @default {true}
   */
  enableKad?: boolean;
  /**
   * The most peers connected at once (1 to 10000). Further inbound
   * connections are refused and no further peer is dialled.
   * @default {10}
   */
  maxPeers?: number;
  /**
   * The most open media streams at once (1 to 1000).
   * @default {5}
   */
  maxStreams?: number;
  /**
   * The most media streams one peer may have asked this node for, pending
   * or open (1 to `maxStreams`): its share of `maxStreams`. Its requests
   * beyond it are refused at once, so one peer's unanswered requests never
   * take every slot.
   * @default {Math.max(1, Math.ceil(maxStreams / 2))}
   */
  maxStreamsPerPeer?: number;
  /**
   * How long a stream request may wait for the peer's answer, in
   * milliseconds (100 to 600000); then it is rejected with reason "timeout".
   * @default {10000}
   */
  streamRequestTimeoutMs?: number;
  /**
   * The directory where the identity key (and other state) persists, so a
   * restarted node keeps its peer id. `null` keeps nothing on disk: a new
   * peer id at every start. When the directory cannot be written the node
   * warns once (through `onWarning`) and runs with an ephemeral key. Each
   * running node needs its own directory (sharing one would share the peer
   * id): `start` takes an OS lock on `<dataDir>/lock` and rejects with a
   * `ConfigError` on `dataDir` while another running node holds it. The OS
   * frees the lock when its holder shuts down or dies (no stale locks); an
   * unwritable `dataDir` takes no lock.
   * @default {".avi-p2p/<nodeName>" (relative to the working directory)}
   */
  dataDir?: string | null;
  /**
   * A pre-shared key that makes the mesh private: 32 bytes, or 64 hex
   * characters, or a `swarm.key` text (`/key/swarm/psk/1.0.0/`). A node
   * without the same key never gets a connection. Off by default.
   * @default {undefined}
   */
  meshKey?: Uint8Array | string;
  /**
   * When set, only these peer ids may connect (both directions), and only
   * their pub/sub messages are delivered: a message whose signed author is
   * off the list, relayed by a peer on it, is dropped (counted in
   * `stats().messagesNotAllowed`) on every topic. Off by default (any peer
   * that passes the mesh key may connect and publish).
   * @default {undefined}
   */
  allowedPeers?: string[];
  /**
   * The mDNS discovery tag: nodes only find nodes with the same tag, so
   * separate meshes on one LAN (or tests on one machine) stay apart.
   * 1 to 32 characters of `a-z`, `0-9` and `-`.
   * @default {"avi"}
   */
  discoveryTag?: string;
  /**
   * The mDNS query interval, in milliseconds (100 to 3600000).
   * @default {10000}
   */
  mdnsIntervalMs?: number;
  /**
   * Events buffered per `events()` consumer (1 to 1000000). When a consumer
   * falls this far behind, its oldest event is dropped and it later receives
   * one `lagged` event with the count.
   * @default {1024}
   */
  eventQueueSize?: number;
  /**
   * Bytes buffered per `events()` consumer (1024 to 4294967296): the sum of
   * the payloads of its queued events (`message` and `streamData` data,
   * `contextUpdated` documents, estimated) plus 64 bytes per event. A new
   * event that would pass this bound (or `eventQueueSize`) drops the
   * consumer's oldest events until it fits, and the consumer later receives
   * one `lagged` event with the count. An event larger than the bound on its
   * own is still queued, alone.
   * @default {16777216}
   */
  eventQueueBytes?: number;
  /**
   * The largest pub/sub payload, in bytes (1 to 4194304). A larger
   * `publish` rejects with `TooLargeError`; larger inbound messages are
   * dropped by GossipSub.
   * @default {1048576}
   */
  maxMessageBytes?: number;
  /**
   * The longest topic, in UTF-8 bytes (1 to 4096).
   * @default {256}
   */
  maxTopicLength?: number;
  /**
   * The first redial delay after a known peer drops, in milliseconds
   * (10 to 600000); it doubles after each failed attempt.
   * @default {1000}
   */
  redialInitialMs?: number;
  /**
   * The longest redial delay, in milliseconds (10 to 3600000; at least
   * `redialInitialMs`). Known peers are redialled for ever at this pace.
   * @default {30000}
   */
  redialMaxMs?: number;
  /**
   * Receives warnings (for example: identity not persisted).
   * @default {a warning on the LogTape logger `avi.mesh` (silent until the application configures LogTape)}
   */
  onWarning?: (message: string) => void;
}

/** A configuration with every default filled in (internal). */
export interface ResolvedConfig {
  nodeName: string;
  listenPort: number;
  listenHost: string;
  bootstrapPeers: string[];
  enableMdns: boolean;
  enableKad: boolean;
  maxPeers: number;
  maxStreams: number;
  maxStreamsPerPeer: number;
  streamRequestTimeoutMs: number;
  dataDir: string | null;
  /**
   * The `swarm.key` text (`/key/swarm/psk/1.0.0/`, 95 bytes) made from
   * `meshKey`, as `@libp2p/pnet` takes it; `undefined` without a mesh key.
   */
  swarmKey: Uint8Array | undefined;
  allowedPeers: Set<string> | undefined;
  discoveryTag: string;
  mdnsIntervalMs: number;
  eventQueueSize: number;
  eventQueueBytes: number;
  maxMessageBytes: number;
  maxTopicLength: number;
  redialInitialMs: number;
  redialMaxMs: number;
  onWarning: (message: string) => void;
}

/** Every default of {@linkcode AviP2pConfig}, as one object. */
export const CONFIG_DEFAULTS = {
  nodeName: "avi-node",
  listenPort: 0,
  listenHost: "0.0.0.0",
  enableMdns: true,
  enableKad: true,
  maxPeers: 10,
  maxStreams: 5,
  streamRequestTimeoutMs: 10_000,
  discoveryTag: "avi",
  mdnsIntervalMs: 10_000,
  eventQueueSize: 1024,
  eventQueueBytes: 16_777_216,
  maxMessageBytes: 1_048_576,
  maxTopicLength: 256,
  redialInitialMs: 1000,
  redialMaxMs: 30_000,
} as const;

const KNOWN_FIELDS = new Set<string>([
  ...Object.keys(CONFIG_DEFAULTS),
  "bootstrapPeers",
  "dataDir",
  "maxStreamsPerPeer",
  "meshKey",
  "allowedPeers",
  "onWarning",
]);

function int(
  config: Record<string, unknown>,
  field: keyof typeof CONFIG_DEFAULTS,
  min: number,
  max: number,
): number {
  const v = config[field] ?? CONFIG_DEFAULTS[field];
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(
      field,
      `must be an integer from ${min} to ${max}, got ${String(v)}`,
    );
  }
  return v;
}

function bool(
  config: Record<string, unknown>,
  field: "enableMdns" | "enableKad",
): boolean {
  const v = config[field] ?? CONFIG_DEFAULTS[field];
  if (typeof v !== "boolean") {
    throw new ConfigError(field, `must be a boolean, got ${typeof v}`);
  }
  return v;
}

/**
 * Turns a mesh key in any accepted form into the 95-byte `swarm.key` text
 * that `@libp2p/pnet` expects.
 */
function meshKeyToSwarmKey(v: unknown): Uint8Array {
  let hex: string;
  if (v instanceof Uint8Array) {
    if (v.length !== 32) {
      throw new ConfigError("meshKey", `must be 32 bytes, got ${v.length}`);
    }
    hex = Array.from(v, (b) => b.toString(16).padStart(2, "0")).join("");
  } else if (typeof v === "string") {
    const m =
      /^\s*(?:\/key\/swarm\/psk\/1\.0\.0\/\s*\/base16\/\s*)?([0-9a-fA-F]{64})\s*$/
        .exec(v);
    if (m === null) {
      throw new ConfigError(
        "meshKey",
        "must be 64 hex characters or a /key/swarm/psk/1.0.0/ base16 key",
      );
    }
    hex = m[1].toLowerCase();
  } else {
    throw new ConfigError(
      "meshKey",
      `must be a Uint8Array or a string, got ${typeof v}`,
    );
  }
  return new TextEncoder().encode(`/key/swarm/psk/1.0.0/\n/base16/\n${hex}`);
}

/**
 * Checks a configuration and fills in the defaults.
 *
 * @param config The caller's configuration (may be `undefined`).
 * @returns The configuration with every field set.
 * @throws {ConfigError} When a field has an invalid value (the error's
 * `field` names it) or an unknown field is given.
 *
 * @example
 * ```ts ignore
 * const resolved = resolveConfig({ listenPort: 4001 });
 * console.log(resolved.maxPeers); // 10
 * ```
 */
export function resolveConfig(config: AviP2pConfig = {}): ResolvedConfig {
  if (typeof config !== "object" || config === null) {
    throw new ConfigError("config", "must be an object");
  }
  const c = config as Record<string, unknown>;
  for (const key of Object.keys(c)) {
    if (!KNOWN_FIELDS.has(key)) {
      throw new ConfigError(key, "is not a known field");
    }
  }

  const nodeName = c.nodeName ?? CONFIG_DEFAULTS.nodeName;
  if (
    typeof nodeName !== "string" || nodeName.length < 1 || nodeName.length > 64
  ) {
    throw new ConfigError("nodeName", "must be a string of 1 to 64 characters");
  }
  const listenHost = c.listenHost ?? CONFIG_DEFAULTS.listenHost;
  if (typeof listenHost !== "string" || isIP(listenHost) === 0) {
    throw new ConfigError(
      "listenHost",
      `must be an IPv4 or IPv6 address, got ${String(listenHost)}`,
    );
  }

  const bootstrapPeers = c.bootstrapPeers ?? [];
  if (!Array.isArray(bootstrapPeers) || bootstrapPeers.length > 64) {
    throw new ConfigError(
      "bootstrapPeers",
      "must be an array of at most 64 multiaddr strings",
    );
  }
  for (const addr of bootstrapPeers) {
    if (typeof addr !== "string") {
      throw new ConfigError("bootstrapPeers", "every entry must be a string");
    }
    let id: string | undefined;
    try {
      id = multiaddr(addr).getComponents().findLast((p) => p.name === "p2p")
        ?.value;
    } catch (cause) {
      throw new ConfigError(
        "bootstrapPeers",
        `"${addr}" is not a valid multiaddr`,
        { cause },
      );
    }
    if (id === undefined) {
      throw new ConfigError(
        "bootstrapPeers",
        `"${addr}" must end in /p2p/<peerId>`,
      );
    }
  }

  let dataDir: string | null;
  if (c.dataDir === null) dataDir = null;
  else if (c.dataDir === undefined) {
    dataDir = `.avi-p2p/${nodeName.replace(/[^A-Za-z0-9._-]/g, "_")}`;
  } else if (typeof c.dataDir === "string" && c.dataDir.length > 0) {
    dataDir = c.dataDir;
  } else throw new ConfigError("dataDir", "must be a non-empty path or null");

  let allowedPeers: Set<string> | undefined;
  if (c.allowedPeers !== undefined) {
    if (!Array.isArray(c.allowedPeers)) {
      throw new ConfigError("allowedPeers", "must be an array of peer ids");
    }
    allowedPeers = new Set();
    for (const id of c.allowedPeers) {
      try {
        allowedPeers.add(parsePeerId(id));
      } catch (cause) {
        throw new ConfigError(
          "allowedPeers",
          `"${String(id)}" is not a peer id`,
          { cause },
        );
      }
    }
  }

  const discoveryTag = c.discoveryTag ?? CONFIG_DEFAULTS.discoveryTag;
  if (
    typeof discoveryTag !== "string" || !/^[a-z0-9-]{1,32}$/.test(discoveryTag)
  ) {
    throw new ConfigError(
      "discoveryTag",
      "must be 1 to 32 characters of a-z, 0-9 and -",
    );
  }

  const onWarning = c.onWarning ??
    ((m: string) => aviLogger("mesh").warn(m));
  if (typeof onWarning !== "function") {
    throw new ConfigError("onWarning", "must be a function");
  }

  const redialInitialMs = int(c, "redialInitialMs", 10, 600_000);
  const redialMaxMs = int(c, "redialMaxMs", 10, 3_600_000);
  if (redialMaxMs < redialInitialMs) {
    throw new ConfigError("redialMaxMs", "must be at least redialInitialMs");
  }

  const maxStreams = int(c, "maxStreams", 1, 1000);
  const maxStreamsPerPeer = c.maxStreamsPerPeer ??
    Math.max(1, Math.ceil(maxStreams / 2));
  if (
    typeof maxStreamsPerPeer !== "number" ||
    !Number.isInteger(maxStreamsPerPeer) || maxStreamsPerPeer < 1 ||
    maxStreamsPerPeer > maxStreams
  ) {
    throw new ConfigError(
      "maxStreamsPerPeer",
      `must be an integer from 1 to maxStreams (${maxStreams}), got ${
        String(maxStreamsPerPeer)
      }`,
    );
  }

  return {
    nodeName,
    listenPort: int(c, "listenPort", 0, 65535),
    listenHost,
    bootstrapPeers: [...bootstrapPeers] as string[],
    enableMdns: bool(c, "enableMdns"),
    enableKad: bool(c, "enableKad"),
    maxPeers: int(c, "maxPeers", 1, 10_000),
    maxStreams,
    maxStreamsPerPeer,
    streamRequestTimeoutMs: int(c, "streamRequestTimeoutMs", 100, 600_000),
    dataDir,
    swarmKey: c.meshKey === undefined
      ? undefined
      : meshKeyToSwarmKey(c.meshKey),
    allowedPeers,
    discoveryTag,
    mdnsIntervalMs: int(c, "mdnsIntervalMs", 100, 3_600_000),
    eventQueueSize: int(c, "eventQueueSize", 1, 1_000_000),
    eventQueueBytes: int(c, "eventQueueBytes", 1024, 4_294_967_296),
    maxMessageBytes: int(c, "maxMessageBytes", 1, 4_194_304),
    maxTopicLength: int(c, "maxTopicLength", 1, 4096),
    redialInitialMs,
    redialMaxMs,
    onWarning: onWarning as (m: string) => void,
  };
}
