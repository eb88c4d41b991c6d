/**
 * examples/gateway.ts runs with its documented permission set, serves a
 * device, and prints it as it comes and goes.
 */
import assert from "node:assert/strict";
import { toHex } from "../core/hex.ts";
import { RawDevice } from "./support/bridge_device.ts";
import { until } from "./support/wait.ts";

Deno.test("examples/gateway.ts runs with the smallest permission set and prints devices coming and going", async () => {
  const dir = await Deno.makeTempDir();
  const keyFile = `${dir}/devices.json`;
  const key = new Uint8Array(32).fill(0x42);
  const hex = toHex(key);
  await Deno.writeTextFile(keyFile, JSON.stringify({ "42": hex }));
  // A free UDP port.
  const probe = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-env",
      "--allow-sys=networkInterfaces",
      `--allow-read=${keyFile}`,
      "--unstable-net",
      `--config=${new URL("../deno.json", import.meta.url).pathname}`,
      new URL("../examples/gateway.ts", import.meta.url).pathname,
      "--keys",
      keyFile,
      "--port",
      String(port),
      "--host",
      "127.0.0.1",
      "--no-mdns",
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  const reader = (async () => {
    const dec = new TextDecoder();
    for await (const chunk of child.stdout) out += dec.decode(chunk);
  })();
  const errText = child.stderr.pipeThrough(new TextDecoderStream())
    .getReader();
  let err = "";
  const errLoop = (async () => {
    for (;;) {
      const r = await errText.read();
      if (r.done) return;
      err += r.value;
    }
  })();
  const device = new RawDevice({ deviceId: 42, key, gatewayPort: port });
  try {
    await until(() => out.includes("gateway on udp"), 60_000, `start (${err})`);
    await device.connect();
    await until(() => out.includes("+ device 42"), 20_000, "device printed");
    device.sendMessage({ type: "disconnect", sleepSeconds: 0 });
    await until(
      () => out.includes("- device 42 (disconnected)"),
      20_000,
      "device gone printed",
    );
    assert.match(out, /mesh node 12D3KooW/);
  } finally {
    await device.close();
    child.kill("SIGTERM");
    await child.status;
    await reader;
    await errLoop;
    await Deno.remove(dir, { recursive: true });
  }
});
