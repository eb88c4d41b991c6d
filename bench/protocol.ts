/**
 * Device-protocol benchmark: encode+decode rate per message type, ours
 * (protocol/, typed codec) beside @msgpack/msgpack on the same MessagePack
 * arrays; seal+open rate; bytes on the wire per SensorUpdate and per 20 ms
 * audio frame (640 B of 16 kHz 16-bit PCM), overhead included.
 *
 * Run alone: `deno run -P=node bench/protocol.ts`.
 *
 * @module
 */

import { Decoder, Encoder } from "@msgpack/msgpack";
import {
  decodeFrame,
  decodeMessage,
  encodeMessage,
  type Message,
  nobleCrypto,
  SecureSession,
  Writer,
} from "../protocol/mod.ts";

const MESSAGES: [string, Message][] = [
  ["Subscribe", {
    type: "subscribe",
    msgId: 11,
    topic: "home/kitchen/+/light",
  }],
  ["Publish qos1 32B", {
    type: "publish",
    msgId: 12,
    qos: 1,
    topic: "home/kitchen/switch",
    data: new Uint8Array(32).fill(7),
  }],
  ["Message 256B", {
    type: "message",
    msgId: 0,
    qos: 0,
    topic: "home/kitchen/light",
    data: new Uint8Array(256).fill(3),
  }],
  ["ButtonPress", {
    type: "buttonPress",
    msgId: 13,
    buttonId: 1,
    pressType: "double",
    customData: null,
  }],
  ["SensorUpdate", {
    type: "sensorUpdate",
    msgId: 14,
    name: "temperature",
    value: { kind: "temperature", value: 21.5 },
    customData: null,
  }],
  ["StreamData 640B", {
    type: "streamData",
    streamId: 1,
    seq: 1234,
    data: new Uint8Array(640).fill(0x55),
  }],
  ["Ack", { type: "ack", msgId: 12, code: 0 }],
  ["Ping", { type: "ping" }],
];

function rate(fn: () => void, ms = 300): number {
  for (let i = 0; i < 2000; i++) fn(); // warm up
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (let i = 0; i < 500; i++) fn();
    n += 500;
    t = performance.now();
  }
  return n / ((t - t0) / 1000);
}

function fmt(n: number): string {
  return n >= 1e6
    ? `${(n / 1e6).toFixed(2)} M/s`
    : `${(n / 1e3).toFixed(0)} k/s`;
}

/** Prints the figures. */
export async function bench(): Promise<void> {
  const scratch = new Uint8Array(2048);
  // Reused instances: the reference library at its fastest.
  const refEncoder = new Encoder();
  const refDecoder = new Decoder();
  const w = new Writer(scratch);
  console.log(
    "message type         bytes   ours enc+dec   @msgpack/msgpack enc+dec   ratio",
  );
  for (const [name, m] of MESSAGES) {
    w.reset();
    encodeMessage(w, m);
    const bytes = w.bytes().slice();
    // The same MessagePack array as a plain value, for the reference library.
    const asValue = refDecoder.decode(bytes);
    const ours = rate(() => {
      w.reset();
      encodeMessage(w, m);
      decodeMessage(scratch, 0, w.pos);
    });
    const ref = rate(() => {
      refDecoder.decode(refEncoder.encode(asValue));
    });
    console.log(
      `${name.padEnd(20)} ${String(bytes.length).padStart(5)}   ${
        fmt(ours).padStart(12)
      }   ${fmt(ref).padStart(24)}   ${(ours / ref).toFixed(2)}x`,
    );
  }

  const c = nobleCrypto({ random: (b) => void crypto.getRandomValues(b) });
  const k1 = new Uint8Array(32).fill(1), k2 = new Uint8Array(32).fill(2);
  const dev = new SecureSession(c, { sessionId: 9, sendKey: k1, recvKey: k2 });
  const gw = new SecureSession(c, { sessionId: 9, sendKey: k2, recvKey: k1 });
  const frameBuf = new Uint8Array(1024);
  console.log(
    "\non the wire (sealed frame = 10-byte header + MessagePack + 16-byte tag):",
  );
  for (const [name, m] of MESSAGES) {
    if (
      name !== "SensorUpdate" && name !== "StreamData 640B" &&
      name !== "ButtonPress"
    ) continue;
    const f = dev.sealMessage(m, frameBuf);
    const payload = m.type === "streamData"
      ? m.data.length
      : m.type === "sensorUpdate"
      ? 4
      : 1;
    console.log(
      `  ${
        name.padEnd(16)
      } ${f.length} bytes per datagram (payload ${payload} B, overhead ${
        f.length - payload
      } B = ${
        ((f.length - payload) / f.length * 100).toFixed(1)
      }%; + 28 B IPv4/UDP headers)`,
    );
  }
  const audio = MESSAGES.find(([n]) => n === "StreamData 640B")![1];
  const aLen = dev.sealMessage(audio, frameBuf).length;
  console.log(
    `  audio: 50 frames/s x ${aLen} B = ${
      (50 * aLen * 8 / 1000).toFixed(1)
    } kbit/s UDP payload for 256 kbit/s PCM`,
  );

  const sealOpen = (m: Message) =>
    rate(() => {
      const f = decodeFrame(dev.sealMessage(m, frameBuf));
      if (f.kind === "sealed") gw.openMessage(f);
    }, 400);
  const sensor = MESSAGES.find(([n]) => n === "SensorUpdate")![1];
  console.log(
    `\nseal+open (ChaCha20-Poly1305, pure JS): SensorUpdate ${
      fmt(sealOpen(sensor))
    }, 640 B audio frame ${fmt(sealOpen(audio))}`,
  );
  await sizes();
}

async function sizes(): Promise<void> {
  const root = new URL("../", import.meta.url);
  let src = 0;
  for (const dir of ["protocol", "embedded"]) {
    for await (const e of Deno.readDir(new URL(`${dir}/`, root))) {
      if (
        e.isFile && /\.(ts|js)$/.test(e.name) && !e.name.endsWith("_test.ts") &&
        !e.name.startsWith("_") && !e.name.endsWith(".d.ts")
      ) {
        src += (await Deno.stat(new URL(`${dir}/${e.name}`, root))).size;
      }
    }
  }
  console.log(`
device client size: ${
    (src / 1024).toFixed(1)
  } KiB of source (protocol/ + embedded/, tests excluded)`);
  const tmp = await Deno.makeTempDir();
  try {
    const entry = `${tmp}/entry.ts`;
    await Deno.writeTextFile(
      entry,
      `export { AviEmbedded } from "${
        new URL("embedded/client.ts", root).href
      }";\n` +
        `export { nobleCrypto } from "${
          new URL("protocol/noble_crypto.ts", root).href
        }";\n`,
    );
    for (const [what, file] of [["client + protocol + noble crypto", entry]]) {
      const out = `${tmp}/out.js`;
      const r = await new Deno.Command(Deno.execPath(), {
        args: [
          "bundle",
          "--quiet",
          "--config",
          new URL("deno.json", root).pathname,
          "--format=iife",
          "--minify",
          "-o",
          out,
          file,
        ],
        stdout: "null",
        stderr: "null",
      }).output();
      if (!r.success) {
        console.log(`  bundle: n/a (deno bundle failed)`);
        continue;
      }
      console.log(
        `  minified IIFE bundle (${what}): ${
          ((await Deno.stat(out)).size / 1024).toFixed(1)
        } KiB`,
      );
    }
  } catch (e) {
    console.log(`  bundle: n/a (${(e as Error).message})`);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

if (import.meta.main) await bench();
