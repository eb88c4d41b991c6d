/**
 * A retransmission repeats the bytes of the first transmission
 * (docs/PROTOCOL.md 4.1): the gateway recognises a repeated message by its
 * msgId and the bytes of the message, across sessions too. A QoS 1 publish
 * on a topic long enough for an alias (4.3) keeps its topic when the alias's
 * RegAck arrives between its transmissions, and across a new handshake
 * (where the old session's aliases are unknown). Over real UDP on
 * 127.0.0.1: against the test gateway (every transmission's bytes are
 * compared) and against the real bridge (its mesh publishes the message
 * once).
 */
import assert from "node:assert/strict";
import {
  AviEmbedded,
  createDenoUdpSocket,
  denoCrypto,
} from "../embedded/mod.ts";
import {
  decodeMessages,
  type Message,
  type ProtocolCrypto,
} from "../protocol/mod.ts";
import { type BridgeMesh, EmbeddedBridge } from "../bridge/mod.ts";
import type { AviEvent } from "../core/events.ts";
import { TestGateway } from "./support/test_gateway.ts";
import { until } from "./support/wait.ts";

const KEY = crypto.getRandomValues(new Uint8Array(32));
const DEVICE = 4343;
/** Long enough for an uplink alias (aliasMinTopicBytes: 16). */
const TOPIC = `device/${DEVICE}/telemetry/energy/meter-1`;

/** One message as the device sealed it: decoded, and its own bytes. */
interface Sent {
  message: Message;
  bytes: string;
}

/** The device's crypto, recording the messages of every frame it seals. */
function recordingCrypto(sent: Sent[]): ProtocolCrypto {
  const c = denoCrypto();
  return {
    ...c,
    seal(key, nonce, aad, plaintext, out) {
      const ends: number[] = [];
      let ms: Message[] = [];
      try {
        ms = decodeMessages(plaintext, 0, plaintext.length, ends);
      } catch {
        // Not a bundle of messages.
      }
      let start = 0;
      ms.forEach((message, i) => {
        sent.push({
          message: structuredClone(message),
          bytes: plaintext.subarray(start, ends[i]).join(","),
        });
        start = ends[i];
      });
      return c.seal(key, nonce, aad, plaintext, out);
    },
  };
}

/** The transmissions of the QoS 1 publish whose payload is `[tag]`. */
function copies(sent: Sent[], tag: number): Sent[] {
  return sent.filter(({ message: m }) =>
    m.type === "publish" && m.qos === 1 && m.data[0] === tag
  );
}

async function device(port: number, sent: Sent[]): Promise<AviEmbedded> {
  return new AviEmbedded(
    await createDenoUdpSocket({ hostname: "127.0.0.1" }),
    {
      deviceId: DEVICE,
      key: KEY,
      crypto: recordingCrypto(sent),
      gateway: { address: "127.0.0.1", port },
      retryInitialMs: 100,
      retryMaxMs: 400,
    },
    () => {},
  );
}

Deno.test("AviEmbedded retransmits a QoS 1 publish with its first bytes, across its topic's RegAck and a new handshake (test gateway)", async () => {
  const gw = TestGateway.start({ devices: new Map([[DEVICE, KEY]]) });
  const sent: Sent[] = [];
  const avi = await device(gw.port, sent);
  try {
    await avi.connect();
    // 1. Beside a QoS 0 publish that registers the topic's alias: the
    // RegAck comes at once, the Ack only after a few retransmissions.
    gw.autoAck = false;
    await avi.publish(TOPIC, new Uint8Array([0]));
    const first = avi.publish(TOPIC, new Uint8Array([1]), { qos: 1 });
    first.catch(() => {}); // awaited below
    await until(() => copies(sent, 1).length >= 3, 10_000, "resending 1");
    assert.ok(
      sent.some((s) => s.message.type === "register"),
      "an alias was registered",
    );
    gw.autoAck = true;
    await first;
    // 2. Once the alias is confirmed; then the gateway restarts (sessions
    // and aliases forgotten) and the device handshakes again.
    gw.autoAck = false;
    const second = avi.publish(TOPIC, new Uint8Array([2]), { qos: 1 });
    second.catch(() => {}); // awaited below
    await until(() => copies(sent, 2).length >= 2, 10_000, "resending 2");
    const handshakes = gw.handshakes;
    const before = sent.length;
    gw.restart();
    await until(
      () =>
        gw.handshakes > handshakes &&
        copies(sent.slice(before), 2).length >= 1,
      10_000,
      "2 resent in the new session",
    );
    gw.autoAck = true;
    await second;
    for (const tag of [1, 2]) {
      const c = copies(sent, tag);
      const m = c[0].message;
      assert.equal(m.type === "publish" && m.topic, TOPIC, "with its topic");
      for (const x of c) {
        assert.equal(x.bytes, c[0].bytes, `${tag}: same bytes`);
      }
    }
    assert.deepStrictEqual(
      gw.messages("publish").map((p) => [p.topic, p.data[0]]).at(-1),
      [TOPIC, 2],
    );
  } finally {
    await avi.close();
    await gw.close();
  }
});

/** Mesh events that never come. */
function idleEvents(): AsyncIterableIterator<AviEvent> {
  const it: AsyncIterableIterator<AviEvent> = {
    [Symbol.asyncIterator]: () => it,
    next: () => new Promise(() => {}),
    return: () => Promise.resolve({ done: true, value: undefined }),
  };
  return it;
}

Deno.test("AviEmbedded with the real bridge: a QoS 1 publish retransmitted across an alias RegAck and a new handshake is published once", async () => {
  // The mesh holds each publish until released, so the Ack waits and the
  // device retransmits meanwhile.
  const published: string[] = [];
  const held: (() => void)[] = [];
  const mesh: BridgeMesh = {
    subscribe: async () => {},
    unsubscribe: async () => {},
    publish: (topic, data) => {
      published.push(`${topic}:${data[0]}`);
      return new Promise<void>((resolve) => held.push(resolve));
    },
    events: idleEvents,
  };
  const bridge = await EmbeddedBridge.start(mesh, {
    udpPort: 0,
    hostname: "127.0.0.1",
    devices: { [String(DEVICE)]: KEY },
    batchEvents: false,
  });
  const sent: Sent[] = [];
  const avi = await device(bridge.port, sent);
  const release = () => held.splice(0).forEach((r) => r());
  try {
    await avi.connect();
    // 1. Beside a QoS 0 publish that registers the topic's alias: the
    // RegAck comes at once, the Ack once the mesh has taken the message.
    await avi.publish(TOPIC, new Uint8Array([0]));
    const first = avi.publish(TOPIC, new Uint8Array([1]), { qos: 1 });
    first.catch(() => {}); // awaited below
    await until(() => copies(sent, 1).length >= 3, 10_000, "resending 1");
    release();
    await first;
    await new Promise((r) => setTimeout(r, 300)); // any later Ack of 1 arrives
    // 2. Once the alias is confirmed; unanswered while the mesh holds it, so
    // the device presumes the gateway lost and handshakes again.
    const second = avi.publish(TOPIC, new Uint8Array([2]), { qos: 1 });
    second.catch(() => {}); // awaited below
    await until(() => avi.stats.handshakes === 2, 10_000, "a new handshake");
    const n = copies(sent, 2).length;
    await until(() => copies(sent, 2).length > n, 10_000, "2 resent in it");
    release();
    await second;
    assert.deepStrictEqual(published, [
      `${TOPIC}:0`,
      `${TOPIC}:1`,
      `${TOPIC}:2`,
    ]);
  } finally {
    release();
    await avi.close();
    await bridge.close();
  }
});
