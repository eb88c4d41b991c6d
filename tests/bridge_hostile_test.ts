/**
 * Hostile input against a real gateway on a real mesh node: 1,000,000 random
 * or mutated datagrams and 100,000 spoofed Hellos from many source addresses
 * (sockets bound to 127.x.y.z, which all route to lo). No crash, no session,
 * bounded state and memory, and the real device is served throughout.
 */
import assert from "node:assert/strict";
import v8 from "node:v8";
import vm from "node:vm";
import type { AviEvent } from "../core/events.ts";
import {
  createHello,
  encodeCookie,
  encodeReject,
  encodeSearchGw,
  nobleCrypto,
} from "../protocol/mod.ts";
import type { FloodJob, FloodResult } from "./support/bridge_flood_worker.ts";
import { RawDevice } from "./support/bridge_device.ts";
import { shutdownAll, untilTopicPeer } from "./support/mesh_fixture.ts";
import { until } from "./support/wait.ts";
import { startGatewayAndPeer, startLocalBridge } from "./support/bridge_rig.ts";

const te = new TextEncoder();
const KEY1 = new Uint8Array(32).fill(0x11);
const KEY2 = new Uint8Array(32).fill(0x22);
const cryptoImpl = nobleCrypto({ random: (b) => crypto.getRandomValues(b) });

/** V8's gc, exposed at run time (undefined if that is not possible). */
function forceGc(): (() => void) | undefined {
  try {
    v8.setFlagsFromString("--expose-gc");
    return vm.runInNewContext("gc") as () => void;
  } catch {
    return undefined;
  }
}

/** Run one flood on its own thread (as an attacker on another host). */
function flood(job: FloodJob): Promise<FloodResult> {
  const w = new Worker(
    new URL("./support/bridge_flood_worker.ts", import.meta.url),
    { type: "module" },
  );
  const p = new Promise<FloodResult>((resolve, reject) => {
    w.onmessage = (e: MessageEvent<FloodResult>) => resolve(e.data);
    w.onerror = (e) => {
      e.preventDefault();
      reject(new Error(e.message));
    };
  }).finally(() => w.terminate());
  w.postMessage(job);
  return p;
}

Deno.test("bridge: 1,000,000 random/mutated datagrams and 100,000 spoofed Hellos create no session and do not stop a real device", async () => {
  const { gw, peer } = await startGatewayAndPeer();
  const got = new Set<string>();
  const ev = peer.events();
  const peerLoop = (async () => {
    for await (const e of ev as AsyncIterable<AviEvent>) {
      if (e.type === "message") got.add(new TextDecoder().decode(e.data));
    }
  })();
  const bridge = await startLocalBridge(gw.handle(), { "1": KEY1, "2": KEY2 });
  const real = new RawDevice({
    deviceId: 1,
    key: KEY1,
    gatewayPort: bridge.port,
  });
  let liveStop = false;
  const acked: string[] = [];
  try {
    await peer.handle().subscribe("device/1/live");
    await untilTopicPeer(gw, peer, "device/1/live");
    await real.connect();
    const gc = forceGc();
    gc?.();
    const heapBefore = Deno.memoryUsage().heapUsed;

    // The real device keeps publishing during the whole attack.
    const live = (async () => {
      let n = 0;
      while (!liveStop) {
        const k = `live:${n++}`;
        const code = await real.publish("device/1/live", te.encode(k));
        if (code === 0) acked.push(k);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    // ---- Part 1: a million random or mutated datagrams ----
    const templates: Uint8Array[] = [
      createHello(cryptoImpl, {
        deviceId: 1,
        key: KEY1,
        clientNonce: new Uint8Array(16).fill(3),
      }),
      createHello(cryptoImpl, {
        deviceId: 2,
        key: KEY2,
        clientNonce: new Uint8Array(16).fill(4),
        cookie: new Uint8Array(16).fill(5),
      }),
      encodeSearchGw(new Uint8Array(8).fill(6)),
      encodeCookie(new Uint8Array(16).fill(7)),
      encodeReject(2, real.sessionId),
    ];
    // Real sealed frames of the live session: replays and mutations of them.
    for (let i = 0; i < 20; i++) {
      templates.push(
        real.sendMessage({ type: "ping" })!,
        real.session!.sealMessage({
          type: "publish",
          msgId: 0,
          qos: 0,
          topic: "device/1/live",
          data: te.encode(`template:${i}`),
        }, new Uint8Array(1024)).slice(),
      );
    }
    const garbage = await flood({
      port: bridge.port,
      kind: "garbage",
      total: 1_000_000,
      sockets: 64,
      base: 10,
      seed: 4242,
      templates,
    });
    assert.equal(garbage.sent, 1_000_000);
    const duringGarbage = acked.length;

    // ---- Part 2: 100,000 spoofed Hellos from 500 source addresses ----
    // Random Hellos (known and unknown ids, random or zero cookies); every
    // tenth socket completes the cookie exchange (it can receive) with a
    // wrong key.
    const hellos = await flood({
      port: bridge.port,
      kind: "hellos",
      total: 100_000,
      sockets: 500,
      base: 20,
      seed: 7,
      wrongKey: KEY1,
      echoDevice: 2,
    });
    assert.equal(hellos.sent, 100_000);
    console.log(
      `1M datagrams sent in ${(garbage.ms / 1000).toFixed(1)} s ` +
        `(${garbage.answers} answers, largest ${garbage.largestAnswer} B); ` +
        `100k Hellos in ${(hellos.ms / 1000).toFixed(1)} s ` +
        `(${hellos.answers} answers, largest ${hellos.largestAnswer} B); ` +
        `live publishes acked during the floods: ${acked.length} ` +
        `(${duringGarbage} during the first)`,
    );
    // Never a larger answer than the question: Cookie 18 < Hello 60.
    assert.ok(hellos.largestAnswer <= 18);
    assert.ok(bridge.stats().notAuthorised >= 1, "cookie echoes refused");

    // The real device was served throughout, and still is.
    liveStop = true;
    await live;
    assert.ok(acked.length > 10, `live publishes acked: ${acked.length}`);
    assert.equal(await real.publish("device/1/live", te.encode("after")), 0);
    await until(() => acked.every((k) => got.has(k)) && got.has("after"));

    // A new real device can still join.
    const second = new RawDevice({
      deviceId: 2,
      key: KEY2,
      gatewayPort: bridge.port,
    });
    try {
      await second.connect();
      assert.equal(await second.publish("device/2/x", te.encode("hi")), 0);
    } finally {
      await second.close();
    }

    const st = bridge.stats();
    console.log(
      `gateway saw ${st.datagrams} datagrams; malformed ${st.malformed}, ` +
        `forged ${st.forged}, replayed ${st.replayed}, cookies ${st.cookies}, ` +
        `notAuthorised ${st.notAuthorised}, rateLimited ${st.rateLimited}`,
    );
    // Sessions: the real device once, the second device once. Nothing else.
    assert.equal(st.sessions, 2);
    assert.equal(st.internalErrors, 0);
    // The kernel drops part of a UDP flood when the machine is busy: the
    // gateway must have seen a large share of it, not a fixed figure.
    assert.ok(st.datagrams > 50_000, `datagrams seen ${st.datagrams}`);
    assert.ok(st.malformed > 10_000);
    assert.ok(st.forged > 100);
    assert.ok(st.replayed > 100);
    assert.ok(st.cookies > 1000);
    assert.ok(
      !got.has("template:0") || got.size > 0,
      "replayed templates may only be published once",
    );
    // Memory: every table stayed within its bound...
    const sizes = bridge.tableSizes();
    console.log("table sizes after the attack:", sizes);
    assert.ok(sizes.sessions <= 2);
    assert.ok(sizes.rateKeys <= 2 * 4096);
    assert.ok(sizes.pendingReplies <= 1024);
    // ...and so did the heap (after a forced full GC; ~2 MiB here).
    gc?.();
    const growth = Deno.memoryUsage().heapUsed - heapBefore;
    console.log(`heap growth ${(growth / 1048576).toFixed(1)} MiB`);
    const bound = (gc ? 16 : 256) * 1024 * 1024;
    assert.ok(growth < bound, `heap grew by ${growth} bytes`);
    // Whatever arrived, the answers were never larger than the question:
    // every answer to an attacker is a Cookie (18), Reject (7), GwInfo (16)
    // or nothing; checked by the protocol's sizes.
  } finally {
    liveStop = true;
    await real.close();
    await bridge.close();
    await ev.return?.();
    await peerLoop;
    await shutdownAll(peer, gw);
  }
});
