/**
 * `avi devices add|list|remove|rotate`: the gateway's device table (the JSON
 * key file its config names as `devices_file`).
 *
 * @module
 */

import {
  type DeviceEntry,
  type DeviceTable,
  loadDeviceKeys,
} from "../bridge/mod.ts";
import { CliError, flag, type Parsed, str, strs, UsageError } from "./_args.ts";
import { hex, println } from "./_format.ts";
import { DEFAULT_CONFIG, loadGatewayConfig } from "./_gateway_config.ts";
import { CONTROL_PORT, env } from "./_mesh.ts";
import { HttpAccess } from "./_http_access.ts";

/** Where the key file is. */
async function keyFile(p: Parsed): Promise<string> {
  const file = str(p, "file");
  if (file !== undefined) return file;
  const config = str(p, "config") ?? DEFAULT_CONFIG;
  try {
    await Deno.stat(config);
  } catch {
    if (str(p, "config") !== undefined) {
      throw new CliError(`no config file ${config}`);
    }
    return "devices.json";
  }
  const c = await loadGatewayConfig(config);
  if (!c.devicesFile) {
    throw new CliError(
      `${config} names no devices_file: give one, or use --file`,
    );
  }
  return c.devicesFile;
}

async function readTable(path: string): Promise<DeviceTable> {
  try {
    return await loadDeviceKeys(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return {};
    throw new CliError(`${path}: ${(e as Error).message}`);
  }
}

/** Replaces `path` atomically with `table`, owner-only (0600). */
async function writeTable(path: string, table: DeviceTable): Promise<void> {
  const sorted = Object.fromEntries(
    Object.entries(table).sort(([a], [b]) => Number(a) - Number(b)),
  );
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  try {
    await Deno.writeTextFile(tmp, JSON.stringify(sorted, null, 2) + "\n", {
      mode: 0o600,
      createNew: true,
    });
    await Deno.chmod(tmp, 0o600).catch(() => {});
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw new CliError(`cannot write ${path}: ${(e as Error).message}`);
  }
}

function checkId(id: string | undefined): string {
  if (id === undefined) throw new UsageError("give the device id");
  if (!/^(0|[1-9]\d{0,15})$/.test(id) || Number(id) > Number.MAX_SAFE_INTEGER) {
    throw new UsageError(
      `the device id is a decimal number up to 2^53-1, not "${id}"`,
    );
  }
  return id;
}

function newKey(): string {
  return hex(crypto.getRandomValues(new Uint8Array(32)));
}

function keyOf(entry: DeviceTable[string]): string {
  if (typeof entry === "string") return entry;
  if (entry instanceof Uint8Array) return hex(entry);
  return typeof entry.key === "string" ? entry.key : hex(entry.key);
}

/** What a device maker needs: the key, a C snippet, a Moddable manifest snippet. */
function printProvisioning(id: string, key: string): void {
  const bytes = key.match(/../g)!.map((b) => `0x${b}`);
  const rows: string[] = [];
  for (let i = 0; i < 32; i += 8) {
    rows.push(`  ${bytes.slice(i, i + 8).join(", ")},`);
  }
  println(`key: ${key}`);
  println("");
  println("C (ESP-IDF, Arduino):");
  println(`#define AVI_DEVICE_ID ${id}ULL`);
  println("static const uint8_t AVI_DEVICE_KEY[32] = {");
  for (const r of rows) println(r);
  println("};");
  println("");
  println('Moddable manifest.json, "config":');
  println(JSON.stringify({ avi: { deviceId: Number(id), key } }, null, 2));
}

/** Runs `avi devices`. */
export async function devices(p: Parsed): Promise<number> {
  const [verb, id, ...rest] = p.positionals;
  if (!["add", "list", "remove", "rotate"].includes(verb ?? "")) {
    throw new UsageError(
      `avi devices needs add, list, remove or rotate${
        verb ? `, not "${verb}"` : ""
      }`,
    );
  }
  if (rest.length > 0 || (verb === "list" && id !== undefined)) {
    throw new UsageError(`too many arguments for avi devices ${verb}`);
  }
  const path = await keyFile(p);
  const table = await readTable(path);
  switch (verb) {
    case "add": {
      const dev = checkId(id);
      if (dev in table) {
        throw new CliError(
          `device ${dev} is in ${path} already (rotate gives it a new key)`,
        );
      }
      const key = newKey();
      const publish = strs(p, "publish");
      const subscribe = strs(p, "subscribe");
      const entry: DeviceEntry | string = publish.length || subscribe.length
        ? {
          key,
          ...(publish.length ? { publish } : {}),
          ...(subscribe.length ? { subscribe } : {}),
        }
        : key;
      await writeTable(path, { ...table, [dev]: entry });
      println(`device ${dev} added to ${path}`);
      printProvisioning(dev, key);
      return 0;
    }
    case "remove": {
      const dev = checkId(id);
      if (!(dev in table)) {
        throw new CliError(`device ${dev} is not in ${path}`);
      }
      delete table[dev];
      await writeTable(path, table);
      println(`device ${dev} removed from ${path}`);
      return 0;
    }
    case "rotate": {
      const dev = checkId(id);
      const old = table[dev];
      if (old === undefined) {
        throw new CliError(`device ${dev} is not in ${path}`);
      }
      const key = newKey();
      table[dev] = typeof old === "object" && !(old instanceof Uint8Array)
        ? { ...old, key }
        : key;
      await writeTable(path, table);
      println(
        `device ${dev} has a new key in ${path}; its old key no longer works`,
      );
      printProvisioning(dev, key);
      return 0;
    }
    default: {
      // The live state, when a gateway answers.
      let live: Record<string, Record<string, unknown>> = {};
      const base = str(p, "node") ?? env("AVI_NODE") ??
        `http://127.0.0.1:${CONTROL_PORT}`;
      const access = await HttpAccess.probe(
        base,
        str(p, "token") ?? env("AVI_TOKEN"),
        1000,
      ).catch(() => undefined);
      if (access) {
        const rows = await access.devices().catch(() => []) as Record<
          string,
          unknown
        >[];
        live = Object.fromEntries(rows.map((r) => [String(r.deviceId), r]));
      }
      for (const [dev, entry] of Object.entries(table)) {
        const l = live[dev];
        const rules =
          typeof entry === "object" && !(entry instanceof Uint8Array)
            ? { publish: entry.publish, subscribe: entry.subscribe }
            : {};
        // Never the key: its first 8 hex characters tell keys apart.
        const row = {
          id: dev,
          key: `${keyOf(entry).slice(0, 8)}…`,
          ...rules,
          connected: l !== undefined,
          ...(l
            ? {
              address: l.address,
              lastSeen: new Date(l.lastSeen as number).toISOString(),
              subscriptions: l.subscriptions,
              sleeping: l.sleeping,
              queued: l.queued,
            }
            : {}),
        };
        if (flag(p, "json")) println(JSON.stringify(row));
        else {
          println(
            `${dev}  key ${row.key}  ${
              l
                ? `connected from ${l.address}, last seen ${row.lastSeen}, ${
                  (l.subscriptions as string[]).length
                } subscription(s), ${l.queued} queued${
                  l.sleeping ? ", sleeping" : ""
                }`
                : access
                ? "offline"
                : "(no gateway answering)"
            }`,
          );
        }
      }
      if (Object.keys(table).length === 0 && !flag(p, "json")) {
        println(`no devices in ${path}`);
      }
      return 0;
    }
  }
}
