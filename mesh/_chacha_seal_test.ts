import assert from "node:assert/strict";
import fc from "fast-check";
import { ChaCha20Poly1305, newInstance } from "@chainsafe/as-chacha20poly1305";
import {
  CHACHA_SEAL_WRITTEN_FOR,
  PACKAGE_SEAL,
  patchChachaSeal,
} from "./_chacha_seal.ts";
import { assertWrittenFor } from "../tests/support/written_for.ts";
import {
  pairOnTopic,
  publishAndAwaitLast,
  shutdownAll,
} from "../tests/support/mesh_fixture.ts";

Deno.test("chacha seal: the adjustment was written for the installed @chainsafe/as-chacha20poly1305", async () => {
  await assertWrittenFor(CHACHA_SEAL_WRITTEN_FOR);
});

type Cipher = {
  seal(
    key: Uint8Array,
    nonce: Uint8Array,
    plaintext: Uint8Array,
    ad?: Uint8Array,
    dst?: Uint8Array,
  ): Uint8Array;
  open(
    key: Uint8Array,
    nonce: Uint8Array,
    sealed: Uint8Array,
    ad?: Uint8Array,
  ): Uint8Array | null;
};

Deno.test("chacha seal: the same ciphertext as the package's, in a slab when the caller gives no destination (fast-check)", () => {
  patchChachaSeal();
  const cipher = new ChaCha20Poly1305(newInstance()) as unknown as Cipher;
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ minLength: 12, maxLength: 12 }),
      fc.uint8Array({ maxLength: 1300 }),
      fc.option(fc.uint8Array({ maxLength: 32 }), { nil: undefined }),
      (key, nonce, plaintext, ad) => {
        const theirs = PACKAGE_SEAL.call(cipher, key, nonce, plaintext, ad);
        const ours = cipher.seal(key, nonce, plaintext, ad);
        assert.deepEqual(ours, theirs);
        assert.deepEqual(cipher.open(key, nonce, ours, ad), plaintext);
      },
    ),
    { numRuns: 300 },
  );
  // two small ciphertexts share a backing store (the package's: one each)
  const key = new Uint8Array(32).fill(1);
  const nonce = new Uint8Array(12);
  const a = cipher.seal(key, nonce, new Uint8Array(100));
  const b = cipher.seal(key, nonce, new Uint8Array(100));
  assert.equal(a.buffer, b.buffer);
  // a destination given is used, as before
  const dst = new Uint8Array(116);
  assert.equal(
    cipher.seal(key, nonce, new Uint8Array(100), undefined, dst),
    dst,
  );
});

Deno.test("chacha seal: Noise in a running node encrypts through the adjusted class", async () => {
  const proto = ChaCha20Poly1305.prototype as unknown as {
    seal: (...a: unknown[]) => Uint8Array;
  };
  const adjusted = proto.seal;
  let calls = 0;
  proto.seal = function (this: unknown, ...a: unknown[]) {
    calls++;
    return adjusted.apply(this, a);
  };
  const [a, b] = await pairOnTopic("cs/topic");
  try {
    await publishAndAwaitLast(a, b, "cs/topic", 5);
    assert.ok(calls >= 5, `seal called ${calls} times`);
  } finally {
    proto.seal = adjusted;
    await shutdownAll(a, b);
  }
});
