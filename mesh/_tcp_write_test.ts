import assert from "node:assert/strict";
import { Uint8ArrayList } from "uint8arraylist";
import {
  hasOneWrite,
  ONE_WRITE_MAX_BYTES,
  sendData,
  TCP_WRITE_WRITTEN_FOR,
} from "./_tcp_write.ts";
import { RUNTIME } from "./node.ts";
import { assertWrittenFor } from "../tests/support/written_for.ts";
import {
  pairOnTopic,
  publishAndAwaitLast,
  shutdownAll,
} from "../tests/support/mesh_fixture.ts";

Deno.test("tcp write: the adjustment was written for the installed @libp2p/tcp", async () => {
  await assertWrittenFor(TCP_WRITE_WRITTEN_FOR);
});

/** A socket that records its writes and answers `accept` in turn. */
function fakeSocket(accept: boolean[]) {
  const writes: number[][] = [];
  return {
    writes,
    socket: {
      write(buf: Uint8Array): boolean {
        writes.push([...buf]);
        return accept[writes.length - 1] ?? true;
      },
    },
  };
}

Deno.test("tcp write: a small list goes as one write, with the socket's answer", () => {
  for (const answer of [true, false]) {
    const f = fakeSocket([answer]);
    const list = new Uint8ArrayList(
      new Uint8Array([0, 3]),
      new Uint8Array([7, 8, 9]),
    );
    const r = sendData.call(f, list);
    assert.deepEqual(f.writes, [[0, 3, 7, 8, 9]]);
    assert.deepEqual(r, { sentBytes: 5, canSendMore: answer });
  }
});

Deno.test("tcp write: a large list goes buffer by buffer, stopping where the socket asks to wait (as the package's)", () => {
  const half = new Uint8Array(ONE_WRITE_MAX_BYTES / 2 + 1);
  const f = fakeSocket([true, false, true]);
  const r = sendData.call(f, new Uint8ArrayList(half, half, half));
  assert.equal(f.writes.length, 2);
  assert.deepEqual(r, { sentBytes: 2 * half.length, canSendMore: false });
  // a single buffer is written as it is
  const g = fakeSocket([]);
  sendData.call(g, new Uint8ArrayList(new Uint8Array([1, 2])));
  assert.deepEqual(g.writes, [[1, 2]]);
});

Deno.test("tcp write: between two real nodes, no Noise length goes to the socket alone", async () => {
  const TOPIC = "tcp-write/t";
  const [a, b] = await pairOnTopic(TOPIC);
  try {
    const [conn] = a[RUNTIME]().libp2p.getConnections();
    assert.ok(hasOneWrite(conn), "the TCP connection class is adjusted");
    const socket = (conn as unknown as {
      maConn: { socket: { write(b: Uint8Array): boolean } };
    }).maConn.socket;
    const sizes: number[] = [];
    const write = socket.write;
    socket.write = function (buf: Uint8Array) {
      sizes.push(buf.byteLength);
      return write.call(this, buf);
    };
    await publishAndAwaitLast(a, b, TOPIC);
    assert.ok(sizes.length >= 10, `${sizes.length} writes`);
    // the package wrote each frame's 2-byte length on its own
    assert.ok(!sizes.includes(2), `writes of ${sizes.join(", ")} bytes`);
  } finally {
    await shutdownAll(a, b);
  }
});
