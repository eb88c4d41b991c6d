import assert from "node:assert/strict";
import { DevicePermissions } from "./permissions.ts";

Deno.test("DevicePermissions default: publish own subtree, subscribe anything", () => {
  const p = new DevicePermissions("42");
  assert.ok(p.canPublish("device/42/button"));
  assert.ok(p.canPublish("device/42/sensor/temp"));
  assert.ok(!p.canPublish("device/43/button"));
  assert.ok(!p.canPublish("device/421/button"));
  assert.ok(!p.canPublish("home/lights"));
  assert.ok(p.canSubscribe("home/lights"));
  assert.ok(p.canSubscribe("device/43/button"));
});

Deno.test("DevicePermissions never allows the context topics or another device's topics", () => {
  const p = new DevicePermissions("1", { publish: ["#"], subscribe: ["#"] });
  assert.ok(p.canPublish("home/lights"));
  assert.ok(!p.canPublish("avi-context-updates"));
  assert.ok(!p.canPublish("avi/context/x"));
  assert.ok(!p.canSubscribe("avi-context-updates"));
  assert.ok(!p.canPublish("device/2/sensor/t"));
  assert.ok(!p.canPublish("device/2"));
  assert.ok(p.canPublish("device/1"));
});

Deno.test("DevicePermissions honours custom patterns with {id}", () => {
  const p = new DevicePermissions("7", {
    publish: ["device/{id}/#", "home/+/light"],
    subscribe: ["home/#", "device/{id}/cmd"],
  });
  assert.ok(p.canPublish("home/kitchen/light"));
  assert.ok(!p.canPublish("home/kitchen/light/x"));
  assert.ok(p.canSubscribe("home/a/b"));
  assert.ok(p.canSubscribe("device/7/cmd"));
  assert.ok(!p.canSubscribe("device/8/cmd"));
  assert.throws(() => new DevicePermissions("7", { publish: ["a/#/b"] }), {
    name: "InvalidTopicError",
  });
});
