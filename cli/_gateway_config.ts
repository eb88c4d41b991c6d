/**
 * The gateway's config file (`avi-gateway.toml`, or JSON with the same
 * shape): the node, the bridge (every `BridgeOptions` field by its name),
 * the device table inline and/or in a key file, the control endpoint, the
 * metrics and the MQTT bridge. A mistake names the file and line.
 *
 * @module
 */

import { parse as parseToml, TomlError } from "smol-toml";
import type { AviP2pConfig } from "../mod.ts";
import {
  type BridgeOptions,
  type DeviceTable,
  loadDeviceKeys,
  parseDeviceTable,
} from "../bridge/mod.ts";
import type { MqttBridgeOptions } from "../mqtt/mod.ts";
import { CliError } from "./_args.ts";

export { DEFAULT_CONFIG } from "./_constants.ts";

/** A config file, read and checked. */
export interface GatewayConfig {
  /** The file it came from. */
  path: string;
  /** The node's config (the mesh key read from its file). */
  node: AviP2pConfig;
  /** The bridge's options, the device table included. */
  bridge: BridgeOptions;
  /** The key file, when the config names one (its path, resolved). */
  devicesFile?: string;
  /** `[control] listen` / `token`. */
  control?: { listen?: string; token?: string };
  /** `[metrics] listen`. */
  metrics?: { listen?: string };
  /** `[mqtt]`: the MQTT bridge's settings (`url` may come from `--mqtt`). */
  mqtt?: MqttSettings;
}

/** The `[mqtt]` section, read: `MqttBridgeOptions` fields, files read. */
export type MqttSettings = Omit<Partial<MqttBridgeOptions>, "onLog">;

/** `[mqtt]` keys → `MqttBridgeOptions` fields (files: read into the field). */
const MQTT_KEYS: Record<string, string> = {
  url: "url",
  username: "username",
  password: "password",
  password_file: "password",
  ca_file: "ca",
  cert_file: "cert",
  key_file: "key",
  insecure: "insecure",
  client_id: "clientId",
  protocol_version: "protocolVersion",
  node_id: "nodeId",
  name: "nodeName",
  discovery_prefix: "discoveryPrefix",
  base_topic: "baseTopic",
  mirror: "mirror",
  mirror_prefix: "mirrorPrefix",
  context: "context",
};

/** A sample config, written by `avi gateway --init`. */
export const SAMPLE_CONFIG =
  `# avi-gateway.toml: the gateway of @avi/p2p (see \`avi gateway --help\`).
# The device table reloads when this file or the key file changes.

# The key file that \`avi devices add|remove|rotate\` manage (JSON).
devices_file = "devices.json"

[node]
name = "gateway"
# port = 4001                  # mesh TCP port (0: any)
# host = "0.0.0.0"
# data_dir = ".avi-p2p/gateway"
# bootstrap = ["/ip4/192.168.1.10/tcp/4001/p2p/12D3KooW..."]
# mdns = true
# kad = true
# mesh_key_file = "mesh.key"   # a private mesh

[bridge]                       # any EmbeddedBridge option, by its name
udpPort = 8888
# hostname = "0.0.0.0"
# meshTopics = ["home/lights"]
# keepAliveSeconds = 30
# maxSensorsPerDevice = 64
# defaultRules = { publish = ["device/{id}/#"], subscribe = ["#"] }

# [devices]                    # devices may also be listed here
# "42" = "<64 hex characters>"
# [devices.43]
# key = "<64 hex characters>"
# publish = ["device/43/#"]
# subscribe = ["home/#"]

[control]
listen = "127.0.0.1:7357"
# token = "..."                # required when listen is not 127.0.0.1

# [metrics]
# listen = "127.0.0.1:9464"

# [mqtt]                       # Home Assistant / MQTT (or: avi gateway --mqtt URL)
# url = "mqtt://192.168.1.2:1883"   # mqtts://host:8883 for TLS
# username = "avi"
# password_file = "mqtt.password"
# ca_file = "ca.pem"             # a CA to trust for mqtts:// (PEM)
# node_id = "gateway"            # in topics and unique ids (default: from the peer id)
# mirror = ["home/#"]            # mesh topics mirrored under avi/... both ways
# context = ["avi.device.audio.volume", "avi.lights.*"]
`;

const NODE_KEYS: Record<string, keyof AviP2pConfig | "mesh_key_file"> = {
  name: "nodeName",
  port: "listenPort",
  host: "listenHost",
  data_dir: "dataDir",
  bootstrap: "bootstrapPeers",
  mdns: "enableMdns",
  kad: "enableKad",
  discovery_tag: "discoveryTag",
  max_peers: "maxPeers",
  allowed_peers: "allowedPeers",
  mesh_key_file: "mesh_key_file",
};

/** The 1-based line of `key` in `[section]` of a TOML text (0: not found). */
function lineOf(text: string, section: string, key: string): number {
  let current = "";
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i].trim();
    const h = /^\[+\s*([^\]]+?)\s*\]+/.exec(l);
    if (h) {
      current = h[1].replace(/"/g, "");
      if (current === `${section}.${key}`) return i + 1;
      continue;
    }
    const k = /^"?([^"=\s]+)"?\s*=/.exec(l);
    if (k && k[1] === key && current === section) return i + 1;
  }
  return 0;
}

function dirOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : path.slice(0, i) || "/";
}

function resolvePath(base: string, p: string): string {
  return p.startsWith("/") ? p : `${dirOf(base)}/${p}`;
}

/**
 * Reads and checks a config file.
 * @throws {CliError} The file cannot be read, does not parse (its line is
 * named), or holds a bad value (its key, and line where it can be found).
 */
export async function loadGatewayConfig(path: string): Promise<GatewayConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new CliError(
        `no config file ${path} (write a sample with \`avi gateway --init\`)`,
      );
    }
    throw new CliError(`cannot read ${path}: ${(e as Error).message}`);
  }
  const json = path.endsWith(".json");
  let raw: Record<string, unknown>;
  try {
    raw = json ? JSON.parse(text) : parseToml(text) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof TomlError) {
      throw new CliError(
        `${path}:${e.line}:${e.column}: ${e.message.split("\n")[0]}`,
      );
    }
    const m = /position (\d+)/.exec((e as Error).message);
    const line = m ? text.slice(0, Number(m[1])).split("\n").length : 0;
    throw new CliError(`${path}:${line}: ${(e as Error).message}`);
  }
  const where = (section: string, key: string) => {
    const n = json ? 0 : lineOf(text, section, key);
    return n > 0 ? `${path}:${n}` : path;
  };
  const bad = (section: string, key: string, what: string): never => {
    throw new CliError(
      `${where(section, key)}: ${section ? `${section}.` : ""}${key} ${what}`,
    );
  };
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new CliError(`${path}: must hold a table`);
  }
  const known = [
    "devices_file",
    "node",
    "bridge",
    "devices",
    "control",
    "metrics",
    "mqtt",
  ];
  for (const k of Object.keys(raw)) {
    if (!known.includes(k)) {
      bad("", k, `is not a setting (known: ${known.join(", ")})`);
    }
  }
  const table = (k: string): Record<string, unknown> => {
    const v = raw[k] ?? {};
    if (v === null || typeof v !== "object" || Array.isArray(v)) {
      bad("", k, "must be a table");
    }
    return v as Record<string, unknown>;
  };

  // [node]
  const node: AviP2pConfig = { nodeName: "gateway" };
  for (const [k, v] of Object.entries(table("node"))) {
    const field = NODE_KEYS[k];
    if (!field) {
      bad(
        "node",
        k,
        `is not a node setting (known: ${Object.keys(NODE_KEYS).join(", ")})`,
      );
    }
    if (field === "mesh_key_file") {
      if (typeof v !== "string") bad("node", k, "must be a file name");
      try {
        node.meshKey = (await Deno.readTextFile(resolvePath(path, v as string)))
          .trim();
      } catch (e) {
        bad("node", k, `cannot be read: ${(e as Error).message}`);
      }
    } else (node as Record<string, unknown>)[field] = v;
  }

  // [devices] and devices_file
  const devices: DeviceTable = {};
  for (const [id, entry] of Object.entries(table("devices"))) {
    try {
      parseDeviceTable({ [id]: entry as DeviceTable[string] });
    } catch (e) {
      bad("devices", id, `: ${(e as Error).message.replace(/^.*?: /, "")}`);
    }
    devices[id] = entry as DeviceTable[string];
  }
  let devicesFile: string | undefined;
  if (raw.devices_file !== undefined) {
    if (typeof raw.devices_file !== "string") {
      bad("", "devices_file", "must be a file name");
    }
    devicesFile = resolvePath(path, raw.devices_file as string);
    let fromFile: DeviceTable = {};
    try {
      fromFile = await loadDeviceKeys(devicesFile);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) {
        throw new CliError(`${devicesFile}: ${(e as Error).message}`);
      }
    }
    for (const [id, entry] of Object.entries(fromFile)) {
      if (id in devices) {
        bad("devices", id, `is also in ${devicesFile}: list each device once`);
      }
      devices[id] = entry;
    }
  }

  // [bridge]: every option by name; the bridge checks them (and refuses unknown ones).
  const bridgeRaw = table("bridge");
  if ("devices" in bridgeRaw) {
    bad("bridge", "devices", "belongs in [devices] or devices_file");
  }
  const bridge = { ...bridgeRaw, devices } as unknown as BridgeOptions;

  const control = table("control") as { listen?: string; token?: string };
  for (const k of Object.keys(control)) {
    if (k !== "listen" && k !== "token") {
      bad("control", k, "is not a setting (listen, token)");
    }
  }
  const metrics = table("metrics") as { listen?: string };
  for (const k of Object.keys(metrics)) {
    if (k !== "listen") bad("metrics", k, "is not a setting (listen)");
  }
  // [mqtt]
  let mqtt: MqttSettings | undefined;
  if (raw.mqtt !== undefined) {
    const m: Record<string, unknown> = {};
    const tls: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(table("mqtt"))) {
      const field = MQTT_KEYS[k];
      if (!field) {
        bad(
          "mqtt",
          k,
          `is not an MQTT setting (known: ${
            Object.keys(MQTT_KEYS).join(", ")
          })`,
        );
      }
      if (k.endsWith("_file")) {
        if (typeof v !== "string") bad("mqtt", k, "must be a file name");
        let text = "";
        try {
          text = await Deno.readTextFile(resolvePath(path, v as string));
        } catch (e) {
          bad("mqtt", k, `cannot be read: ${(e as Error).message}`);
        }
        if (k === "password_file") m.password = text.trim();
        else tls[field] = text;
      } else if (k === "insecure") {
        if (typeof v !== "boolean") bad("mqtt", k, "must be true or false");
        tls.rejectUnauthorized = !v;
      } else if (k === "mirror" || k === "context") {
        if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
          bad("mqtt", k, "must be a list of strings");
        }
        m[field] = v;
      } else if (k === "protocol_version") {
        if (v !== 4 && v !== 5) bad("mqtt", k, "must be 4 (3.1.1) or 5");
        m[field] = v;
      } else {
        if (typeof v !== "string") bad("mqtt", k, "must be a string");
        m[field] = v;
      }
    }
    if (Object.keys(tls).length > 0) m.tls = tls;
    mqtt = m as MqttSettings;
  }
  return { path, node, bridge, devicesFile, control, metrics, mqtt };
}

/** The line (`file:line`) of a bridge option, to name it in an error. */
export async function bridgeOptionLine(
  path: string,
  option: string,
): Promise<string> {
  if (path.endsWith(".json")) return path;
  try {
    const n = lineOf(await Deno.readTextFile(path), "bridge", option);
    return n > 0 ? `${path}:${n}` : path;
  } catch {
    return path;
  }
}
