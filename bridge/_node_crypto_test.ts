import assert from "node:assert/strict";
import fc from "fast-check";
import { nobleCrypto } from "../protocol/mod.ts";
import { nodeProtocolCrypto } from "./_node_crypto.ts";

const noble = nobleCrypto({ random: (b) => crypto.getRandomValues(b) });
const node = nodeProtocolCrypto();
const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });

Deno.test("nodeProtocolCrypto() seals and opens exactly as nobleCrypto does", () => {
  fc.assert(fc.property(
    bytes(32),
    bytes(12),
    fc.uint8Array({ maxLength: 20 }),
    fc.uint8Array({ maxLength: 300 }),
    (key, nonce, aad, pt) => {
      const a = noble.seal(key, nonce, aad, pt);
      const b = node.seal(key, nonce, aad, pt);
      assert.deepEqual(b, a);
      assert.deepEqual(node.open(key, nonce, aad, a), pt);
      assert.deepEqual(noble.open(key, nonce, aad, b), pt);
      if (a.length > 0) {
        const bad = a.slice();
        bad[0] ^= 1;
        assert.equal(node.open(key, nonce, aad, bad), null);
      }
    },
  ));
});

Deno.test("nodeProtocolCrypto() seals and opens in place like the session does", () => {
  const key = new Uint8Array(32).fill(3), nonce = new Uint8Array(12);
  const buf = new Uint8Array(64);
  buf.set([1, 2, 3, 4, 5], 10);
  const expect = noble.seal(
    key,
    nonce,
    buf.subarray(0, 10),
    buf.subarray(10, 15),
  );
  node.seal(
    key,
    nonce,
    buf.subarray(0, 10),
    buf.subarray(10, 15),
    buf.subarray(10, 31),
  );
  assert.deepEqual(buf.subarray(10, 31), expect);
  const pt = node.open(
    key,
    nonce,
    buf.subarray(0, 10),
    buf.subarray(10, 31),
    buf.subarray(10, 15),
  );
  assert.deepEqual(pt, new Uint8Array([1, 2, 3, 4, 5]));
});

Deno.test("nodeProtocolCrypto() HMAC and HKDF match nobleCrypto", () => {
  fc.assert(
    fc.property(bytes(32), fc.uint8Array({ maxLength: 100 }), (k, d) => {
      assert.deepEqual(node.hmacSha256(k, d), noble.hmacSha256(k, d));
      assert.deepEqual(
        node.hkdfSha256(k, d, new Uint8Array([1, 2]), 64),
        noble.hkdfSha256(k, d, new Uint8Array([1, 2]), 64),
      );
    }),
  );
});
