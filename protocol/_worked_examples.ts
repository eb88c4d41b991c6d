// Deterministic worked examples for docs/PROTOCOL.md. Run this file to print
// them; worked_examples_test.ts checks that the document still matches.
import {
  answerHello,
  createHello,
  decodeFrame,
  deriveSessionKeys,
  encodeGwInfo,
  encodeMessage,
  encodeReject,
  encodeSearchGw,
  ErrorCode,
  type Message,
  nobleCrypto,
  openWelcome,
  Writer,
} from "./mod.ts";

function hex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) {
    s += b[i].toString(16).padStart(2, "0");
    if (i % 16 === 15 && i + 1 < b.length) s += "\n";
    else if (i + 1 < b.length) s += " ";
  }
  return s;
}

/** Returns named hex blocks for the document. */
export function workedExamples(): Record<string, string> {
  let counter = 0xa0;
  const c = nobleCrypto({ random: (b) => b.fill(counter++) });
  const key = new Uint8Array(32).map((_, i) => i); // 00 01 .. 1f
  const cookieSecret = new Uint8Array(32).fill(0x55);
  const clientNonce = new Uint8Array(16).fill(0x11);
  const deviceId = 42;
  const out: Record<string, string> = {};
  out["key"] = hex(key);
  const hello1 = createHello(c, { deviceId, key, clientNonce });
  out["hello1"] = hex(hello1);
  const gw = {
    cookieSecret,
    now: 1_700_000_000,
    source: "192.168.1.50:40000",
    lookupKey: () => key,
    sessionId: 0x01020304,
    keepAliveSeconds: 30,
    gatewayId: 7,
  };
  const f1 = decodeFrame(hello1);
  if (f1.kind !== "hello") throw new Error("hello");
  const a1 = answerHello(c, f1, hello1, gw);
  out["cookie"] = hex(a1.reply);
  const cf = decodeFrame(a1.reply);
  if (cf.kind !== "cookie") throw new Error("cookie");
  const hello2 = createHello(c, {
    deviceId,
    key,
    clientNonce,
    cookie: cf.cookie,
  });
  out["hello2"] = hex(hello2);
  const f2 = decodeFrame(hello2);
  if (f2.kind !== "hello") throw new Error("hello2");
  const a2 = answerHello(c, f2, hello2, gw);
  if (a2.action !== "accept") throw new Error("accept");
  out["welcome"] = hex(a2.reply);
  const wf = decodeFrame(a2.reply.slice());
  if (wf.kind !== "welcome") throw new Error("welcome");
  const serverNonce = wf.serverNonce.slice();
  const keys = deriveSessionKeys(
    c,
    key,
    clientNonce,
    serverNonce,
    deviceId,
    0x01020304,
  );
  out["kC2G"] = hex(keys.deviceToGateway);
  out["kG2C"] = hex(keys.gatewayToDevice);
  const w = openWelcome(
    c,
    { deviceId, key, clientNonce },
    wf,
    a2.reply.slice(),
  );
  if (w === null) throw new Error("openWelcome");
  const msgs: [string, Message][] = [
    ["subscribe", { type: "subscribe", msgId: 1, topic: "home/light" }],
    ["publish", {
      type: "publish",
      msgId: 2,
      qos: 1,
      topic: "home/light",
      data: new Uint8Array([0x6f, 0x6e]),
    }],
    ["buttonPress", {
      type: "buttonPress",
      msgId: 3,
      buttonId: 1,
      pressType: "double",
      customData: null,
    }],
    ["sensorUpdate", {
      type: "sensorUpdate",
      msgId: 4,
      name: "temp",
      value: { kind: "temperature", value: 21.5 },
      customData: null,
    }],
    ["ack", { type: "ack", msgId: 2, code: 0 }],
    ["ping", { type: "ping" }],
  ];
  for (const [name, m] of msgs) {
    const wr = new Writer(new Uint8Array(256));
    encodeMessage(wr, m);
    out[`msg_${name}`] = hex(wr.bytes());
  }
  // First two sealed frames from the device: Subscribe (seq 1), SensorUpdate (seq 2).
  out["sealed_subscribe"] = hex(
    w.session.sealMessage(msgs[0][1], new Uint8Array(1024)),
  );
  out["sealed_sensor"] = hex(
    w.session.sealMessage(msgs[3][1], new Uint8Array(1024)),
  );
  // A bundle (several messages in one sealed frame, section 4.6): the
  // device's third frame carries two SensorUpdates (seq 3); the gateway's
  // first sealed frame answers both with two Acks (seq 1).
  const readings: Message[] = [
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
  ];
  const acks: Message[] = [
    { type: "ack", msgId: 5, code: 0 },
    { type: "ack", msgId: 6, code: 0 },
  ];
  const bundles = { bundle_sensors: readings, bundle_acks: acks };
  for (const [name, ms] of Object.entries(bundles)) {
    const wr = new Writer(new Uint8Array(256));
    for (const m of ms) encodeMessage(wr, m);
    out[`msg_${name}`] = hex(wr.bytes());
  }
  const up = w.session.sealMessages(readings, new Uint8Array(1024));
  if (up.count !== 2) throw new Error("bundle_sensors");
  out["sealed_bundle_sensors"] = hex(up.frame);
  // The gateway opens it (two messages, in order) and answers.
  const uf = decodeFrame(up.frame.slice());
  if (uf.kind !== "sealed") throw new Error("sealed");
  const opened = a2.session.openMessages(uf);
  if (typeof opened === "number" || opened.length !== 2) {
    throw new Error("openMessages");
  }
  const down = a2.session.sealMessages(acks, new Uint8Array(1024));
  if (down.count !== 2) throw new Error("bundle_acks");
  out["sealed_bundle_acks"] = hex(down.frame);
  out["reject_unknown_session"] = hex(
    encodeReject(ErrorCode.UNKNOWN_SESSION, 0x01020304),
  );
  out["searchGw"] = hex(encodeSearchGw(new Uint8Array(8).fill(0x33)));
  out["gwInfo"] = hex(
    encodeGwInfo({
      nonce: new Uint8Array(8).fill(0x33),
      port: 8888,
      gatewayId: 7,
    }),
  );
  return out;
}

if (import.meta.main) {
  for (const [k, v] of Object.entries(workedExamples())) {
    console.log(`== ${k}\n${v}\n`);
  }
}
