import assert from "node:assert/strict";
import fc from "fast-check";
import { generateKeyPair } from "@libp2p/crypto/keys";
import { peerIdFromPrivateKey } from "@libp2p/peer-id";
import type { PublicKey } from "@libp2p/interface";
import { fastMsgId, msgIdFn, msgIdToStr } from "./_msg_id.ts";
import { RUNTIME } from "./node.ts";
import type { AviP2p } from "./node.ts";
import { houseOfThree, shutdownAll } from "../tests/support/mesh_fixture.ts";

/** The package's own functions (not exported by its entry point). */
async function packageIds(): Promise<{
  msgIdFnStrictSign: (msg: unknown) => Uint8Array;
  messageIdToString: (id: Uint8Array) => string;
}> {
  const base = import.meta.resolve("@libp2p/gossipsub");
  const a = await import(new URL("utils/msgIdFn.js", base).href);
  const b = await import(new URL("utils/messageIdToString.js", base).href);
  return {
    msgIdFnStrictSign: a.msgIdFnStrictSign,
    messageIdToString: b.messageIdToString,
  };
}

Deno.test("msg id: byte for byte the package's StrictSign id, for Ed25519 and other keys", async () => {
  const { msgIdFnStrictSign } = await packageIds();
  const keys: { from: { publicKey?: PublicKey }; key: PublicKey }[] = [];
  for (const type of ["Ed25519", "Ed25519", "secp256k1"] as const) {
    const priv = await generateKeyPair(type);
    keys.push({ from: peerIdFromPrivateKey(priv), key: priv.publicKey });
  }
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: keys.length - 1 }),
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      (k, seqno) => {
        const msg = { type: "signed", ...keys[k], sequenceNumber: seqno };
        assert.deepEqual(msgIdFn(msg), msgIdFnStrictSign(msg));
      },
    ),
    { numRuns: 500 },
  );
  // the edges of the sequence number
  for (const seqno of [0n, 1n, 255n, 256n, (1n << 64n) - 1n]) {
    const msg = { type: "signed", ...keys[0], sequenceNumber: seqno };
    assert.deepEqual(msgIdFn(msg), msgIdFnStrictSign(msg));
  }
  assert.throws(() => msgIdFn({ type: "unsigned" }), /signed/);
  assert.throws(() => msgIdFn({ type: "signed", ...keys[0] }), /seqno/);
});

Deno.test("msg id: the string is the package's (unpadded base64) for every length", async () => {
  const { messageIdToString } = await packageIds();
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 80 }), (b) => {
      assert.equal(msgIdToStr(b), messageIdToString(b));
      // a view into a larger buffer encodes only its own bytes
      const big = new Uint8Array(b.length + 7);
      big.set(b, 3);
      assert.equal(msgIdToStr(big.subarray(3, 3 + b.length)), msgIdToStr(b));
    }),
    { numRuns: 1000 },
  );
});

Deno.test("msg id: the fast id tells messages apart by author and number, and never names a malformed one", () => {
  const from = new Uint8Array(38).fill(7);
  const other = new Uint8Array(38).fill(7);
  other[37] = 8;
  const seq = (n: number) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setUint32(4, n);
    return b;
  };
  const a = fastMsgId({ from, seqno: seq(1) });
  assert.equal(fastMsgId({ from: from.slice(), seqno: seq(1) }), a);
  assert.notEqual(fastMsgId({ from, seqno: seq(2) }), a);
  assert.notEqual(fastMsgId({ from: other, seqno: seq(1) }), a);
  assert.notEqual(a, "");
  assert.equal(fastMsgId({ from }), "");
  assert.equal(fastMsgId({ seqno: seq(1) }), "");
  assert.equal(fastMsgId({ from, seqno: new Uint8Array(7) }), "");
});

interface PubSubInternals {
  handleReceivedMessage(from: unknown, msg: { topic: string }): Promise<void>;
}

function pubsubOf(node: AviP2p): PubSubInternals {
  return node[RUNTIME]().libp2p.services.pubsub as unknown as PubSubInternals;
}

Deno.test("msg id: in a house of three, a relayed copy is recognised without checking its signature again", async () => {
  const TOPIC = "msgid/dups";
  const N = 20;
  // one counter for the process: every node's Ed25519 verify
  const proto = Object.getPrototypeOf(
    (await generateKeyPair("Ed25519")).publicKey,
  ) as { verify: (...a: unknown[]) => unknown };
  let a: AviP2p | undefined, b: AviP2p | undefined, c: AviP2p | undefined;
  const original = proto.verify;
  let verifies = 0;
  try {
    // each relays what it receives from one to the other
    [a, b, c] = await houseOfThree(TOPIC);
    // copies of the topic's messages each node receives, duplicates included
    const copies = new Map<AviP2p, number>();
    for (const n of [b, c]) {
      const ps = pubsubOf(n);
      const handle = ps.handleReceivedMessage.bind(ps);
      copies.set(n, 0);
      ps.handleReceivedMessage = (from, msg) => {
        if (msg.topic === TOPIC) copies.set(n, copies.get(n)! + 1);
        return handle(from, msg);
      };
    }
    const bEvents = b.events()[Symbol.asyncIterator]();
    const cEvents = c.events()[Symbol.asyncIterator]();
    const received = async (
      it: AsyncIterator<{ type: string; data?: Uint8Array }>,
      want: (d: Uint8Array) => boolean,
    ) => {
      for (;;) {
        const { value } = await it.next();
        if (value.type === "message" && want(value.data!)) return;
      }
    };
    proto.verify = function (this: unknown, ...args: unknown[]) {
      verifies++;
      return original.apply(this, args);
    };
    for (let i = 0; i < N; i++) {
      await a.handle().publish(TOPIC, new Uint8Array([1, i]));
    }
    // b and c have all of a's messages (and have relayed them to each other)
    await received(bEvents, (d) => d[0] === 1 && d[1] === N - 1);
    await received(cEvents, (d) => d[0] === 1 && d[1] === N - 1);
    // a marker from each travels behind what it relayed, on the same stream
    await b.handle().publish(TOPIC, new Uint8Array([2]));
    await c.handle().publish(TOPIC, new Uint8Array([3]));
    await received(cEvents, (d) => d[0] === 2);
    await received(bEvents, (d) => d[0] === 3);
    proto.verify = original;
    // the relayed copies did arrive: each of b and c got a's N messages
    // twice (from a and from the other) ...
    assert.ok(copies.get(b)! >= 2 * N, `b got ${copies.get(b)} copies`);
    assert.ok(copies.get(c)! >= 2 * N, `c got ${copies.get(c)} copies`);
    // ... but only the first copy's signature was checked: 2N for a's
    // messages, and a few for the two markers (without the fast id: 4N+)
    assert.ok(
      verifies <= 2 * N + 6,
      `${verifies} signature checks for ${2 * N} first copies`,
    );
  } finally {
    proto.verify = original;
    await shutdownAll(a, b, c);
  }
});
