import assert from "node:assert/strict";
import {
  AviP2pError,
  ConfigError,
  NotStartedError,
  TooLargeError,
} from "./errors.ts";

Deno.test("ConfigError names the field and is an AviP2pError", () => {
  const e = new ConfigError("listenPort", "must be an integer from 0 to 65535");
  assert.equal(e.name, "ConfigError");
  assert.equal(e.field, "listenPort");
  assert.ok(e instanceof AviP2pError);
  assert.match(e.message, /listenPort/);
});

Deno.test("TooLargeError carries size and limit", () => {
  const e = new TooLargeError("message", 10, 5);
  assert.deepEqual([e.name, e.size, e.limit], ["TooLargeError", 10, 5]);
  assert.equal(new NotStartedError().name, "NotStartedError");
});
