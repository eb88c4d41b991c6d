// The device client (embedded/, unmodified) running inside real Moddable XS
// (xsnap), its socket carried through issueCommand to a real UDP socket on
// 127.0.0.1, against the test gateway (tests/support/test_gateway.ts).
// Assertions are made on the gateway side and on the client's own status.
// These mirror tests/embedded_client_test.ts, which runs the same client in Deno.
import assert from "node:assert/strict";
import { toHex } from "../../core/hex.ts";
import { ErrorCode } from "../../protocol/mod.ts";
import { TestGateway } from "../support/test_gateway.ts";
import { XsHost } from "./xs_host.ts";

const ENTRY = new URL("./xs_client_entry.ts", import.meta.url);
const KEY = crypto.getRandomValues(new Uint8Array(32));
const DEVICE = 4343;

interface Status {
  state: string;
  connected: boolean;
  gateway: { address: string; port: number } | null;
  pending: number;
  subscriptions: string[];
  stats: {
    framesSent: number;
    messagesSent: number;
    framesReceived: number;
    framesDropped: number;
    retransmissions: number;
    handshakes: number;
    duplicates: number;
  };
  states: string[];
  gatewayErrors: { code: number; detail: string }[];
  inbox: { topic: string; data: string }[];
}

function gateway(extra: Partial<Parameters<typeof TestGateway.start>[0]> = {}) {
  return TestGateway.start({ devices: new Map([[DEVICE, KEY]]), ...extra });
}

async function xsDevice(
  name: string,
  gatewayPort: number | null,
  over: Record<string, unknown> = {},
): Promise<XsHost> {
  const host = await XsHost.start({ name });
  try {
    await host.load(ENTRY);
    await host.call("setup", [{
      deviceId: DEVICE,
      keyHex: toHex(KEY),
      gatewayPort,
      ...over,
    }]);
    return host;
  } catch (e) {
    await host.close();
    throw e;
  }
}

const status = (host: XsHost) => host.call<Status>("status");

async function closeAll(host: XsHost, gw?: TestGateway): Promise<void> {
  try {
    await host.call("close");
  } finally {
    await host.close();
    await gw?.close();
  }
}

Deno.test("XS: AviEmbedded connects, subscribes, receives, publishes and reports events", async () => {
  const gw = gateway();
  const host = await xsDevice("xs-client-basic", gw.port);
  try {
    assert.equal((await status(host)).connected, false);
    await host.call("connect");
    assert.equal((await status(host)).connected, true);
    assert.equal(gw.handshakes, 1);
    await host.call("subscribe", ["home/+/light"]);
    assert.equal(
      gw.publish("home/kitchen/light", new Uint8Array([1, 2, 3])),
      1,
    );
    assert.equal(gw.publish("home/other", new Uint8Array([9])), 0);
    await host.runUntil(async () => (await status(host)).inbox.length === 1, {
      what: "a message in XS",
    });
    assert.deepEqual((await status(host)).inbox, [
      { topic: "home/kitchen/light", data: "010203" },
    ]);

    await host.call("publish", ["dev/out", "07", 1]);
    await host.call("publish", ["dev/out0", "08", 0]);
    await host.call("button", [2, "long", "aa"]);
    await host.call("sensor", [
      "temp",
      { kind: "temperature", value: 21.5 },
      null,
    ]);
    await host.call("sensor", ["door", { kind: "status", value: true }, null]);
    await host.runUntil(() => gw.messages("publish").length === 2, {
      what: "two publishes at the gateway",
    });
    assert.deepEqual(
      gw.messages("publish").map((p) => [p.topic, p.qos, [...p.data]]),
      [["dev/out", 1, [7]], ["dev/out0", 0, [8]]],
    );
    const [button] = gw.messages("buttonPress");
    assert.equal(button.buttonId, 2);
    assert.equal(button.pressType, "long");
    assert.deepEqual(button.customData, new Uint8Array([0xaa]));
    assert.deepEqual(
      gw.messages("sensorUpdate").map((s) => [s.name, s.value]),
      [
        ["temp", { kind: "temperature", value: 21.5 }],
        ["door", { kind: "status", value: true }],
      ],
    );
    const st = await status(host);
    assert.equal(st.pending, 0);
    assert.deepEqual(st.subscriptions, ["home/+/light"]);
    assert.deepEqual(host.xsErrors, []);
    const env = await host.query<string>("typeof TextEncoder");
    assert.equal(env, "undefined", "the client ran without TextEncoder");
  } finally {
    await closeAll(host, gw);
  }
});

Deno.test("XS: AviEmbedded.connect() fails with GatewayUnreachableError when no gateway answers", async () => {
  const silent = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const host = await xsDevice(
    "xs-client-unreachable",
    (silent.addr as Deno.NetAddr).port,
    { connectTimeoutMs: 1500 },
  );
  try {
    await assert.rejects(host.call("connect"), {
      name: "GatewayUnreachableError",
    });
    const st = await status(host);
    assert.equal(st.connected, false);
    assert.equal(st.state, "idle");
    assert.ok(st.stats.retransmissions >= 2, "the Hello was retransmitted");
    await assert.rejects(host.call("publish", ["t", "00", 0]), {
      name: "NotConnectedError",
    });
  } finally {
    await closeAll(host);
    silent.close();
  }
});

Deno.test("XS: AviEmbedded.connect() with a wrong key fails with HandshakeRejectedError(not authorised)", async () => {
  const gw = gateway();
  const host = await xsDevice("xs-client-wrong-key", gw.port, {
    keyHex: "01".repeat(32),
  });
  try {
    await assert.rejects(host.call("connect"), {
      name: "HandshakeRejectedError",
      code: ErrorCode.NOT_AUTHORISED,
    });
    assert.equal(gw.sessions.size, 0, "no session was created");
    assert.deepEqual(gw.rejects, [ErrorCode.NOT_AUTHORISED]);
  } finally {
    await closeAll(host, gw);
  }
});

Deno.test("XS: AviEmbedded discovers the gateway with SearchGw when none is configured", async () => {
  const gw = gateway();
  const host = await xsDevice("xs-client-discovery", null, {
    discoveryPort: gw.port,
  });
  try {
    await host.call("connect");
    assert.deepEqual((await status(host)).gateway, {
      address: "127.0.0.1",
      port: gw.port,
    });
    await host.call("button", [1, "single", null]);
    assert.equal(gw.messages("buttonPress").length, 1);
  } finally {
    await closeAll(host, gw);
  }
});

Deno.test("XS: AviEmbedded re-handshakes and re-subscribes by itself after a gateway restart", async () => {
  const gw = gateway();
  const host = await xsDevice("xs-client-restart", gw.port);
  try {
    await host.call("connect");
    await host.call("subscribe", ["alerts/#"]);
    const firstSession = [...gw.sessions.keys()][0];
    gw.restart();
    await host.call("publish", ["dev/after", "01", 1]);
    assert.equal(gw.handshakes, 2);
    assert.ok(gw.rejects.includes(ErrorCode.UNKNOWN_SESSION));
    await host.runUntil(
      () => [...gw.sessions.values()].some((s) => s.subs.has("alerts/#")),
      { what: "re-subscribe" },
    );
    assert.notEqual([...gw.sessions.keys()][0], firstSession);
    assert.equal(gw.publish("alerts/fire", new Uint8Array([5])), 1);
    await host.runUntil(async () => (await status(host)).inbox.length === 1, {
      what: "message after restart",
    });
    assert.equal((await status(host)).stats.handshakes, 2);
  } finally {
    await closeAll(host, gw);
  }
});

Deno.test("XS: AviEmbedded QoS 1 publishes all arrive exactly once through 30% loss each way", async () => {
  const gw = gateway();
  const host = await xsDevice("xs-client-loss", gw.port, {
    maxPending: 8,
    retryInitialMs: 50,
    retryMaxMs: 400,
  });
  try {
    await host.call("connect");
    let seed = 4242;
    const rand =
      () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    gw.dropIncoming = (b) => b[1] === 0x10 && rand() < 0.3;
    gw.dropOutgoing = (b) => b[1] === 0x10 && rand() < 0.3;
    const total = 120;
    await host.call("publishMany", ["load", total, 8], { timeoutMs: 60000 });
    const got = gw.messages("publish").map((p) => p.data[0]).sort((a, b) =>
      a - b
    );
    assert.deepEqual(got, Array.from({ length: total }, (_, i) => i));
    assert.ok((await status(host)).stats.retransmissions > 0);
  } finally {
    gw.dropIncoming = gw.dropOutgoing = null;
    await closeAll(host, gw);
  }
});

Deno.test("XS: AviEmbedded keeps alive with Ping, presumes a silent gateway lost and recovers", async () => {
  const gw = gateway({ keepAliveSeconds: 1 });
  const host = await xsDevice("xs-client-keepalive", gw.port, {
    maxTransmissions: 2,
  });
  try {
    await host.call("connect");
    const sid = [...gw.sessions.keys()][0];
    const heard = gw.sessions.get(sid)!.lastHeard;
    await host.runUntil(() => gw.sessions.get(sid)!.lastHeard > heard + 500, {
      what: "a keep-alive ping",
    });
    gw.dropIncoming = () => true;
    await host.runUntil(
      async () => (await status(host)).state === "reconnecting",
      { what: "gateway presumed lost" },
    );
    gw.dropIncoming = null;
    await host.runUntil(async () => (await status(host)).connected, {
      what: "reconnected",
    });
    assert.ok(gw.handshakes >= 2);
    assert.deepEqual((await status(host)).states.slice(0, 3), [
      "handshaking",
      "connected",
      "reconnecting",
    ]);
  } finally {
    gw.dropIncoming = null;
    await closeAll(host, gw);
  }
});

Deno.test("XS: AviEmbedded streams: start (acked), audio frames with sequence numbers, close", async () => {
  const gw = gateway();
  const host = await xsDevice("xs-client-streams", gw.port);
  try {
    await host.call("connect");
    await host.call("startStream", [3, "12D3KooWPeer", "voice"]);
    await host.call("sendAudio", [3, 640, 0x11]);
    await host.call("sendAudio", [3, 640, 0x11]);
    await host.call("closeStream", [3]);
    await host.runUntil(() => gw.messages("streamClose").length === 1, {
      what: "stream close",
    });
    assert.deepEqual(
      gw.messages("streamStart").map((
        s,
      ) => [s.streamId, s.targetPeer, s.reason]),
      [[3, "12D3KooWPeer", "voice"]],
    );
    assert.deepEqual(
      gw.messages("streamData").map((d) => [d.streamId, d.seq, d.data.length]),
      [[3, 0, 640], [3, 1, 640]],
    );
    assert.ok(
      gw.messages("streamData").every((d) => d.data.every((b) => b === 0x11)),
    );
  } finally {
    await closeAll(host, gw);
  }
});

Deno.test("XS: a timer-less AviEmbedded driven by tick() from the device loop connects, publishes and pings", async () => {
  const gw = gateway({ keepAliveSeconds: 1 });
  const host = await xsDevice("xs-client-tick", gw.port, { useTimers: false });
  try {
    await host.call("connect");
    await host.call("publish", ["dev/tick", "2a", 1]);
    assert.deepEqual(
      gw.messages("publish").map((p) => [p.topic, [...p.data]]),
      [["dev/tick", [42]]],
    );
    const sid = [...gw.sessions.keys()][0];
    const heard = gw.sessions.get(sid)!.lastHeard;
    await host.runUntil(() => gw.sessions.get(sid)!.lastHeard > heard + 500, {
      what: "a keep-alive ping from tick()",
    });
  } finally {
    await closeAll(host, gw);
  }
});

Deno.test("XS: 16 sensor readings made in one job leave in one or two datagrams, and a bundle from the gateway is handled whole", async () => {
  const gw = gateway();
  // A long first retry delay keeps retransmissions out of the counts.
  const host = await xsDevice("xs-client-bundles", gw.port, {
    retryInitialMs: 5000,
    retryMaxMs: 5000,
  });
  try {
    await host.call("connect");
    await host.call("subscribe", ["x/#"]);
    const frames0 = gw.frameSizes.length;
    const before = (await status(host)).stats;
    await host.call("sensorMany", [16], { timeoutMs: 5000 });
    const frames = gw.frameSizes.slice(frames0);
    assert.ok(frames.length <= 2, `${frames.length} datagrams: ${frames}`);
    assert.equal(frames.reduce((a, b) => a + b, 0), 16);
    assert.equal(gw.messages("sensorUpdate").length, 16);
    const after = (await status(host)).stats;
    assert.equal(after.framesSent - before.framesSent, frames.length);
    assert.equal(after.messagesSent - before.messagesSent, 16);
    assert.equal(after.retransmissions, 0);

    // Three messages in one frame from the gateway: all handled, in order;
    // the device's two answers (Ack, Pong) share one frame.
    const frames1 = gw.frameSizes.length;
    assert.equal(
      gw.sendBundle(DEVICE, [
        {
          type: "message",
          msgId: 900,
          qos: 1,
          topic: "x/1",
          data: new Uint8Array([1]),
        },
        {
          type: "message",
          msgId: 0,
          qos: 0,
          topic: "x/2",
          data: new Uint8Array([2]),
        },
        { type: "ping" },
      ]),
      1,
    );
    await host.runUntil(() => gw.messages("pong").length === 1, {
      what: "the pong",
      timeoutMs: 5000,
    });
    assert.deepEqual((await status(host)).inbox, [
      { topic: "x/1", data: "01" },
      { topic: "x/2", data: "02" },
    ]);
    assert.deepEqual(gw.frameSizes.slice(frames1), [2]);
    assert.equal((await status(host)).stats.framesDropped, 0);
    assert.deepEqual(host.xsErrors, []);
  } finally {
    await closeAll(host, gw);
  }
});
