/**
 * Frames that carry several messages (docs/PROTOCOL.md 4), through the real
 * bridge on real UDP: each message handled as if alone, the whole frame
 * refused if one is malformed or there are too many, the device's rate
 * budget counted in messages, and the gateway's replies to one device packed
 * into few frames.
 */
import assert from "node:assert/strict";
import type { EmbeddedBridge } from "../bridge/mod.ts";
import {
  encodeMessage,
  Limits,
  type Message,
  Writer,
} from "../protocol/mod.ts";
import { RawDevice } from "./support/bridge_device.ts";
import { until } from "./support/wait.ts";
import {
  fakeMesh,
  idleEvents,
  startLocalBridge,
} from "./support/bridge_rig.ts";

const te = new TextEncoder();
const td = new TextDecoder();
const KEY = new Uint8Array(32).fill(7);

function pub(msgId: number, text: string): Message {
  return {
    type: "publish",
    msgId,
    qos: 1,
    topic: "device/1/q",
    data: te.encode(text),
  };
}

/** A bridge for device 1 whose mesh records what it published, and the device. */
async function rig(
  opts: Parameters<typeof startLocalBridge>[2] = {},
  bundle = false,
): Promise<{
  bridge: EmbeddedBridge;
  dev: RawDevice;
  published: string[];
  close: () => Promise<void>;
}> {
  const published: string[] = [];
  const bridge = await startLocalBridge(
    fakeMesh(idleEvents, (_t, data) => {
      published.push(td.decode(data));
      return Promise.resolve();
    }),
    { "1": KEY },
    { batchEvents: false, ...opts },
  );
  const dev = new RawDevice({
    deviceId: 1,
    key: KEY,
    gatewayPort: bridge.port,
    bundle,
  });
  await dev.connect();
  return {
    bridge,
    dev,
    published,
    close: async () => {
      await dev.close();
      await bridge.close();
    },
  };
}

/** Seal raw plaintext (message bytes back to back) and send it. */
function sendPlaintext(dev: RawDevice, parts: (Message | number[])[]): void {
  const w = new Writer(new Uint8Array(2048));
  for (const p of parts) {
    if (Array.isArray(p)) w.raw(new Uint8Array(p));
    else encodeMessage(w, p);
  }
  dev.sendRaw(dev.session!.seal(w.bytes(), new Uint8Array(2048)).slice());
}

Deno.test("bridge: 16 publishes made in one job leave as one frame; all are published once and acked in few frames", async () => {
  const r = await rig({}, true);
  try {
    const framesBefore = r.dev.framesReceived;
    const codes = await Promise.all(
      Array.from(
        { length: 16 },
        (_, i) => r.dev.publish("device/1/q", te.encode(`m${i}`)),
      ),
    );
    assert.deepEqual(codes, new Array(16).fill(0));
    assert.deepEqual(
      [...r.published].sort(),
      Array.from({ length: 16 }, (_, i) => `m${i}`).sort(),
    );
    const st = r.bridge.stats();
    assert.equal(st.bundledIn, 1, "the 16 came in one frame");
    assert.equal(st.datagrams - 2, 1, "one datagram after the handshake");
    const ackFrames = r.dev.framesReceived - framesBefore;
    assert.ok(ackFrames < 16, `16 acks in ${ackFrames} frames`);
    assert.ok(st.bundledOut >= 1);
  } finally {
    await r.close();
  }
});

Deno.test("bridge: a retransmission inside a different bundle is acked again, not published again", async () => {
  const r = await rig();
  try {
    sendPlaintext(r.dev, [pub(101, "a"), pub(102, "b")]);
    await until(() => r.published.length === 2);
    sendPlaintext(r.dev, [pub(102, "b"), pub(103, "c")]);
    await until(() => r.published.length === 3);
    await until(() => r.bridge.stats().duplicates === 1);
    assert.deepEqual(r.published, ["a", "b", "c"]);
    // Every one of the four messages got its ack (102 twice).
    await until(() =>
      r.dev.received.filter((m) => m.type === "ack").length === 4
    );
    const acked = r.dev.received.flatMap((m) =>
      m.type === "ack" ? [m.msgId] : []
    );
    assert.deepEqual(acked.sort(), [101, 102, 102, 103]);
  } finally {
    await r.close();
  }
});

Deno.test("bridge: a frame with one malformed message among good ones is refused whole", async () => {
  const r = await rig();
  try {
    const before = r.bridge.stats().malformed;
    // type 0 does not exist
    sendPlaintext(r.dev, [pub(201, "x"), [0x91, 0x00], pub(202, "y")]);
    await until(() => r.bridge.stats().malformed === before + 1);
    // trailing garbage that is not a whole message
    sendPlaintext(r.dev, [pub(203, "z"), [0x93, 0x07]]);
    await until(() => r.bridge.stats().malformed === before + 2);
    // still serving: a good frame afterwards goes through
    assert.equal(await r.dev.publish("device/1/q", te.encode("ok")), 0);
    assert.deepEqual(r.published, ["ok"]);
  } finally {
    await r.close();
  }
});

Deno.test(`bridge: a frame of more than ${Limits.MAX_MESSAGES_PER_FRAME} messages is refused; exactly ${Limits.MAX_MESSAGES_PER_FRAME} are taken`, async () => {
  const r = await rig();
  try {
    const before = r.bridge.stats().malformed;
    const ping: Message = { type: "ping" };
    sendPlaintext(
      r.dev,
      new Array(Limits.MAX_MESSAGES_PER_FRAME + 1).fill(ping),
    );
    await until(() => r.bridge.stats().malformed === before + 1);
    const pongs = () => r.dev.received.filter((m) => m.type === "pong").length;
    assert.equal(pongs(), 0);
    sendPlaintext(r.dev, new Array(Limits.MAX_MESSAGES_PER_FRAME).fill(ping));
    await until(() => pongs() === Limits.MAX_MESSAGES_PER_FRAME);
    assert.equal(r.bridge.stats().bundledIn, 1);
  } finally {
    await r.close();
  }
});

Deno.test("bridge: the per-device rate budget counts the messages of a frame, not the frame", async () => {
  const r = await rig({ ratePerDevice: 1, burstPerDevice: 4 });
  try {
    const before = r.bridge.stats().rateLimited;
    // 6 messages in one frame: more than the 4-message burst
    sendPlaintext(
      r.dev,
      Array.from({ length: 6 }, (_, i) => pub(301 + i, `r${i}`)),
    );
    await until(() => r.bridge.stats().rateLimited === before + 1);
    assert.deepEqual(r.published, []);
    // 3 fit the budget
    sendPlaintext(
      r.dev,
      Array.from({ length: 3 }, (_, i) => pub(311 + i, `s${i}`)),
    );
    await until(() => r.published.length === 3);
    assert.deepEqual(r.published, ["s0", "s1", "s2"]);
  } finally {
    await r.close();
  }
});
