/**
 * `MqttBridge`: the mesh and its devices in an MQTT broker, the way Home
 * Assistant discovers them. See mqtt/mod.ts for what it does; this file is
 * the running part: the broker connection (reconnection with backoff), the
 * state cache, device events, context entities and topic mirroring.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import mqtt from "mqtt";
import type {
  IClientOptions,
  IClientPublishOptions,
  IPublishPacket,
  MqttClient,
} from "mqtt";
import type { BridgeEvent, BridgeMesh, DeviceInfo } from "../bridge/mod.ts";
import type { AviEvent, JsonObject, JsonValue, PeerId } from "../mod.ts";
import {
  commandValue,
  type ContextEntity,
  entitiesIn,
  entityFields,
  patchAt,
  statePayload,
  touches,
  valueAt,
} from "./context_entities.ts";
import {
  type Announcement,
  Discovery,
  type SensorKind,
  sensorKindOf,
  type Topics,
} from "./discovery.ts";
import { LatestPerTopic } from "./latest_queue.ts";
import { type MeshTap, type MqttMesh, tapMesh } from "./mesh_tap.ts";
import {
  type MqttBridgeOptions,
  type ResolvedMqttOptions,
  resolveMqttOptions,
} from "./options.ts";
import { hasMqttWildcard, matchPattern, parseDeviceTopic } from "./topics.ts";

/** What the MQTT bridge reads of a UDP bridge (`EmbeddedBridge` fits). */
export interface GatewaySource {
  /** A new consumer of its events (deviceConnected, deviceGone, ...). */
  events(options?: { queueSize?: number }): AsyncIterableIterator<BridgeEvent>;
  /** The devices with a live session. */
  devices(): DeviceInfo[];
}

/** Counters of an {@linkcode MqttBridge}. */
export interface MqttBridgeStats {
  /** Connected to the broker now. */
  connected: boolean;
  /** Connections made (the first and every reconnection). */
  connects: number;
  /** Connections lost. */
  disconnects: number;
  /** Messages handed to the broker connection. */
  published: number;
  /** Discovery configs announced now. */
  discoveryTopics: number;
  /** State topics held for republishing (latest value each). */
  states: number;
  /** State topics forgotten because `maxStates` was reached. */
  statesDropped: number;
  /** Button events and mirrored messages dropped while the broker was down. */
  eventsDropped: number;
  /** Commands from MQTT applied to the shared context. */
  commands: number;
  /** Commands refused (malformed, or the context refused the change). */
  commandsRefused: number;
  /** Mesh messages mirrored to MQTT. */
  mirroredOut: number;
  /** MQTT messages mirrored to the mesh. */
  mirroredIn: number;
  /** Mirrored messages refused (a topic MQTT cannot carry, or the mesh refused it). */
  mirrorRefused: number;
  /** MQTT messages not mirrored back because they came from a mesh. */
  echoesSuppressed: number;
  /** Re-announcements asked for by Home Assistant's birth message. */
  reannounces: number;
  /** Mesh events this bridge missed because it fell behind the node. */
  meshLagged: number;
}

interface DeviceRecord {
  id: string;
  sensors: Map<string, SensorKind>;
  buttons: Set<number>;
  discovery: Set<string>;
  states: Set<string>;
}

const MESH_ORIGIN = "avi-origin";
const td = new TextDecoder();

function parseJson(data: Uint8Array | string): unknown {
  try {
    return JSON.parse(typeof data === "string" ? data : td.decode(data));
  } catch {
    return undefined;
  }
}

function toBuffer(p: Uint8Array | string): Buffer | string {
  return typeof p === "string"
    ? p
    : Buffer.from(p.buffer, p.byteOffset, p.byteLength);
}

/** A short fingerprint of a message (MQTT 3.1.1 echo recognition). */
function fingerprint(topic: string, data: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < data.length; i++) {
    h = Math.imul(h ^ data[i], 0x01000193);
  }
  return `${topic}\u0000${data.length}:${h >>> 0}`;
}

/**
 * A bridge between a mesh node and an MQTT broker, with Home Assistant's
 * MQTT discovery. Start it with {@linkcode MqttBridge.start}; on a gateway,
 * give the UDP bridge {@linkcode MqttBridge.mesh} as its handle and then
 * {@linkcode MqttBridge.attachGateway}.
 *
 * @example
 * ```ts ignore
 * import { AviP2p } from "@avi/p2p";
 * import { EmbeddedBridge } from "@avi/p2p/bridge";
 * import { MqttBridge } from "@avi/p2p/mqtt";
 * const node = await AviP2p.start({ nodeName: "gateway" });
 * const devices = { "7": "11".repeat(32) };
 * const mqtt = await MqttBridge.start(node.handle(), {
 *   url: "mqtt://127.0.0.1:1883",
 *   devices: Object.keys(devices),
 * });
 * const bridge = await EmbeddedBridge.start(mqtt.mesh, { udpPort: 8888, devices });
 * mqtt.attachGateway(bridge);
 * ```
 */
export class MqttBridge {
  readonly #o: ResolvedMqttOptions;
  readonly #handle: MqttMesh;
  readonly #disc: Discovery;
  readonly #topics: Topics;
  readonly #taps = new Set<MeshTap>();
  #mesh: BridgeMesh | undefined;
  #client: MqttClient | undefined;
  #connected = false;
  #closed = false;
  #attempt = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #birthTimer: ReturnType<typeof setTimeout> | undefined;
  #lastError = "";
  readonly #discovery = new Map<string, string>();
  readonly #removals = new Set<string>();
  readonly #states: LatestPerTopic;
  readonly #devices = new Map<string, DeviceRecord>();
  #table: Set<string> | undefined;
  #gatewayAttached = false;
  readonly #ctx = new Map<string, { entity: ContextEntity; topic: string }>();
  readonly #commands = new Map<string, string>();
  readonly #meshSubscribed = new Set<string>();
  #meshEvents: AsyncIterableIterator<AviEvent> | undefined;
  #gatewayEvents: AsyncIterableIterator<BridgeEvent> | undefined;
  readonly #loops: Promise<void>[] = [];
  readonly #echo = new Map<string, number>();
  readonly #stats = {
    connects: 0,
    disconnects: 0,
    published: 0,
    eventsDropped: 0,
    commands: 0,
    commandsRefused: 0,
    mirroredOut: 0,
    mirroredIn: 0,
    mirrorRefused: 0,
    echoesSuppressed: 0,
    reannounces: 0,
    meshLagged: 0,
  };

  private constructor(handle: MqttMesh, o: ResolvedMqttOptions) {
    this.#handle = handle;
    this.#o = o;
    this.#disc = new Discovery({
      nodeId: o.nodeId,
      nodeName: o.nodeName,
      discoveryPrefix: o.discoveryPrefix,
      baseTopic: o.baseTopic,
    });
    this.#topics = this.#disc.topics;
    this.#states = new LatestPerTopic(o.maxStates);
    this.#table = o.devices ? new Set(o.devices) : undefined;
  }

  /**
   * The node's handle for `EmbeddedBridge.start` when both bridges run on
   * this node: through it the MQTT bridge sees what the gateway's devices
   * publish, and the devices get what MQTT sends into the mesh.
   */
  get mesh(): BridgeMesh {
    this.#mesh ??= this.wrap(this.#handle);
    return this.#mesh;
  }

  /**
   * Like {@linkcode mesh}, around something that already wraps the node's
   * handle (another observer of what the UDP bridge publishes).
   *
   * @param inner The node's handle, or a wrapper of it.
   * @returns The handle to give `EmbeddedBridge.start`.
   */
  wrap(inner: BridgeMesh): BridgeMesh {
    const tap = tapMesh(
      inner,
      this.#handle.peerId as PeerId,
      (t, d) => this.#fromGateway(t, d),
    );
    this.#taps.add(tap);
    return tap.mesh;
  }

  /**
   * Starts the bridge: reads the shared context (the exposed paths, and the
   * sensors already there), subscribes the node to the exact mirrored
   * topics, and connects to the broker. It does not wait for the broker: a
   * broker that is down is retried with backoff while the bridge keeps the
   * latest state of every topic, published when it comes up.
   *
   * @param handle The node's handle.
   * @param options The broker's URL, and the rest (every field but `url` optional).
   * @returns The running bridge.
   * @throws {ConfigError} On a bad option.
   * @example
   * ```ts ignore
   * const mqtt = await MqttBridge.start(node.handle(), { url: "mqtt://127.0.0.1:1883" });
   * ```
   */
  static async start(
    handle: MqttMesh,
    options: MqttBridgeOptions,
  ): Promise<MqttBridge> {
    const o = resolveMqttOptions(options, handle.peerId);
    const b = new MqttBridge(handle, o);
    try {
      await b.#init();
    } catch (e) {
      await b.close();
      throw e;
    }
    return b;
  }

  /** This node's id in topics and unique ids. */
  get nodeId(): string {
    return this.#o.nodeId;
  }

  /** Where the state, command and availability topics live. */
  get baseTopic(): string {
    return this.#o.baseTopic;
  }

  /** Whether the broker connection is up now. */
  get connected(): boolean {
    return this.#connected;
  }

  /** A snapshot of the counters. */
  stats(): MqttBridgeStats {
    return {
      connected: this.#connected,
      ...this.#stats,
      discoveryTopics: this.#discovery.size,
      states: this.#states.size,
      statesDropped: this.#states.dropped,
    };
  }

  async #init(): Promise<void> {
    // Events first, so that no change after the reads below is missed.
    this.#meshEvents = this.#handle.events();
    this.#loops.push(this.#meshLoop(this.#meshEvents));
    const own = new Set(await this.#handle.subscriptions?.() ?? []);
    for (const p of this.#o.mirror) {
      if (hasMqttWildcard(p) || own.has(p)) continue;
      await this.#handle.subscribe(p);
      this.#meshSubscribed.add(p);
    }
    for (const id of this.#table ?? []) this.#device(id);
    // The exposed paths and the sensors, as they are now.
    const roots = new Set([
      ...this.#o.context.map((c) => c.path.split(".")[0]),
      "avi",
    ]);
    const doc: JsonObject = {};
    for (const r of roots) {
      const v = await this.#handle.getContext(r);
      if (v !== undefined) doc[r] = v;
    }
    this.#refreshContext(doc);
    this.#sensorsFromContext(doc, ["avi.sensors"]);
    this.#connect();
  }

  // ---- the gateway ---------------------------------------------------------

  /**
   * Follows a UDP bridge on this node (started with {@linkcode mesh} as its
   * handle): each device's availability follows its session (online on
   * connect, offline on expiry or disconnect), and a device taken off the
   * key table loses its entities. Sensor readings and button presses come
   * through {@linkcode mesh} from then on.
   *
   * @param gateway The `EmbeddedBridge` (started with {@linkcode mesh}, or
   * a handle from {@linkcode wrap}).
   * @example
   * ```ts ignore
   * const bridge = await EmbeddedBridge.start(mqtt.mesh, { udpPort: 8888, devices });
   * mqtt.attachGateway(bridge);
   * ```
   */
  attachGateway(gateway: GatewaySource): void {
    if (this.#closed || this.#gatewayEvents) return;
    this.#gatewayAttached = true;
    const events = gateway.events({ queueSize: 1024 });
    this.#gatewayEvents = events;
    const sync = () => {
      const live = new Set(gateway.devices().map((d) => d.deviceId));
      for (const id of new Set([...this.#devices.keys(), ...live])) {
        this.#setOnline(id, live.has(id));
      }
    };
    sync();
    this.#loops.push((async () => {
      for await (const ev of events) {
        switch (ev.type) {
          case "deviceConnected":
            this.#setOnline(ev.deviceId, true);
            break;
          case "deviceGone":
            if (ev.reason === "replaced") break;
            if (
              ev.reason === "removed" && this.#table &&
              !this.#table.has(ev.deviceId)
            ) this.#removeDevice(ev.deviceId);
            else this.#setOnline(ev.deviceId, false);
            break;
          case "lagged":
            sync();
            break;
        }
      }
    })());
  }

  /**
   * The gateway's key table changed: devices no longer in it lose their
   * entities (empty retained discovery configs), new ones are known
   * (offline until they connect).
   *
   * @param deviceIds Every device id of the new table.
   * @example
   * ```ts ignore
   * mqtt.setDevices(Object.keys(newTable));
   * ```
   */
  setDevices(deviceIds: string[]): void {
    const next = new Set(deviceIds);
    for (const id of [...this.#devices.keys()]) {
      if (!next.has(id)) this.#removeDevice(id);
    }
    this.#table = next;
    for (const id of next) this.#device(id);
  }

  #device(id: string): DeviceRecord {
    let d = this.#devices.get(id);
    if (d === undefined) {
      d = {
        id,
        sensors: new Map(),
        buttons: new Set(),
        discovery: new Set(),
        states: new Set(),
      };
      this.#devices.set(id, d);
      // Behind a gateway a device is offline until its session says so;
      // seen from the context only, it is taken as online.
      const gatewayMode = this.#table !== undefined || this.#gatewayAttached;
      this.#setState(
        this.#topics.deviceAvailability(id),
        gatewayMode ? "offline" : "online",
      );
    }
    return d;
  }

  #setOnline(id: string, online: boolean): void {
    if (this.#table && !this.#table.has(id)) return;
    this.#device(id);
    this.#setState(
      this.#topics.deviceAvailability(id),
      online ? "online" : "offline",
    );
  }

  #removeDevice(id: string): void {
    const d = this.#devices.get(id);
    if (!d) return;
    this.#devices.delete(id);
    for (const t of d.discovery) this.#clear(t, true);
    for (const t of d.states) this.#clear(t, false);
    this.#clear(this.#topics.deviceAvailability(id), false);
  }

  /** A message the gateway published into the mesh (accepted). */
  #fromGateway(topic: string, data: Uint8Array): void {
    if (this.#closed) return;
    this.#deviceEvent(topic, data);
    this.#mirrorOut(topic, data);
  }

  #deviceEvent(topic: string, data: Uint8Array | string): void {
    const dt = parseDeviceTopic(topic);
    if (!dt) return;
    if (this.#table && !this.#table.has(dt.deviceId)) return;
    const d = this.#device(dt.deviceId);
    if (dt.kind === "sensor") this.#sensorReading(d, dt.name, data);
    else this.#buttonPress(d, data);
  }

  #sensorReading(
    d: DeviceRecord,
    name: string,
    data: Uint8Array | string,
    parsed?: unknown,
  ): void {
    if (!d.sensors.has(name)) {
      const kind = sensorKindOf(name, parsed ?? parseJson(data));
      d.sensors.set(name, kind);
      this.#announce(
        d,
        this.#disc.sensor(d.id, name, kind, this.#o.deviceInfo[d.id]),
      );
    }
    const t = this.#topics.sensorState(d.id, name);
    d.states.add(t);
    // Every reading is published, even one equal to the last.
    this.#setState(t, data, true);
  }

  #buttonPress(d: DeviceRecord, data: Uint8Array | string): void {
    const ev = parseJson(data) as { button_id?: unknown } | undefined;
    const id = ev?.button_id;
    if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 0) return;
    if (!d.buttons.has(id)) {
      d.buttons.add(id);
      const info = this.#o.deviceInfo[d.id];
      for (const a of this.#disc.buttonTriggers(d.id, id, info)) {
        this.#announce(d, a);
      }
    }
    this.#event(this.#topics.button(d.id, id), data, { qos: 1 });
  }

  /** Sensors found in the context (`avi.sensors.<id>.<name>`) under `changed`. */
  #sensorsFromContext(doc: JsonObject, changed: string[]): void {
    const sensors = valueAt(doc, "avi.sensors");
    if (
      sensors === null || typeof sensors !== "object" || Array.isArray(sensors)
    ) {
      return;
    }
    const pairs = new Set<string>();
    for (const p of changed) {
      const k = p.split(".");
      if (k[0] !== "avi" || (k.length > 1 && k[1] !== "sensors")) continue;
      const ids = k.length > 2 ? [k[2]] : Object.keys(sensors);
      for (const id of ids) {
        const dev = (sensors as JsonObject)[id];
        if (dev === null || typeof dev !== "object" || Array.isArray(dev)) {
          continue;
        }
        const names = k.length > 3 ? [k[3]] : Object.keys(dev);
        for (const n of names) if (n in dev) pairs.add(`${id}\u0000${n}`);
      }
    }
    for (const pair of pairs) {
      const [id, name] = pair.split("\u0000");
      if (!/^[0-9]+$/.test(id)) continue;
      if (this.#table && !this.#table.has(id)) continue;
      const reading = (sensors as Record<string, JsonObject>)[id][name];
      if (reading === null || typeof reading !== "object") continue;
      const known = this.#devices.has(id);
      const d = this.#device(id);
      if (!known && this.#table === undefined && !this.#gatewayAttached) {
        // A device seen in the context only: follow its buttons too.
        this.#meshSubscribe(`device/${id}/button`);
      }
      this.#sensorReading(d, name, JSON.stringify(reading), reading);
    }
  }

  #meshSubscribe(topic: string): void {
    if (this.#meshSubscribed.has(topic) || this.#closed) return;
    this.#meshSubscribed.add(topic);
    this.#handle.subscribe(topic).catch(() =>
      this.#meshSubscribed.delete(topic)
    );
  }

  // ---- the mesh ------------------------------------------------------------

  async #meshLoop(events: AsyncIterableIterator<AviEvent>): Promise<void> {
    for await (const ev of events) {
      try {
        if (ev.type === "message") {
          // Device events from another node's gateway, seen from the context.
          if (!this.#gatewayAttached && this.#table === undefined) {
            if (parseDeviceTopic(ev.topic)?.kind === "button") {
              this.#deviceEvent(ev.topic, ev.data);
            }
          }
          this.#mirrorOut(ev.topic, ev.data);
        } else if (ev.type === "contextUpdated") {
          if (ev.changedPaths.some((p) => touches(p, this.#o.context))) {
            this.#refreshContext(ev.context);
          }
          if (!this.#gatewayAttached) {
            const s = ev.changedPaths.filter((p) =>
              p === "avi" || p === "avi.sensors" || p.startsWith("avi.sensors.")
            );
            if (s.length > 0) this.#sensorsFromContext(ev.context, s);
          }
        } else if (ev.type === "lagged") {
          this.#stats.meshLagged += ev.dropped;
        }
      } catch (e) {
        this.#o.onLog("warn", `mqtt: ${(e as Error).message}`);
      }
    }
  }

  // ---- the shared context ------------------------------------------------------

  #refreshContext(doc: JsonObject): void {
    const seen = new Set<string>();
    for (const e of entitiesIn(doc, this.#o.context)) {
      seen.add(e.path);
      const a = this.#disc.contextEntity(e.path, e.component, entityFields(e));
      const prev = this.#ctx.get(e.path);
      if (prev && prev.topic !== a.topic) this.#clear(prev.topic, true);
      this.#announce(undefined, a);
      this.#ctx.set(e.path, { entity: e, topic: a.topic });
      this.#commands.set(this.#topics.contextCommand(e.path), e.path);
      this.#setState(this.#topics.contextState(e.path), statePayload(e));
    }
    for (const [path, { topic }] of [...this.#ctx]) {
      if (seen.has(path)) continue;
      this.#ctx.delete(path);
      this.#commands.delete(this.#topics.contextCommand(path));
      this.#clear(topic, true);
      this.#clear(this.#topics.contextState(path), false);
    }
  }

  async #command(path: string, payload: Buffer): Promise<void> {
    const entry = this.#ctx.get(path);
    if (!entry) return;
    const r = commandValue(entry.entity, td.decode(payload));
    if ("refused" in r) {
      this.#stats.commandsRefused++;
      this.#o.onLog("warn", `mqtt: command for ${path} refused: ${r.refused}`);
      return;
    }
    try {
      await this.#handle.updateContext(patchAt(path, r.value as JsonValue));
      this.#stats.commands++;
    } catch (e) {
      this.#stats.commandsRefused++;
      this.#o.onLog(
        "warn",
        `mqtt: command for ${path} refused by the context: ${
          (e as Error).message
        }`,
      );
    }
  }

  // ---- mirroring ---------------------------------------------------------------

  #mirrors(meshTopic: string): boolean {
    for (const p of this.#o.mirror) if (matchPattern(p, meshTopic)) return true;
    return false;
  }

  #mirrorOut(topic: string, data: Uint8Array): void {
    if (this.#o.mirror.length === 0 || !this.#mirrors(topic)) return;
    if (hasMqttWildcard(topic)) {
      this.#stats.mirrorRefused++;
      return;
    }
    const mqttTopic = `${this.#o.mirrorPrefix}/${topic}`;
    const opts: IClientPublishOptions = { qos: 1 };
    if (this.#o.protocolVersion === 5) {
      opts.properties = { userProperties: { [MESH_ORIGIN]: "mesh" } };
    }
    if (this.#event(mqttTopic, data, opts)) {
      this.#stats.mirroredOut++;
      if (this.#o.protocolVersion === 4) {
        const k = fingerprint(mqttTopic, data);
        this.#echo.set(k, (this.#echo.get(k) ?? 0) + 1);
        if (this.#echo.size > 4096) {
          this.#echo.delete(this.#echo.keys().next().value as string);
        }
      }
    }
  }

  async #mirrorIn(
    topic: string,
    payload: Buffer,
    packet: IPublishPacket,
  ): Promise<void> {
    const origin = packet.properties?.userProperties?.[MESH_ORIGIN];
    if (origin !== undefined) {
      // Mirrored out of a mesh (another bridge's, with No Local ours never
      // comes back): it goes no further.
      this.#stats.echoesSuppressed++;
      return;
    }
    const data = new Uint8Array(
      payload.buffer,
      payload.byteOffset,
      payload.byteLength,
    );
    if (this.#o.protocolVersion === 4) {
      const k = fingerprint(topic, data);
      const n = this.#echo.get(k);
      if (n !== undefined) {
        if (n <= 1) this.#echo.delete(k);
        else this.#echo.set(k, n - 1);
        this.#stats.echoesSuppressed++;
        return;
      }
    }
    const meshTopic = topic.slice(this.#o.mirrorPrefix.length + 1);
    if (meshTopic === "" || !this.#mirrors(meshTopic)) {
      this.#stats.mirrorRefused++;
      return;
    }
    const copy = data.slice();
    try {
      await this.#handle.publish(meshTopic, copy);
    } catch (e) {
      this.#stats.mirrorRefused++;
      this.#o.onLog(
        "warn",
        `mqtt: ${topic} not mirrored to the mesh: ${(e as Error).message}`,
      );
      return;
    }
    this.#stats.mirroredIn++;
    // This node never gets its own mesh message: its gateway's devices get
    // it through the tap.
    for (const tap of this.#taps) tap.inject(meshTopic, copy);
  }

  // ---- publishing --------------------------------------------------------------

  #publish(
    topic: string,
    payload: Uint8Array | string,
    opts: IClientPublishOptions,
  ): boolean {
    const c = this.#client;
    if (!c || !this.#connected) return false;
    c.publish(topic, toBuffer(payload), opts);
    this.#stats.published++;
    return true;
  }

  /**
   * A retained state: kept (latest wins) and published when connected
   * (unless it equals the one kept, without `always`).
   */
  #setState(
    topic: string,
    payload: Uint8Array | string,
    always = false,
  ): void {
    this.#removals.delete(topic);
    if (!this.#states.set(topic, payload) && !always) return;
    this.#publish(topic, payload, { qos: 0, retain: true });
  }

  /** An event (not retained): published now, or dropped while down. */
  #event(
    topic: string,
    payload: Uint8Array | string,
    opts: IClientPublishOptions,
  ): boolean {
    if (this.#publish(topic, payload, opts)) return true;
    this.#stats.eventsDropped++;
    return false;
  }

  #announce(d: DeviceRecord | undefined, a: Announcement): void {
    const payload = JSON.stringify(a.config);
    d?.discovery.add(a.topic);
    this.#removals.delete(a.topic);
    if (this.#discovery.get(a.topic) === payload) return;
    this.#discovery.set(a.topic, payload);
    this.#publish(a.topic, payload, { qos: 1, retain: true });
  }

  /** Removes a retained message (a discovery config: the entity). */
  #clear(topic: string, discovery: boolean): void {
    if (discovery) this.#discovery.delete(topic);
    else this.#states.delete(topic);
    if (!this.#publish(topic, "", { qos: 1, retain: true })) {
      this.#removals.add(topic);
    }
  }

  /** Every discovery config, then every state (after a (re)connection or a birth). */
  #announceAll(): void {
    for (const t of this.#removals) {
      this.#publish(t, "", { qos: 1, retain: true });
    }
    this.#removals.clear();
    this.#publish(this.#topics.status, "online", { qos: 1, retain: true });
    for (const [t, p] of this.#discovery) {
      this.#publish(t, p, { qos: 1, retain: true });
    }
    for (const [t, p] of this.#states.entries()) {
      this.#publish(t, p, { qos: 0, retain: true });
    }
  }

  // ---- the broker connection ------------------------------------------------------

  #connect(): void {
    if (this.#closed) return;
    const o = this.#o;
    const opts: IClientOptions = {
      clientId: o.clientId,
      protocolVersion: o.protocolVersion,
      keepalive: o.keepaliveSeconds,
      reconnectPeriod: 0,
      connectTimeout: o.connectTimeoutMs,
      clean: true,
      will: {
        topic: this.#topics.status,
        payload: Buffer.from("offline"),
        qos: 1,
        retain: true,
      },
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: o.password } : {}),
      ...(o.tls.ca !== undefined ? { ca: o.tls.ca } : {}),
      ...(o.tls.cert !== undefined ? { cert: o.tls.cert } : {}),
      ...(o.tls.key !== undefined ? { key: o.tls.key } : {}),
      ...(o.tls.servername !== undefined
        ? { servername: o.tls.servername }
        : {}),
      rejectUnauthorized: o.tls.rejectUnauthorized ?? true,
    };
    let client: MqttClient;
    try {
      client = mqtt.connect(o.url, opts);
    } catch (e) {
      this.#lastError = (e as Error).message;
      this.#retry();
      return;
    }
    this.#client = client;
    client.on("connect", () => {
      if (this.#client !== client) return;
      this.#attempt = 0;
      this.#connected = true;
      // Small messages leave at once (no Nagle delay on a TCP stream).
      (client.stream as { setNoDelay?: (on: boolean) => void })
        .setNoDelay?.(true);
      this.#stats.connects++;
      o.onLog("info", `mqtt: connected to ${redact(o.url)}`);
      this.#onConnect(client);
    });
    client.on("message", (topic, payload, packet) => {
      if (this.#client === client) this.#onMessage(topic, payload, packet);
    });
    client.on("error", (e) => {
      this.#lastError = e.message;
    });
    client.on("close", () => {
      if (this.#client !== client) return;
      this.#client = undefined;
      if (this.#connected) {
        this.#stats.disconnects++;
        o.onLog("warn", `mqtt: connection to ${redact(o.url)} lost`);
      }
      this.#connected = false;
      client.end(true);
      this.#retry();
    });
  }

  #retry(): void {
    if (this.#closed) return;
    const base = Math.min(
      this.#o.reconnectMaxMs,
      this.#o.reconnectInitialMs * 2 ** Math.min(this.#attempt, 30),
    );
    this.#attempt++;
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    if (this.#attempt === 1 || this.#attempt % 10 === 0) {
      this.#o.onLog(
        "warn",
        `mqtt: cannot reach ${redact(this.#o.url)}${
          this.#lastError ? ` (${this.#lastError})` : ""
        }; retrying in ${delay} ms`,
      );
    }
    this.#retryTimer = setTimeout(() => this.#connect(), delay);
  }

  #onConnect(client: MqttClient): void {
    const subs: Record<string, { qos: 0 | 1; nl?: boolean }> = {
      [this.#o.haStatusTopic]: { qos: 1 },
      [this.#topics.contextCommands]: { qos: 1 },
    };
    if (this.#o.mirror.length > 0) {
      subs[`${this.#o.mirrorPrefix}/#`] = { qos: 1, nl: true };
    }
    client.subscribe(subs, (err) => {
      if (err && this.#client === client) {
        this.#o.onLog("warn", `mqtt: subscribe failed: ${err.message}`);
      }
    });
    this.#announceAll();
  }

  #onMessage(topic: string, payload: Buffer, packet: IPublishPacket): void {
    if (topic === this.#o.haStatusTopic) {
      // Home Assistant (re)started: announce everything again, a little
      // later (its documentation asks for a random delay). A retained
      // status is old news: everything was announced at connect.
      if (packet.retain || td.decode(payload).trim() !== "online") return;
      clearTimeout(this.#birthTimer);
      this.#birthTimer = setTimeout(() => {
        this.#stats.reannounces++;
        this.#announceAll();
      }, Math.floor(Math.random() * 250));
      return;
    }
    const path = this.#commands.get(topic);
    if (path !== undefined) {
      this.#command(path, payload);
      return;
    }
    if (
      this.#o.mirror.length > 0 &&
      topic.startsWith(`${this.#o.mirrorPrefix}/`)
    ) {
      this.#mirrorIn(topic, payload, packet);
    }
  }

  /**
   * Stops: the bridge's status goes `offline` (retained), the connection
   * closes, the node's subscriptions made for mirroring end. The devices'
   * entities stay in Home Assistant (unavailable, by the bridge's status).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#birthTimer);
    await this.#meshEvents?.return?.();
    await this.#gatewayEvents?.return?.();
    await Promise.allSettled(this.#loops);
    for (const t of this.#meshSubscribed) {
      await this.#handle.unsubscribe(t).catch(() => {});
    }
    const c = this.#client;
    this.#client = undefined;
    if (c) {
      const wasConnected = this.#connected;
      this.#connected = false;
      if (wasConnected) {
        await within(
          5000,
          new Promise<void>((r) =>
            c.publish(
              this.#topics.status,
              "offline",
              { qos: 1, retain: true },
              () => r(),
            )
          ),
        );
      }
      await within(
        5000,
        new Promise<void>((r) => c.end(!wasConnected, {}, () => r())),
      );
    }
  }
}

/** Waits for `p`, at most `ms`. */
async function within(ms: number, p: Promise<void>): Promise<void> {
  let t: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([p, new Promise<void>((r) => (t = setTimeout(r, ms)))]);
  clearTimeout(t);
}

/** A URL without its password, for logs. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return url;
  }
}
