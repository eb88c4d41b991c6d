// The ECMA-419 adapter against a stand-in for `embedded:io/socket/udp`
// (the same constructor/onReadable/read/write/close shape). The real
// class exists only on Moddable hosts.
import assert from "node:assert/strict";
import { createModdableUdpSocket } from "./moddable_udp.js";

type Packet = ArrayBuffer & { address: string; port: number };

class FakeUdp {
  static last: FakeUdp;
  options: { port?: number; onReadable: (this: FakeUdp, n: number) => void };
  queue: Packet[] = [];
  written: [ArrayBuffer, string, number][] = [];
  closed = false;
  constructor(options: FakeUdp["options"]) {
    this.options = options;
    FakeUdp.last = this;
  }
  read(): Packet | undefined {
    return this.queue.shift();
  }
  write(buffer: ArrayBuffer, address: string, port: number): void {
    this.written.push([buffer, address, port]);
  }
  close(): void {
    this.closed = true;
  }
  arrive(bytes: number[], address: string, port: number): void {
    const p = new Uint8Array(bytes).buffer as Packet;
    p.address = address;
    p.port = port;
    this.queue.push(p);
    this.options.onReadable.call(this, this.queue.length);
  }
}

Deno.test("createModdableUdpSocket() maps write/onReadable/read/close of ECMA-419 UDP", () => {
  const sock = createModdableUdpSocket({ UDP: FakeUdp, port: 5000 });
  const udp = FakeUdp.last;
  assert.equal(udp.options.port, 5000);
  const got: [number[], string, number][] = [];
  sock.setReceiver((d, a, p) => got.push([[...d], a, p]));
  udp.arrive([1, 2], "10.0.0.1", 8888);
  udp.arrive([3], "10.0.0.1", 8888);
  assert.deepStrictEqual(got, [[[1, 2], "10.0.0.1", 8888], [
    [3],
    "10.0.0.1",
    8888,
  ]]);
  const buf = new Uint8Array([7, 8, 9]);
  sock.send(buf.subarray(1), "10.0.0.1", 8888);
  buf.fill(0);
  const [ab, addr, port] = udp.written[0];
  assert.deepStrictEqual(new Uint8Array(ab), new Uint8Array([8, 9]));
  assert.deepStrictEqual([addr, port], ["10.0.0.1", 8888]);
  sock.close();
  assert.equal(udp.closed, true);
  sock.send(new Uint8Array([1]), "10.0.0.1", 8888);
  assert.equal(udp.written.length, 1, "no write after close");
});

Deno.test("createModdableUdpSocket() explains what is missing off a Moddable host", () => {
  assert.throws(() => createModdableUdpSocket(), /embedded:io\/socket\/udp/);
});
