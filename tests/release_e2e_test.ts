// The release artifact end to end (issue 15): `deno task release`'s tarball
// for each architecture, checked against its checksum and unpacked, runs
// `avi gateway` through its launcher from the shipped sample config: the
// aarch64 one under qemu-aarch64-static, the x86_64 one natively. An x86_64
// mesh node (this process) connects to it over the mesh, a device (the real
// device client over real UDP) connects to its bridge and sends a QoS 1
// sensor reading that the x86 node receives, and a context update from the
// x86 node reaches the gateway (read back through its control endpoint).
// One gateway start per architecture.
import assert from "node:assert/strict";
import { AviP2p } from "../mod.ts";
import type { AviEvent, MessageEvent } from "../core/events.ts";
import { toHex } from "../core/hex.ts";
import {
  AviEmbedded,
  createDenoUdpSocket,
  denoCrypto,
} from "../embedded/mod.ts";
import type { Arch } from "../release/build.ts";
import {
  artifact,
  gatewayEndpoints,
  runEnv,
  sampleConfig,
  startGateway,
  unpack,
} from "./release_fixture.ts";
import { until } from "./support/wait.ts";

const KEY = new Uint8Array(32).map((_, i) => 0x40 + i);
const td = new TextDecoder();

async function e2e(arch: Arch): Promise<void> {
  const t0 = performance.now();
  const env = await runEnv(arch); // fails at once, naming a missing package
  const emulated = "AVI_EMULATOR" in env;
  // Bounds for one step; qemu runs the runtime many times slower.
  const ms = emulated ? 180_000 : 30_000;
  const a = await artifact(arch);
  const tBuilt = performance.now();
  const dir = await Deno.makeTempDir({ prefix: `avi-release-${arch}-` });
  const folder = await unpack(a, dir);
  const config = await sampleConfig(folder, dir, { "7": toHex(KEY) });
  const gw = startGateway(folder, arch, config, env);
  let node: AviP2p | undefined;
  let device: AviEmbedded | undefined;
  try {
    const { peerId, meshAddress, udpPort, url } = await gatewayEndpoints(
      gw,
      ms,
    );
    const tUp = performance.now();

    // 1. An x86_64 node joins the gateway over the mesh.
    node = await AviP2p.start({
      nodeName: `x86-${arch}`,
      listenHost: "127.0.0.1",
      enableMdns: false,
      dataDir: null,
      bootstrapPeers: [meshAddress],
    });
    const h = node.handle();
    const messages: MessageEvent[] = [];
    const events = node.events();
    const loop = (async () => {
      for await (const e of events as AsyncIterable<AviEvent>) {
        if (e.type === "message") messages.push(e);
      }
    })();
    await h.subscribe("device/7/sensor/temp");
    await h.subscribe("release/probe");
    await until(
      async () => (await h.connectedPeers()).map(String).includes(peerId),
      ms,
      `the x86 node connected to the ${arch} gateway`,
    );
    await gw.line(new RegExp(`peer connected ${node.peerId}`), ms);
    // The gateway sees the node's subscriptions (the publish waits for one
    // subscriber), and its message reaches the node.
    const probe = await fetch(`${url}/api/publish`, {
      method: "POST",
      body: JSON.stringify({
        topic: "release/probe",
        data: btoa(arch),
        minSubscribers: 1,
        timeoutMs: ms,
      }),
    });
    assert.equal(probe.status, 200, await probe.clone().text());
    assert.ok((await probe.json()).reached >= 1);
    await until(
      () =>
        messages.some((m) =>
          m.topic === "release/probe" && m.from === peerId &&
          td.decode(m.data) === arch
        ),
      ms,
      `the ${arch} gateway's message`,
    );

    // 2. A device connects to the bridge; its QoS 1 sensor reading is acked
    // and reaches the x86 node.
    device = new AviEmbedded(
      await createDenoUdpSocket({ hostname: "127.0.0.1" }),
      {
        deviceId: 7,
        key: KEY,
        crypto: denoCrypto(),
        gateway: { address: "127.0.0.1", port: udpPort },
        retryInitialMs: 500,
        retryMaxMs: 2000,
      },
      () => {},
    );
    await device.connect();
    await gw.line(/device 7 connected from 127\.0\.0\.1:\d+/, ms);
    await device.updateSensor("temp", { kind: "temperature", value: 21.5 });
    await until(
      () =>
        messages.some((m) =>
          m.topic === "device/7/sensor/temp" && m.from === peerId &&
          JSON.parse(td.decode(m.data)).data?.value === 21.5
        ),
      ms,
      "the device's sensor reading on the x86 node",
    );

    // 3. A context update from the x86 node reaches the gateway.
    await h.setContextPath("release.e2e", { arch, from: node.peerId });
    await until(
      async () => {
        const r = await fetch(`${url}/api/context?path=release.e2e`);
        const body = await r.json();
        return body.value?.arch === arch && body.value?.from === node!.peerId;
      },
      ms,
      `the x86 node's context update on the ${arch} gateway`,
    );
    const tDone = performance.now();

    // 4. SIGTERM (systemd's stop) ends it cleanly.
    await device.close();
    device = undefined;
    const status = await gw.stop("SIGTERM");
    assert.equal(status.code, 0, gw.lines.join("\n"));
    await events.return?.();
    await node.shutdown();
    node = undefined;
    await loop;
    const s = (a: number, b: number) => ((b - a) / 1000).toFixed(1);
    console.log(
      `release e2e ${arch}${emulated ? " (qemu)" : ""}: build ${
        s(t0, tBuilt)
      } s${a.reused ? " (kept)" : ""}, gateway up ${s(tBuilt, tUp)} s, checks ${
        s(tUp, tDone)
      } s, total ${s(t0, performance.now())} s`,
    );
  } finally {
    await device?.close().catch(() => {});
    await node?.shutdown().catch(() => {});
    await gw.stop("SIGKILL");
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("release: the aarch64 artifact under qemu-aarch64-static: mesh, device, context with an x86_64 node", () =>
  e2e("aarch64"));

Deno.test("release: the x86_64 artifact natively: mesh, device, context with a node", () =>
  e2e("x86_64"));
