/**
 * `avi gateway`: a mesh node plus the UDP bridge for devices, configured
 * from a file whose device table reloads while it runs.
 *
 * @module
 */

import { type BridgeEvent, EmbeddedBridge } from "../bridge/mod.ts";
import type { AviP2p } from "../mod.ts";
import type { MqttBridge } from "../mqtt/mod.ts";
import { CliError, flag, type Parsed, str } from "./_args.ts";
import {
  bridgeOptionLine,
  DEFAULT_CONFIG,
  type GatewayConfig,
  loadGatewayConfig,
  SAMPLE_CONFIG,
} from "./_gateway_config.ts";
import { log } from "./_log.ts";
import { type Extension, nodeConfig, serveNode } from "./_serve.ts";

/** Logs bridge events; refusals at most once per address per 10 s. */
async function logEvents(bridge: EmbeddedBridge): Promise<void> {
  const logger = log("gateway");
  const quiet = new Map<string, { until: number; skipped: number }>();
  const limited = (key: string, line: () => void) => {
    const now = Date.now();
    const q = quiet.get(key);
    if (q && now < q.until) {
      q.skipped++;
      return;
    }
    if (quiet.size > 4096) quiet.clear();
    if (q && q.skipped > 0) {
      logger.warn("({n} more like the next from {key})", { n: q.skipped, key });
    }
    quiet.set(key, { until: now + 10_000, skipped: 0 });
    line();
  };
  for await (const ev of bridge.events() as AsyncIterable<BridgeEvent>) {
    switch (ev.type) {
      case "deviceConnected":
        logger.info("device {id} connected from {address}", {
          id: ev.deviceId,
          address: ev.address,
        });
        break;
      case "deviceGone":
        logger.info("device {id} gone ({reason})", {
          id: ev.deviceId,
          reason: ev.reason,
        });
        break;
      case "deviceRefused":
        limited(
          ev.address,
          () =>
            logger.warn("device {id} refused from {address}: {reason}", {
              id: ev.deviceId,
              address: ev.address,
              reason: ev.reason,
            }),
        );
        break;
      case "readingRefused":
        limited(
          `reading ${ev.deviceId}`,
          () =>
            logger.warn("device {id} sensor {sensor} refused: {reason}", {
              id: ev.deviceId,
              sensor: ev.sensor,
              reason: ev.reason,
            }),
        );
        break;
      case "deviceSleeping":
        logger.debug("device {id} sleeps {s} s", {
          id: ev.deviceId,
          s: ev.seconds,
        });
        break;
      case "deviceAwake":
        logger.debug("device {id} woke", { id: ev.deviceId });
        break;
      case "lagged":
        logger.warn("the log fell behind: {n} bridge events skipped", {
          n: ev.dropped,
        });
        break;
    }
  }
}

/** Reloads the device table when the config or key file changes. */
function watchTable(
  config: GatewayConfig,
  bridge: EmbeddedBridge,
  mqtt?: MqttBridge,
): { close(): void } {
  const logger = log("gateway");
  // watchFs reports real, absolute paths: resolve the files' directories.
  const files = [config.path, config.devicesFile]
    .filter((f): f is string => f !== undefined)
    .map((f) => {
      const at = f.lastIndexOf("/");
      const dir = at < 0 ? "." : f.slice(0, at) || "/";
      return `${Deno.realPathSync(dir)}/${f.slice(at + 1)}`;
    });
  const dirs = [
    ...new Set(files.map((f) => f.slice(0, f.lastIndexOf("/")) || "/")),
  ];
  const watcher = Deno.watchFs(dirs, { recursive: false });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const reload = async () => {
    try {
      const next = await loadGatewayConfig(config.path);
      const c = bridge.setDevices(next.bridge.devices);
      mqtt?.setDevices(Object.keys(next.bridge.devices));
      if (c.added.length + c.removed.length + c.changed.length > 0) {
        logger.info(
          "device table reloaded: added {added}, removed {removed}, changed {changed}",
          {
            added: c.added.join(" ") || "-",
            removed: c.removed.join(" ") || "-",
            changed: c.changed.join(" ") || "-",
          },
        );
      }
    } catch (e) {
      logger.error("{error} (keeping the last good device table)", {
        error: (e as Error).message,
      });
    }
  };
  (async () => {
    try {
      for await (const ev of watcher) {
        if (!ev.paths.some((p) => files.includes(p))) continue;
        clearTimeout(timer);
        timer = setTimeout(reload, 150);
      }
    } catch { /* closed */ }
  })();
  return {
    close() {
      clearTimeout(timer);
      try {
        watcher.close();
      } catch { /* already */ }
    },
  };
}

/**
 * Starts the MQTT bridge when `--mqtt URL` or the config's `[mqtt] url`
 * asks for it (its code is loaded only then).
 */
async function startMqtt(
  p: Parsed,
  config: GatewayConfig,
  node: AviP2p,
  path: string,
): Promise<MqttBridge | undefined> {
  const url = str(p, "mqtt") ?? config.mqtt?.url;
  if (url === undefined) return undefined;
  const logger = log("mqtt");
  const { MqttBridge } = await import("../mqtt/mod.ts");
  try {
    const mqtt = await MqttBridge.start(
      node.handle(),
      {
        nodeName: node.nodeName,
        ...config.mqtt,
        url,
        devices: Object.keys(config.bridge.devices),
        onLog: (level, message) =>
          level === "info"
            ? logger.info("{message}", { message })
            : logger.warn("{message}", { message }),
      },
    );
    logger.info("mqtt bridge to {url} as {id}", {
      url: url.replace(/\/\/[^@/]*@/, "//"),
      id: mqtt.nodeId,
    });
    return mqtt;
  } catch (e) {
    const where = str(p, "mqtt") !== undefined ? "--mqtt" : `${path} [mqtt]`;
    throw new CliError(`${where}: ${(e as Error).message}`);
  }
}

/** Runs `avi gateway`. */
export async function gateway(p: Parsed): Promise<number> {
  const path = str(p, "config") ?? DEFAULT_CONFIG;
  if (flag(p, "init")) {
    try {
      await Deno.writeTextFile(path, SAMPLE_CONFIG, { createNew: true });
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists) {
        throw new CliError(`${path} exists already: not overwritten`);
      }
      throw new CliError(`cannot write ${path}: ${(e as Error).message}`);
    }
    console.log(`wrote ${path}; add devices with \`avi devices add ID\``);
    return 0;
  }
  const config = await loadGatewayConfig(path);
  const node = await nodeConfig(p, config.node);
  return await serveNode(
    p,
    node,
    async (node, mesh): Promise<Extension> => {
      const mqtt = await startMqtt(p, config, node, path);
      let bridge: EmbeddedBridge;
      try {
        bridge = await EmbeddedBridge.start(
          mqtt ? mqtt.wrap(mesh) : mesh,
          config.bridge,
        );
      } catch (e) {
        await mqtt?.close();
        const field = (e as { field?: unknown }).field;
        if ((e as Error).name === "ConfigError" && typeof field === "string") {
          throw new CliError(
            `${await bridgeOptionLine(path, field.split(".")[0])}: ${
              (e as Error).message
            }`,
          );
        }
        throw new CliError(`cannot start the bridge: ${(e as Error).message}`);
      }
      log("gateway").info("bridge on udp {host}:{port} for {n} device(s)", {
        host: config.bridge.hostname ?? "0.0.0.0",
        port: bridge.port,
        n: Object.keys(config.bridge.devices).length,
      });
      mqtt?.attachGateway(bridge);
      const logging = logEvents(bridge);
      const watch = watchTable(config, bridge, mqtt);
      return {
        stats: () => ({
          bridge: bridge.stats(),
          queues: bridge.tableSizes(),
          devices: { connected: bridge.devices().length },
          ...(mqtt
            ? { mqtt: { ...mqtt.stats(), connected: mqtt.connected ? 1 : 0 } }
            : {}),
        }),
        devices: () => bridge.devices(),
        bridge,
        async close() {
          watch.close();
          await bridge.close();
          await mqtt?.close();
          await logging.catch(() => {});
        },
      };
    },
    {
      control: config.control?.listen,
      token: config.control?.token,
      metrics: config.metrics?.listen,
    },
  );
}
