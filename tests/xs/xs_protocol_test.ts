import assert from "node:assert/strict";
import fc from "fast-check";
import { toHex } from "../../core/hex.ts";
import {
  encodeMessage,
  type Message,
  nobleCrypto,
  Writer,
} from "../../protocol/mod.ts";
import { anyMessage } from "../../protocol/_arbitraries_test.ts";
import { XsHost } from "./xs_host.ts";

const ENTRY = new URL("./xs_protocol_entry.ts", import.meta.url);

function encodeHex(m: Message): string {
  const w = new Writer(new Uint8Array(4096));
  encodeMessage(w, m);
  return toHex(w.bytes());
}

Deno.test("protocol messages decode and re-encode to the same bytes on XS as on Deno", async () => {
  const messages = fc.sample(anyMessage, { numRuns: 400, seed: 42 });
  const hexes = messages.map(encodeHex);
  const host = await XsHost.start({ name: "xs-protocol-codec" });
  try {
    await host.load(ENTRY);
    const back = await host.call<string[]>("reencode", [hexes], {
      timeoutMs: 60000,
    });
    assert.equal(back.length, hexes.length);
    for (let i = 0; i < hexes.length; i++) {
      assert.equal(back[i], hexes[i], `message ${i}: ${messages[i].type}`);
    }
    const types = new Set(messages.map((m) => m.type));
    assert.ok(types.size >= 15, `only ${types.size} message types sampled`);
  } finally {
    await host.close();
  }
});

Deno.test("nobleCrypto gives the same bytes on XS as on Deno and refuses a forged tag", async () => {
  const c = nobleCrypto({ random: (b) => crypto.getRandomValues(b) });
  const key = crypto.getRandomValues(new Uint8Array(32));
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const aad = crypto.getRandomValues(new Uint8Array(9));
  const msg = crypto.getRandomValues(new Uint8Array(300));
  const host = await XsHost.start({ name: "xs-protocol-crypto" });
  try {
    await host.load(ENTRY);
    const r = await host.call<{
      sealed: string;
      opened: string | null;
      forgedOpens: boolean;
      hmac: string;
      hkdf: string;
    }>("crypto", [toHex(key), toHex(nonce), toHex(aad), toHex(msg)]);
    assert.equal(r.sealed, toHex(c.seal(key, nonce, aad, msg)));
    assert.equal(r.opened, toHex(msg));
    assert.equal(r.forgedOpens, false);
    assert.equal(r.hmac, toHex(c.hmacSha256(key, msg)));
    assert.equal(r.hkdf, toHex(c.hkdfSha256(key, nonce, aad, 42)));
  } finally {
    await host.close();
  }
});

Deno.test("protocol decoders on XS refuse mutated frames only with FrameDecodeError", async () => {
  const seeds = fc.sample(anyMessage, { numRuns: 50, seed: 7 }).map(encodeHex);
  const host = await XsHost.start({ name: "xs-protocol-fuzz" });
  try {
    await host.load(ENTRY);
    const r = await host.call<{ ok: number; refused: number; bad: string[] }>(
      "fuzz",
      [seeds, 5000, 12345],
      { timeoutMs: 120000 },
    );
    assert.deepEqual(r.bad, []);
    assert.equal(r.ok + r.refused, 10000);
    assert.ok(r.refused > 0);
  } finally {
    await host.close();
  }
});
