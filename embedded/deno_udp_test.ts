import assert from "node:assert/strict";
import { createDenoUdpSocket, denoCrypto } from "./deno_udp.ts";

Deno.test("createDenoUdpSocket() says to use --unstable-net when Deno.listenDatagram is missing", async () => {
  const d = Deno as unknown as { listenDatagram?: unknown };
  const saved = Object.getOwnPropertyDescriptor(d, "listenDatagram");
  Object.defineProperty(d, "listenDatagram", {
    value: undefined,
    configurable: true,
    writable: true,
  });
  try {
    await assert.rejects(() => createDenoUdpSocket(), /--unstable-net/);
  } finally {
    if (saved) Object.defineProperty(d, "listenDatagram", saved);
  }
});

Deno.test("createDenoUdpSocket() sends and receives real datagrams on 127.0.0.1", async () => {
  const a = await createDenoUdpSocket({ hostname: "127.0.0.1" });
  const b = await createDenoUdpSocket({ hostname: "127.0.0.1" });
  try {
    const got = new Promise<[Uint8Array, string, number]>((resolve) =>
      b.setReceiver((data, address, port) =>
        resolve([data.slice(), address, port])
      )
    );
    const buf = new Uint8Array([1, 2, 3]);
    a.send(buf, "127.0.0.1", b.localPort);
    buf.fill(9); // the socket copied the bytes before returning
    const [data, address, port] = await got;
    assert.deepStrictEqual(data, new Uint8Array([1, 2, 3]));
    assert.equal(address, "127.0.0.1");
    assert.equal(port, a.localPort);
  } finally {
    a.close();
    b.close();
    await a.closed;
    await b.closed;
  }
});

Deno.test("denoCrypto() fills random bytes and round trips a seal", () => {
  const c = denoCrypto();
  const r = new Uint8Array(32);
  c.randomBytes(r);
  assert.ok(r.some((x) => x !== 0));
  const sealed = c.seal(
    r,
    new Uint8Array(12),
    new Uint8Array(0),
    new Uint8Array([5]),
  );
  assert.deepStrictEqual(
    c.open(r, new Uint8Array(12), new Uint8Array(0), sealed),
    new Uint8Array([5]),
  );
  sealed[0] ^= 1;
  assert.equal(c.open(r, new Uint8Array(12), new Uint8Array(0), sealed), null);
});
