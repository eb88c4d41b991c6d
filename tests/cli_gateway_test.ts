// `avi gateway` and `avi devices` as subprocesses, with the real device
// client over real UDP: a device added with `avi devices add` connects with
// the printed key without a gateway restart, `avi devices remove` ends its
// session, a malformed config keeps the last good table (and the log names
// the line), and `avi devices list` shows the live state.
import assert from "node:assert/strict";
import {
  AviEmbedded,
  createDenoUdpSocket,
  denoCrypto,
} from "../embedded/mod.ts";
import { fromHex } from "../core/hex.ts";
import { avi, AviProcess } from "./support/cli.ts";

function device(id: number, key: string, port: number) {
  return createDenoUdpSocket({ hostname: "127.0.0.1" }).then((socket) =>
    new AviEmbedded(socket, {
      deviceId: id,
      key: fromHex(key),
      crypto: denoCrypto(),
      gateway: { address: "127.0.0.1", port },
      retryInitialMs: 200,
      retryMaxMs: 1000,
    }, () => {})
  );
}

Deno.test("avi gateway + avi devices: provisioning on a running gateway, reload, removal, a malformed file", async () => {
  const dir = await Deno.makeTempDir();
  const config = `${dir}/avi-gateway.toml`;
  const init = await avi(["gateway", "--init", "--config", config]);
  assert.equal(init.code, 0, init.stderr);
  const again = await avi(["gateway", "--init", "--config", config]);
  assert.equal(again.code, 1, "--init never overwrites");
  const sample = await Deno.readTextFile(config);
  await Deno.writeTextFile(
    config,
    sample.replace("udpPort = 8888", 'udpPort = 0\nhostname = "127.0.0.1"'),
  );
  const gw = new AviProcess([
    "gateway",
    "--config",
    config,
    "--no-mdns",
    "--host=127.0.0.1",
    `--data-dir=${dir}/data`,
    "--control=127.0.0.1:0",
  ]);
  const devices: AviEmbedded[] = [];
  try {
    const url = await gw.controlUrl();
    const port = Number((await gw.line(/bridge on udp \S+:(\d+)/))[1]);
    // Provision device 7 on the running gateway.
    const add = await avi(["devices", "add", "7", "--config", config]);
    assert.equal(add.code, 0, add.stderr);
    const key = /^key: ([0-9a-f]{64})$/m.exec(add.stdout)![1];
    assert.match(add.stdout, /#define AVI_DEVICE_ID 7ULL/);
    assert.match(add.stdout, /"deviceId": 7/);
    const info = await Deno.stat(`${dir}/devices.json`);
    assert.equal(info.mode! & 0o777, 0o600, "owner-only key file");
    await gw.line(/device table reloaded: added 7/);
    const d7 = await device(7, key, port);
    devices.push(d7);
    await d7.connect();
    await gw.line(/device 7 connected from 127\.0\.0\.1:\d+/);
    const list = await avi([
      "devices",
      "list",
      "--config",
      config,
      "--json",
      "--node",
      url,
    ]);
    assert.equal(list.code, 0, list.stderr);
    const row = JSON.parse(list.stdout.trim());
    assert.equal(row.id, "7");
    assert.equal(row.connected, true);
    assert.match(row.address, /^127\.0\.0\.1:\d+$/);
    assert.ok(!list.stdout.includes(key), "list never prints a key");
    assert.ok(!gw.stderr.join("\n").includes(key), "the log never holds a key");

    // A malformed config: the last good table stays, the log names the line.
    await Deno.writeTextFile(
      config,
      (await Deno.readTextFile(config)) + "\n[[oops\n",
    );
    await gw.line(
      /avi-gateway\.toml:\d+:\d+: .*keeping the last good device table/,
    );
    const add8 = await avi([
      "devices",
      "add",
      "8",
      "--file",
      `${dir}/devices.json`,
    ]);
    assert.equal(add8.code, 0, add8.stderr);
    const key8 = /^key: ([0-9a-f]{64})$/m.exec(add8.stdout)![1];
    // Device 7 kept its session; fixing the file brings device 8 in.
    await Deno.writeTextFile(
      config,
      (await Deno.readTextFile(config)).replace("\n[[oops\n", "\n"),
    );
    await gw.line(/device table reloaded: added 8/);
    const d8 = await device(8, key8, port);
    devices.push(d8);
    await d8.connect();
    assert.ok(!gw.stderr.some((l) => /device 7 gone/.test(l)));

    // Remove device 7: its session ends at once.
    const rm = await avi(["devices", "remove", "7", "--config", config]);
    assert.equal(rm.code, 0, rm.stderr);
    await gw.line(/device 7 gone \(removed\)/);
    const after = await avi([
      "devices",
      "list",
      "--config",
      config,
      "--json",
      "--node",
      url,
    ]);
    assert.deepEqual(
      after.stdout.trim().split("\n").map((l) => JSON.parse(l).id),
      ["8"],
    );
    // Removing it twice, or a bad id: clear failures.
    assert.equal(
      (await avi(["devices", "remove", "7", "--config", config])).code,
      1,
    );
    assert.equal(
      (await avi(["devices", "add", "x7", "--config", config])).code,
      2,
    );
    assert.equal((await gw.stop()).code, 0);
  } finally {
    for (const d of devices) await d.close().catch(() => {});
    await gw.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("avi gateway: a bad value in the config names its line and exits 1", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const config = `${dir}/g.toml`;
    await Deno.writeTextFile(
      config,
      '[node]\nname = "g"\n\n[bridge]\nudpPort = 0\nkeepAliveSecnds = 5\n',
    );
    const r = await avi([
      "gateway",
      "--config",
      config,
      "--no-mdns",
      `--data-dir=${dir}/d`,
      "--no-control",
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /g\.toml:6: .*keepAliveSecnds/);
    await Deno.writeTextFile(config, '[node]\nnam = "g"\n');
    const r2 = await avi(["gateway", "--config", config]);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /g\.toml:2: node\.nam is not a node setting/);
    const r3 = await avi(["gateway", "--config", `${dir}/none.toml`]);
    assert.equal(r3.code, 1);
    assert.match(r3.stderr, /avi gateway --init/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
