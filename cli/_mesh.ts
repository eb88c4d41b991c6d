/**
 * How the `avi` commands reach the mesh.
 *
 * - `avi node` and `avi gateway` run a node in the foreground and serve its
 *   control endpoint (127.0.0.1:7357 by default, see `_control.ts`).
 * - The one-shot commands (`pub`, `sub`, `ctx`, `peers`) first ask the node
 *   at `--node` (default `http://127.0.0.1:7357`, or `AVI_NODE`): the
 *   node's own process does the work, so a command needs neither the node's
 *   data dir nor its key. When nothing answers there (and with `--join`),
 *   the command joins the mesh itself as a short-lived peer (mDNS and
 *   `--bootstrap`, with `--mesh-key-file` for a private mesh), as an MQTT
 *   client joins a broker, and leaves when done.
 *
 * @module
 */

import type { AviP2pConfig } from "../mod.ts";
import { CliError, flag, type Parsed, str, strs, UsageError } from "./_args.ts";
import { LocalAccess, type MeshAccess, sleep } from "./_access.ts";
import { HttpAccess } from "./_http_access.ts";
import { log } from "./_log.ts";

export { CONTROL_PORT } from "./_constants.ts";
import { CONTROL_PORT } from "./_constants.ts";

/**
 * The mesh part of a node's config from the command line.
 * @throws {CliError} The key file cannot be read.
 */
export async function meshConfig(p: Parsed): Promise<AviP2pConfig> {
  const config: AviP2pConfig = {
    bootstrapPeers: strs(p, "bootstrap"),
    enableMdns: !flag(p, "no-mdns"),
  };
  const tag = str(p, "discovery-tag");
  if (tag !== undefined) config.discoveryTag = tag;
  const keyFile = str(p, "mesh-key-file");
  if (keyFile !== undefined) {
    try {
      config.meshKey = (await Deno.readTextFile(keyFile)).trim();
    } catch (e) {
      throw new CliError(
        `cannot read the mesh key file ${keyFile}: ${(e as Error).message}`,
      );
    }
  }
  return config;
}

/** The environment variable, or undefined (also without --allow-env). */
export function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/**
 * Reaches the mesh for a one-shot command: the node at `--node`, or a
 * short-lived peer of its own (see the module doc).
 * @throws {CliError} `--node` given and nothing answers there.
 */
export async function connect(p: Parsed): Promise<MeshAccess> {
  const logger = log("connect");
  const given = str(p, "node") ?? env("AVI_NODE");
  const token = str(p, "token") ?? env("AVI_TOKEN");
  if (!flag(p, "join")) {
    const base = given ?? `http://127.0.0.1:${CONTROL_PORT}`;
    if (!/^https?:\/\/[^/]+/.test(base)) {
      throw new UsageError(`--node must be an http:// URL, not "${base}"`);
    }
    const access = await HttpAccess.probe(base, token, 1500);
    if (access) {
      logger.debug("using {where}", { where: access.description });
      return access;
    }
    if (given !== undefined) {
      throw new CliError(
        `no node answers at ${base} (is \`avi node\` or \`avi gateway\` running?)`,
      );
    }
    logger.info("no node at {base}; joining the mesh as a short-lived peer", {
      base,
    });
  }
  // Loaded only now: a command that talks to a running node never loads libp2p.
  const { AviP2p } = await import("../mod.ts");
  const node = await AviP2p.start({
    nodeName: "avi-cli",
    dataDir: null,
    listenHost: "127.0.0.1",
    ...(await meshConfig(p)),
    onWarning: (m) => logger.warn(m),
  });
  return new LocalAccess(node.handle(), {
    selfId: node.peerId,
    description: `a short-lived node (${node.peerId})`,
    stop: () => node.shutdown(),
  });
}

/** Waits until `access` sees at least one peer, at most `ms`. */
export async function untilPeers(
  access: MeshAccess,
  ms: number,
  signal?: AbortSignal,
): Promise<number> {
  const end = Date.now() + ms;
  let n = (await access.peers()).length;
  while (n === 0 && Date.now() < end && !signal?.aborted) {
    await sleep(50, signal);
    n = (await access.peers()).length;
  }
  return n;
}
