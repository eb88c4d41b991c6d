import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decodeF64Reply,
  decodeRecv,
  decodeRecvReply,
  decodeSend,
  encodeF64Reply,
  encodeRecv,
  encodeRecvReply,
  encodeSend,
  MAX_WAIT_MS,
  utf8Encode,
  XS_BAD_REQUEST,
  XS_EMPTY,
} from "./xs_commands.ts";

const hostArb = fc.stringMatching(/^[a-z0-9.:]{1,40}$/);

Deno.test("encodeSend()/decodeSend() round-trip any address and payload", () => {
  fc.assert(
    fc.property(
      hostArb,
      fc.integer({ min: 0, max: 65535 }),
      fc.uint8Array({ maxLength: 2000 }),
      (host, port, payload) => {
        const d = decodeSend(encodeSend(host, port, payload));
        assert.equal(d.host, host);
        assert.equal(d.port, port);
        assert.deepEqual(d.payload, payload);
      },
    ),
  );
});

Deno.test("encodeRecvReply()/decodeRecvReply() round-trip; XS_EMPTY means none", () => {
  fc.assert(
    fc.property(
      hostArb,
      fc.integer({ min: 0, max: 65535 }),
      fc.uint8Array({ maxLength: 2000 }),
      (host, port, payload) => {
        const d = decodeRecvReply(encodeRecvReply({ host, port, payload }));
        assert.deepEqual(d, { host, port, payload });
      },
    ),
  );
  assert.equal(decodeRecvReply(new Uint8Array([XS_EMPTY])), undefined);
  assert.throws(
    () => decodeRecvReply(new Uint8Array([XS_BAD_REQUEST])),
    RangeError,
  );
  assert.throws(() => decodeRecvReply(new Uint8Array([])), RangeError);
});

Deno.test("encodeRecv() clamps the wait to 0..MAX_WAIT_MS", () => {
  assert.equal(decodeRecv(encodeRecv(-5)), 0);
  assert.equal(decodeRecv(encodeRecv(12.7)), 12);
  assert.equal(decodeRecv(encodeRecv(1e9)), MAX_WAIT_MS);
  assert.equal(
    decodeRecv(new Uint8Array([2, 255, 255, 255, 255])),
    MAX_WAIT_MS,
  );
  assert.throws(() => decodeRecv(new Uint8Array([2, 0])), RangeError);
});

Deno.test("decodeSend() rejects truncated requests with RangeError", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
      try {
        decodeSend(b);
      } catch (e) {
        assert.ok(e instanceof RangeError);
      }
    }),
  );
  assert.throws(() => decodeSend(new Uint8Array([1, 0, 1, 5, 65])), RangeError);
  assert.throws(() => encodeSend("", 1, new Uint8Array()), RangeError);
  assert.throws(() => encodeSend("h", 70000, new Uint8Array()), RangeError);
  assert.throws(() => encodeSend("h", 1, new Uint8Array(65508)), RangeError);
});

Deno.test("encodeF64Reply()/decodeF64Reply() round-trip doubles", () => {
  fc.assert(
    fc.property(fc.double({ noNaN: true }), (v) => {
      assert.equal(decodeF64Reply(encodeF64Reply(v)), v);
    }),
  );
});

Deno.test("utf8Encode() matches TextEncoder for every string", () => {
  const te = new TextEncoder();
  fc.assert(
    fc.property(fc.string({ unit: "binary" }), (s) => {
      assert.deepEqual(utf8Encode(s), te.encode(s));
    }),
  );
  assert.deepEqual(utf8Encode("\ud800x"), te.encode("\ud800x"));
});
