import assert from "node:assert/strict";
import fc from "fast-check";
import { decodeFrame } from "./frames.ts";
import { decodeMessage, encodeMessage, type Message } from "./messages.ts";
import { decode, Writer } from "./msgpack.ts";
import { FrameDecodeError } from "./errors.ts";
import { nobleCrypto } from "./noble_crypto.ts";
import { SecureSession } from "./session.ts";
import { createHello } from "./handshake.ts";
import { anyMessage } from "./_arbitraries_test.ts";

// xorshift32, seeded: failures are reproducible.
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

function onlyDecodeErrors(fn: () => unknown): "ok" | "refused" {
  try {
    fn();
    return "ok";
  } catch (e) {
    if (e instanceof FrameDecodeError) return "refused";
    throw new Error(
      `unexpected ${(e as Error)?.name}: ${(e as Error)?.message}`,
      { cause: e },
    );
  }
}

Deno.test("100,000 random and mutated datagrams: decoders throw only FrameDecodeError", () => {
  const c = nobleCrypto({ random: (b) => crypto.getRandomValues(b) });
  const k = new Uint8Array(32).fill(3);
  const session = new SecureSession(c, {
    sessionId: 0x01020304,
    sendKey: k,
    recvKey: k,
  });
  const peer = new SecureSession(c, {
    sessionId: 0x01020304,
    sendKey: k,
    recvKey: k,
  });
  const r = rng(0xc0ffee);
  // Valid seeds to mutate: plaintexts of every message type, sealed frames, Hellos.
  const plain: Uint8Array[] = fc.sample(anyMessage, { numRuns: 400, seed: 42 })
    .map((m: Message) => {
      const w = new Writer(new Uint8Array(2048));
      encodeMessage(w, m);
      return w.bytes().slice();
    });
  const frames: Uint8Array[] = plain.filter((p) => p.length < 900).slice(0, 100)
    .map((p) => peer.seal(p).slice());
  frames.push(
    createHello(c, { deviceId: 9, key: k, clientNonce: new Uint8Array(16) }),
  );
  const counts = { ok: 0, refused: 0 };
  for (let i = 0; i < 100_000; i++) {
    let bytes: Uint8Array;
    const mode = r() % 4;
    if (mode === 0) {
      bytes = new Uint8Array(r() % 1100);
      for (let j = 0; j < bytes.length; j++) bytes[j] = r() & 0xff;
      if (r() % 2) bytes[0] = 1; // mostly our version, to get past byte 0
    } else {
      const pool = mode === 1 ? frames : plain;
      const src = pool[r() % pool.length];
      bytes = src.slice(0, r() % 3 === 0 ? r() % (src.length + 1) : src.length);
      const flips = 1 + (r() % 4);
      for (let j = 0; j < flips && bytes.length > 0; j++) {
        bytes[r() % bytes.length] = r() & 0xff;
      }
    }
    counts[
      onlyDecodeErrors(() => {
        const f = decodeFrame(bytes, { maxFrame: 1472 });
        if (f.kind === "sealed") session.openMessage(f);
      })
    ]++;
    counts[onlyDecodeErrors(() => decodeMessage(bytes))]++;
    counts[onlyDecodeErrors(() => decode(bytes))]++;
  }
  assert.equal(counts.ok + counts.refused, 300_000);
  assert.ok(counts.refused > 100_000, JSON.stringify(counts));
  assert.ok(counts.ok > 0, JSON.stringify(counts));
});
