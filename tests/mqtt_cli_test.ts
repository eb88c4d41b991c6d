/**
 * `avi gateway --mqtt` as a subprocess, against a real `mosquitto` that
 * wants TLS and a user name and password: the settings come from the
 * config's `[mqtt]` section (files for the password and the CA), the URL
 * from the command line; a simulated device's sensor appears in the broker,
 * editing the key file removes the device's entities, and a clean stop
 * leaves the bridge `offline`.
 */
import assert from "node:assert/strict";
import { fromHex, toHex } from "../core/hex.ts";
import { RawDevice } from "./support/bridge_device.ts";
import { AviProcess } from "./support/cli.ts";
import { Mosquitto } from "./support/mosquitto.ts";
import { checkDiscovery } from "./mqtt_ha_schema.ts";

Deno.test("avi gateway --mqtt: TLS, user name and password from [mqtt]; the device's sensor in the broker, removed with the key table; offline after a clean stop", async () => {
  const broker = await Mosquitto.start({
    users: { avi: "s3cret", ha: "ha-pass" },
    tls: true,
  });
  const dir = await Deno.makeTempDir();
  const key = toHex(crypto.getRandomValues(new Uint8Array(32)));
  await Deno.writeTextFile(`${dir}/ca.pem`, broker.caPem);
  await Deno.writeTextFile(`${dir}/mqtt.password`, "s3cret\n");
  await Deno.writeTextFile(`${dir}/devices.json`, JSON.stringify({ 7: key }));
  const config = `${dir}/avi-gateway.toml`;
  await Deno.writeTextFile(
    config,
    [
      'devices_file = "devices.json"',
      "[node]",
      'name = "gw-cli"',
      "[bridge]",
      "udpPort = 0",
      'hostname = "127.0.0.1"',
      "[mqtt]",
      'username = "avi"',
      'password_file = "mqtt.password"',
      'ca_file = "ca.pem"',
      'node_id = "cligw"',
    ].join("\n") + "\n",
  );
  const user: [string, string] = ["ha", "ha-pass"];
  const gw = new AviProcess([
    "gateway",
    "--config",
    config,
    "--no-mdns",
    "--host=127.0.0.1",
    `--data-dir=${dir}/data`,
    "--no-control",
    "--mqtt",
    `mqtts://127.0.0.1:${broker.tlsPort}`,
  ]);
  const sub = await broker.sub(["homeassistant/#", "avi-p2p/cligw/#"], {
    user,
  });
  let d7: RawDevice | undefined;
  try {
    const port = Number((await gw.line(/bridge on udp \S+:(\d+)/))[1]);
    await gw.line(/mqtt: connected to mqtts:\/\/127\.0\.0\.1/);
    await sub.waitFor(
      (m) => m.topic === "avi-p2p/cligw/status" && m.payload === "online",
      "the bridge online",
    );
    d7 = new RawDevice({ deviceId: 7, key: fromHex(key), gatewayPort: port });
    await d7.connect();
    assert.equal(
      await d7.request((msgId) => ({
        type: "sensorUpdate",
        msgId,
        name: "temp",
        value: { kind: "temperature", value: 22.5 },
        customData: null,
      })),
      0,
    );
    const topic = "homeassistant/sensor/cligw/7_sensor_temp/config";
    const cfg = JSON.parse(
      (await sub.waitFor((m) => m.topic === topic, "the config")).payload,
    );
    assert.deepEqual(checkDiscovery("sensor", cfg), []);
    assert.equal(cfg.device.via_device, "avi_cligw");
    const state = await sub.waitFor(
      (m) => m.topic === cfg.state_topic,
      "the state",
    );
    assert.equal(JSON.parse(state.payload).data.value, 22.5);
    await sub.waitFor(
      (m) =>
        m.topic === "avi-p2p/cligw/device/7/availability" &&
        m.payload === "online",
      "device 7 online",
    );

    // Device 7 leaves the key file: its entities go.
    await Deno.writeTextFile(`${dir}/devices.json`, "{}");
    await gw.line(/device table reloaded: added -, removed 7/);
    await sub.waitFor(
      (m) => m.topic === topic && m.payload === "",
      "the config removed",
    );

    assert.equal((await gw.stop()).code, 0);
    await sub.waitFor(
      (m) => m.topic === "avi-p2p/cligw/status" && m.payload === "offline",
      "the bridge offline",
    );
  } finally {
    await d7?.close();
    await gw.stop();
    await sub.close();
    await broker.close();
    await Deno.remove(dir, { recursive: true });
  }
});
