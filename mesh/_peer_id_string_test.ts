import assert from "node:assert/strict";
import fc from "fast-check";
import { generateKeyPair } from "@libp2p/crypto/keys";
import type { PeerId } from "@libp2p/interface";
import {
  peerIdFromMultihash,
  peerIdFromPrivateKey,
  peerIdFromString,
} from "@libp2p/peer-id";
import {
  cachedPeerIdStrings,
  MAX_CACHED_PEER_ID_STRINGS,
  patchPeerIdString,
  PEER_ID_STRING_WRITTEN_FOR,
  peerIdToString,
} from "./_peer_id_string.ts";
import { assertWrittenFor } from "../tests/support/written_for.ts";
import { AviP2p, RUNTIME } from "./node.ts";

/** A fresh PeerId of the same bytes, as GossipSub makes one per message. */
const fresh = (id: { toMultihash(): { bytes: Uint8Array } }) =>
  peerIdFromMultihash(
    peerIdFromString(id.toString()).toMultihash(),
  );

Deno.test("peer id string: the adjustment was written for the installed @libp2p/peer-id", async () => {
  await assertWrittenFor(PEER_ID_STRING_WRITTEN_FOR);
});

Deno.test("peer id string: a running node's peer ids use it; the string is computed once per peer, not once per PeerId object", async () => {
  const node = await AviP2p.start({
    listenHost: "127.0.0.1",
    dataDir: null,
    enableMdns: false,
    enableKad: false,
    onWarning: () => {},
  });
  try {
    const self = node[RUNTIME]().libp2p.peerId;
    assert.equal(self.toString, peerIdToString);
    patchPeerIdString(); // idempotent
    assert.equal(self.toString, peerIdToString);
    const key = await generateKeyPair("Ed25519");
    const id = peerIdFromPrivateKey(key);
    const before = cachedPeerIdStrings();
    const want = id.toString();
    for (let i = 0; i < 5; i++) {
      const f = peerIdFromMultihash(id.toMultihash());
      assert.equal(f.toString(), want);
    }
    assert.equal(cachedPeerIdStrings(), before + 1);
  } finally {
    await node.shutdown();
  }
});

/** base58btc (Bitcoin alphabet), written independently of the package. */
function base58(bytes: Uint8Array): string {
  const A = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
  let n = 0n;
  for (const b of bytes) n = n * 256n + BigInt(b);
  let out = "";
  while (n > 0n) {
    out = A[Number(n % 58n)] + out;
    n /= 58n;
  }
  for (const b of bytes) {
    if (b !== 0) break;
    out = "1" + out;
  }
  return out;
}

Deno.test("peer id string: patched, it gives the base58btc of the multihash (fast-check, Ed25519 and secp256k1 ids)", async () => {
  patchPeerIdString();
  const ids: PeerId[] = [];
  for (let i = 0; i < 8; i++) {
    ids.push(peerIdFromPrivateKey(await generateKeyPair("Ed25519")));
    ids.push(peerIdFromPrivateKey(await generateKeyPair("secp256k1")));
  }
  fc.assert(
    fc.property(fc.integer({ min: 0, max: ids.length - 1 }), (i) => {
      const bytes = ids[i].toMultihash().bytes;
      const s = fresh(ids[i]).toString();
      assert.equal(s, base58(bytes));
      assert.deepEqual(peerIdFromString(s).toMultihash().bytes, bytes);
    }),
    { numRuns: 200 },
  );
});

Deno.test("peer id string: the cache is bounded", async () => {
  patchPeerIdString();
  for (let i = 0; i < MAX_CACHED_PEER_ID_STRINGS + 20; i++) {
    const id = peerIdFromPrivateKey(await generateKeyPair("Ed25519"));
    fresh(id).toString();
  }
  assert.ok(cachedPeerIdStrings() <= MAX_CACHED_PEER_ID_STRINGS);
});
