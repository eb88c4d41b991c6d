// EmbeddedBridge.setDevices on a running gateway (real node, real UDP): an
// added device connects at once, a removed or re-keyed device's session ends
// (and its old key is refused), an unchanged device keeps its session.
import assert from "node:assert/strict";
import type { BridgeEvent } from "../bridge/mod.ts";
import { ConfigError } from "../core/errors.ts";
import { startLocalBridge } from "./support/bridge_rig.ts";
import { RawDevice } from "./support/bridge_device.ts";
import { startNode } from "./support/mesh_fixture.ts";
import { until } from "./support/wait.ts";

const key = (b: number) => new Uint8Array(32).fill(b);
const hex = (k: Uint8Array) =>
  Array.from(k, (b) => b.toString(16).padStart(2, "0")).join("");

Deno.test("bridge: the device table changes while running, without a restart", async () => {
  const gw = await startNode({ nodeName: "gateway" });
  const bridge = await startLocalBridge(gw.handle(), {
    "1": hex(key(1)),
    "2": hex(key(2)),
  });
  const gone: BridgeEvent[] = [];
  const refused: BridgeEvent[] = [];
  const reading = (async () => {
    for await (const ev of bridge.events()) {
      if (ev.type === "deviceGone") gone.push(ev);
      if (ev.type === "deviceRefused") refused.push(ev);
    }
  })();
  const devices: RawDevice[] = [];
  const device = (id: number, k: Uint8Array) => {
    const d = new RawDevice({
      deviceId: id,
      key: k,
      gatewayPort: bridge.port,
      autoReconnect: false,
    });
    devices.push(d);
    return d;
  };
  try {
    const one = device(1, key(1));
    const two = device(2, key(2));
    await one.connect();
    await two.connect();
    // Device 3 is not in the table: no session.
    const three = device(3, key(3));
    three.connect();
    await until(() => three.rejects.length > 0, 10_000, "3 refused");
    assert.equal(three.session, undefined);
    await until(() => refused.length > 0, 10_000, "a deviceRefused event");
    assert.equal(
      refused[0].type === "deviceRefused" && refused[0].deviceId,
      "3",
    );
    assert.match(
      refused[0].type === "deviceRefused" ? refused[0].address : "",
      /^127\.0\.0\.1:\d+$/,
    );

    // Add 3, remove 1, re-key 2.
    const changes = bridge.setDevices({ "2": hex(key(22)), "3": hex(key(3)) });
    assert.deepEqual(changes, { added: ["3"], removed: ["1"], changed: ["2"] });
    await until(() => gone.length === 2, 10_000, "two sessions ended");
    assert.deepEqual(
      gone.map((e) => e.type === "deviceGone" && [e.deviceId, e.reason])
        .sort(),
      [["1", "removed"], ["2", "removed"]],
    );
    assert.deepEqual(bridge.devices().map((d) => d.deviceId), []);
    const three2 = device(3, key(3));
    await three2.connect();
    assert.deepEqual(bridge.devices().map((d) => d.deviceId), ["3"]);
    // The removed device and the old key no longer get in; the new key does.
    const oneAgain = device(1, key(1));
    oneAgain.connect();
    const twoOld = device(2, key(2));
    twoOld.connect();
    await until(
      () => oneAgain.rejects.length > 0 && twoOld.rejects.length > 0,
      10_000,
      "old keys refused",
    );
    await device(2, key(22)).connect();
    // An unchanged device keeps its session; a malformed table changes nothing.
    assert.throws(() => bridge.setDevices({ "x": "nope" }), ConfigError);
    assert.deepEqual(
      bridge.setDevices({ "2": hex(key(22)), "3": hex(key(3)) }),
      { added: [], removed: [], changed: [] },
    );
    assert.deepEqual(bridge.devices().map((d) => d.deviceId).sort(), [
      "2",
      "3",
    ]);
  } finally {
    for (const d of devices) await d.close();
    await bridge.close();
    await reading;
    await gw.shutdown();
  }
});
