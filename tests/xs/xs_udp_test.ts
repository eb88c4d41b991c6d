import assert from "node:assert/strict";
import { bundleForXs, XsHost } from "./xs_host.ts";

const ENTRY = new URL("./xs_udp_echo_entry.ts", import.meta.url);

/** A real Deno UDP echo server on 127.0.0.1. */
function echoServer() {
  const conn = Deno.listenDatagram({
    hostname: "127.0.0.1",
    port: 0,
    transport: "udp",
  });
  const seen: number[][] = [];
  const loop = (async () => {
    try {
      for (;;) {
        const [data, addr] = await conn.receive();
        seen.push(Array.from(data));
        const reply = data.map((b) => b ^ 0xff);
        await conn.send(reply, addr);
      }
    } catch { /* closed */ }
  })();
  return {
    port: (conn.addr as Deno.NetAddr).port,
    seen,
    async close() {
      conn.close();
      await loop;
    },
  };
}

Deno.test("XsHost carries datagrams between XS and a real Deno UDP socket", async () => {
  const server = echoServer();
  const host = await XsHost.start({ name: "xs-udp-echo" });
  try {
    await host.load(ENTRY);
    for (
      const bytes of [
        [1, 2, 3],
        [],
        Array.from({ length: 1200 }, (_, i) => i & 0xff),
      ]
    ) {
      const got = await host.call<
        { host: string; port: number; bytes: number[] }
      >(
        "echo",
        ["127.0.0.1", server.port, bytes],
      );
      assert.equal(got.host, "127.0.0.1");
      assert.equal(got.port, server.port);
      assert.deepEqual(got.bytes, bytes.map((b) => b ^ 0xff));
    }
    assert.equal(server.seen.length, 3);
    assert.deepEqual(server.seen[0], [1, 2, 3]);
    assert.equal(host.stats.sent, 3);
    assert.equal(host.stats.received, 3);
    assert.deepEqual(host.xsErrors, []);
  } finally {
    await host.close();
    await server.close();
  }
});

Deno.test("XsHost runs XS without TextEncoder, with host timers, random bytes and logs", async () => {
  const host = await XsHost.start({ name: "xs-env" });
  try {
    await host.load(ENTRY);
    const env = await host.call<{
      textEncoder: string;
      textDecoder: string;
      localPort: number;
      random: number[];
    }>("environment");
    assert.equal(env.textEncoder, "undefined");
    assert.equal(env.textDecoder, "undefined");
    assert.equal(env.localPort, host.port);
    assert.equal(env.random.length, 16);
    assert.ok(env.random.some((b) => b !== 0));
    const slept = await host.call<number>("sleep", [60]);
    assert.ok(slept >= 60, `timer fired early after ${slept} ms`);
    await host.call("log", ["héllo ✓ 😀"]);
    assert.equal(host.logs.at(-1), "héllo ✓ 😀");
  } finally {
    await host.close();
  }
});

Deno.test("XsHost reports an error thrown by an XS timer without stopping the loop", async () => {
  const host = await XsHost.start({ name: "xs-errors" });
  try {
    await host.load(ENTRY);
    await host.call("throwInTimer");
    await host.runUntil(() => host.xsErrors.length > 0, {
      what: "the timer error",
    });
    assert.match(host.xsErrors[0], /boom in timer/);
    assert.match(host.logs.at(-1) ?? "", /^E timer: Error: boom in timer/);
    assert.equal(await host.call("received"), 0);
  } finally {
    await host.close();
  }
});

Deno.test("XsHost.call rejects with the XS error for an unknown export", async () => {
  const host = await XsHost.start({ name: "xs-unknown" });
  try {
    await host.load(ENTRY);
    await assert.rejects(host.call("nope"), {
      name: "TypeError",
      message: /No export nope/,
    });
  } finally {
    await host.close();
  }
});

Deno.test("bundleForXs produces one classic script", async () => {
  const src = await bundleForXs(ENTRY);
  assert.ok(!/^\s*(import|export)\s/m.test(src));
  assert.ok(src.includes("__xsStep"));
});
