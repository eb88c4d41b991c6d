/**
 * The gateway core without a socket: datagrams are handed to
 * `GatewayCore.receive`, what it sends is collected from a fake transport,
 * and time is a fake clock. A device (built on `protocol/`) does the
 * handshake and one QoS 1 publish through a fake mesh port.
 */

import assert from "node:assert/strict";
import type { AviEvent } from "../core/events.ts";
import {
  createHello,
  decodeFrame,
  Limits,
  type Message,
  nobleCrypto,
  openWelcome,
  type SecureSession,
} from "../protocol/mod.ts";
import type { BridgeEvent, BridgeMesh } from "../bridge/mod.ts";
import { GatewayCore } from "../bridge/gateway.ts";
import { resolveBridgeOptions } from "../bridge/options.ts";
import type { Endpoint, GatewayClock } from "../bridge/transport.ts";

const KEY = new Uint8Array(32).fill(0x42);
const DEVICE: Endpoint = { address: "10.0.0.7", port: 40007 };
const deviceCrypto = nobleCrypto({
  random: (b) => crypto.getRandomValues(b),
});

/** A clock that moves only when told; its timers fire in `advance`. */
class FakeClock implements GatewayClock {
  #now = 1_700_000_000_000;
  #next = 1;
  #timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.#now;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#next++;
    this.#timers.set(id, { at: this.#now + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }
  get pending(): number {
    return this.#timers.size;
  }
  /** Move time forward by `ms`, firing every timer due on the way, in order. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let due: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.#timers) {
        if (e[1].at <= end && (due === undefined || e[1].at < due[1].at)) {
          due = e;
        }
      }
      if (due === undefined) break;
      this.#timers.delete(due[0]);
      this.#now = due[1].at;
      due[1].fn();
    }
    this.#now = end;
  }
}

/** Mesh events that never come (ends when returned). */
function idleEvents(): AsyncIterableIterator<AviEvent> {
  const it: AsyncIterableIterator<AviEvent> = {
    [Symbol.asyncIterator]: () => it,
    next: () => new Promise(() => {}),
    return: () => Promise.resolve({ done: true, value: undefined }),
  };
  return it;
}

/** Let the core's queued sends (a microtask away) leave. */
const settle = () => new Promise((r) => setTimeout(r, 0));

/** A datagram the core sent. */
type Sent = { data: Uint8Array; to: Endpoint };

/**
 * Device 7's handshake with `core` (Hello, Cookie, Hello with the cookie,
 * Welcome), checked on the way; then a way to send it sealed messages and to
 * read the core's sealed answers off `sent`.
 */
async function handshake(core: GatewayCore, sent: Sent[], clock: FakeClock) {
  /** The next datagram the core sent, decoded. */
  const nextFrame = () => {
    const s = sent.shift();
    assert.ok(s, "the core sent nothing");
    assert.deepEqual(s.to, DEVICE);
    return { raw: s.data, f: decodeFrame(s.data, { maxFrame: 1500 }) };
  };
  const nonce = new Uint8Array(16).fill(9);
  const hello = (cookie?: Uint8Array) =>
    createHello(deviceCrypto, {
      deviceId: 7,
      key: KEY,
      clientNonce: nonce,
      cookie,
    });
  core.receive(hello(), DEVICE);
  await settle();
  const c = nextFrame().f;
  assert.equal(c.kind, "cookie");
  core.receive(
    hello(c.kind === "cookie" ? c.cookie.slice() : undefined),
    DEVICE,
  );
  await settle();
  const w = nextFrame();
  assert.equal(w.f.kind, "welcome");
  assert.ok(w.f.kind === "welcome");
  const opened = openWelcome(
    deviceCrypto,
    { deviceId: 7, key: KEY, clientNonce: nonce },
    w.f,
    w.raw,
  );
  assert.ok(opened, "the Welcome opens with the device's key");
  const session: SecureSession = opened.session;
  assert.equal(core.devices().length, 1);
  assert.equal(core.devices()[0].address, "10.0.0.7:40007");
  assert.equal(core.devices()[0].connectedAt, clock.now());
  return {
    send: (m: Message) =>
      core.receive(
        session.sealMessage(m, new Uint8Array(1500)).slice(),
        DEVICE,
      ),
    /** Several messages in one frame (as a device sends its window). */
    sendFrame: (ms: Message[]) => {
      const { frame, count } = session.sealMessages(ms, new Uint8Array(1500));
      assert.equal(count, ms.length, "the messages fit one frame");
      core.receive(frame.slice(), DEVICE);
    },
    received: (): Message[] => {
      const { f } = nextFrame();
      assert.equal(f.kind, "sealed");
      if (f.kind !== "sealed") return [];
      const ms = session.openMessages(f);
      assert.ok(Array.isArray(ms), `sealed frame refused: ${ms}`);
      return ms;
    },
  };
}

/**
 * A gateway core for device 7 on `mesh`, a fake clock and a fake transport
 * whose datagrams collect in `sent`.
 */
function coreOn(mesh: BridgeMesh) {
  const clock = new FakeClock();
  const sent: Sent[] = [];
  const core = new GatewayCore({
    mesh,
    transport: { send: (data, to) => void sent.push({ data, to }) },
    options: resolveBridgeOptions({ devices: { "7": KEY } }),
    port: 8888,
    clock,
  });
  return { core, clock, sent };
}

Deno.test("bridge core without sockets: handshake, one QoS 1 publish acked after the mesh, a duplicate, expiry on a fake clock", async () => {
  const published: { topic: string; data: Uint8Array }[] = [];
  let accept: () => void = () => {};
  const mesh: BridgeMesh = {
    subscribe: async () => {},
    unsubscribe: async () => {},
    publish: (topic, data) => {
      published.push({ topic, data });
      return new Promise<void>((r) => (accept = r));
    },
    events: idleEvents,
  };
  const { core, clock, sent } = coreOn(mesh);
  const events: BridgeEvent[] = [];
  const evLoop = (async () => {
    for await (const e of core.events()) events.push(e);
  })();
  try {
    // ---- handshake: Hello, Cookie, Hello with the cookie, Welcome ----
    const { send, received } = await handshake(core, sent, clock);

    // ---- QoS 1 publish: the Ack waits for the mesh ----
    const publish: Message = {
      type: "publish",
      msgId: 1,
      qos: 1,
      topic: "device/7/x",
      data: new TextEncoder().encode("hi"),
    };
    send(publish);
    await settle();
    assert.equal(published.length, 1);
    assert.equal(published[0].topic, "device/7/x");
    assert.equal(new TextDecoder().decode(published[0].data), "hi");
    assert.equal(sent.length, 0, "no Ack before the mesh accepted it");
    accept();
    await settle();
    assert.deepEqual(received(), [{ type: "ack", msgId: 1, code: 0 }]);

    // A retransmission (a new frame, same message): acked again, published once.
    send(publish);
    await settle();
    assert.deepEqual(received(), [{ type: "ack", msgId: 1, code: 0 }]);
    assert.equal(published.length, 1);
    const st = core.stats();
    assert.equal(st.sessions, 1);
    assert.equal(st.cookies, 1);
    assert.equal(st.published, 1);
    assert.equal(st.duplicates, 1);

    // ---- the fake clock drives expiry: silent for 3 × keep-alive (30 s) ----
    clock.advance(89_000);
    assert.equal(core.devices().length, 1);
    clock.advance(2_000);
    assert.equal(core.devices().length, 0);
    assert.equal(core.stats().expired, 1);
  } finally {
    await core.close();
    await evLoop;
  }
  assert.equal(clock.pending, 0, "close() leaves no timer behind");
  assert.deepEqual(events.map((e) => e.type), [
    "deviceConnected",
    "deviceGone",
  ]);
  assert.equal(
    (events[1] as Extract<BridgeEvent, { type: "deviceGone" }>).reason,
    "timeout",
  );
});

/**
 * A mesh port that records the sensor names of what it publishes: alone
 * (`plain`, each answered by `publish()`) and in envelopes (`batches`).
 */
function recordingMesh(
  publish: () => Promise<void>,
  more: Partial<BridgeMesh> = {},
) {
  const plain: string[] = [];
  const batches: string[][] = [];
  const name = (data: Uint8Array) =>
    JSON.parse(new TextDecoder().decode(data)).name as string;
  const mesh: BridgeMesh = {
    subscribe: async () => {},
    unsubscribe: async () => {},
    publish: (_topic, data) => {
      plain.push(name(data));
      return publish();
    },
    publishBatch: (items) => {
      batches.push(items.map((i) => name(i.data)));
      return Promise.resolve();
    },
    events: idleEvents,
    ...more,
  };
  return { mesh, plain, batches };
}

Deno.test("bridge core: an event that comes alone after a burst leaves on the loop's next turn, not on a timer", async () => {
  // After an envelope, the next event lingers for the I/O already waiting.
  // That linger was a 0 ms timer, which Deno holds for a millisecond or
  // more: at 1,000 events a second it caught the next event, and every
  // event lingered. The fake clock here never moves: an event waiting on
  // one of its timers would never leave.
  let accept: () => void = () => {};
  const { mesh, plain, batches } = recordingMesh(
    () => new Promise<void>((r) => (accept = r)),
  );
  const { core, clock, sent } = coreOn(mesh);
  try {
    const { send } = await handshake(core, sent, clock);
    const reading = (sensor: string): Message => ({
      type: "sensorUpdate",
      msgId: 0,
      name: sensor,
      value: { kind: "temperature", value: 21 },
      customData: null,
    });
    // a is in flight; b and c pile up behind it and leave as one envelope.
    send(reading("a"));
    await settle();
    assert.deepEqual(plain, ["a"]);
    send(reading("b"));
    send(reading("c"));
    await settle();
    assert.deepEqual(batches, []);
    accept();
    await settle();
    assert.deepEqual(batches, [["b", "c"]]);
    // d comes alone, right after that envelope (same clock time): it lingers
    // one turn of the loop, then leaves on its own.
    send(reading("d"));
    await settle();
    await settle();
    assert.deepEqual(plain, ["a", "d"], "d left without the clock moving");
    accept();
    await settle();
    assert.equal(core.stats().published, 3);
  } finally {
    await core.close();
  }
});

Deno.test("bridge core: the readings of one frame to a quiet gateway leave as one envelope, not one alone and the rest together", async () => {
  // Each reading reaches the event queue one microtask after the other
  // (after its context check). A quiet gateway sent the first at once, alone,
  // and the rest as an envelope: two signed messages for one frame.
  const { mesh, plain, batches } = recordingMesh(() => Promise.resolve(), {
    updateContext: () => Promise.resolve([]),
  });
  const { core, clock, sent } = coreOn(mesh);
  try {
    const { sendFrame } = await handshake(core, sent, clock);
    const reading = (sensor: string, msgId: number): Message => ({
      type: "sensorUpdate",
      msgId,
      name: sensor,
      value: { kind: "temperature", value: 21 },
      customData: null,
    });
    sendFrame([reading("a", 1), reading("b", 2), reading("c", 3)]);
    await settle();
    await settle();
    assert.deepEqual(plain, []);
    assert.deepEqual(batches, [["a", "b", "c"]]);
    // the next frame, a moment later, alike
    sendFrame([reading("d", 4), reading("e", 5)]);
    await settle();
    await settle();
    assert.deepEqual(plain, []);
    assert.deepEqual(batches, [["a", "b", "c"], ["d", "e"]]);
  } finally {
    await core.close();
  }
});

Deno.test("bridge core: a device's QoS 1 readings that fill its send window are written at once, not after contextFlushMs", async () => {
  // The device can send nothing more with a msgId until they are acked; the
  // fake clock never moves, so no flush timer writes them.
  const patches: unknown[] = [];
  const mesh: BridgeMesh = {
    subscribe: async () => {},
    unsubscribe: async () => {},
    publish: async () => {},
    events: idleEvents,
    updateContext: (patch) => {
      patches.push(patch);
      return Promise.resolve();
    },
  };
  const { core, clock, sent } = coreOn(mesh);
  try {
    const { send, received } = await handshake(core, sent, clock);
    const reading = (msgId: number, sensor: string): Message => ({
      type: "sensorUpdate",
      msgId,
      name: sensor,
      value: { kind: "temperature", value: msgId },
      customData: null,
    });
    // QoS 0 readings hold no window: they wait for the timer
    for (let i = 0; i < Limits.SEND_WINDOW; i++) send(reading(0, `q${i}`));
    await settle();
    assert.equal(patches.length, 0);
    // fifteen QoS 1 readings: the window is not full yet
    for (let id = 1; id < Limits.SEND_WINDOW; id++) {
      send(reading(id, `s${id % 4}`));
    }
    await settle();
    assert.equal(patches.length, 0, "written before the window was full");
    assert.equal(sent.length, 0, "acked before the context write");
    // the sixteenth fills it: one change with all of them, every one acked
    send(reading(Limits.SEND_WINDOW, "s0"));
    await settle();
    await settle();
    assert.equal(patches.length, 1);
    const acks = [];
    while (sent.length > 0) acks.push(...received());
    assert.deepEqual(
      acks.map((m) => m.type === "ack" && m.code === 0 ? m.msgId : -1).sort(
        (a, b) => a - b,
      ),
      Array.from({ length: Limits.SEND_WINDOW }, (_, i) => i + 1),
    );
  } finally {
    await core.close();
  }
});
