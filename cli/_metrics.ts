/**
 * `--metrics HOST:PORT`: the node's and the bridge's counters in the
 * Prometheus text format (version 0.0.4), at `/metrics`.
 *
 * Every numeric field of `node.stats()` becomes `avi_mesh_<name>` (the
 * context's: `avi_context_<name>`), and of a bridge's `stats()`
 * `avi_bridge_<name>`, in snake case; nested counters keep their path
 * (`avi_bridge_refused_rate_limited`). Names ending in `s` or counting
 * something are counters unless they describe a current size, which the
 * `gauges` list names.
 *
 * @module
 */

import { CliError } from "./_args.ts";
import { log } from "./_log.ts";

/** Current sizes rather than totals (reported as gauges). */
const GAUGE =
  /(^|_)(connected|consumers|held|pending|queued|queue|sessions|devices|peers|open|tombstones|states|depth|size|bytes_in_use|in_flight|sleeping|subscriptions)($|_)/;

function snake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").replace(
    /[^A-Za-z0-9_]/g,
    "_",
  )
    .toLowerCase();
}

/** Prometheus text for groups of counters: `{mesh: {...}, bridge: {...}}`. */
export function renderMetrics(groups: Record<string, unknown>): string {
  const lines: string[] = [];
  const walk = (prefix: string, value: unknown) => {
    if (typeof value === "number" && Number.isFinite(value)) {
      const type = GAUGE.test(prefix) ? "gauge" : "counter";
      lines.push(`# TYPE ${prefix} ${type}`, `${prefix} ${value}`);
    } else if (value && typeof value === "object" && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) {
        walk(`${prefix}_${snake(k)}`, v);
      }
    }
  };
  for (const [group, value] of Object.entries(groups)) {
    walk(`avi_${group}`, value);
  }
  return lines.join("\n") + "\n";
}

/**
 * Serves `collect()` as Prometheus text on `hostname:port` (`/metrics`).
 * @throws {CliError} The port is taken.
 */
export function serveMetrics(
  hostname: string,
  port: number,
  collect: () => Record<string, unknown>,
): { port: number; close(): Promise<void> } {
  let server: Deno.HttpServer;
  try {
    server = Deno.serve({ hostname, port, onListen: () => {} }, (req) => {
      if (new URL(req.url).pathname !== "/metrics") {
        return new Response("see /metrics\n", { status: 404 });
      }
      return new Response(renderMetrics(collect()), {
        headers: { "content-type": "text/plain; version=0.0.4" },
      });
    });
  } catch (e) {
    throw new CliError(
      `cannot serve metrics on ${hostname}:${port}: ${(e as Error).message}`,
    );
  }
  const bound = (server.addr as Deno.NetAddr).port;
  log("metrics").info("metrics on http://{host}:{port}/metrics", {
    host: hostname,
    port: bound,
  });
  return { port: bound, close: () => server.shutdown() };
}
