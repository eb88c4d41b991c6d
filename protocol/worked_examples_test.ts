import assert from "node:assert/strict";
import { workedExamples } from "./_worked_examples.ts";
import {
  decodeFrame,
  decodeMessage,
  decodeMessages,
  ErrorCode,
  FrameDecodeError,
  Limits,
  type Message,
  nobleCrypto,
  type SealedFrame,
  SecureSession,
} from "./mod.ts";

const DOC = new URL("../docs/PROTOCOL.md", import.meta.url);

function bytes(hex: string): Uint8Array {
  const h = hex.replace(/\s+/g, "");
  return new Uint8Array(h.length / 2).map((_, i) =>
    parseInt(h.slice(2 * i, 2 * i + 2), 16)
  );
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Decodes a sealed frame (a copy: opening decrypts in place). */
function sealed(frame: Uint8Array): SealedFrame {
  const f = decodeFrame(frame.slice());
  if (f.kind !== "sealed") throw new Error(`not a sealed frame: ${f.kind}`);
  return f;
}

const crypto_ = nobleCrypto({ random: (b) => crypto.getRandomValues(b) });

Deno.test("docs/PROTOCOL.md worked examples match what the code produces", async () => {
  const doc = await Deno.readTextFile(DOC);
  const ex = workedExamples();
  assert.ok(Object.keys(ex).length >= 19);
  for (const [name, hex] of Object.entries(ex)) {
    assert.ok(doc.includes(hex), `example ${name} is missing or stale`);
  }
});

Deno.test("docs/PROTOCOL.md section 8: each bundle is its messages back to back and opens to them, in order", () => {
  const ex = workedExamples();
  // The bundle plaintexts are the single messages' bytes, concatenated.
  const sensors = bytes(ex["msg_bundle_sensors"]);
  assert.deepEqual(
    decodeMessages(sensors),
    [
      {
        type: "sensorUpdate",
        msgId: 5,
        name: "temp",
        value: { kind: "temperature", value: 21.75 },
        customData: null,
      },
      {
        type: "sensorUpdate",
        msgId: 6,
        name: "bat",
        value: { kind: "battery", value: 87 },
        customData: null,
      },
    ] satisfies Message[],
  );
  const ends: number[] = [];
  decodeMessages(sensors, 0, sensors.length, ends);
  assert.deepEqual(ends, [15, 25]);
  assert.deepEqual(
    bytes(ex["msg_bundle_acks"]),
    concat(bytes("93 07 05 00"), bytes("93 07 06 00")),
  );
  // A reader of exactly one message refuses a bundle.
  assert.throws(() => decodeMessage(sensors), FrameDecodeError);

  // The frames open under the document's keys to those messages.
  const kd2g = bytes(ex["kC2G"]);
  const kg2d = bytes(ex["kG2C"]);
  const gw = new SecureSession(crypto_, {
    sessionId: 0x01020304,
    sendKey: kg2d,
    recvKey: kd2g,
  });
  const dev = new SecureSession(crypto_, {
    sessionId: 0x01020304,
    sendKey: kd2g,
    recvKey: kg2d,
  });
  const up = bytes(ex["sealed_bundle_sensors"]);
  assert.equal(up.length, 10 + 25 + 16);
  const uf = sealed(up);
  assert.equal(uf.seq, 3);
  const got = gw.openMessages(uf);
  assert.ok(Array.isArray(got));
  assert.deepEqual(got.map((m) => m.type === "sensorUpdate" && m.msgId), [
    5,
    6,
  ]);
  const df = sealed(bytes(ex["sealed_bundle_acks"]));
  assert.equal(df.seq, 1);
  assert.deepEqual(dev.openMessages(df), [
    { type: "ack", msgId: 5, code: 0 },
    { type: "ack", msgId: 6, code: 0 },
  ]);
});

Deno.test("docs/PROTOCOL.md section 4.6: 1 to 32 messages; one bad message drops the whole frame, its sequence number used", async () => {
  const doc = await Deno.readTextFile(DOC);
  assert.equal(Limits.MAX_MESSAGES_PER_FRAME, 32);
  assert.ok(
    doc.includes(
      `| messages per Sealed frame | 1 to ${Limits.MAX_MESSAGES_PER_FRAME} `,
    ),
    "the limits table states the bound",
  );
  const ex = workedExamples();
  const sensors = bytes(ex["msg_bundle_sensors"]);
  const ping = bytes("91 0e");
  const pings = (n: number) => concat(...Array(n).fill(ping));
  assert.equal(decodeMessages(pings(32)).length, 32);
  for (
    const [what, pt] of [
      ["no message", new Uint8Array(0)],
      ["33 messages", pings(33)],
      ["a message cut short at the end", concat(sensors, bytes("93 07 05"))],
      ["a stray byte after the last message", concat(sensors, bytes("c1"))],
      ["a bad first message", concat(bytes("92 0e 00"), sensors)],
      // The second message is an Ack with 2 elements instead of 3.
      ["a bad second message", concat(ping, bytes("92 07 05"), ping)],
    ] as const
  ) {
    assert.throws(() => decodeMessages(pt), FrameDecodeError, what);
  }

  // Sealed and opened: MALFORMED for the whole frame, and its sequence
  // number cannot be used again (the tag verified).
  const k1 = new Uint8Array(32).fill(1), k2 = new Uint8Array(32).fill(2);
  const dev = new SecureSession(crypto_, {
    sessionId: 9,
    sendKey: k1,
    recvKey: k2,
  });
  const gw = new SecureSession(crypto_, {
    sessionId: 9,
    sendKey: k2,
    recvKey: k1,
  });
  const bad = dev.seal(concat(ping, bytes("92 07 05")));
  assert.equal(gw.openMessages(sealed(bad)), ErrorCode.MALFORMED);
  assert.equal(gw.openMessages(sealed(bad)), ErrorCode.REPLAYED);

  // A sender packs at most 32, in order; the rest starts the next frame.
  const many: Message[] = Array.from({ length: 40 }, () => ({ type: "ping" }));
  const first = dev.sealMessages(many, new Uint8Array(1024));
  assert.equal(first.count, 32);
  const rest = dev.sealMessages(many.slice(32), new Uint8Array(1024));
  assert.equal(rest.count, 8);
  for (const [f, n] of [[first.frame, 32], [rest.frame, 8]] as const) {
    const got = gw.openMessages(sealed(f));
    assert.ok(Array.isArray(got) && got.length === n);
  }
});
