/**
 * The shipped C device client (clients/c) against the real gateway: the
 * test program tests/c_client/avi_client.c, built on the library, talks to
 * a real EmbeddedBridge on a real mesh node, and a second real mesh node
 * sees its messages and reaches it. Every build runs: the OpenSSL 3 and
 * mbedTLS back ends, plain (gcc) and under AddressSanitizer +
 * UndefinedBehaviorSanitizer (clang), and the built-in back end (Arduino)
 * under both sanitizers. A scripted gateway (the protocol module's gateway
 * side) then exercises what the real bridge never does.
 */
import assert from "node:assert/strict";
import type { AviEvent, MessageEvent } from "../core/events.ts";
import { EmbeddedBridge } from "../bridge/mod.ts";
import type { AviP2p } from "../mesh/mod.ts";
import {
  answerHello,
  decodeFrame,
  encodeMessage,
  type Message,
  nobleCrypto,
  type SecureSession,
  Writer,
} from "../protocol/mod.ts";
import { shutdownAll, startNode } from "./support/mesh_fixture.ts";
import { until } from "./support/wait.ts";
import {
  buildTestProgram,
  SAN_ENV,
  SAN_REPORT,
  type Variant,
  VARIANTS,
} from "./c_client/build.ts";

const FIRST_ID = 42;
const KEY = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const WRONG_KEY = "ff".repeat(32);
const td = new TextDecoder();
const te = new TextEncoder();

/** A running client: its stdout lines as they come, and its end. */
interface Client {
  lines: string[];
  stderr: () => string;
  done: Promise<Deno.CommandStatus>;
  kill: () => void;
}

function spawn(bin: string, args: string[]): Client {
  const child = new Deno.Command(bin, {
    args,
    env: SAN_ENV,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  let err = "";
  const readOut = (async () => {
    let rest = "";
    for await (
      const chunk of child.stdout.pipeThrough(new TextDecoderStream())
    ) {
      rest += chunk;
      const parts = rest.split("\n");
      rest = parts.pop()!;
      lines.push(...parts);
    }
    if (rest) lines.push(rest);
  })();
  const readErr = (async () => {
    for await (
      const chunk of child.stderr.pipeThrough(new TextDecoderStream())
    ) {
      err += chunk;
    }
  })();
  const done = (async () => {
    const status = await child.status;
    await readOut;
    await readErr;
    return status;
  })();
  return {
    lines,
    stderr: () => err,
    done,
    kill: () => {
      try {
        child.kill("SIGKILL");
      } catch { /* already ended */ }
    },
  };
}

/** No sanitizer report in what a client wrote. */
function clean(v: Variant, c: Client): void {
  assert.doesNotMatch(c.stderr(), SAN_REPORT, `${v.name}: ${c.stderr()}`);
}

/** Every variant, built (in parallel). */
async function builds(): Promise<[Variant, string][]> {
  return await Promise.all(
    VARIANTS.map(async (v) =>
      [v, await buildTestProgram(v)] as [Variant, string]
    ),
  );
}

interface Rig {
  gw: AviP2p;
  peer?: AviP2p;
  bridge: EmbeddedBridge;
  peerMsgs: MessageEvent[];
  stop: () => Promise<void>;
}

async function rig(withPeer: boolean): Promise<Rig> {
  const gw = await startNode({ nodeName: "gateway" });
  const peer = withPeer
    ? await startNode({
      nodeName: "peer",
      bootstrapPeers: [gw.listenAddresses[0]],
    })
    : undefined;
  const devices: Record<string, string> = {};
  for (let i = 0; i < VARIANTS.length; i++) devices[String(FIRST_ID + i)] = KEY;
  const bridge = await EmbeddedBridge.start(gw.handle(), {
    udpPort: 0,
    hostname: "127.0.0.1",
    devices,
  });
  const peerMsgs: MessageEvent[] = [];
  const ev = peer?.events();
  const peerLoop = ev
    ? (async () => {
      for await (const e of ev as AsyncIterable<AviEvent>) {
        if (e.type === "message") peerMsgs.push(e);
      }
    })()
    : Promise.resolve();
  return {
    gw,
    peer,
    bridge,
    peerMsgs,
    stop: async () => {
      await bridge.close();
      await ev?.return?.();
      await peerLoop;
      await shutdownAll(peer, gw);
    },
  };
}

/** The peer subscribes to `topic` and the gateway node sees it there. */
async function meshReady(r: Rig, topic: string): Promise<void> {
  await r.peer!.handle().subscribe(topic);
  await until(
    async () =>
      (await r.gw.handle().topicPeers(topic)).includes(r.peer!.peerId),
    20_000,
    `gateway to see the peer on ${topic}`,
  );
}

Deno.test("c client: reproduces the worked examples of PROTOCOL.md section 8 with every back end", async () => {
  for (const [v, bin] of await builds()) {
    const out = await new Deno.Command(bin, {
      args: ["selftest"],
      env: SAN_ENV,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = td.decode(out.stdout);
    const err = td.decode(out.stderr);
    assert.equal(out.code, 0, `${v.name}: ${text}${err}`);
    assert.doesNotMatch(err, SAN_REPORT, err);
    assert.match(text, /^SELFTEST PASS$/m);
    assert.doesNotMatch(text, /FAIL/);
    assert.ok(text.includes(`SELFTEST crypto ${v.crypto}\n`), text);
    // Every example of section 8 was checked, through the client.
    for (
      const what of [
        "first Hello",
        "Cookie",
        "second Hello",
        "K_d2g",
        "K_g2d",
        "Welcome opens to [1024, 30, 7]",
        "first sealed frame (Subscribe, seq 1)",
        "Publish plaintext",
        "ButtonPress plaintext",
        "SensorUpdate plaintext",
        "second sealed frame (SensorUpdate, seq 2)",
        "the batch left in one frame",
        "bundle plaintext (two SensorUpdates)",
        "bundled sealed frame (two SensorUpdates, seq 3)",
        "bundled Acks frame (seq 1) opens to Ack 5, Ack 6",
        "replayed frame dropped",
        "Ack plaintext",
        "duplicate acknowledged, not delivered",
        "forged frame dropped",
        "Ping plaintext",
        "bundle rules (1..32 messages, all or nothing)",
        "malformed bundle dropped whole (no Pong)",
        "Reject unknown session",
        "SearchGw",
        "GwInfo",
      ]
    ) {
      assert.ok(text.includes(`SELFTEST ok ${what}\n`), `${v.name}: ${what}`);
    }
  }
});

/**
 * Against the real gateway and mesh, once per build (each with its own
 * device id). Besides one message per frame, the client sends two
 * SensorUpdates in one frame (a bundle) and the test program drops what it
 * receives until the client has retransmitted the bundle, as if both Acks
 * were lost: the gateway recognises both duplicates while handling that one
 * frame, answers both Acks in one frame, which the client must read whole
 * (docs/PROTOCOL.md 4.6), and publishes each reading once.
 */
Deno.test("c client: every build against the real gateway: handshake, subscribe, QoS 1 publish, sensor, button, a bundle each way, retransmission, ping, and a mesh message back", async () => {
  const bins = await builds();
  const r = await rig(true);
  let client: Client | undefined;
  try {
    await Promise.all(
      bins.flatMap((_, i) => {
        const base = `device/${FIRST_ID + i}`;
        return [
          `${base}/data`,
          `${base}/button`,
          `${base}/sensor/temp`,
          `${base}/sensor/hum`,
          `${base}/sensor/bat`,
        ].map((t) => meshReady(r, t));
      }),
    );
    for (const [i, [v, bin]] of bins.entries()) {
      const id = FIRST_ID + i;
      const base = `device/${id}`;
      const dupsBefore = r.bridge.stats().duplicates;
      client = spawn(bin, [
        "127.0.0.1",
        String(r.bridge.port),
        String(id),
        KEY,
        "run",
        "home/cmd",
      ]);
      const c = client;
      const failed = () => c.stderr().includes("error:");
      const all = () => `${v.name}: ${c.lines.join(" | ")} ${c.stderr()}`;
      await until(
        () => c.lines.includes("READY") || failed(),
        30_000,
        `${v.name}: the C client to be READY`,
      );
      assert.ok(!failed(), all());
      assert.match(
        c.lines[0],
        /^WELCOME sid=[0-9a-f]{8} max_frame=1024 keepalive=30 gateway=\d+$/,
      );
      for (
        const l of [
          "SUBACK code=0",
          "ACK publish code=0",
          "ACK sensor code=0",
          "ACK button code=0",
          "RETRANSMITTED bundle",
          "ACK bundle hum=0 bat=0",
          "PONG",
        ]
      ) {
        assert.ok(c.lines.includes(l), `${l} in ${all()}`);
      }
      // The client sent the two readings in one frame, twice (the second
      // time by itself, retransmitting).
      const ready = c.lines.indexOf("READY");
      assert.equal(
        c.lines.slice(0, ready).filter((l) => l === "BUNDLE sent messages=2")
          .length,
        2,
        all(),
      );
      // The gateway answered the retransmitted bundle with one frame of two
      // Acks, and the client handled both.
      const again = c.lines.indexOf("RETRANSMITTED bundle");
      const acked = c.lines.indexOf("ACK bundle hum=0 bat=0");
      assert.ok(
        c.lines.slice(again + 1, acked).includes("BUNDLE received messages=2"),
        all(),
      );
      assert.ok(!c.lines.some((l) => l.startsWith("DROP ")), "nothing dropped");
      assert.ok(
        r.bridge.stats().duplicates - dupsBefore >= 2,
        "both copies seen as duplicates",
      );

      // Device -> mesh: the QoS 1 publish, the button and the sensor events.
      await until(
        () =>
          [`${base}/data`, `${base}/button`, `${base}/sensor/temp`].every((t) =>
            r.peerMsgs.some((m) => m.topic === t)
          ),
        20_000,
        `${v.name}: the device's three messages at the peer`,
      );
      const data = r.peerMsgs.find((m) => m.topic === `${base}/data`)!;
      assert.equal(td.decode(data.data), "hello from C");
      assert.equal(data.from, r.gw.peerId);
      const button = JSON.parse(
        td.decode(r.peerMsgs.find((m) => m.topic === `${base}/button`)!.data),
      );
      assert.equal(button.button_id, 1);
      assert.equal(button.type, "double");
      assert.deepEqual(button.data, { room: "lab" });
      assert.equal(typeof button.ts, "number");
      const sensor = JSON.parse(
        td.decode(
          r.peerMsgs.find((m) => m.topic === `${base}/sensor/temp`)!.data,
        ),
      );
      assert.deepEqual(
        [sensor.name, sensor.data.value, sensor.data.unit, sensor.data.custom],
        ["temp", 21.5, "C", null],
      );
      // Both readings of the bundle reached the mesh, each once.
      await until(
        () =>
          [`${base}/sensor/hum`, `${base}/sensor/bat`].every((t) =>
            r.peerMsgs.some((m) => m.topic === t)
          ),
        20_000,
        `${v.name}: the bundle's two readings at the peer`,
      );
      const reading = (name: string) => {
        const ms = r.peerMsgs.filter((m) =>
          m.topic === `${base}/sensor/${name}`
        );
        assert.equal(ms.length, 1, `${v.name}: ${name} published once`);
        const j = JSON.parse(td.decode(ms[0].data));
        return [j.name, j.data.value, j.data.unit, j.data.custom];
      };
      assert.deepEqual(reading("hum"), ["hum", 40.5, "%", null]);
      assert.deepEqual(reading("bat"), ["bat", 87, "%", null]);

      // Mesh -> device: the peer publishes on the subscribed topic.
      await until(
        async () =>
          (await r.peer!.handle().topicPeers("home/cmd")).includes(
            r.gw.peerId,
          ),
        20_000,
        "the peer to see the gateway on home/cmd",
      );
      const hasMessage = () => c.lines.some((l) => l.startsWith("MESSAGE "));
      for (let k = 0; k < 40 && !hasMessage() && !failed(); k++) {
        await r.peer!.handle().publish("home/cmd", te.encode("on"));
        await until(() => hasMessage() || failed(), 500).catch(() => {});
      }
      const status = await c.done;
      assert.equal(status.code, 0, all());
      clean(v, c);
      const msg = c.lines.find((l) => l.startsWith("MESSAGE "))!;
      const m = /^MESSAGE qos=([01]) topic=(\S+) data=([0-9a-f]*)$/.exec(msg);
      assert.ok(m, msg);
      assert.equal(m[2], "home/cmd");
      assert.equal(m[3], "6f6e"); // "on"
      assert.equal(c.lines.at(-1), "DONE");
      // The Disconnect [18, 0] closed the session at the gateway.
      await until(
        () => r.bridge.devices().length === 0,
        10_000,
        `${v.name}: session closed`,
      );
    }
  } finally {
    client?.kill();
    await client?.done;
    await r.stop();
  }
});

/**
 * What the first run leaves out, against the real gateway, once per build:
 * discovery (SearchGw to the gateway's port), QoS 0 publishes on a long
 * topic (the first registers an uplink alias, the next ones carry it),
 * unsubscribe, a stream to the mesh peer and back, sleep (the gateway keeps
 * the session and a message published meanwhile; the Ping at the end of
 * the sleep wakes it), and the loss of the session (the device is removed
 * from the gateway's table and added back: Reject unknown session, a new
 * handshake, the subscription renewed by itself, a publish held meanwhile
 * delivered in the new session).
 */
Deno.test("c client: every build against the real gateway: discovery, QoS 0 with an alias, unsubscribe, a stream and back, sleep, session loss and re-handshake", async () => {
  const bins = await builds();
  const r = await rig(true);
  const peer = r.peer!;
  const events: AviEvent[] = [];
  const pev = peer.events();
  const answered = new Set<string>();
  const ploop = (async () => {
    for await (const e of pev as AsyncIterable<AviEvent>) {
      events.push(e);
      if (e.type === "streamRequested") {
        await peer.handle().acceptStream(e.streamId).catch(() => {});
      }
      if (e.type === "streamData" && !answered.has(e.streamId)) {
        answered.add(e.streamId);
        await peer.handle().sendStreamData(e.streamId, te.encode("back"))
          .catch(() => {});
      }
    }
  })();
  const table = () => {
    const t: Record<string, string> = {};
    for (let i = 0; i < VARIANTS.length; i++) t[String(FIRST_ID + i)] = KEY;
    return t;
  };
  let client: Client | undefined;
  try {
    await Promise.all(
      bins.flatMap((_, i) =>
        [
          `device/${FIRST_ID + i}/telemetry/long-topic`,
          `device/${FIRST_ID + i}/data`,
        ].map((t) => meshReady(r, t))
      ),
    );
    for (const [i, [v, bin]] of bins.entries()) {
      const id = FIRST_ID + i;
      const topic = `home/features/${id}`;
      const before = events.length;
      client = spawn(bin, [
        "127.0.0.1",
        String(r.bridge.port),
        String(id),
        KEY,
        "features",
        topic,
        peer.peerId,
      ]);
      const c = client;
      const failed = () => c.stderr().includes("error:");
      const all = () => `${v.name}: ${c.lines.join(" | ")} ${c.stderr()}`;
      const seen = async (l: string, ms = 30_000) => {
        await until(
          () => c.lines.includes(l) || failed(),
          ms,
          `${v.name}: ${l}`,
        )
          .catch((e) => {
            throw new Error(`${e.message}: ${all()}`);
          });
        assert.ok(!failed(), all());
      };
      const mine = () =>
        r.bridge.devices().find((d) => d.deviceId === String(id));

      // The sleep: a message published meanwhile is kept for the device.
      await seen("SLEEPING");
      await until(() => mine()?.sleeping === true, 2_000, `${v.name} asleep`);
      await peer.handle().publish(topic, te.encode("while asleep"));
      await until(
        () => (mine()?.queued ?? 0) >= 1 || c.lines.includes("AWAKE"),
        2_000,
        `${v.name}: the message kept`,
      );
      assert.ok(!c.lines.includes("AWAKE"), "kept before the device woke");
      await seen("AWAKE");
      await until(
        () =>
          c.lines.some((l) => l.startsWith(`MESSAGE qos=0 topic=${topic} `)),
        20_000,
        `${v.name}: the kept message`,
      );

      // The loss of the session: removed from the table, added back.
      await seen("LOSS");
      const others = table();
      delete others[String(id)];
      r.bridge.setDevices(others);
      r.bridge.setDevices(table());
      await seen("READY again");
      const hasNew = () =>
        c.lines.slice(c.lines.indexOf("READY again")).some((l) =>
          l.startsWith(`MESSAGE qos=0 topic=${topic} `)
        );
      for (let k = 0; k < 40 && !hasNew() && !failed(); k++) {
        await peer.handle().publish(topic, te.encode("after"));
        await until(() => hasNew() || failed(), 500).catch(() => {});
      }
      const status = await c.done;
      assert.equal(status.code, 0, all());
      clean(v, c);
      const lines = c.lines;

      // Discovery: the gateway found at its own port.
      assert.ok(
        lines.includes(
          `DISCOVERED port=${r.bridge.port} gateway=${r.bridge.gatewayId}`,
        ),
        all(),
      );
      // QoS 0: three messages at the peer, the last two through the alias.
      assert.ok(lines.includes("QOS0 sent=3 aliased=2"), all());
      await until(
        () =>
          r.peerMsgs.filter((m) =>
            m.topic === `device/${id}/telemetry/long-topic`
          )
            .length === 3,
        10_000,
        `${v.name}: three QoS 0 messages`,
      );
      assert.deepEqual(
        r.peerMsgs.filter((m) =>
          m.topic === `device/${id}/telemetry/long-topic`
        )
          .map((m) => td.decode(m.data)),
        ["q0-1", "q0-2", "q0-3"],
      );
      for (
        const l of [
          "UNSUBACK code=0",
          "SUBACK again code=0",
          "ACK stream code=0",
        ]
      ) {
        assert.ok(lines.includes(l), `${l} in ${all()}`);
      }
      // The stream: asked for with its reason, three frames of 320 bytes at
      // the peer, "back" at the device, then closed.
      const mineEv = events.slice(before);
      const req = mineEv.find((e) => e.type === "streamRequested");
      assert.ok(
        req && req.type === "streamRequested" && req.reason === "voice",
      );
      const data = mineEv.filter((e) =>
        e.type === "streamData" && e.streamId === req.streamId
      );
      assert.equal(data.length, 3);
      assert.ok(lines.includes("STREAM data=6261636b stream=5 seq=0"), all());
      await until(
        () =>
          events.slice(before).some((e) =>
            e.type === "streamClosed" && e.streamId === req.streamId
          ),
        10_000,
        `${v.name}: stream closed at the peer`,
      );
      // The sleep's message came after the device woke, once.
      const awake = lines.indexOf("AWAKE");
      assert.ok(
        lines.slice(awake).includes(
          `MESSAGE qos=0 topic=${topic} data=${
            Array.from(te.encode("while asleep"), (b) =>
              b.toString(16).padStart(2, "0")).join("")
          }`,
        ),
        all(),
      );
      // The loss: a new handshake, the held publish delivered once, the
      // subscription renewed (the Message after it came).
      assert.equal(
        lines.filter((l) => l.startsWith("WELCOME ")).length,
        2,
        all(),
      );
      for (
        const l of [
          "RECONNECTING",
          "RECONNECTED",
          "ACK after reconnect code=0",
          "DONE",
        ]
      ) {
        assert.ok(lines.includes(l), `${l} in ${all()}`);
      }
      await until(
        () =>
          r.peerMsgs.some((m) =>
            m.topic === `device/${id}/data` &&
            td.decode(m.data) === "after loss"
          ),
        10_000,
        `${v.name}: the held publish at the peer`,
      );
      assert.equal(
        r.peerMsgs.filter((m) =>
          m.topic === `device/${id}/data` && td.decode(m.data) === "after loss"
        ).length,
        1,
      );
      await until(() => mine() === undefined, 10_000, `${v.name}: closed`);
    }
  } finally {
    client?.kill();
    await client?.done;
    await pev.return?.();
    await ploop;
    await r.stop();
  }
});

Deno.test("c client: every build: a wrong key is refused with Reject not authorised", async () => {
  const bins = await builds();
  const r = await rig(false);
  let client: Client | undefined;
  try {
    for (const [v, bin] of bins) {
      client = spawn(bin, [
        "127.0.0.1",
        String(r.bridge.port),
        String(FIRST_ID),
        WRONG_KEY,
        "handshake",
      ]);
      const status = await client.done;
      assert.equal(status.code, 1, `${v.name}: ${client.stderr()}`);
      assert.ok(
        client.lines.includes("REJECT code=3"),
        client.lines.join("|"),
      );
      assert.match(client.stderr(), /Reject not authorised \(code 3\)/);
      clean(v, client);
      assert.equal(r.bridge.devices().length, 0);

      // The right key, same gateway: accepted.
      client = spawn(bin, [
        "127.0.0.1",
        String(r.bridge.port),
        String(FIRST_ID),
        KEY,
        "handshake",
      ]);
      const ok = await client.done;
      assert.equal(ok.code, 0, `${v.name}: ${client.stderr()}`);
      assert.match(client.lines[0], /^WELCOME /);
      clean(v, client);
      await until(() => r.bridge.devices().length === 0, 10_000, "closed");
    }
  } finally {
    client?.kill();
    await client?.done;
    await r.stop();
  }
});

/**
 * A scripted gateway (the protocol module's gateway side, no mesh) that
 * exercises what the real bridge never does: it withholds the first Ack of
 * the QoS 1 Publish (the client must retransmit: same msgId, new sequence
 * number), Pings the device (it must answer Pong), and sends a QoS 1
 * Message twice (acknowledged twice, delivered once). Then bundles
 * (docs/PROTOCOL.md 4.6): a frame whose second message is malformed and one
 * of 33 Pings (each dropped whole: nothing of them handled), one of 32 Pings
 * (32 Pongs, which the client answers in one frame), and a last frame of
 * two QoS 1 Messages and the Message on the subscribed topic (handled in
 * order; both Acks leave in one frame).
 */
async function scripted(v: Variant, bin: string): Promise<void> {
  const c = nobleCrypto({ random: (b) => crypto.getRandomValues(b) });
  const key = new Uint8Array(32);
  for (let i = 0; i < 32; i++) key[i] = i;
  const sock = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const port = (sock.addr as Deno.NetAddr).port;
  const secret = crypto.getRandomValues(new Uint8Array(32));
  // Every device frame: its sequence number and its messages.
  const frames: { seq: number; msgs: Message[] }[] = [];
  const got: Message[] = [];
  let session: SecureSession | undefined;
  let peer: Deno.NetAddr | undefined;
  const send = (m: Message) =>
    sock.send(session!.sealMessage(m, new Uint8Array(1024)), peer!);
  const sendBundle = async (ms: Message[]) => {
    const { frame, count } = session!.sealMessages(ms, new Uint8Array(1024));
    assert.equal(count, ms.length, "the whole bundle fits one frame");
    await sock.send(frame, peer!);
  };
  const encoded = (m: Message) => {
    const w = new Writer(new Uint8Array(256));
    encodeMessage(w, m);
    return w.bytes().slice();
  };
  const message = (
    msgId: number,
    topic: string,
    data: string,
  ): Message => ({
    type: "message",
    msgId,
    qos: msgId === 0 ? 0 : 1,
    topic,
    data: te.encode(data),
  });
  const ping: Message = { type: "ping" };
  let publishes = 0;
  const loop = (async () => {
    for await (const [data, from] of sock) {
      const f = decodeFrame(data);
      const addr = from as Deno.NetAddr;
      if (f.kind === "hello") {
        const o = answerHello(c, f, data, {
          cookieSecret: secret,
          now: Math.floor(Date.now() / 1000),
          source: `${addr.hostname}:${addr.port}`,
          lookupKey: (id) => id === FIRST_ID ? key : undefined,
          sessionId: 0x0badcafe,
          gatewayId: 9,
        });
        if (o.action === "accept") {
          session = o.session;
          peer = addr;
        }
        await sock.send(o.reply, addr);
        continue;
      }
      if (f.kind !== "sealed" || session === undefined) continue;
      const seq = f.seq;
      const ms = session.openMessages(f);
      assert.ok(Array.isArray(ms), `device frame ${seq} does not open: ${ms}`);
      frames.push({ seq, msgs: ms });
      for (const m of ms) {
        got.push(m);
        switch (m.type) {
          case "subscribe":
            await send({ type: "subscribeAck", msgId: m.msgId, code: 0 });
            break;
          case "publish":
            // The first transmission is "lost": no Ack.
            if (++publishes >= 2) {
              await send({ type: "ack", msgId: m.msgId, code: 0 });
            }
            break;
          case "sensorUpdate":
          case "buttonPress":
            await send({ type: "ack", msgId: m.msgId, code: 0 });
            break;
          case "ping":
            await send({ type: "pong" });
            // Then the gateway Pings, and sends a QoS 1 Message twice on
            // another topic, one frame each.
            await send(ping);
            for (let i = 0; i < 2; i++) {
              await send(message(77, "other/topic", "dup"));
            }
            break;
          case "ack":
            if (
              m.msgId === 77 &&
              got.filter((x) => x.type === "ack").length === 2
            ) {
              // A bundle whose second message is malformed (an Ack of two
              // elements): dropped whole, its good first message unhandled.
              const bad = new Uint8Array([
                ...encoded(message(78, "other/bad", "x")),
                0x92,
                0x07,
                0x05,
              ]);
              await sock.send(session.seal(bad), peer!);
              // 33 Pings: one too many, dropped whole (no Pong).
              await sock.send(
                session.seal(
                  new Uint8Array(Array(33).fill([0x91, 0x0e]).flat()),
                ),
                peer!,
              );
              // 32 Pings: the most a frame may carry.
              await sendBundle(Array(32).fill(ping));
            }
            break;
          case "pong":
            if (got.filter((x) => x.type === "pong").length === 1 + 32) {
              await sendBundle([
                message(80, "other/bundle", "a"),
                message(81, "other/bundle", "b"),
                message(0, "home/cmd", "end"),
              ]);
            }
            break;
          case "disconnect":
            return;
        }
      }
    }
  })();
  const client = spawn(bin, [
    "127.0.0.1",
    String(port),
    String(FIRST_ID),
    KEY,
    "run",
    "home/cmd",
  ]);
  try {
    const status = await client.done;
    assert.equal(status.code, 0, `${v.name}: ${client.stderr()}`);
    clean(v, client);
    await loop;
    const lines = client.lines;
    const pubs = frames.flatMap(({ seq, msgs }) =>
      msgs.flatMap((m) => m.type === "publish" ? [{ m, seq }] : [])
    );
    assert.equal(pubs.length, 2, "the Publish was retransmitted once");
    assert.equal(pubs[0].m.msgId, pubs[1].m.msgId, "same msgId");
    assert.ok(pubs[1].seq > pubs[0].seq, "in a new Sealed frame");
    assert.equal(pubs[0].m.type === "publish" && pubs[0].m.qos, 1);
    assert.deepEqual(pubs[0].m, pubs[1].m, "the same message");
    assert.ok(got.some((m) => m.type === "pong"), "the device answered Ping");
    const acks77 = got.filter((m) =>
      m.type === "ack" && m.msgId === 77 && m.code === 0
    );
    assert.equal(acks77.length, 2, "both copies acknowledged");
    const dupLines = lines.filter((l) =>
      l.startsWith("MESSAGE qos=1 topic=other/topic ")
    );
    assert.deepEqual(dupLines, [
      "MESSAGE qos=1 topic=other/topic data=" + "647570",
    ]);

    // The device's bundle: two SensorUpdates in one frame, then the same
    // two again (same bytes, retransmitted together) in a later frame.
    const sensorFrames = frames.filter(({ msgs }) =>
      msgs.length === 2 && msgs.every((m) => m.type === "sensorUpdate")
    );
    assert.equal(sensorFrames.length, 2, "the bundle, sent twice");
    assert.deepEqual(sensorFrames[0].msgs, sensorFrames[1].msgs);
    assert.ok(sensorFrames[1].seq > sensorFrames[0].seq);
    const [hum, bat] = sensorFrames[0].msgs;
    assert.ok(hum.type === "sensorUpdate" && bat.type === "sensorUpdate");
    assert.deepEqual(
      [hum.name, hum.value, bat.name, bat.value],
      ["hum", { kind: "humidity", value: 40.5 }, "bat", {
        kind: "battery",
        value: 87,
      }],
    );
    assert.ok(lines.includes("ACK bundle hum=0 bat=0"));

    // The malformed bundle and the 33 Pings: dropped whole, nothing handled.
    assert.equal(
      lines.filter((l) => l.startsWith("DROP malformed frame")).length,
      2,
      lines.join(" | "),
    );
    assert.ok(!lines.some((l) => l.includes("other/bad")));
    assert.ok(!got.some((m) => m.type === "ack" && m.msgId === 78));
    // 32 Pings in one frame: 32 Pongs, in one frame (1 + 32 Pongs in all).
    assert.ok(lines.includes("BUNDLE received messages=32"));
    assert.equal(got.filter((m) => m.type === "pong").length, 1 + 32);
    assert.ok(
      frames.some(({ msgs }) =>
        msgs.length === 32 && msgs.every((m) => m.type === "pong")
      ),
      "the 32 Pongs left in one frame",
    );
    // The last bundle: handled in order, both Acks in one frame.
    assert.ok(lines.includes("BUNDLE received messages=3"));
    const tail = lines.filter((l) => l.startsWith("MESSAGE ")).slice(-3);
    assert.deepEqual(tail, [
      "MESSAGE qos=1 topic=other/bundle data=61",
      "MESSAGE qos=1 topic=other/bundle data=62",
      "MESSAGE qos=0 topic=home/cmd data=656e64",
    ]);
    assert.ok(
      frames.some(({ msgs }) =>
        JSON.stringify(msgs) === JSON.stringify([
          { type: "ack", msgId: 80, code: 0 },
          { type: "ack", msgId: 81, code: 0 },
        ])
      ),
      "the two Acks left in one frame",
    );

    assert.deepEqual(got.at(-1), { type: "disconnect", sleepSeconds: 0 });
    // Sequence numbers of the device direction: 1, 2, 3, ... no gaps.
    assert.deepEqual(frames.map((f) => f.seq), frames.map((_, i) => i + 1));
  } finally {
    client.kill();
    await client.done;
    sock.close();
    await loop.catch(() => {});
  }
}

Deno.test("c client: every build: retransmits QoS 1, answers Ping, acknowledges and deduplicates QoS 1 Messages, reads bundles all or nothing", async () => {
  for (const [v, bin] of await builds()) await scripted(v, bin);
});
