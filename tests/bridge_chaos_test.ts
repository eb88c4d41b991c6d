/**
 * QoS 1 through a lossy link: a seeded chaos proxy between the devices and the
 * gateway (10% loss each way, 5% duplication, 20% reordering); 10,000
 * publishes reach the other mesh node exactly once. And a gateway restarted
 * mid-traffic: every device recovers by itself, no acknowledged publish lost.
 */
import assert from "node:assert/strict";
import type { AviEvent } from "../core/events.ts";
import { RawDevice } from "./support/bridge_device.ts";
import { shutdownAll } from "./support/mesh_fixture.ts";
import { until } from "./support/wait.ts";
import {
  startChaosProxy,
  startGatewayAndPeer,
  startLocalBridge,
} from "./support/bridge_rig.ts";

const te = new TextEncoder();
const td = new TextDecoder();

function keyOf(id: number): Uint8Array {
  const k = new Uint8Array(32);
  new DataView(k.buffer).setUint32(0, id + 1000);
  k[31] = 0x5a;
  return k;
}

/** The key table of devices 1 to `n`. */
function deviceKeys(n: number): Record<string, Uint8Array> {
  const devices: Record<string, Uint8Array> = {};
  for (let i = 1; i <= n; i++) devices[String(i)] = keyOf(i);
  return devices;
}

/**
 * Devices 1 to `n`, speaking to `port` with retransmission timeout `rtoMs`,
 * bundling what is due at once into one frame if `bundle`.
 */
function rawDevices(
  n: number,
  port: number,
  rtoMs: number,
  bundle = false,
): RawDevice[] {
  return Array.from(
    { length: n },
    (_, i) =>
      new RawDevice({
        deviceId: i + 1,
        key: keyOf(i + 1),
        gatewayPort: port,
        rtoMs,
        bundle,
      }),
  );
}

async function meshPair(topics: string[]) {
  const { gw, peer } = await startGatewayAndPeer();
  const got = new Map<string, number>();
  let lagged = 0;
  const ev = peer.events();
  const loop = (async () => {
    for await (const e of ev as AsyncIterable<AviEvent>) {
      if (e.type === "message") {
        const k = td.decode(e.data);
        got.set(k, (got.get(k) ?? 0) + 1);
      } else if (e.type === "lagged") lagged += e.dropped;
    }
  })();
  for (const t of topics) await peer.handle().subscribe(t);
  await until(
    async () => {
      for (const t of topics) {
        if (!(await gw.handle().topicPeers(t)).includes(peer.peerId)) {
          return false;
        }
      }
      return true;
    },
    30_000,
    "gateway to see the peer on every topic",
  );
  return {
    gw,
    peer,
    got,
    lagged: () => lagged,
    stop: async () => {
      await ev.return?.();
      await loop;
      await shutdownAll(peer, gw);
    },
  };
}

async function throughChaos(bundle: boolean): Promise<void> {
  const DEVICES = 20, PER = 500, WINDOW = 25;
  const topics = Array.from({ length: DEVICES }, (_, i) => `device/${i + 1}/q`);
  const mesh = await meshPair(topics);
  const devices = deviceKeys(DEVICES);
  const bridge = await startLocalBridge(mesh.gw.handle(), devices);
  const proxy = await startChaosProxy(bridge.port);
  const devs = rawDevices(DEVICES, proxy.port, 300, bundle);
  try {
    await Promise.all(devs.map((d) => d.connect()));
    const codes: number[] = [];
    await Promise.all(devs.map(async (d, i) => {
      let next = 0;
      const worker = async () => {
        while (next < PER) {
          const n = next++;
          codes.push(
            await d.publish(topics[i], te.encode(`${i + 1}:${n}`)),
          );
        }
      };
      await Promise.all(Array.from({ length: WINDOW }, worker));
    }));
    assert.equal(codes.length, DEVICES * PER);
    assert.ok(codes.every((c) => c === 0), "every publish acked with ok");
    await until(
      () => mesh.got.size === DEVICES * PER,
      60_000,
      "all messages at the peer",
    );
    // Give late duplicates a chance to show up.
    await new Promise((r) => setTimeout(r, 1000));
    const dup = [...mesh.got.entries()].filter(([, n]) => n !== 1);
    assert.deepEqual(dup, [], "each message exactly once");
    assert.equal(mesh.lagged(), 0);
    const st = bridge.stats();
    assert.equal(st.published, DEVICES * PER);
    // The link really was bad (rates of what crossed it: bundled devices
    // send fewer datagrams).
    const { up, down } = proxy.stats;
    assert.ok(up.dropped > up.received * 0.08, `up dropped ${up.dropped}`);
    assert.ok(down.dropped > down.received * 0.08);
    assert.ok(up.duplicated > up.received * 0.03);
    assert.ok(up.reordered > up.received * 0.1);
    assert.ok(st.duplicates > 0, "retransmissions were recognised");
    // Acks pile up at once for a device: they left bundled, either way.
    assert.ok(st.bundledOut > 0, "acks were bundled");
    if (bundle) assert.ok(st.bundledIn > 100, `bundled in ${st.bundledIn}`);
    else assert.equal(st.bundledIn, 0);
  } finally {
    await Promise.all(devs.map((d) => d.close()));
    await proxy.close();
    await bridge.close();
    await mesh.stop();
  }
}

Deno.test("bridge: 10,000 QoS 1 publishes through 10% loss, 5% duplication, 20% reordering arrive exactly once", async () => {
  await throughChaos(false);
});

Deno.test("bridge: the same 10,000 through the same chaos, with devices bundling publishes into frames, arrive exactly once", async () => {
  await throughChaos(true);
});

Deno.test("bridge: a gateway restarted mid-traffic is rejoined by every device and loses no acked publish", async () => {
  const DEVICES = 5;
  const topics = Array.from({ length: DEVICES }, (_, i) => `device/${i + 1}/r`);
  const mesh = await meshPair(topics);
  const devices = deviceKeys(DEVICES);
  let bridge = await startLocalBridge(mesh.gw.handle(), devices);
  const port = bridge.port;
  const devs = rawDevices(DEVICES, port, 200);
  const acked = new Set<string>();
  let stop = false;
  try {
    await Promise.all(devs.map((d) => d.connect()));
    const traffic = Promise.all(devs.map(async (d, i) => {
      let n = 0;
      const worker = async () => {
        while (!stop) {
          const k = `${i + 1}:${n++}`;
          const code = await d.publish(topics[i], te.encode(k));
          if (code === 0) acked.add(k);
          await new Promise((r) => setTimeout(r, 5));
        }
      };
      await Promise.all(Array.from({ length: 4 }, worker));
    }));
    await until(() => acked.size >= 500, 30_000, "traffic before restart");
    await bridge.close();
    await new Promise((r) => setTimeout(r, 300));
    bridge = await startLocalBridge(mesh.gw.handle(), devices, {
      udpPort: port,
    });
    const before = acked.size;
    await until(
      () => devs.every((d) => d.handshakes >= 2),
      30_000,
      "every device to re-handshake",
    );
    await until(
      () => acked.size >= before + 500,
      30_000,
      "traffic after restart",
    );
    stop = true;
    await traffic;
    await until(
      () => [...acked].every((k) => mesh.got.has(k)),
      30_000,
      "every acked publish at the peer",
    );
    assert.equal(bridge.devices().length, DEVICES);
  } finally {
    stop = true;
    await Promise.all(devs.map((d) => d.close()));
    await bridge.close();
    await mesh.stop();
  }
});
