/**
 * XS entry: runs `protocol/` inside Moddable XS so the host can compare its
 * bytes with Deno's (message codec, crypto) and fuzz the decoder on XS.
 *
 * @module
 */
import {
  decodeFrame,
  decodeMessage,
  encodeMessage,
  FrameDecodeError,
  nobleCrypto,
  Writer,
} from "../../protocol/mod.ts";
import { hostRandom, installXsRuntime } from "./xs_runtime.ts";

import { fromHex, toHex } from "../../core/hex.ts";

const crypto = nobleCrypto({ random: (b) => hostRandom(b) });
const scratch = new Uint8Array(4096);

installXsRuntime({
  /** Decodes each message and encodes it again; returns the new bytes. */
  reencode: (hexes: string[]) =>
    hexes.map((h) => {
      const w = new Writer(scratch);
      encodeMessage(w, decodeMessage(fromHex(h)));
      return toHex(w.bytes());
    }),
  /** Seal, open, HMAC and HKDF over given inputs. */
  crypto: (
    keyHex: string,
    nonceHex: string,
    aadHex: string,
    msgHex: string,
  ) => {
    const key = fromHex(keyHex), nonce = fromHex(nonceHex);
    const aad = fromHex(aadHex), msg = fromHex(msgHex);
    const sealed = crypto.seal(key, nonce, aad, msg);
    const opened = crypto.open(key, nonce, aad, sealed);
    const forged = sealed.slice();
    forged[0] ^= 1;
    return {
      sealed: toHex(sealed),
      opened: opened === null ? null : toHex(opened),
      forgedOpens: crypto.open(key, nonce, aad, forged) !== null,
      hmac: toHex(crypto.hmacSha256(key, msg)),
      hkdf: toHex(crypto.hkdfSha256(key, nonce, aad, 42)),
    };
  },
  /**
   * Feeds `count` mutated copies of the seeds (and random strings) to both
   * decoders; counts outcomes. Anything but FrameDecodeError is a failure.
   */
  fuzz: (seedHexes: string[], count: number, seed: number) => {
    let x = seed >>> 0 || 1;
    const rnd = () => {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      return x;
    };
    const seeds = seedHexes.map(fromHex);
    let ok = 0, refused = 0;
    const bad: string[] = [];
    for (let i = 0; i < count; i++) {
      let b: Uint8Array;
      if (i % 4 === 0) {
        b = new Uint8Array(rnd() % 64);
        for (let j = 0; j < b.length; j++) b[j] = rnd() & 0xff;
      } else {
        const s = seeds[rnd() % seeds.length];
        b = s.slice(0, s.length - (i % 3 === 0 ? rnd() % (s.length + 1) : 0));
        const flips = 1 + (rnd() % 4);
        for (let f = 0; f < flips && b.length > 0; f++) {
          b[rnd() % b.length] = rnd() & 0xff;
        }
      }
      for (const dec of [decodeMessage, decodeFrame]) {
        try {
          dec(b);
          ok++;
        } catch (e) {
          if (e instanceof FrameDecodeError) refused++;
          else if (bad.length < 5) bad.push(`${toHex(b)}: ${String(e)}`);
        }
      }
    }
    return { ok, refused, bad };
  },
});
