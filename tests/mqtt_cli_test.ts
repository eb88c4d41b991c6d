/**
 * `avi gateway --mqtt` as a subprocess, against a real `mosquitto` that
 * wants TLS and a user name and password: the settings come from the
 * config's `[mqtt]` section (files for the password and the CA), the URL
 * from the command line; simulated devices' sensors appear in the broker,
 * editing the key file removes a device's entities (while the gateway runs,
 * and while it is stopped: at its next start), and a clean stop leaves the
 * bridge `offline`.
 */
import assert from "node:assert/strict";
import { fromHex, toHex } from "../core/hex.ts";
import { RawDevice } from "./support/bridge_device.ts";
import { AviProcess } from "./support/cli.ts";
import { Mosquitto } from "./support/mosquitto.ts";
import { checkDiscovery } from "./mqtt_ha_schema.ts";

Deno.test("avi gateway --mqtt: TLS, user name and password from [mqtt]; devices' sensors in the broker, removed with the key table (running or stopped); offline after a clean stop", async () => {
  const broker = await Mosquitto.start({
    users: { avi: "s3cret", ha: "ha-pass" },
    tls: true,
  });
  const dir = await Deno.makeTempDir();
  const key = toHex(crypto.getRandomValues(new Uint8Array(32)));
  const key8 = toHex(crypto.getRandomValues(new Uint8Array(32)));
  await Deno.writeTextFile(`${dir}/ca.pem`, broker.caPem);
  await Deno.writeTextFile(`${dir}/mqtt.password`, "s3cret\n");
  await Deno.writeTextFile(
    `${dir}/devices.json`,
    JSON.stringify({ 7: key, 8: key8 }),
  );
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
  const gateway = () =>
    new AviProcess([
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
  let gw = gateway();
  const sub = await broker.sub(["homeassistant/#", "avi-p2p/cligw/#"], {
    user,
  });
  const devices: RawDevice[] = [];
  const config7 = "homeassistant/sensor/cligw/7_sensor_temp/config";
  const config8 = "homeassistant/sensor/cligw/8_sensor_temp/config";
  try {
    const port = Number((await gw.line(/bridge on udp \S+:(\d+)/))[1]);
    await gw.line(/mqtt: connected to mqtts:\/\/127\.0\.0\.1/);
    await sub.waitFor(
      (m) => m.topic === "avi-p2p/cligw/status" && m.payload === "online",
      "the bridge online",
    );
    for (const [id, k] of [[7, key], [8, key8]] as const) {
      const d = new RawDevice({
        deviceId: id,
        key: fromHex(k),
        gatewayPort: port,
      });
      devices.push(d);
      await d.connect();
      assert.equal(
        await d.request((msgId) => ({
          type: "sensorUpdate",
          msgId,
          name: "temp",
          value: { kind: "temperature", value: 22.5 },
          customData: null,
        })),
        0,
      );
    }
    const cfg = JSON.parse(
      (await sub.waitFor((m) => m.topic === config7, "the config")).payload,
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
    await sub.waitFor((m) => m.topic === config8, "device 8's config");

    // Device 8 leaves the key file while the gateway runs: its entities go.
    await Deno.writeTextFile(
      `${dir}/devices.json`,
      JSON.stringify({ 7: key }),
    );
    await gw.line(/device table reloaded: added -, removed 8/);
    await sub.waitFor(
      (m) => m.topic === config8 && m.payload === "",
      "device 8's config removed",
    );

    assert.equal((await gw.stop()).code, 0);
    await sub.waitFor(
      (m) => m.topic === "avi-p2p/cligw/status" && m.payload === "offline",
      "the bridge offline",
    );

    // Device 7 leaves it while the gateway is stopped: gone at the next start.
    await Deno.writeTextFile(`${dir}/devices.json`, "{}");
    gw = gateway();
    await gw.line(/mqtt: connected to mqtts:/);
    await sub.waitFor(
      (m) => m.topic === config7 && m.payload === "",
      "device 7's config removed at the start",
    );
    assert.equal((await gw.stop()).code, 0);
  } finally {
    for (const d of devices) await d.close();
    await gw.stop();
    await sub.close();
    await broker.close();
    await Deno.remove(dir, { recursive: true });
  }
});
