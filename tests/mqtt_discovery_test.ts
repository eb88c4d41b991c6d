// The MQTT bridge's pure parts, without a broker: every discovery payload
// it can build conforms to Home Assistant's documented schema
// (tests/mqtt_ha_schema.ts), context values map to entity states and
// commands back to values in the form they had, and the state cache keeps
// the latest value of each topic within its bound.
import assert from "node:assert/strict";
import { Discovery, type SensorKind } from "../mqtt/discovery.ts";
import {
  commandValue,
  type ContextEntity,
  DEFAULT_CONTEXT_ENTITIES,
  entitiesIn,
  entityFields,
  patchAt,
  statePayload,
} from "../mqtt/context_entities.ts";
import { LatestPerTopic } from "../mqtt/latest_queue.ts";
import { resolveMqttOptions } from "../mqtt/options.ts";
import { matchPattern, parseDeviceTopic, topicLevel } from "../mqtt/topics.ts";
import { sensorKindOf } from "../mqtt/mod.ts";
import { ConfigError } from "../mod.ts";
import { checkDiscovery, discoveryTopicOk } from "./mqtt_ha_schema.ts";

const naming = {
  nodeId: "Kx7Q_gw-1",
  nodeName: "Avi gateway",
  discoveryPrefix: "homeassistant",
  baseTopic: "avi-p2p/Kx7Q_gw-1",
};

Deno.test("mqtt discovery: every payload carries the fields Home Assistant requires, and only documented ones", () => {
  const d = new Discovery(naming);
  const all = [
    ...(["temperature", "humidity", "battery", "status", "raw"] as SensorKind[])
      .map((k) => d.sensor("7", `s_${k}`, k, { name: "Hall", area: "Hall" })),
    ...d.buttonTriggers("7", 2),
  ];
  const doc = {
    avi: {
      device: { audio: { volume: 40 } },
      lights: {
        hall: "on",
        desk: { on: true, brightness: 30 },
        porch: false,
      },
      mode: "night",
      mute: true,
      raw: { a: 1 },
    },
  };
  const specs = [
    ...DEFAULT_CONTEXT_ENTITIES,
    { path: "avi.mode" },
    { path: "avi.mute" },
    { path: "avi.raw", component: "sensor" as const },
  ];
  for (const e of entitiesIn(doc, specs)) {
    all.push(d.contextEntity(e.path, e.component, entityFields(e)));
  }
  assert.deepEqual(
    [...new Set(all.map((a) => a.component))].sort(),
    [
      "binary_sensor",
      "device_automation",
      "light",
      "number",
      "sensor",
      "switch",
      "text",
    ],
  );
  for (const a of all) {
    assert.deepEqual(checkDiscovery(a.component, a.config), [], a.topic);
    assert.ok(discoveryTopicOk(a.topic), a.topic);
    assert.ok(a.topic.startsWith(`homeassistant/${a.component}/Kx7Q_gw-1/`));
  }
  // Stable, unique ids; the device is behind the node.
  const ids = all.map((a) => a.config.unique_id).filter((x) => x);
  assert.equal(new Set(ids).size, ids.length);
  const temp = all.find((a) => a.config.device_class === "temperature")!;
  assert.equal(temp.config.unique_id, "avi_Kx7Q_gw-1_7_sensor_s_temperature");
  assert.deepEqual(temp.config.device, {
    identifiers: ["avi_Kx7Q_gw-1_7"],
    name: "Hall",
    model: "ESP32 (avi device protocol)",
    manufacturer: "Avi",
    via_device: "avi_Kx7Q_gw-1",
    suggested_area: "Hall",
  });
  assert.deepEqual(
    [temp.config.unit_of_measurement, temp.config.state_class],
    ["°C", "measurement"],
  );
  const triggers = all.filter((a) => a.component === "device_automation");
  assert.deepEqual(triggers.map((t) => [t.config.type, t.config.payload]), [
    ["button_short_press", "single"],
    ["button_double_press", "double"],
    ["button_long_press", "long"],
  ]);
});

Deno.test("mqtt discovery: the sensor kind comes from the mesh reading", () => {
  const r = (value: unknown, unit: string) => ({ data: { value, unit } });
  assert.equal(sensorKindOf("t", r(21.5, "C")), "temperature");
  assert.equal(sensorKindOf("hum", r(40, "%")), "humidity");
  assert.equal(sensorKindOf("battery", r(90, "%")), "battery");
  assert.equal(sensorKindOf("door", r(true, "")), "status");
  assert.equal(sensorKindOf("count", r(-3, "")), "raw");
});

Deno.test("mqtt context entities: states, and commands in the form the value has", () => {
  const entity = (
    component: ContextEntity["component"],
    value: ContextEntity["value"],
  ): ContextEntity => ({
    path: "a.b",
    component,
    spec: { path: "a.b" },
    name: "b",
    value,
  });
  assert.equal(statePayload(entity("number", 40)), "40");
  assert.equal(statePayload(entity("number", undefined)), "None");
  assert.equal(statePayload(entity("switch", true)), "ON");
  assert.equal(
    statePayload(entity("light", { on: true, brightness: 30 })),
    '{"state":"ON","brightness":30,"color_mode":"brightness"}',
  );
  assert.equal(
    statePayload(entity("light", "off")),
    '{"state":"OFF","color_mode":"onoff"}',
  );
  assert.deepEqual(commandValue(entity("number", 40), "75"), { value: 75 });
  assert.ok("refused" in commandValue(entity("number", 40), "loud"));
  assert.deepEqual(commandValue(entity("switch", false), "ON"), {
    value: true,
  });
  assert.deepEqual(commandValue(entity("light", "on"), '{"state":"OFF"}'), {
    value: "off",
  });
  assert.deepEqual(
    commandValue(entity("light", true), '{"state":"ON","brightness":50}'),
    {
      value: { on: true, brightness: 50 },
    },
  );
  assert.deepEqual(
    commandValue(
      entity("light", { state: "ON", brightness: 9, color: "red" }),
      '{"state":"OFF"}',
    ),
    { value: { state: "OFF", brightness: 9, color: "red" } },
  );
  assert.deepEqual(patchAt("avi.device.audio.volume", 3), {
    avi: { device: { audio: { volume: 3 } } },
  });
});

Deno.test("mqtt: topics, patterns, the state cache's bound and the options' checks", () => {
  assert.ok(matchPattern("home/#", "home/a/b"));
  assert.ok(matchPattern("home/+/light", "home/hall/light"));
  assert.ok(!matchPattern("home/+", "home/a/b"));
  assert.deepEqual(parseDeviceTopic("device/7/sensor/t"), {
    kind: "sensor",
    deviceId: "7",
    name: "t",
  });
  assert.equal(parseDeviceTopic("device/x/button"), undefined);
  assert.equal(topicLevel("a.b/c+#"), "a.b%2Fc%2B%23");

  const q = new LatestPerTopic(2);
  assert.ok(q.set("a", "1"));
  assert.ok(!q.set("a", "1"), "the same value is no update");
  q.set("b", "2");
  q.set("a", "3"); // a becomes the most recent
  q.set("c", "4"); // the bound drops b, updated longest ago
  assert.deepEqual([...q.entries()], [["a", "3"], ["c", "4"]]);
  assert.equal(q.dropped, 1);

  const peer = "12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo";
  const o = resolveMqttOptions({ url: "mqtt://127.0.0.1:1883" }, peer);
  assert.equal(o.nodeId, "z9kSCVe2Xo");
  assert.equal(o.baseTopic, "avi-p2p/z9kSCVe2Xo");
  assert.equal(o.haStatusTopic, "homeassistant/status");
  for (
    const bad of [
      { url: "http://x" },
      { url: "mqtt://x", mirror: ["a/#/b"] },
      { url: "mqtt://x", mirrorPrefix: "avi", baseTopic: "avi/gw" },
      { url: "mqtt://x", nodeId: "a.b" },
      { url: "mqtt://x", context: ["avi..x"] },
      { url: "mqtt://x", bogus: 1 },
    ]
  ) {
    assert.throws(
      () => resolveMqttOptions(bad as never, peer),
      ConfigError,
      JSON.stringify(bad),
    );
  }
});

Deno.test("sensorKindOf: a reading's own kind wins over the unit (a humidity named 'battery_room' stays a humidity)", async () => {
  const { sensorKindOf } = await import("../mqtt/discovery.ts");
  assert.equal(
    sensorKindOf("battery_room", {
      data: { value: 40, unit: "%", kind: "humidity" },
    }),
    "humidity",
  );
  assert.equal(
    sensorKindOf("battery_room", { data: { value: 40, unit: "%" } }),
    "battery",
  );
});
