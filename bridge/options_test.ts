import assert from "node:assert/strict";
import { loadDeviceKeys } from "./deno_udp.ts";
import {
  DEFAULT_LIMITS,
  parseDeviceTable,
  parseKey,
  resolveBridgeOptions,
  resolveLimits,
} from "./options.ts";
import { ConfigError } from "../core/errors.ts";

Deno.test("parseKey() takes 32 bytes or 64 hex characters, else ConfigError", () => {
  assert.deepEqual(
    parseKey("1", "ff".repeat(32)),
    new Uint8Array(32).fill(255),
  );
  assert.equal(parseKey("1", new Uint8Array(32)).length, 32);
  assert.throws(() => parseKey("1", "ff"), { name: "ConfigError" });
  assert.throws(() => parseKey("1", new Uint8Array(31)), {
    name: "ConfigError",
  });
});

Deno.test("parseDeviceTable() accepts decimal ids with keys or entries", () => {
  const t = parseDeviceTable({
    "0": new Uint8Array(32),
    "9007199254740991": "00".repeat(32),
    "7": { key: "11".repeat(32), publish: ["home/#"] },
  });
  assert.equal(t.size, 3);
  assert.deepEqual(t.get("7")?.rules?.publish, ["home/#"]);
  for (const bad of ["x", "01", "-1", "9007199254740992", ""]) {
    assert.throws(() => parseDeviceTable({ [bad]: new Uint8Array(32) }), {
      name: "ConfigError",
    });
  }
});

Deno.test("resolveLimits() fills defaults and refuses non-positive integers", () => {
  assert.deepEqual(resolveLimits({}), DEFAULT_LIMITS);
  assert.equal(resolveLimits({ maxSessions: 3 }).maxSessions, 3);
  assert.equal(DEFAULT_LIMITS.maxSensorsPerDevice, 64);
  assert.equal(
    resolveLimits({ maxSensorsPerDevice: 2 }).maxSensorsPerDevice,
    2,
  );
  assert.throws(() => resolveLimits({ maxSensorsPerDevice: 0 }), {
    name: "ConfigError",
  });
  for (const v of [0, -1, 1.5, NaN]) {
    assert.throws(() => resolveLimits({ maxSessions: v }), {
      name: "ConfigError",
    });
  }
});

Deno.test("loadDeviceKeys() reads a JSON key file and checks it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/ok.json`,
      JSON.stringify({ "5": "ab".repeat(32) }),
    );
    assert.deepEqual(Object.keys(await loadDeviceKeys(`${dir}/ok.json`)), [
      "5",
    ]);
    await Deno.writeTextFile(`${dir}/bad.json`, "{not json");
    await assert.rejects(loadDeviceKeys(`${dir}/bad.json`), {
      name: "ConfigError",
    });
    await Deno.writeTextFile(`${dir}/arr.json`, "[]");
    await assert.rejects(loadDeviceKeys(`${dir}/arr.json`), {
      name: "ConfigError",
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("resolveBridgeOptions() refuses an unknown field (a typo) and a bad contextFlushMs with ConfigError", () => {
  const devices = { "1": "11".repeat(32) };
  assert.throws(
    () => resolveBridgeOptions({ devices, udpPrt: 9 } as never),
    (e: Error) => e instanceof ConfigError && /udpPrt/.test(e.message),
  );
  assert.throws(
    () => resolveBridgeOptions({ devices, contextFlushMs: 0 }),
    (e: Error) => e instanceof ConfigError && /contextFlushMs/.test(e.message),
  );
  assert.equal(resolveBridgeOptions({ devices }).contextFlushMs > 0, true);
});
