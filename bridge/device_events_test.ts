import assert from "node:assert/strict";
import {
  buttonJson,
  buttonTopic,
  customToJson,
  sensorJson,
  sensorTopic,
} from "./device_events.ts";

const te = new TextEncoder();

Deno.test("buttonJson() has the original's fields and topic", () => {
  assert.equal(buttonTopic("7"), "device/7/button");
  assert.deepEqual(buttonJson(2, "long", te.encode('{"x":1}'), 123), {
    button_id: 2,
    type: "long",
    data: { x: 1 },
    ts: 123,
  });
});

Deno.test("sensorJson() gives value, unit, kind and custom; NaN becomes null", () => {
  assert.equal(sensorTopic("7", "temp"), "device/7/sensor/temp");
  assert.deepEqual(
    sensorJson("temp", { kind: "temperature", value: 21.5 }, null, 5),
    {
      name: "temp",
      data: { value: 21.5, unit: "C", kind: "temperature", custom: null },
      ts: 5,
    },
  );
  assert.equal(
    (sensorJson("h", { kind: "humidity", value: NaN }, null, 0).data as {
      value: unknown;
    }).value,
    null,
  );
  const s = sensorJson(
    "s",
    { kind: "status", value: true },
    te.encode("hi"),
    0,
  );
  assert.deepEqual(s.data, {
    value: true,
    unit: "",
    kind: "status",
    custom: "hi",
  });
});

Deno.test("customToJson() falls back to base64 for non-UTF-8 bytes", () => {
  assert.deepEqual(customToJson(new Uint8Array([0xff, 0x00])), {
    base64: "/wA=",
  });
  assert.equal(customToJson(null), null);
});
