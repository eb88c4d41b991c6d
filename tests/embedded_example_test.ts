// examples/simulated_mcu.ts, run as a real process against the test gateway.
import assert from "node:assert/strict";
import { toHex } from "../core/hex.ts";
import { TestGateway } from "./support/test_gateway.ts";

Deno.test("examples/simulated_mcu.ts connects, presses, reports, subscribes and prints what arrives", async () => {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const hex = toHex(key);
  const gw = TestGateway.start({ devices: new Map([[7, key]]) });
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--unstable-net",
      new URL("../examples/simulated_mcu.ts", import.meta.url).pathname,
      "--host",
      "127.0.0.1",
      "--port",
      String(gw.port),
      "--device-id",
      "7",
      "--key",
      hex,
      "--interval",
      "1",
      "--count",
      "3",
      "--topic",
      "home/#",
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  try {
    await gw.waitFor(
      () => [...gw.sessions.values()].some((s) => s.subs.has("home/#")),
      30000,
      "subscribe",
    );
    gw.publish("home/lamp", new TextEncoder().encode("on"));
    await gw.waitFor(
      () => gw.messages("sensorUpdate").length === 3,
      30000,
      "three readings",
    );
    const out = await child.output();
    const text = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.match(text, /connected to 127\.0\.0\.1/);
    assert.match(text, /home\/lamp: on/);
    assert.equal(gw.messages("buttonPress").length, 1);
    const temps = gw.messages("sensorUpdate").map((s) => s.value.kind);
    assert.deepStrictEqual(temps, [
      "temperature",
      "temperature",
      "temperature",
    ]);
  } finally {
    try {
      child.kill();
    } catch {
      // already exited
    }
    await gw.close();
  }
});
