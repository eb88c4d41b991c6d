/**
 * What `avi node` and `avi gateway` share: start a node from the command
 * line, serve its control endpoint and metrics, log peers as they come and
 * go, and stop cleanly on Ctrl-C (SIGINT) or SIGTERM.
 *
 * @module
 */

import type { AviP2p, AviP2pConfig } from "../mod.ts";
import type { BridgeMesh } from "../bridge/mod.ts";
import type { DashboardBridge, DashboardServer } from "../dashboard/mod.ts";
import { CliError, flag, hostPort, int, type Parsed, str } from "./_args.ts";
import { LocalAccess } from "./_access.ts";
import { type ControlServer, serveControl } from "./_control.ts";
import { serveMetrics } from "./_metrics.ts";
import { CONTROL_PORT, env, meshConfig } from "./_mesh.ts";
import { log } from "./_log.ts";

/** What a gateway adds to a served node. */
export interface Extension {
  /** Counters for `/api/stats` and the metrics, by group. */
  stats(): Record<string, unknown>;
  /** Devices for `/api/devices`. */
  devices?(): unknown[];
  /** The bridge, for the dashboard's device cards (`--http`). */
  bridge?: DashboardBridge;
  /** Stops it (before the node). */
  close(): Promise<void>;
}

/** The node's config from the command line (and `base`, e.g. from a file). */
export async function nodeConfig(
  p: Parsed,
  defaults: AviP2pConfig,
): Promise<AviP2pConfig> {
  const config: AviP2pConfig = { ...defaults, ...(await meshConfig(p)) };
  if (!p.values.bootstrap && defaults.bootstrapPeers) {
    config.bootstrapPeers = defaults.bootstrapPeers;
  }
  const name = str(p, "name");
  if (name !== undefined) config.nodeName = name;
  if (str(p, "port") !== undefined) {
    config.listenPort = int(p, "port", 0, 0, 65535);
  }
  const host = str(p, "host");
  if (host !== undefined) config.listenHost = host;
  const dir = str(p, "data-dir");
  if (dir !== undefined) config.dataDir = dir;
  if (flag(p, "no-kad")) config.enableKad = false;
  return config;
}

/**
 * Runs a node until SIGINT/SIGTERM: control endpoint, metrics, the
 * dashboard (`--http`), peer logs, and `extend` (a gateway's bridge) on top.
 * `extend` gets the mesh to give a bridge: the node's handle, wrapped so
 * that the dashboard sees what the bridge publishes when it is served.
 * @returns The exit status (0 after a clean stop).
 */
export async function serveNode(
  p: Parsed,
  config: AviP2pConfig,
  extend?: (node: AviP2p, mesh: BridgeMesh) => Promise<Extension>,
  defaults: { control?: string; token?: string; metrics?: string } = {},
): Promise<number> {
  const logger = log("node");
  const http = str(p, "http");
  const httpAt = http === undefined ? undefined : hostPort(http, "http");
  const { AviP2p } = await import("../mod.ts");
  // Loaded only with --http.
  const dash = httpAt ? await import("../dashboard/mod.ts") : undefined;
  const tap = dash ? new dash.PublishTap() : undefined;
  const node = await AviP2p.start({
    ...config,
    onWarning: (m) => logger.warn(m),
  }).catch((e) => {
    throw new CliError(`cannot start the node: ${(e as Error).message}`);
  });
  let extension: Extension | undefined;
  let control: ControlServer | undefined;
  let metrics: { close(): Promise<void> } | undefined;
  let dashboard: DashboardServer | undefined;
  const stopping = Promise.withResolvers<void>();
  const onSignal = () => stopping.resolve();
  Deno.addSignalListener("SIGINT", onSignal);
  if (Deno.build.os !== "windows") Deno.addSignalListener("SIGTERM", onSignal);
  const events = node.events();
  try {
    logger.info("node {name} {peerId}", {
      name: config.nodeName ?? "avi-node",
      peerId: node.peerId,
    });
    for (const a of node.listenAddresses) {
      logger.info("listening on {a}", { a });
    }
    const handle = node.handle();
    extension = await extend?.(node, tap ? tap.wrap(handle) : handle);
    const connected = new Set<string>();
    const collect = () => {
      const { context, ...mesh } = node.stats();
      return {
        mesh: { ...mesh, peers: connected.size },
        context,
        ...(extension?.stats() ?? {}),
      };
    };
    if (!flag(p, "no-control")) {
      const where = hostPort(
        str(p, "control") ?? defaults.control ?? `127.0.0.1:${CONTROL_PORT}`,
        "control",
      );
      control = serveControl(
        new LocalAccess(handle, {
          selfId: node.peerId,
          description: "this node",
        }),
        {
          ...where,
          token: str(p, "token") ?? env("AVI_TOKEN") ?? defaults.token,
          info: () => ({
            peerId: node.peerId,
            name: node.nodeName,
            listenAddresses: node.listenAddresses,
          }),
          stats: collect,
          devices: extension?.devices ? () => extension!.devices!() : undefined,
        },
      );
    }
    if (dash && httpAt) {
      const token = str(p, "token") ?? env("AVI_TOKEN") ?? defaults.token;
      try {
        dashboard = await dash.serveDashboard(node, {
          ...httpAt,
          token,
          readOnly: flag(p, "read-only"),
          bridge: extension?.bridge,
          tap,
          onError: (e) =>
            logger.error("dashboard: {error}", { error: String(e) }),
        });
      } catch (e) {
        throw new CliError(
          `cannot serve the dashboard on ${http}: ${(e as Error).message}`,
        );
      }
      logger.info("dashboard on {url}{note}", {
        url: dashboard.url,
        note: [
          httpAt.hostname === "0.0.0.0" || httpAt.hostname === "::"
            ? " (on every address)"
            : "",
          token === undefined && dashboard.token !== undefined
            ? " (generated token)"
            : "",
          dashboard.readOnly ? " (read-only)" : "",
        ].join(""),
      });
    }
    const m = str(p, "metrics") ?? defaults.metrics;
    if (m !== undefined) {
      const where = hostPort(m, "metrics");
      metrics = serveMetrics(where.hostname, where.port, collect);
    }
    (async () => {
      for await (const ev of events) {
        if (ev.type === "peerConnected") {
          connected.add(ev.peerId);
          logger.info("peer connected {peerId}", { peerId: ev.peerId });
        } else if (ev.type === "peerDisconnected") {
          connected.delete(ev.peerId);
          logger.info("peer disconnected {peerId}", { peerId: ev.peerId });
        } else if (ev.type === "lagged") {
          logger.warn("the log fell behind: {n} events skipped", {
            n: ev.dropped,
          });
        }
      }
    })();
    await stopping.promise;
    logger.info("stopping");
    return 0;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    if (Deno.build.os !== "windows") {
      Deno.removeSignalListener("SIGTERM", onSignal);
    }
    await dashboard?.close().catch(() => {});
    await control?.close().catch(() => {});
    await metrics?.close().catch(() => {});
    await extension?.close().catch(() => {});
    await node.shutdown();
  }
}
