/**
 * Home Assistant's documented schema of the MQTT discovery payloads the
 * bridge sends: for each component, the fields Home Assistant requires and
 * the optional ones, written down from its documentation (the source of
 * https://www.home-assistant.io/integrations/<component>.mqtt/, the
 * `{% configuration %}` block of each page in the repository
 * home-assistant/home-assistant.io, at the commits named below), and
 * {@linkcode checkDiscovery}, which the tests run on every payload.
 *
 * Notes taken from the same pages:
 * - `platform` is "only allowed and required in MQTT auto discovery device
 *   messages" (device-based discovery, `<prefix>/device/...`); the bridge
 *   uses single-component discovery (`<prefix>/<component>/<node>/<object>/config`),
 *   where it is not allowed, so it is not listed.
 * - `device`: "At least one of identifiers or connections must be present
 *   to identify the device"; mqtt.markdown ("Sharing of device
 *   configuration"): the mandatory fields are "at least one of
 *   `connection` and `identifiers` as well as the `name`". It "only works
 *   when `unique_id` is set" (entities), and is required for a device
 *   trigger.
 * - `origin` (mqtt.markdown, "Discovery payload"): recommended in every
 *   discovery payload; its `name` is required, `sw_version` and
 *   `support_url` optional.
 * - An availability item: `topic` required; `payload_available`,
 *   `payload_not_available`, `value_template` optional.
 * - sensor.markdown (commit 7450caca): the device classes used here and
 *   their units: temperature (°C, °F or K), humidity (%), battery (%).
 *
 * @module
 */

/** Where a component's fields were taken from. */
export interface Source {
  /** The documentation page. */
  url: string;
  /** Its source file in home-assistant/home-assistant.io. */
  path: string;
  /** The commit it was read at. */
  commit: string;
}

/** A component's documented discovery fields. */
export interface ComponentSchema {
  source: Source;
  required: readonly string[];
  optional: readonly string[];
  /** The keys its `device` block may hold. */
  deviceKeys: readonly string[];
}

const REPO_PATH = "source/_integrations";

/** Device keys documented on the sensor, binary sensor, number, switch, text and device trigger pages. */
const DEVICE_KEYS = [
  "configuration_url",
  "connections",
  "hw_version",
  "identifiers",
  "manufacturer",
  "model",
  "model_id",
  "name",
  "serial_number",
  "suggested_area",
  "sw_version",
  "via_device",
] as const;

/** Availability options shared by the entity components. */
const AVAILABILITY = [
  "availability",
  "availability_mode",
  "availability_template",
  "availability_topic",
  "payload_available",
  "payload_not_available",
] as const;

/** The entity options every entity page documents. */
const ENTITY = [
  "device",
  "enabled_by_default",
  "encoding",
  "entity_category",
  "entity_picture",
  "icon",
  "json_attributes_template",
  "json_attributes_topic",
  "name",
  "object_id",
  "qos",
  "unique_id",
] as const;

/** The documented fields, per component. */
export const HA_SCHEMA: Readonly<Record<string, ComponentSchema>> = {
  sensor: {
    source: {
      url: "https://www.home-assistant.io/integrations/sensor.mqtt/",
      path: `${REPO_PATH}/sensor.mqtt.markdown`,
      commit: "9e4a69ab998700a518e366a7f54551a150fccf94",
    },
    required: ["state_topic"],
    optional: [
      ...AVAILABILITY,
      ...ENTITY,
      "device_class",
      "expire_after",
      "force_update",
      "last_reset_value_template",
      "options",
      "suggested_display_precision",
      "state_class",
      "unit_of_measurement",
      "value_template",
    ],
    deviceKeys: DEVICE_KEYS,
  },
  binary_sensor: {
    source: {
      url: "https://www.home-assistant.io/integrations/binary_sensor.mqtt/",
      path: `${REPO_PATH}/binary_sensor.mqtt.markdown`,
      commit: "fbc3a3b3bdcce503437401c8ea500a3f72181fd8",
    },
    required: ["state_topic"],
    optional: [
      ...AVAILABILITY,
      ...ENTITY,
      "device_class",
      "expire_after",
      "force_update",
      "off_delay",
      "payload_off",
      "payload_on",
      "value_template",
    ],
    deviceKeys: DEVICE_KEYS,
  },
  device_automation: {
    source: {
      url: "https://www.home-assistant.io/integrations/device_trigger.mqtt/",
      path: `${REPO_PATH}/device_trigger.mqtt.markdown`,
      commit: "ccf3963220d728fca9c34b77fc734fe1f204f7fc",
    },
    required: ["automation_type", "topic", "type", "subtype", "device"],
    optional: ["payload", "qos", "value_template"],
    deviceKeys: DEVICE_KEYS,
  },
  number: {
    source: {
      url: "https://www.home-assistant.io/integrations/number.mqtt/",
      path: `${REPO_PATH}/number.mqtt.markdown`,
      commit: "ebecc7e8048252f83c9b5c0035a196707f70d2e1",
    },
    required: ["command_topic"],
    optional: [
      "availability",
      "availability_mode",
      "availability_topic",
      ...ENTITY,
      "command_template",
      "device_class",
      "min",
      "max",
      "mode",
      "optimistic",
      "payload_reset",
      "retain",
      "state_topic",
      "step",
      "unit_of_measurement",
      "value_template",
    ],
    deviceKeys: DEVICE_KEYS,
  },
  switch: {
    source: {
      url: "https://www.home-assistant.io/integrations/switch.mqtt/",
      path: `${REPO_PATH}/switch.mqtt.markdown`,
      commit: "53821638d65163c0c2cdb488b2d114de4c4dbc4b",
    },
    required: ["command_topic"],
    optional: [
      ...AVAILABILITY,
      ...ENTITY,
      "command_template",
      "device_class",
      "optimistic",
      "payload_off",
      "payload_on",
      "retain",
      "state_off",
      "state_on",
      "state_topic",
      "value_template",
    ],
    deviceKeys: DEVICE_KEYS,
  },
  light: {
    // The JSON schema section ("JSON schema - Configuration").
    source: {
      url: "https://www.home-assistant.io/integrations/light.mqtt/#json-schema",
      path: `${REPO_PATH}/light.mqtt.markdown`,
      commit: "6683497e7155d0aaf5d73e784c0fcddd36f73f6b",
    },
    required: ["command_topic"],
    optional: [
      ...AVAILABILITY,
      ...ENTITY.filter((k) => k !== "entity_picture"),
      "brightness",
      "brightness_scale",
      "color_temp_kelvin",
      "effect",
      "effect_list",
      "flash_time_long",
      "flash_time_short",
      "max_kelvin",
      "max_mireds",
      "min_kelvin",
      "min_mireds",
      "optimistic",
      "retain",
      "schema",
      "state_topic",
      "supported_color_modes",
      "white_scale",
    ],
    // The light page lists fewer device keys than the others.
    deviceKeys: [
      "configuration_url",
      "connections",
      "identifiers",
      "manufacturer",
      "model",
      "name",
      "serial_number",
      "sw_version",
    ],
  },
  text: {
    source: {
      url: "https://www.home-assistant.io/integrations/text.mqtt/",
      path: `${REPO_PATH}/text.mqtt.markdown`,
      commit: "c833583f4d6791782018d1c73bb8f8c94f5aa922",
    },
    required: ["command_topic"],
    optional: [
      "availability",
      "availability_mode",
      "availability_template",
      "availability_topic",
      ...ENTITY.filter((k) => k !== "icon"),
      "command_template",
      "max",
      "min",
      "mode",
      "pattern",
      "retain",
      "state_topic",
      "value_template",
    ],
    deviceKeys: DEVICE_KEYS,
  },
};

/** Fields every discovery payload may carry (mqtt.markdown, "Discovery payload"). */
export const COMMON_OPTIONAL = ["origin"] as const;

/** The units Home Assistant accepts for the sensor device classes used. */
export const DEVICE_CLASS_UNITS: Readonly<Record<string, readonly string[]>> = {
  temperature: ["°C", "°F", "K"],
  humidity: ["%"],
  battery: ["%"],
};

/** The state classes of sensors (developers.home-assistant.io, sensor entity). */
export const STATE_CLASSES = ["measurement", "total", "total_increasing"];

/**
 * Checks a discovery payload against the documented schema of its
 * component.
 *
 * @returns The problems found (empty: it conforms).
 */
export function checkDiscovery(
  component: string,
  config: Record<string, unknown>,
): string[] {
  const s = HA_SCHEMA[component];
  if (!s) return [`no schema for component ${component}`];
  const problems: string[] = [];
  for (const k of s.required) {
    if (config[k] === undefined || config[k] === "") {
      problems.push(`${component}: required ${k} missing`);
    }
  }
  const allowed = new Set<string>([
    ...s.required,
    ...s.optional,
    ...COMMON_OPTIONAL,
  ]);
  for (const k of Object.keys(config)) {
    if (!allowed.has(k)) problems.push(`${component}: ${k} is not documented`);
  }
  const dev = config.device as Record<string, unknown> | undefined;
  if (dev !== undefined) {
    for (const k of Object.keys(dev)) {
      if (!s.deviceKeys.includes(k)) {
        problems.push(`${component}: device.${k} is not documented`);
      }
    }
    const ids = dev.identifiers ?? dev.connections;
    if (ids === undefined || (Array.isArray(ids) && ids.length === 0)) {
      problems.push(`${component}: device without identifiers or connections`);
    }
    if (typeof dev.name !== "string" || dev.name === "") {
      problems.push(`${component}: device without a name`);
    }
    if (component !== "device_automation" && config.unique_id === undefined) {
      problems.push(`${component}: a device block needs a unique_id`);
    }
  }
  if (config.availability !== undefined) {
    if (config.availability_topic !== undefined) {
      problems.push(
        `${component}: availability and availability_topic together`,
      );
    }
    const list = config.availability as Record<string, unknown>[];
    if (!Array.isArray(list) || list.length === 0) {
      problems.push(`${component}: availability must be a non-empty list`);
    } else {
      for (const a of list) {
        if (typeof a.topic !== "string") {
          problems.push(`${component}: availability item without topic`);
        }
        for (const k of Object.keys(a)) {
          if (
            ![
              "topic",
              "payload_available",
              "payload_not_available",
              "value_template",
            ]
              .includes(k)
          ) problems.push(`${component}: availability.${k} is not documented`);
        }
      }
    }
  }
  if (config.availability_mode !== undefined) {
    if (
      !["all", "any", "latest"].includes(config.availability_mode as string)
    ) {
      problems.push(
        `${component}: availability_mode must be all, any or latest`,
      );
    }
  }
  const origin = config.origin as Record<string, unknown> | undefined;
  if (origin !== undefined) {
    if (typeof origin.name !== "string") {
      problems.push(`${component}: origin without name`);
    }
    for (const k of Object.keys(origin)) {
      if (!["name", "sw_version", "support_url"].includes(k)) {
        problems.push(`${component}: origin.${k} is not documented`);
      }
    }
  }
  const dc = config.device_class as string | undefined;
  if (component === "sensor" && dc !== undefined) {
    const units = DEVICE_CLASS_UNITS[dc];
    if (!units) problems.push(`sensor: device_class ${dc} not in the fixture`);
    else if (!units.includes(config.unit_of_measurement as string)) {
      problems.push(
        `sensor: ${dc} in ${config.unit_of_measurement}, not ${
          units.join("/")
        }`,
      );
    }
  }
  if (
    config.state_class !== undefined &&
    !STATE_CLASSES.includes(config.state_class as string)
  ) problems.push(`${component}: state_class ${config.state_class}`);
  if (
    component === "device_automation" && config.automation_type !== "trigger"
  ) {
    problems.push("device_automation: automation_type must be trigger");
  }
  if (component === "light" && config.schema !== "json") {
    problems.push("light: the bridge's lights use the JSON schema");
  }
  return problems;
}

/** Whether a discovery topic has the documented shape (`[a-zA-Z0-9_-]` ids). */
export function discoveryTopicOk(
  topic: string,
  prefix = "homeassistant",
): boolean {
  return new RegExp(
    `^${prefix}/[a-z_]+/(?:[a-zA-Z0-9_-]+/)?[a-zA-Z0-9_-]+/config$`,
  ).test(topic);
}
