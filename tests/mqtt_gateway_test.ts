/**
 * The MQTT bridge end to end: a real `mosquitto` broker, the broker's own
 * `mosquitto_sub` and `mosquitto_pub`, a real gateway (a mesh node with the
 * UDP bridge and the MQTT bridge) with simulated devices over real UDP, and
 * a second mesh node.
 */
import assert from "node:assert/strict";
import type { EmbeddedBridge } from "../bridge/mod.ts";
import type { AviEvent, MessageEvent } from "../mod.ts";
import type { AviP2p } from "../mesh/mod.ts";
import { MqttBridge, type MqttBridgeOptions } from "../mqtt/mod.ts";
import { RawDevice } from "./support/bridge_device.ts";
import { startGatewayAndPeer, startLocalBridge } from "./support/bridge_rig.ts";
import { shutdownAll, untilTopicPeer } from "./support/mesh_fixture.ts";
import { Mosquitto, type MosquittoSub } from "./support/mosquitto.ts";
import { until } from "./support/wait.ts";
import { checkDiscovery, discoveryTopicOk } from "./mqtt_ha_schema.ts";

const td = new TextDecoder();
const te = new TextEncoder();
const KEY1 = new Uint8Array(32).fill(1);
const KEY2 = new Uint8Array(32).fill(2);
const NODE = "gwtest";
const BASE = `avi-p2p/${NODE}`;

interface Rig {
  broker: Mosquitto;
  gw: AviP2p;
  peer: AviP2p;
  mqtt: MqttBridge;
  bridge: EmbeddedBridge;
  peerMsgs: MessageEvent[];
  devices: RawDevice[];
  subs: MosquittoSub[];
  device(id: number, key: Uint8Array): RawDevice;
  sub(topics?: string[]): Promise<MosquittoSub>;
  stop(): Promise<void>;
}

async function rig(opts: Partial<MqttBridgeOptions> = {}): Promise<Rig> {
  const broker = await Mosquitto.start();
  const { gw, peer } = await startGatewayAndPeer();
  const table = { "1": KEY1, "2": KEY2 };
  const mqtt = await MqttBridge.start(gw.handle(), {
    url: broker.url,
    nodeId: NODE,
    nodeName: "Test gateway",
    devices: Object.keys(table),
    reconnectInitialMs: 100,
    reconnectMaxMs: 1000,
    ...opts,
  });
  const bridge = await startLocalBridge(mqtt.mesh, table);
  mqtt.attachGateway(bridge);
  const peerMsgs: MessageEvent[] = [];
  const ev = peer.events();
  const loop = (async () => {
    for await (const e of ev as AsyncIterable<AviEvent>) {
      if (e.type === "message") peerMsgs.push(e);
    }
  })();
  const r: Rig = {
    broker,
    gw,
    peer,
    mqtt,
    bridge,
    peerMsgs,
    devices: [],
    subs: [],
    device(id, key) {
      const d = new RawDevice({ deviceId: id, key, gatewayPort: bridge.port });
      r.devices.push(d);
      return d;
    },
    async sub(topics = ["homeassistant/#", `${BASE}/#`, "avi/#"]) {
      const s = await broker.sub(topics);
      r.subs.push(s);
      return s;
    },
    async stop() {
      for (const s of r.subs) await s.close();
      for (const d of r.devices) await d.close();
      await bridge.close();
      await mqtt.close();
      await ev.return?.();
      await loop;
      await shutdownAll(peer, gw);
      await broker.close();
    },
  };
  return r;
}

function sensor(
  d: RawDevice,
  name: string,
  value:
    | { kind: "temperature" | "humidity"; value: number }
    | { kind: "battery" | "raw"; value: number }
    | { kind: "status"; value: boolean },
): Promise<number> {
  return d.request((msgId) => ({
    type: "sensorUpdate",
    msgId,
    name,
    value,
    customData: null,
  }));
}

const json = (s: string) => JSON.parse(s);

Deno.test("mqtt: Home Assistant sees the gateway's devices: discovery with every required field, availability following the session, sensor states, button triggers; a removed device loses its entities", async () => {
  const r = await rig({
    deviceInfo: { "1": { name: "Hall sensor", area: "Hall" } },
  });
  try {
    await until(() => r.mqtt.connected, 10_000, "the bridge to connect");
    const sub = await r.sub();
    // The bridge's own availability, and each device's: offline before it connects.
    await sub.waitFor(
      (m) => m.topic === `${BASE}/status` && m.payload === "online",
      "the bridge online",
    );
    await sub.waitFor(
      (m) =>
        m.topic === `${BASE}/device/1/availability` && m.payload === "offline",
      "device 1 offline",
    );

    const d1 = r.device(1, KEY1);
    await d1.connect();
    await sub.waitFor(
      (m) =>
        m.topic === `${BASE}/device/1/availability` && m.payload === "online",
      "device 1 online",
    );

    const readings = [
      ["temp", { kind: "temperature", value: 21.5 }, "sensor", "temperature"],
      ["hum", { kind: "humidity", value: 40.5 }, "sensor", "humidity"],
      ["battery", { kind: "battery", value: 88 }, "sensor", "battery"],
      ["door", { kind: "status", value: true }, "binary_sensor", undefined],
      ["count", { kind: "raw", value: -7 }, "sensor", undefined],
    ] as const;
    for (const [name, value] of readings) {
      assert.equal(await sensor(d1, name, value), 0);
    }
    for (const [name, value, component, deviceClass] of readings) {
      const topic =
        `homeassistant/${component}/${NODE}/1_sensor_${name}/config`;
      const cfg = await sub.waitFor((m) => m.topic === topic, topic);
      assert.ok(discoveryTopicOk(topic));
      const c = json(cfg.payload);
      assert.deepEqual(checkDiscovery(component, c), [], topic);
      assert.equal(c.unique_id, `avi_${NODE}_1_sensor_${name}`);
      assert.equal(c.device_class, deviceClass);
      assert.deepEqual(c.device.identifiers, [`avi_${NODE}_1`]);
      assert.equal(c.device.via_device, `avi_${NODE}`);
      assert.equal(c.device.name, "Hall sensor");
      assert.deepEqual(c.availability.map((a: { topic: string }) => a.topic), [
        `${BASE}/status`,
        `${BASE}/device/1/availability`,
      ]);
      if (deviceClass === "temperature") {
        assert.deepEqual([c.unit_of_measurement, c.state_class], [
          "°C",
          "measurement",
        ]);
      }
      // The state: the reading as the mesh has it, with its timestamp.
      const st = await sub.waitFor(
        (m) => m.topic === c.state_topic,
        `${name} state`,
      );
      const s = json(st.payload);
      assert.deepEqual(s.data.value, value.value);
      assert.equal(typeof s.ts, "number");
    }

    // A button: three device triggers, then the press itself.
    assert.equal(
      await d1.request((msgId) => ({
        type: "buttonPress",
        msgId,
        buttonId: 1,
        pressType: "double",
        customData: null,
      })),
      0,
    );
    for (const press of ["single", "double", "long"]) {
      const topic =
        `homeassistant/device_automation/${NODE}/1_button_1_${press}/config`;
      const c = json(
        (await sub.waitFor((m) => m.topic === topic, topic)).payload,
      );
      assert.deepEqual(checkDiscovery("device_automation", c), [], topic);
      assert.equal(c.payload, press);
      assert.equal(c.subtype, "button_1");
    }
    const press = await sub.waitFor(
      (m) => m.topic === `${BASE}/device/1/button/1`,
      "the press",
    );
    assert.equal(json(press.payload).type, "double");
    assert.equal(press.retained, false);

    // A newcomer (Home Assistant starting) finds every config and state retained.
    const late = await r.sub(["homeassistant/#", `${BASE}/#`]);
    await late.waitFor(
      (m) => m.topic === `${BASE}/device/1/sensor/count` && m.retained,
      "retained state",
    );
    assert.ok(
      late.messages.some((m) =>
        m.topic === `homeassistant/sensor/${NODE}/1_sensor_temp/config` &&
        m.retained
      ),
    );

    // The device leaves: offline.
    d1.sendMessage({ type: "disconnect", sleepSeconds: 0 });
    await sub.waitFor(
      (m) =>
        m.topic === `${BASE}/device/1/availability` &&
        m.payload === "offline" && sub.on(m.topic).length > 2,
      "device 1 offline after its disconnect",
    );

    // Taken off the key table: empty retained configs remove its entities.
    r.bridge.setDevices({ "2": KEY2 });
    r.mqtt.setDevices(["2"]);
    for (const [name, , component] of readings) {
      const topic =
        `homeassistant/${component}/${NODE}/1_sensor_${name}/config`;
      await sub.waitFor(
        (m) => m.topic === topic && m.payload === "",
        `${topic} removed`,
      );
    }
    await sub.waitFor(
      (m) =>
        m.topic ===
          `homeassistant/device_automation/${NODE}/1_button_1_long/config` &&
        m.payload === "",
      "the triggers removed",
    );
    const after = await r.sub(["homeassistant/#"]);
    await r.broker.pub("homeassistant/x/marker", "m");
    await after.waitFor((m) => m.topic === "homeassistant/x/marker", "marker");
    assert.ok(
      !after.messages.some((m) => m.topic.includes(`/${NODE}/1_`)),
      "no config of device 1 is retained any more",
    );
  } finally {
    await r.stop();
  }
});

Deno.test("mqtt: context entities (a volume command from mosquitto_pub reaches every node, a mesh change reaches the state topic, no echo) and topics mirrored both ways exactly once", async () => {
  const r = await rig({ mirror: ["home/lights", "home/#"] });
  try {
    await until(() => r.mqtt.connected, 10_000, "the bridge to connect");
    await until(
      async () => (await r.gw.handle().connectedPeers()).length > 0,
      20_000,
      "the nodes to connect",
    );
    const sub = await r.sub();
    const volTopic = `${BASE}/context/avi.device.audio.volume`;
    const cfg = await sub.waitFor(
      (m) =>
        m.topic ===
          `homeassistant/number/${NODE}/ctx_avi_device_audio_volume/config`,
      "the volume's config",
    );
    const c = json(cfg.payload);
    assert.deepEqual(checkDiscovery("number", c), []);
    assert.equal(c.command_topic, `${volTopic}/set`);
    assert.deepEqual([c.min, c.max], [0, 100]);

    // Home Assistant sets the volume: every node's context has it.
    await r.broker.pub(`${volTopic}/set`, "75");
    for (const n of [r.gw, r.peer]) {
      await until(
        async () =>
          (await n.handle().getContext("avi.device.audio.volume")) === 75,
        20_000,
        "the volume on every node",
      );
    }
    await sub.waitFor(
      (m) => m.topic === volTopic && m.payload === "75",
      "the volume's state",
    );
    // A change on another node reaches the state topic.
    await r.peer.handle().updateContext({
      avi: { device: { audio: { volume: 30 } }, lights: { hall: "on" } },
    });
    await sub.waitFor(
      (m) => m.topic === volTopic && m.payload === "30",
      "the peer's volume",
    );
    // A light appears with the context, and takes commands.
    const light = json(
      (await sub.waitFor(
        (m) =>
          m.topic === `homeassistant/light/${NODE}/ctx_avi_lights_hall/config`,
        "the light's config",
      )).payload,
    );
    assert.deepEqual(checkDiscovery("light", light), []);
    await sub.waitFor(
      (m) =>
        m.topic === `${BASE}/context/avi.lights.hall` &&
        json(m.payload).state === "ON",
      "the light on",
    );
    await r.broker.pub(light.command_topic, '{"state":"OFF"}');
    await until(
      async () =>
        (await r.peer.handle().getContext("avi.lights.hall")) === "off",
      20_000,
      "the light off on the peer",
    );
    // No echo: one command each, nothing written back to a command topic.
    assert.equal(sub.on(`${volTopic}/set`).length, 1);
    assert.equal(sub.on(light.command_topic).length, 1);
    assert.equal(r.mqtt.stats().commands, 2);

    // Mesh → MQTT, exactly once.
    await r.peer.handle().subscribe("home/lights");
    await untilTopicPeer(
      r.gw,
      r.peer,
      "home/lights",
      "the gateway on home/lights",
    );
    await untilTopicPeer(
      r.peer,
      r.gw,
      "home/lights",
      "the peer on home/lights",
    );
    await r.peer.handle().publish("home/lights", te.encode("on from the mesh"));
    await sub.waitFor(
      (m) => m.topic === "avi/home/lights" && m.payload === "on from the mesh",
      "the mesh message in MQTT",
    );
    // MQTT → mesh, exactly once, and to this gateway's devices too.
    const d1 = r.device(1, KEY1);
    await d1.connect();
    assert.equal(await d1.subscribe("home/lights"), 0);
    await r.broker.pub("avi/home/lights", "off from MQTT");
    await until(
      () =>
        r.peerMsgs.some((m) =>
          m.topic === "home/lights" && td.decode(m.data) === "off from MQTT"
        ),
      20_000,
      "the MQTT message in the mesh",
    );
    await until(
      () => d1.inbox.some((m) => td.decode(m.data) === "off from MQTT"),
      20_000,
      "the MQTT message at the gateway's device",
    );
    // Markers both ways: anything looping would have come before them.
    await r.peer.handle().publish("home/lights", te.encode("marker 1"));
    await sub.waitFor((m) => m.payload === "marker 1", "marker 1");
    await r.broker.pub("avi/home/lights", "marker 2");
    await until(
      () => r.peerMsgs.some((m) => td.decode(m.data) === "marker 2"),
      20_000,
      "marker 2",
    );
    const inMqtt = (p: string) =>
      sub.on("avi/home/lights").filter((m) => m.payload === p).length;
    const inMesh = (p: string) =>
      r.peerMsgs.filter((m) => td.decode(m.data) === p).length;
    assert.equal(inMqtt("on from the mesh"), 1);
    assert.equal(inMqtt("off from MQTT"), 1, "only mosquitto_pub's own copy");
    assert.equal(inMesh("off from MQTT"), 1);
    assert.equal(inMesh("on from the mesh"), 0, "never back to its author");
    assert.equal(
      d1.inbox.filter((m) => td.decode(m.data) === "off from MQTT").length,
      1,
    );
    const s = r.mqtt.stats();
    assert.equal(s.mirroredIn, 2);
    assert.equal(s.mirroredOut, 2);
  } finally {
    await r.stop();
  }
});

Deno.test("mqtt: the broker stops and restarts mid-traffic: the bridge reconnects, republishes discovery, and the latest state of every sensor is there", async () => {
  const r = await rig();
  try {
    await until(() => r.mqtt.connected, 10_000, "the bridge to connect");
    const d1 = r.device(1, KEY1);
    const d2 = r.device(2, KEY2);
    await Promise.all([d1.connect(), d2.connect()]);
    const sub = await r.sub([`${BASE}/#`]);
    // Readings flow all along; the broker goes away and comes back meanwhile.
    let n = 0;
    let stopAt = Infinity;
    const last: Record<string, number> = {};
    const traffic = (async () => {
      while (n < stopAt) {
        n++;
        const v = 10 + n / 10;
        await Promise.all([
          sensor(d1, "temp", { kind: "temperature", value: v }),
          sensor(d2, "temp", { kind: "temperature", value: v + 100 }),
          sensor(d2, "hum", { kind: "humidity", value: n }),
        ]);
        // Temperatures travel as 32-bit floats.
        last["1/sensor/temp"] = Math.fround(v);
        last["2/sensor/temp"] = Math.fround(v + 100);
        last["2/sensor/hum"] = n;
      }
    })();
    await sub.waitFor(
      (m) => m.topic === `${BASE}/device/2/sensor/hum`,
      "states before the stop",
    );
    await sub.close();
    r.subs.length = 0;
    await r.broker.stop();
    await until(() => !r.mqtt.connected, 10_000, "the bridge to see it");
    const atStop = n;
    await until(
      () => n >= atStop + 5,
      20_000,
      "readings while the broker is down",
    );
    await r.broker.restart();
    await until(() => r.mqtt.stats().connects >= 2, 20_000, "the reconnection");
    const after = n;
    await until(() => n >= after + 5, 20_000, "readings after the restart");
    stopAt = n;
    await traffic;

    // A fresh subscriber on the restarted (empty) broker: everything is back.
    const fresh = await r.sub(["homeassistant/#", `${BASE}/#`]);
    for (const [k, v] of Object.entries(last)) {
      const topic = `${BASE}/device/${k}`;
      await fresh.waitFor(
        (m) => m.topic === topic && json(m.payload).data.value === v,
        `the latest ${k}`,
      );
      assert.ok(fresh.last(topic)!.retained);
    }
    for (
      const t of [
        `homeassistant/sensor/${NODE}/1_sensor_temp/config`,
        `homeassistant/sensor/${NODE}/2_sensor_temp/config`,
        `homeassistant/sensor/${NODE}/2_sensor_hum/config`,
      ]
    ) {
      const m = await fresh.waitFor((m) => m.topic === t, t);
      assert.deepEqual(checkDiscovery("sensor", json(m.payload)), []);
    }
    await fresh.waitFor(
      (m) => m.topic === `${BASE}/status` && m.payload === "online",
      "the bridge online",
    );
    await fresh.waitFor(
      (m) =>
        m.topic === `${BASE}/device/2/availability` && m.payload === "online",
      "device 2 online",
    );
    // Home Assistant restarts: its birth message makes the bridge announce again.
    const before = r.mqtt.stats().reannounces;
    await r.broker.pub("homeassistant/status", "online");
    await until(
      () => r.mqtt.stats().reannounces === before + 1,
      10_000,
      "the re-announcement",
    );
    await fresh.waitFor(
      (m) =>
        m.topic === `homeassistant/sensor/${NODE}/1_sensor_temp/config` &&
        !m.retained,
      "the config announced again",
    );
  } finally {
    await r.stop();
  }
});
