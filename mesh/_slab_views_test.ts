import assert from "node:assert/strict";
import { generateKeyPair } from "@libp2p/crypto/keys";
import { peerIdFromPrivateKey } from "@libp2p/peer-id";
import { msgIdFn } from "./_msg_id.ts";
import { signedBytes } from "./_gossip_validate.ts";

Deno.test("slab: a message's id and its signed bytes are slab views, not a backing store each", async () => {
  const key = await generateKeyPair("Ed25519");
  const from = peerIdFromPrivateKey(key);
  const ids = [1n, 2n, 3n].map((seq) =>
    msgIdFn({ type: "signed", from, sequenceNumber: seq, key: key.publicKey })
  );
  assert.equal(new Set(ids.map((i) => i.buffer)).size, 1);
  const raw = {
    from: from.toMultihash().bytes,
    data: new Uint8Array(100),
    seqno: new Uint8Array(8),
    topic: "home/°C",
  };
  const a = signedBytes(raw);
  const b = signedBytes(raw);
  assert.equal(a.buffer, b.buffer);
  assert.deepEqual(a, b);
});
