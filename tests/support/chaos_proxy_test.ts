import assert from "node:assert/strict";
import {
  ChaosProxy,
  type ChaosProxyOptions,
  mulberry32,
} from "./chaos_proxy.ts";

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}
function readU32(b: Uint8Array): number {
  return new DataView(b.buffer, b.byteOffset, 4).getUint32(0);
}

/**
 * Echo server + one client; sends `n` numbered datagrams through a proxy,
 * each once the proxy has dealt with the one before, so that no socket
 * buffer can overflow and every loss, copy and reordering is the proxy's.
 */
async function run(
  opts: Omit<ChaosProxyOptions, "target">,
  n: number,
): Promise<{ atServer: number[]; atClient: number[]; proxy: ChaosProxy }> {
  const server = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const serverPort = (server.addr as Deno.NetAddr).port;
  const atServer: number[] = [];
  const serverLoop = (async () => {
    try {
      for await (const [d, from] of server) {
        atServer.push(readU32(d));
        await server.send(d, from);
      }
    } catch { /* closed */ }
  })();
  const proxy = await ChaosProxy.start({
    ...opts,
    target: { hostname: "127.0.0.1", port: serverPort },
  });
  const client = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const atClient: number[] = [];
  const clientLoop = (async () => {
    try {
      for await (const [d] of client) atClient.push(readU32(d));
    } catch { /* closed */ }
  })();
  const to: Deno.NetAddr = {
    transport: "udp",
    hostname: "127.0.0.1",
    port: proxy.port,
  };
  for (let i = 0; i < n; i++) {
    await client.send(u32(i), to);
    const s = proxy.stats.up;
    const until = Date.now() + 2000;
    while (s.dropped + s.forwarded <= i && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 0));
    }
  }
  // Wait until everything that will arrive has arrived.
  const deadline = Date.now() + 10_000;
  let last = -1;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    const s = proxy.stats;
    const settled = s.up.forwarded === atServer.length &&
      s.down.forwarded === atClient.length && s.up.received === n;
    if (settled && last === atClient.length) break;
    last = atClient.length;
  }
  await proxy.close();
  client.close();
  server.close();
  await clientLoop;
  await serverLoop;
  return { atServer, atClient, proxy };
}

Deno.test("mulberry32() is deterministic per seed and spreads over [0,1)", () => {
  const a = mulberry32(42), b = mulberry32(42), c = mulberry32(43);
  const xs = Array.from({ length: 1000 }, () => a());
  const ys = Array.from({ length: 1000 }, () => b());
  assert.deepEqual(xs, ys);
  assert.notEqual(xs[0], c());
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(mean > 0.4 && mean < 0.6);
});

Deno.test("ChaosProxy passes everything through, in order, when clean", async () => {
  const { atServer, atClient, proxy } = await run({ seed: 1 }, 300);
  assert.deepEqual(atServer, [...Array(300).keys()]);
  assert.deepEqual(atClient, [...Array(300).keys()]);
  assert.equal(proxy.stats.up.dropped, 0);
});

Deno.test("ChaosProxy drops about the configured share and counts it", async () => {
  const { atServer, proxy } = await run({ seed: 7, up: { loss: 0.3 } }, 1000);
  const s = proxy.stats.up;
  assert.equal(s.received, 1000);
  assert.equal(s.dropped + s.forwarded, 1000);
  assert.equal(atServer.length, s.forwarded);
  assert.ok(s.dropped > 200 && s.dropped < 400, `dropped ${s.dropped}`);
});

Deno.test("ChaosProxy drop decisions repeat with the same seed", async () => {
  const a = await run({ seed: 99, up: { loss: 0.2 } }, 400);
  const b = await run({ seed: 99, up: { loss: 0.2 } }, 400);
  assert.deepEqual(a.atServer, b.atServer);
  const c = await run({ seed: 100, up: { loss: 0.2 } }, 400);
  assert.notDeepEqual(a.atServer, c.atServer);
});

Deno.test("ChaosProxy duplicates and reorders downstream", async () => {
  const { atServer, atClient, proxy } = await run({
    seed: 3,
    down: { duplicate: 0.1, reorder: 0.3 },
  }, 500);
  assert.equal(atServer.length, 500);
  const s = proxy.stats.down;
  assert.ok(s.duplicated > 20, `duplicated ${s.duplicated}`);
  assert.ok(s.reordered > 50, `reordered ${s.reordered}`);
  assert.equal(atClient.length, 500 + s.duplicated);
  assert.deepEqual(new Set(atClient).size, 500);
  let inversions = 0;
  for (let i = 1; i < atClient.length; i++) {
    if (atClient[i] < atClient[i - 1]) inversions++;
  }
  assert.ok(inversions > 20, `inversions ${inversions}`);
});

Deno.test("ChaosProxy delays datagrams and still delivers all", async () => {
  const { atClient, proxy } = await run({
    seed: 5,
    up: { delayMs: 5, jitterMs: 10 },
  }, 100);
  assert.equal(atClient.length, 100);
  assert.equal(proxy.stats.up.dropped, 0);
});
