import assert from "node:assert/strict";
import { ed25519 } from "@noble/curves/ed25519.js";
import { generateKeyPair, publicKeyFromRaw } from "@libp2p/crypto/keys";
import {
  cachedPublicKeys,
  ED25519_CACHE_WRITTEN_FOR,
  MAX_CACHED_PUBLIC_KEYS,
  patchEd25519KeyCache,
} from "./_ed25519_cache.ts";
import { assertWrittenFor } from "../tests/support/written_for.ts";

Deno.test("the Ed25519 key cache was written for the installed @libp2p/crypto", async () => {
  await assertWrittenFor(ED25519_CACHE_WRITTEN_FOR);
});

Deno.test("cached Ed25519 sign/verify agree with an independent implementation", async () => {
  await patchEd25519KeyCache();
  const key = await generateKeyPair("Ed25519");
  const msg = new TextEncoder().encode("libp2p-pubsub:hello");
  for (let i = 0; i < 3; i++) {
    const sig = await key.sign(msg);
    // Ed25519 is deterministic: the same as noble's signature
    assert.deepEqual(
      new Uint8Array(sig),
      ed25519.sign(msg, key.raw.subarray(0, 32)),
    );
    assert.equal(ed25519.verify(sig, msg, key.publicKey.raw), true);
    // a fresh public-key object each time, as GossipSub makes per message
    const pub = publicKeyFromRaw(key.publicKey.raw);
    assert.equal(await pub.verify(msg, sig), true);
    const bad = new Uint8Array(sig);
    bad[0] ^= 1;
    assert.equal(await pub.verify(msg, bad), false);
    assert.equal(await pub.verify(new Uint8Array([1, 2, 3]), sig), false);
  }
  assert.ok(cachedPublicKeys() >= 1, "the cached path ran");
  // a wrong-length signature still goes to the library (which refuses it)
  const pub = publicKeyFromRaw(key.publicKey.raw);
  let refused = false;
  try {
    refused = !(await pub.verify(msg, new Uint8Array(10)));
  } catch {
    refused = true;
  }
  assert.equal(refused, true);
});

Deno.test("the public-key cache is bounded", async () => {
  await patchEd25519KeyCache();
  const msg = new Uint8Array([1]);
  for (let i = 0; i < MAX_CACHED_PUBLIC_KEYS + 20; i++) {
    const k = await generateKeyPair("Ed25519");
    const sig = await k.sign(msg);
    assert.equal(
      await publicKeyFromRaw(k.publicKey.raw).verify(msg, sig),
      true,
    );
  }
  assert.ok(cachedPublicKeys() <= MAX_CACHED_PUBLIC_KEYS);
});
