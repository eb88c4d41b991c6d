import assert from "node:assert/strict";
import fc from "fast-check";
import { generateKeyPair, publicKeyToProtobuf } from "@libp2p/crypto/keys";
import type { PrivateKey } from "@libp2p/interface";
import { peerIdFromPrivateKey } from "@libp2p/peer-id";
import { RPC } from "@libp2p/gossipsub/message";
import {
  checkSigned,
  GOSSIP_VALIDATE_WRITTEN_FOR,
  isOrdinary,
  knownAuthors,
  MAX_AUTHORS,
  patchGossipValidate,
  type RawMessage,
  signedBytes,
} from "./_gossip_validate.ts";
import { patchEd25519KeyCache } from "./_ed25519_cache.ts";
import { assertWrittenFor } from "../tests/support/written_for.ts";
import { RUNTIME } from "./node.ts";
import { startNode } from "../tests/support/mesh_fixture.ts";

const PREFIX = new TextEncoder().encode("libp2p-pubsub:");

/** The package's own check (not exported by its entry point). */
async function packageCheck(): Promise<
  (policy: string, msg: RawMessage) => Promise<
    { valid: boolean; error?: string; message?: Record<string, unknown> }
  >
> {
  const base = import.meta.resolve("@libp2p/gossipsub");
  const m = await import(new URL("utils/buildRawMessage.js", base).href);
  return m.validateToRawMessage;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** A message signed by `key` as GossipSub signs it. */
async function signed(
  key: PrivateKey,
  fields: { data?: Uint8Array; seqno: Uint8Array; topic: string },
): Promise<RawMessage> {
  const msg: RawMessage = {
    from: peerIdFromPrivateKey(key).toMultihash().bytes,
    ...fields,
  };
  const sig = await key.sign(concat(PREFIX, RPC.Message.encode(msg)));
  return { ...msg, signature: sig, key: publicKeyToProtobuf(key.publicKey) };
}

Deno.test("gossip validate: the adjustment was written for the installed @libp2p/gossipsub", async () => {
  await assertWrittenFor(GOSSIP_VALIDATE_WRITTEN_FOR);
});

Deno.test("gossip validate: the signed bytes are the package's protobuf, byte for byte", () => {
  fc.assert(
    fc.property(
      fc.option(fc.uint8Array({ maxLength: 40 })),
      fc.option(fc.uint8Array({ maxLength: 300 })),
      fc.option(fc.uint8Array({ minLength: 8, maxLength: 8 })),
      fc.string({ unit: "binary", maxLength: 200 }),
      (from, data, seqno, topic) => {
        const msg: RawMessage = {
          from: from ?? undefined,
          data: data ?? undefined,
          seqno: seqno ?? undefined,
          topic,
        };
        assert.deepEqual(
          signedBytes(msg),
          concat(PREFIX, RPC.Message.encode(msg)),
        );
      },
    ),
    { numRuns: 2000 },
  );
});

Deno.test("gossip validate: the same verdicts as the package on valid, forged and malformed messages, first and cached", async () => {
  await patchEd25519KeyCache();
  const original = await packageCheck();
  const keys = [
    await generateKeyPair("Ed25519"),
    await generateKeyPair("Ed25519"),
    await generateKeyPair("secp256k1"),
  ];
  const seq = (n: number) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(n) * 0x1_0000_0001n);
    return b;
  };
  const te = new TextEncoder();
  const cases: [string, RawMessage][] = [];
  for (const [i, k] of keys.entries()) {
    const base = await signed(k, {
      data: te.encode(`hello ${i}`),
      seqno: seq(i + 1),
      topic: "home/lights",
    });
    const other = keys[(i + 1) % keys.length];
    const flip = (b: Uint8Array, at: number) => {
      const c = b.slice();
      c[at % c.length] ^= 1;
      return c;
    };
    cases.push(
      [`valid ${i}`, base],
      [
        `valid, empty topic ${i}`,
        await signed(k, { data: te.encode("x"), seqno: seq(7), topic: "" }),
      ],
      [
        `valid, no data ${i}`,
        await signed(k, { seqno: seq(8), topic: "t" }),
      ],
      [
        `valid, empty data ${i}`,
        await signed(k, { data: new Uint8Array(0), seqno: seq(9), topic: "t" }),
      ],
      [`signature flipped ${i}`, {
        ...base,
        signature: flip(base.signature!, 5),
      }],
      [`data changed ${i}`, { ...base, data: te.encode(`hellO ${i}`) }],
      [`topic changed ${i}`, { ...base, topic: "home/locks" }],
      [`seqno changed ${i}`, { ...base, seqno: seq(99) }],
      [`another author's key ${i}`, {
        ...base,
        key: publicKeyToProtobuf(other.publicKey),
      }],
      [`another author's from ${i}`, {
        ...base,
        from: peerIdFromPrivateKey(other).toMultihash().bytes,
      }],
      [`garbage key ${i}`, { ...base, key: new Uint8Array([8, 1, 18, 3, 1]) }],
      [`garbage from ${i}`, { ...base, from: new Uint8Array([0, 40, 1]) }],
      [`truncated signature ${i}`, {
        ...base,
        signature: base.signature!.subarray(0, 10),
      }],
    );
  }
  // twice each: the first check of an author, then the kept one
  for (let round = 0; round < 2; round++) {
    for (const [name, msg] of cases) {
      assert.ok(isOrdinary(msg), name);
      const want = await original("StrictSign", msg);
      const got = await checkSigned(msg);
      assert.equal(got.valid, want.valid, `${name}: valid`);
      if (!got.valid) {
        assert.equal(got.error, want.error, `${name}: error`);
        continue;
      }
      const w = want.message as Record<string, { toString(): string }>;
      const g = got.message;
      assert.equal(g.from.toString(), w.from.toString(), name);
      assert.deepEqual(g.data, w.data, name);
      assert.equal(g.sequenceNumber, w.sequenceNumber, name);
      assert.equal(g.topic, w.topic, name);
      assert.deepEqual(g.signature, w.signature, name);
      assert.ok(g.key.equals(w.key as never), name);
    }
  }
  // what it does not take goes to the package
  const base = cases[0][1];
  assert.equal(isOrdinary({ ...base, key: undefined }), false);
  assert.equal(isOrdinary({ ...base, seqno: new Uint8Array(7) }), false);
  assert.equal(isOrdinary({ ...base, signature: undefined }), false);
  assert.equal(isOrdinary({ ...base, from: undefined }), false);
});

Deno.test("gossip validate: at most MAX_AUTHORS authors are kept", async () => {
  for (let i = 0; i < MAX_AUTHORS + 8; i++) {
    const k = await generateKeyPair("Ed25519");
    const msg = await signed(k, { seqno: new Uint8Array(8), topic: "t" });
    assert.equal((await checkSigned(msg)).valid, true);
  }
  assert.ok(knownAuthors() <= MAX_AUTHORS, `${knownAuthors()} kept`);
});

Deno.test("gossip validate: a running node's GossipSub checks messages with it", async () => {
  const node = await startNode({ enableKad: false });
  try {
    const pubsub = node[RUNTIME]().libp2p.services.pubsub as object;
    const proto = Object.getPrototypeOf(pubsub) as {
      validateReceivedMessage: unknown;
    };
    const fn = proto.validateReceivedMessage;
    patchGossipValidate(pubsub); // idempotent
    assert.equal(proto.validateReceivedMessage, fn);
    // the installed method takes an ordinary message through checkSigned:
    // a valid one by an unknown author leaves that author known
    const before = knownAuthors();
    const k = await generateKeyPair("Ed25519");
    const msg = await signed(k, { seqno: new Uint8Array(8), topic: "x/y" });
    const r = await (fn as (
      this: object,
      s: unknown,
      m: RawMessage,
    ) => Promise<{ code: string }>).call(
      pubsub,
      peerIdFromPrivateKey(k),
      msg,
    );
    assert.equal(r.code, "valid");
    assert.equal(knownAuthors(), Math.min(before + 1, MAX_AUTHORS));
  } finally {
    await node.shutdown();
  }
});
