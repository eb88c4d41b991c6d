/**
 * Home Assistant MQTT discovery: the topics the bridge uses and the config
 * payloads it announces (pure functions, no I/O).
 *
 * Every payload carries the fields Home Assistant documents as required for
 * its component (tests/mqtt_ha_schema.ts lists them, with the pages they
 * come from) and only fields it documents:
 *
 * - a sensor reading → `sensor` (temperature, humidity, battery: with
 *   `device_class`, `unit_of_measurement` and `state_class`; raw: a plain
 *   measurement) or `binary_sensor` (status);
 * - a button → three `device_automation` triggers (single, double, long);
 * - a context path → `number`, `switch`, `light` (JSON schema), `text` or a
 *   read-only `sensor`.
 *
 * @module
 */

import { safeId, topicLevel } from "./topics.ts";

/** The sensor kinds of the device protocol (docs/PROTOCOL.md 4). */
export type SensorKind =
  | "temperature"
  | "humidity"
  | "battery"
  | "status"
  | "raw";

/** What Home Assistant is told of each sensor kind. */
export const SENSOR_CLASSES: Readonly<
  Record<SensorKind, {
    component: "sensor" | "binary_sensor";
    device_class?: string;
    unit_of_measurement?: string;
    state_class?: string;
  }>
> = {
  temperature: {
    component: "sensor",
    device_class: "temperature",
    unit_of_measurement: "°C",
    state_class: "measurement",
  },
  humidity: {
    component: "sensor",
    device_class: "humidity",
    unit_of_measurement: "%",
    state_class: "measurement",
  },
  battery: {
    component: "sensor",
    device_class: "battery",
    unit_of_measurement: "%",
    state_class: "measurement",
  },
  status: { component: "binary_sensor" },
  raw: { component: "sensor", state_class: "measurement" },
};

/** A button press type of the protocol → Home Assistant's trigger type. */
export const TRIGGER_TYPES: Readonly<Record<string, string>> = {
  single: "button_short_press",
  double: "button_double_press",
  long: "button_long_press",
};

/**
 * The sensor kind of a reading as published on the mesh
 * (`{"name", "data": {"value", "unit", "kind", "custom"}, "ts"}`): its
 * `kind` when it carries one (gateways of this version do); for an older
 * gateway's readings, from the unit: a boolean is a status, `"C"` a
 * temperature, `"%"` a battery when the sensor's name contains `bat` (any
 * case) and a humidity otherwise, anything else raw.
 *
 * @param name The sensor's name.
 * @param reading The parsed mesh payload.
 * @returns The kind.
 * @example
 * ```ts
 * import { sensorKindOf } from "./discovery.ts";
 * console.log(sensorKindOf("t", { data: { value: 21.5, unit: "C" } })); // "temperature"
 * ```
 */
export function sensorKindOf(name: string, reading: unknown): SensorKind {
  const data = (reading as {
    data?: { value?: unknown; unit?: unknown; kind?: unknown };
  })?.data;
  const kind = data?.kind;
  if (
    kind === "temperature" || kind === "humidity" || kind === "battery" ||
    kind === "status" || kind === "raw"
  ) return kind;
  const value = data?.value;
  const unit = data?.unit;
  if (typeof value === "boolean") return "status";
  if (unit === "C") return "temperature";
  if (unit === "%") return /bat/i.test(name) ? "battery" : "humidity";
  return "raw";
}

/** Who the announced entities belong to, and where their topics live. */
export interface Naming {
  /** The node's id in topics and unique ids (`[a-zA-Z0-9_-]`). */
  nodeId: string;
  /** The name of the node's own Home Assistant device. */
  nodeName: string;
  /** Discovery prefix, `homeassistant` by default. */
  discoveryPrefix: string;
  /** Where the bridge's state, command and availability topics live. */
  baseTopic: string;
}

/** How a device behind the gateway is shown in Home Assistant. */
export interface DeviceInfoOptions {
  /** Its name (default `Avi device <id>`). */
  name?: string;
  /** Its model (default `ESP32 (avi device protocol)`). */
  model?: string;
  /** Its maker (default `Avi`). */
  manufacturer?: string;
  /** The area suggested for it in Home Assistant. */
  area?: string;
}

/** The software that announces the entities (Home Assistant logs it). */
export const ORIGIN = { name: "@avi/p2p" } as const;

/** Every topic the bridge publishes or listens on, from its naming. */
export class Topics {
  readonly #n: Naming;

  /** @param naming Ids and prefixes. */
  constructor(naming: Naming) {
    this.#n = naming;
  }

  /** The bridge's own availability (`online`, last will `offline`). */
  get status(): string {
    return `${this.#n.baseTopic}/status`;
  }

  /** A device's availability, following its session. */
  deviceAvailability(deviceId: string): string {
    return `${this.#n.baseTopic}/device/${deviceId}/availability`;
  }

  /** A sensor's state (the mesh payload, retained). */
  sensorState(deviceId: string, name: string): string {
    return `${this.#n.baseTopic}/device/${deviceId}/sensor/${name}`;
  }

  /** A button's events (the mesh payload, not retained). */
  button(deviceId: string, buttonId: number): string {
    return `${this.#n.baseTopic}/device/${deviceId}/button/${buttonId}`;
  }

  /** A context path's state. */
  contextState(path: string): string {
    return `${this.#n.baseTopic}/context/${topicLevel(path)}`;
  }

  /** A context path's command topic. */
  contextCommand(path: string): string {
    return `${this.contextState(path)}/set`;
  }

  /** The pattern of every context command topic. */
  get contextCommands(): string {
    return `${this.#n.baseTopic}/context/+/set`;
  }

  /** A discovery config topic. */
  discovery(component: string, objectId: string): string {
    return `${this.#n.discoveryPrefix}/${component}/${safeId(this.#n.nodeId)}/${
      safeId(objectId)
    }/config`;
  }

  /** Every discovery config topic of this node. */
  get discoveryOfNode(): string {
    return `${this.#n.discoveryPrefix}/+/${safeId(this.#n.nodeId)}/+/config`;
  }
}

/** A discovery message: where and what. */
export interface Announcement {
  /** The component (`sensor`, `device_automation`, ...). */
  component: string;
  /** The config topic. */
  topic: string;
  /** The config payload. */
  config: Record<string, unknown>;
}

/** Builds the discovery payloads of one node. */
export class Discovery {
  readonly topics: Topics;
  readonly #n: Naming;

  /** @param naming Ids and prefixes. */
  constructor(naming: Naming) {
    this.#n = naming;
    this.topics = new Topics(naming);
  }

  /** The identifier of the node's own device. */
  get nodeIdentifier(): string {
    return `avi_${this.#n.nodeId}`;
  }

  /** The identifier of a device behind the gateway. */
  deviceIdentifier(deviceId: string): string {
    return `avi_${this.#n.nodeId}_${deviceId}`;
  }

  /** The device block of the node itself (the hub). */
  nodeDevice(): Record<string, unknown> {
    return {
      identifiers: [this.nodeIdentifier],
      name: this.#n.nodeName,
      model: "@avi/p2p mesh node",
      manufacturer: "Avi",
    };
  }

  /** The device block of a device behind the gateway. */
  device(
    deviceId: string,
    info: DeviceInfoOptions = {},
  ): Record<string, unknown> {
    const d: Record<string, unknown> = {
      identifiers: [this.deviceIdentifier(deviceId)],
      name: info.name ?? `Avi device ${deviceId}`,
      model: info.model ?? "ESP32 (avi device protocol)",
      manufacturer: info.manufacturer ?? "Avi",
      via_device: this.nodeIdentifier,
    };
    if (info.area !== undefined) d.suggested_area = info.area;
    return d;
  }

  /** Availability of a device's entities: the bridge's and the device's. */
  #deviceAvailability(deviceId: string): Record<string, unknown> {
    return {
      availability: [
        { topic: this.topics.status },
        { topic: this.topics.deviceAvailability(deviceId) },
      ],
      availability_mode: "all",
    };
  }

  /** A sensor of a device: `sensor` or `binary_sensor` by its kind. */
  sensor(
    deviceId: string,
    name: string,
    kind: SensorKind,
    info?: DeviceInfoOptions,
  ): Announcement {
    const cls = SENSOR_CLASSES[kind];
    const objectId = `${deviceId}_sensor_${name}`;
    const config: Record<string, unknown> = {
      name,
      unique_id: `avi_${this.#n.nodeId}_${objectId}`,
      state_topic: this.topics.sensorState(deviceId, name),
      ...this.#deviceAvailability(deviceId),
      device: this.device(deviceId, info),
      origin: ORIGIN,
    };
    if (cls.component === "binary_sensor") {
      config.value_template = "{{ 'ON' if value_json.data.value else 'OFF' }}";
      config.payload_on = "ON";
      config.payload_off = "OFF";
    } else {
      config.value_template = "{{ value_json.data.value }}";
      if (cls.device_class) config.device_class = cls.device_class;
      if (cls.unit_of_measurement) {
        config.unit_of_measurement = cls.unit_of_measurement;
      }
      if (cls.state_class) config.state_class = cls.state_class;
    }
    return {
      component: cls.component,
      topic: this.topics.discovery(cls.component, objectId),
      config,
    };
  }

  /** The three triggers (single, double, long) of a device's button. */
  buttonTriggers(
    deviceId: string,
    buttonId: number,
    info?: DeviceInfoOptions,
  ): Announcement[] {
    return Object.entries(TRIGGER_TYPES).map(([press, type]) => ({
      component: "device_automation",
      topic: this.topics.discovery(
        "device_automation",
        `${deviceId}_button_${buttonId}_${press}`,
      ),
      config: {
        automation_type: "trigger",
        topic: this.topics.button(deviceId, buttonId),
        type,
        subtype: `button_${buttonId}`,
        payload: press,
        value_template: "{{ value_json.type }}",
        device: this.device(deviceId, info),
        origin: ORIGIN,
      },
    }));
  }

  /** An entity of the node's device for a context path. */
  contextEntity(
    path: string,
    component: string,
    extra: Record<string, unknown>,
  ): Announcement {
    const objectId = `ctx_${path}`;
    const config: Record<string, unknown> = {
      name: extra.name ?? path,
      unique_id: `avi_${this.#n.nodeId}_${safeId(objectId)}`,
      state_topic: this.topics.contextState(path),
      availability: [{ topic: this.topics.status }],
      device: this.nodeDevice(),
      origin: ORIGIN,
    };
    if (component !== "sensor") {
      config.command_topic = this.topics.contextCommand(path);
    }
    for (const [k, v] of Object.entries(extra)) {
      if (k !== "name" && v !== undefined) config[k] = v;
    }
    return {
      component,
      topic: this.topics.discovery(component, objectId),
      config,
    };
  }
}
