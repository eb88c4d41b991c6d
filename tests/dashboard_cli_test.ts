// `avi gateway --http` and `avi node --http --read-only` as subprocesses:
// the dashboard's URL is logged (with a generated token off 127.0.0.1), a
// request without the token gets 401, a device provisioned with `avi
// devices add` shows on the gateway's dashboard with its button press, and
// a read-only dashboard refuses changes.
import assert from "node:assert/strict";
import {
  AviEmbedded,
  createDenoUdpSocket,
  denoCrypto,
} from "../embedded/mod.ts";
import { fromHex } from "../core/hex.ts";
import type { DashboardSnapshot } from "../dashboard/mod.ts";
import { avi, AviProcess } from "./support/cli.ts";
import { until } from "./support/wait.ts";

const DASHBOARD = /dashboard on (http:\/\/[^\s"\\]+)/;

Deno.test("avi gateway --http: a token off 127.0.0.1, 401 without it, the device card and its button press", async () => {
  const dir = await Deno.makeTempDir();
  const config = `${dir}/avi-gateway.toml`;
  assert.equal((await avi(["gateway", "--init", "--config", config])).code, 0);
  const sample = await Deno.readTextFile(config);
  await Deno.writeTextFile(
    config,
    sample.replace("udpPort = 8888", 'udpPort = 0\nhostname = "127.0.0.1"'),
  );
  const add = await avi(["devices", "add", "9", "--config", config]);
  assert.equal(add.code, 0, add.stderr);
  const key = /^key: ([0-9a-f]{64})$/m.exec(add.stdout)![1];
  const gw = new AviProcess([
    "gateway",
    "--config",
    config,
    "--no-mdns",
    "--host=127.0.0.1",
    `--data-dir=${dir}/data`,
    "--control=127.0.0.1:0",
    "--http=0.0.0.0:0",
  ]);
  let dev: AviEmbedded | undefined;
  try {
    const url = new URL((await gw.line(DASHBOARD))[1]);
    await gw.line(/generated token/);
    const token = url.searchParams.get("token");
    assert.ok(token && token.length >= 32);
    const bare = await fetch(`${url.origin}/api/state`);
    assert.equal(bare.status, 401);
    await bare.body?.cancel();
    const state = async () =>
      await (await fetch(`${url.origin}/api/state?token=${token}`))
        .json() as DashboardSnapshot;
    assert.equal((await state()).self.gateway, true);

    const port = Number((await gw.line(/bridge on udp \S+:(\d+)/))[1]);
    const socket = await createDenoUdpSocket({ hostname: "127.0.0.1" });
    dev = new AviEmbedded(socket, {
      deviceId: 9,
      key: fromHex(key),
      crypto: denoCrypto(),
      gateway: { address: "127.0.0.1", port },
      retryInitialMs: 200,
      retryMaxMs: 1000,
    }, () => {});
    await dev.connect();
    await dev.buttonPressed(2, "long");
    await until(
      async () => {
        const d = (await state()).devices.find((d) => d.deviceId === "9");
        return d?.online === true && d.presses === 1 &&
          d.lastPress?.type === "long" && d.lastPress.buttonId === 2;
      },
      20_000,
      "device 9 and its press on the dashboard",
    );
  } finally {
    await dev?.close();
    const status = await gw.stop();
    assert.equal(status.code, 0, gw.stderr.join("\n"));
  }
});

Deno.test("avi node --http --read-only: the page shows, changes are refused", async () => {
  const dir = await Deno.makeTempDir();
  const node = new AviProcess([
    "node",
    "--no-mdns",
    `--data-dir=${dir}/n`,
    "--control=127.0.0.1:0",
    "--http=127.0.0.1:0",
    "--read-only",
  ]);
  try {
    const url = new URL((await node.line(DASHBOARD))[1]);
    assert.equal(url.searchParams.get("token"), null, "no token on loopback");
    const page = await fetch(url);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<div id="app">/);
    const snap = await (await fetch(`${url.origin}/api/state`))
      .json() as DashboardSnapshot;
    assert.equal(snap.self.readOnly, true);
    assert.equal(snap.self.gateway, false);
    const put = await fetch(`${url.origin}/api/context`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: '{"path":"home.volume","value":1}',
    });
    assert.equal(put.status, 403);
    await put.body?.cancel();
  } finally {
    assert.equal((await node.stop()).code, 0);
  }
});
