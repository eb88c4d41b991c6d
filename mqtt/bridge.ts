/**
 * `MqttBridge`: the mesh and its devices in an MQTT broker, the way Home
 * Assistant discovers them. See mqtt/mod.ts for what it does; this file is
 * the running part: device events and availability, context entities and
 * topic mirroring, over the broker link of mqtt/broker_link.ts.
 *
 * @module
 */

import type { Buffer } from "node:buffer";
import type { BridgeEvent, BridgeMesh, DeviceInfo } from "../bridge/mod.ts";
import type { AviEvent, JsonObject, PeerId } from "../mod.ts";
import { touches, valueAt } from "./context_entities.ts";
import {
  type Announcement,
  Discovery,
  type SensorKind,
  sensorKindOf,
  type Topics,
} from "./discovery.ts";
import { BrokerLink, type ReceivedPacket } from "./broker_link.ts";
import type { MqttBridgeStats } from "./stats.ts";
import { ContextExposure } from "./context_exposure.ts";
import { Mirror } from "./mirror.ts";
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

interface DeviceRecord {
  id: string;
  sensors: Map<string, SensorKind>;
  buttons: Set<number>;
  discovery: Set<string>;
  states: Set<string>;
}

const td = new TextDecoder();

function parseJson(data: Uint8Array | string): unknown {
  try {
    return JSON.parse(typeof data === "string" ? data : td.decode(data));
  } catch {
    return undefined;
  }
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
  readonly #link: BrokerLink;
  #closed = false;
  #birthTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #devices = new Map<string, DeviceRecord>();
  #table: Set<string> | undefined;
  #gatewayAttached = false;
  readonly #ctx: ContextExposure;
  readonly #meshSubscribed = new Set<string>();
  #meshEvents: AsyncIterableIterator<AviEvent> | undefined;
  #gatewayEvents: AsyncIterableIterator<BridgeEvent> | undefined;
  readonly #loops: Promise<void>[] = [];
  readonly #mirror: Mirror;
  readonly #stats = {
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
    this.#link = new BrokerLink(o, this.#topics.status, {
      subscriptions: () => this.#subscriptions(),
      message: (t, p, k) => this.#onMessage(t, p, k),
    });
    this.#ctx = new ContextExposure(
      o,
      this.#disc,
      this.#link,
      (p) => handle.updateContext(p),
    );
    this.#mirror = new Mirror(o, {
      toBroker: (t, d, opts) => this.#link.event(t, d, opts),
      toMesh: (t, d) => this.#handle.publish(t, d),
      toLocalDevices: (t, d) => {
        for (const tap of this.#taps) tap.inject(t, d);
      },
    });
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
    return this.#link.connected;
  }

  /** A snapshot of the counters. */
  stats(): MqttBridgeStats {
    return {
      connected: this.#link.connected,
      ...this.#link.counters,
      ...this.#mirror.counters,
      ...this.#ctx.counters,
      ...this.#stats,
      discoveryTopics: this.#link.discoveryCount,
      states: this.#link.stateCount,
      statesDropped: this.#link.statesDropped,
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
    this.#ctx.refresh(doc);
    this.#sensorsFromContext(doc, ["avi.sensors"]);
    this.#link.start();
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
      this.#link.setState(
        this.#topics.deviceAvailability(id),
        gatewayMode ? "offline" : "online",
      );
    }
    return d;
  }

  #setOnline(id: string, online: boolean): void {
    if (this.#table && !this.#table.has(id)) return;
    this.#device(id);
    this.#link.setState(
      this.#topics.deviceAvailability(id),
      online ? "online" : "offline",
    );
  }

  #removeDevice(id: string): void {
    const d = this.#devices.get(id);
    if (!d) return;
    this.#devices.delete(id);
    for (const t of d.discovery) this.#link.clear(t);
    for (const t of d.states) this.#link.clear(t);
    this.#link.clear(this.#topics.deviceAvailability(id));
  }

  /** A message the gateway published into the mesh (accepted). */
  #fromGateway(topic: string, data: Uint8Array): void {
    if (this.#closed) return;
    this.#deviceEvent(topic, data);
    this.#mirror.out(topic, data);
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
    this.#link.setState(t, data, true);
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
    this.#link.event(this.#topics.button(d.id, id), data, { qos: 1 });
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
          this.#mirror.out(ev.topic, ev.data);
        } else if (ev.type === "contextUpdated") {
          if (ev.changedPaths.some((p) => touches(p, this.#o.context))) {
            this.#ctx.refresh(ev.context);
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

  // ---- publishing --------------------------------------------------------------

  #announce(d: DeviceRecord | undefined, a: Announcement): void {
    d?.discovery.add(a.topic);
    this.#link.announce(a.topic, JSON.stringify(a.config));
  }

  #subscriptions(): Record<string, { qos: 0 | 1; nl?: boolean }> {
    const subs: Record<string, { qos: 0 | 1; nl?: boolean }> = {
      [this.#o.haStatusTopic]: { qos: 1 },
      [this.#topics.contextCommands]: { qos: 1 },
      // What earlier runs announced (retained): see #earlierConfig.
      [this.#topics.discoveryOfNode]: { qos: 1 },
    };
    if (this.#mirror.enabled) {
      subs[this.#mirror.subscription] = { qos: 1, nl: true };
    }
    return subs;
  }

  /**
   * A discovery config of this node that this run has not announced: a
   * retained one from an earlier run. A device no longer in the key table
   * (removed while the bridge was down) loses it; a context entity no
   * longer exposed too; a device still there keeps it (its sensor or button
   * is known from now on).
   */
  #earlierConfig(topic: string, payload: Buffer): void {
    if (payload.length === 0 || this.#link.announced(topic)) return;
    const objectId = topic.split("/").at(-2) ?? "";
    if (objectId.startsWith("ctx_")) {
      this.#link.clear(topic);
      return;
    }
    const m = /^([0-9]+)_(sensor|button)_(.+)$/.exec(objectId);
    if (!m) return;
    const [, id, what, rest] = m;
    if (this.#table && !this.#table.has(id)) {
      this.#link.clear(topic);
      this.#link.clear(this.#topics.deviceAvailability(id));
      if (what === "sensor") {
        this.#link.clear(this.#topics.sensorState(id, rest));
      }
      return;
    }
    const d = this.#device(id);
    d.discovery.add(topic);
    this.#link.adopt(topic, td.decode(payload));
    if (what === "button") {
      const b = Number(/^([0-9]+)_/.exec(rest)?.[1]);
      if (Number.isSafeInteger(b)) d.buttons.add(b);
    }
  }

  #onMessage(topic: string, payload: Buffer, packet: ReceivedPacket): void {
    if (matchPattern(this.#topics.discoveryOfNode, topic)) {
      this.#earlierConfig(topic, payload);
      return;
    }
    if (topic === this.#o.haStatusTopic) {
      // Home Assistant (re)started: announce everything again, a little
      // later (its documentation asks for a random delay). A retained
      // status is old news: everything was announced at connect.
      if (packet.retain || td.decode(payload).trim() !== "online") return;
      clearTimeout(this.#birthTimer);
      this.#birthTimer = setTimeout(() => {
        this.#stats.reannounces++;
        this.#link.announceAll();
      }, Math.floor(Math.random() * 250));
      return;
    }
    if (this.#ctx.command(topic, payload)) return;
    if (this.#mirror.owns(topic)) this.#mirror.in(topic, payload, packet);
  }

  /**
   * Stops: the bridge's status goes `offline` (retained), the connection
   * closes, the node's subscriptions made for mirroring end. The devices'
   * entities stay in Home Assistant (unavailable, by the bridge's status).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#birthTimer);
    await this.#meshEvents?.return?.();
    await this.#gatewayEvents?.return?.();
    await Promise.allSettled(this.#loops);
    for (const t of this.#meshSubscribed) {
      await this.#handle.unsubscribe(t).catch(() => {});
    }
    await this.#link.close();
  }
}
