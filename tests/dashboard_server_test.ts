/**
 * The dashboard's server without a browser: the token (401), the loopback
 * rules, read-only, no key in anything served, a slow page that cannot make
 * the node buffer without bound, the bounded message history, the embedded
 * assets in step with their sources, and the page's state functions.
 */
import assert from "node:assert/strict";
import { toHex } from "../core/hex.ts";
import { EmbeddedBridge } from "../bridge/mod.ts";
import {
  type DashboardSnapshot,
  type DashboardUpdate,
  PublishTap,
  serveDashboard,
} from "../dashboard/mod.ts";
import { ASSETS } from "../dashboard/_assets.ts";
import { buildAssets, vendorFiles } from "../dashboard/_build.ts";
import { ClientHub, type UpdateSource } from "../dashboard/_clients.ts";
import { BOUNDS } from "../dashboard/_model.ts";
import {
  applyUpdate,
  formatPayload,
  fromSnapshot,
  parseTyped,
  setIn,
  topicMatches,
} from "../dashboard/page/state.js";
import { RawDevice } from "./support/bridge_device.ts";
import { shutdownAll, startNode } from "./support/mesh_fixture.ts";
import { until } from "./support/wait.ts";
import { textChunks } from "./support/text.ts";

const KEY = new Uint8Array(32).map((_, i) => 0xc0 ^ i);
const te = new TextEncoder();

/** Reads SSE events from a response body until `stop` says so. */
async function readEvents(
  body: ReadableStream<Uint8Array>,
  stop: (events: { event: string; data: unknown }[]) => boolean,
): Promise<{ event: string; data: unknown }[]> {
  const chunks = textChunks(body);
  const events: { event: string; data: unknown }[] = [];
  let buf = "";
  try {
    while (!stop(events)) {
      const { value, done } = await chunks.next();
      if (done) break;
      buf += value;
      let at;
      while ((at = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, at);
        buf = buf.slice(at + 2);
        const name = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (name && data) events.push({ event: name, data: JSON.parse(data) });
      }
    }
  } finally {
    await chunks.return(undefined).catch(() => {});
    await body.cancel().catch(() => {});
  }
  return events;
}

/** One GET /api/state over a raw connection, with this Host header. */
async function rawGet(port: number, host: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(
    te.encode(
      `GET /api/state HTTP/1.1\r\nHost: ${host}:${port}\r\nConnection: close\r\n\r\n`,
    ),
  );
  let text = "";
  for await (
    const chunk of textChunks(conn.readable)
  ) {
    text += chunk;
  }
  return text;
}

Deno.test("dashboard: a non-local bind answers 401 without the token, on every route", async () => {
  const node = await startNode({ nodeName: "lan" });
  const dash = await serveDashboard(node, { hostname: "0.0.0.0", port: 0 });
  try {
    assert.ok(dash.token && dash.token.length >= 32, "a token was generated");
    const base = `http://127.0.0.1:${dash.port}`;
    for (
      const [method, path] of [
        ["GET", "/"],
        ["GET", "/assets/app.js"],
        ["GET", "/assets/vendor/preact.mjs"],
        ["GET", "/api/state"],
        ["GET", "/api/events"],
        ["PUT", "/api/context"],
        ["GET", "/api/state?token=wrong"],
      ]
    ) {
      const r = await fetch(`${base}${path}`, { method });
      assert.equal(r.status, 401, `${method} ${path}`);
      await r.body?.cancel();
    }
    const bearer = await fetch(`${base}/api/state`, {
      headers: { authorization: `Bearer ${dash.token}` },
    });
    assert.equal(bearer.status, 200);
    const snap = await bearer.json() as DashboardSnapshot;
    assert.equal(snap.self.name, "lan");
    // The page carries the token into its modules and style sheet.
    const page = await fetch(dash.url);
    assert.equal(page.status, 200);
    const html = await page.text();
    const q = `?token=${encodeURIComponent(dash.token!)}`;
    assert.ok(html.includes(`/assets/app.js${q}`));
    assert.ok(html.includes(`/assets/vendor/preact.mjs${q}`));
    assert.match(
      page.headers.get("content-security-policy") ?? "",
      /default-src 'none'/,
    );
    const asset = await fetch(`${base}/assets/vendor/htm.mjs${q}`);
    assert.equal(asset.status, 200);
    assert.match(asset.headers.get("content-type") ?? "", /javascript/);
    await asset.body?.cancel();
  } finally {
    await dash.close();
    await shutdownAll(node);
  }
});

Deno.test("dashboard: loopback without a token checks Host and writes; read-only refuses changes", async () => {
  const node = await startNode({ nodeName: "local" });
  const open = await serveDashboard(node, { port: 0 });
  const ro = await serveDashboard(node, { port: 0, readOnly: true });
  try {
    assert.equal(open.token, undefined);
    const base = `http://127.0.0.1:${open.port}`;
    assert.equal((await fetch(`${base}/api/state`)).status, 200);
    // DNS rebinding: another name for this address (fetch sets Host itself).
    assert.match(await rawGet(open.port, "evil.example"), /^HTTP\/1.1 403/);
    assert.match(await rawGet(open.port, "localhost"), /^HTTP\/1.1 200/);
    // A cross-site form post: not JSON, or another origin.
    const form = await fetch(`${base}/api/context`, {
      method: "PUT",
      headers: { "content-type": "text/plain" },
      body: '{"path":"a","value":1}',
    });
    assert.equal(form.status, 415);
    await form.body?.cancel();
    const cross = await fetch(`${base}/api/context`, {
      method: "PUT",
      headers: {
        "content-type": "application/json",
        origin: "http://evil.example",
      },
      body: '{"path":"a","value":1}',
    });
    assert.equal(cross.status, 403);
    await cross.body?.cancel();
    const put = await fetch(`${base}/api/context`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: '{"path":"home.volume","value":5}',
    });
    assert.equal(put.status, 200);
    assert.deepEqual(await put.json(), { changedPaths: ["home.volume"] });
    assert.equal(await node.handle().getContext("home.volume"), 5);
    const bad = await fetch(`${base}/api/context`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: '{"path":"","value":5}',
    });
    assert.equal(bad.status, 400);
    await bad.body?.cancel();

    const roBase = `http://127.0.0.1:${ro.port}`;
    const snap = await (await fetch(`${roBase}/api/state`))
      .json() as DashboardSnapshot;
    assert.equal(snap.self.readOnly, true);
    for (
      const [method, path, body] of [
        ["PUT", "/api/context", '{"path":"home.volume","value":9}'],
        ["DELETE", "/api/context?path=home.volume", undefined],
        ["POST", "/api/watch", '{"topic":"home/x"}'],
        ["DELETE", "/api/watch?topic=home/x", undefined],
      ]
    ) {
      const r = await fetch(`${roBase}${path}`, {
        method,
        headers: { "content-type": "application/json" },
        body,
      });
      assert.equal(r.status, 403, `${method} ${path}`);
      await r.body?.cancel();
    }
    assert.equal(await node.handle().getContext("home.volume"), 5);
  } finally {
    await ro.close();
    await open.close();
    await shutdownAll(node);
  }
});

Deno.test("dashboard: device cards and messages through the tap; no key in anything served; the history stays bounded", async () => {
  const meshKey = toHex(new Uint8Array(32).fill(0x5a));
  const gw = await startNode({ nodeName: "gw", meshKey });
  const tap = new PublishTap();
  const bridge = await EmbeddedBridge.start(tap.wrap(gw.handle()), {
    udpPort: 0,
    hostname: "127.0.0.1",
    devices: { "7": toHex(KEY) },
  });
  const dash = await serveDashboard(gw, { bridge, tap, port: 0 });
  const device = new RawDevice({
    deviceId: 7,
    key: KEY,
    gatewayPort: bridge.port,
  });
  const base = `http://127.0.0.1:${dash.port}`;
  const state = async () =>
    await (await fetch(`${base}/api/state`)).json() as DashboardSnapshot;
  try {
    await device.connect();
    assert.equal(
      await device.request((msgId) => ({
        type: "sensorUpdate",
        msgId,
        name: "temp",
        value: { kind: "temperature", value: 19.25 },
        customData: null,
      })),
      0,
    );
    await until(
      async () => {
        const s = await state();
        return s.devices.some((d) => d.deviceId === "7" && d.online) &&
          s.messages.some((m) => m.topic === "device/7/sensor/temp" && m.mine);
      },
      20_000,
      "device 7 and its sensor message",
    );
    const everything = [
      JSON.stringify(await state()),
      ...await Promise.all(
        ["/", ...Object.keys(ASSETS).map((a) => `/assets/${a}`)].map(
          async (p) => await (await fetch(`${base}${p}`)).text(),
        ),
      ),
    ].join("\n");
    const b64 = btoa(String.fromCharCode(...KEY));
    for (const secret of [toHex(KEY), b64, meshKey]) {
      assert.ok(!everything.includes(secret), "a key reached the page");
    }
    // A burst of publications: the server keeps a bounded history.
    for (let i = 0; i < BOUNDS.messages * 3; i++) {
      tap.report(`home/burst/${i}`, new Uint8Array(2000));
    }
    const s = await state();
    assert.ok(s.messages.length <= BOUNDS.messagesPerTick);
    assert.equal(
      s.messages.at(-1)?.topic,
      `home/burst/${BOUNDS.messages * 3 - 1}`,
    );
    assert.ok(
      s.messages.every((m) => atob(m.data).length <= BOUNDS.payloadBytes),
    );
    assert.equal(s.messages.at(-1)?.size, 2000);
  } finally {
    await device.close();
    await dash.close();
    await bridge.close();
    await shutdownAll(gw);
  }
});

Deno.test("dashboard: a page that does not read loses updates (counted), never makes the server buffer without bound", async () => {
  const bufferBytes = 64 * 1024;
  let n = 0;
  const big = "x".repeat(10_000);
  const snapshot = () =>
    ({ now: Date.now(), marker: "snapshot" }) as unknown as DashboardSnapshot;
  const source: UpdateSource = {
    snapshot,
    collect: () =>
      ({ now: Date.now(), watched: [`${n++}`, big] }) as DashboardUpdate,
    setActive: () => {},
  };
  const hub = new ClientHub(source, {
    maxClients: 2,
    bufferBytes,
    tickMs: 3_600_000, // ticks by hand
  });
  try {
    const stream = hub.open()!;
    assert.ok(hub.open(), "a second page");
    assert.equal(hub.open(), undefined, "maxClients");
    for (let i = 0; i < 500; i++) hub.tick(); // 5 MB of updates, unread
    const [slow] = hub.states();
    assert.ok(
      slow.queuedBytes <= bufferBytes + 11_000,
      `queued ${slow.queuedBytes} B`,
    );
    assert.ok((slow.dropped ?? 0) > 400, `dropped ${slow.dropped}`);
    // It reads its backlog: the next tick sends a snapshot saying what it missed.
    const reading = readEvents(
      stream,
      (evs) => evs.some((e) => e.event === "snapshot" && evs.indexOf(e) > 0),
    );
    await until(
      () => (hub.states()[0].queuedBytes ?? 0) < bufferBytes / 2,
      10_000,
      "the backlog read",
    );
    hub.tick();
    const events = await reading;
    const resync = events.filter((e) => e.event === "snapshot")[1]
      .data as DashboardSnapshot;
    assert.ok((resync.droppedUpdates ?? 0) > 400);
    assert.equal(events[0].event, "snapshot");
  } finally {
    hub.close();
  }
});

Deno.test("dashboard: the embedded assets match dashboard/page/ and the vendored packages", async () => {
  const built = await buildAssets();
  assert.deepEqual(
    Object.keys(ASSETS).sort(),
    Object.keys(built).sort(),
  );
  for (const [name, a] of Object.entries(built)) {
    assert.equal(
      ASSETS[name].body,
      a.body,
      `${name} is stale: run scripts/deno run --allow-read --allow-write dashboard/_build.ts`,
    );
    assert.equal(ASSETS[name].type, a.type);
  }
  for (const [name, body] of Object.entries(await vendorFiles())) {
    const onDisk = await Deno.readTextFile(
      new URL(`../dashboard/vendor/${name}`, import.meta.url),
    );
    assert.equal(onDisk, body, `dashboard/vendor/${name} is stale`);
  }
  // Nothing loads from elsewhere.
  for (const [name, a] of Object.entries(ASSETS)) {
    assert.ok(!/https?:\/\/(?!www\.w3\.org)/.test(a.body), `${name}: a URL`);
  }
});

Deno.test("dashboard page: updates apply to the state; filters, payload formats and typed edits", () => {
  const snap = {
    self: { peerId: "me", name: "n" },
    now: 1000,
    peers: [{ peerId: "p1", connected: true }],
    devices: [],
    context: { home: { volume: 3, lights: { kitchen: "on" } } },
    writes: {},
    messages: [{ seq: 1, topic: "a", data: "" }],
    watched: [],
    streams: [],
    stats: { mesh: {} },
    rate: { end: 100, in: [1, 2], out: [0, 1] },
    lag: { nodeEvents: 0, bridgeEvents: 0, messagesSkipped: 0 },
  };
  let s = fromSnapshot(snap);
  assert.equal(s.rate.in.length, 300);
  s = applyUpdate(s, {
    now: 2000,
    peers: [{ peerId: "p2", connected: true }],
    peersGone: ["p1"],
    context: {
      set: [["home.volume", 7], ["home.lights", null], ["away.x", true]],
    },
    messages: [{ seq: 1, topic: "a" }, { seq: 2, topic: "b" }],
    rate: { end: 103, in: [5, 6], out: [0, 0] },
  });
  assert.deepEqual([...s.peers.keys()], ["p2"]);
  assert.deepEqual(s.context, { home: { volume: 7 }, away: { x: true } });
  assert.deepEqual(s.messages.map((m: { seq: number }) => m.seq), [1, 2]);
  assert.equal(s.rate.end, 103);
  assert.deepEqual(s.rate.in.slice(-5), [1, 2, 0, 5, 6]);
  assert.deepEqual(setIn({ a: { b: 1 } }, ["a", "b"], null), {});

  assert.ok(topicMatches("device/7/button", "device/+/button"));
  assert.ok(topicMatches("device/7/sensor/temp", "device/#"));
  assert.ok(!topicMatches("home/lights", "device/#"));
  assert.ok(topicMatches("home/lights", "ligh"));
  const b64 = btoa('{"a":1}');
  assert.equal(formatPayload(b64, 7, "text"), '{"a":1}');
  assert.equal(formatPayload(b64, 7, "json"), '{\n  "a": 1\n}');
  assert.equal(formatPayload(btoa("on"), 2, "hex"), "6f 6e");
  assert.match(formatPayload(btoa("\xff\xfe"), 2, "text"), /^\(binary\) ff fe/);
  assert.equal(parseTyped("7", "number"), 7);
  assert.equal(parseTyped("7", "string"), "7");
  assert.equal(parseTyped("false", "boolean"), false);
  assert.deepEqual(parseTyped('{"x":[1]}', "json"), { x: [1] });
  assert.throws(() => parseTyped("seven", "number"));
});

Deno.test("dashboard: the message log's topics subscribe the node and are given back", async () => {
  const a = await startNode({ nodeName: "a" });
  const b = await startNode({
    nodeName: "b",
    bootstrapPeers: [a.listenAddresses[0]],
  });
  const dash = await serveDashboard(a, { port: 0, topics: ["home/tv"] });
  const base = `http://127.0.0.1:${dash.port}`;
  try {
    assert.ok((await a.handle().subscriptions()).includes("home/tv"));
    const r = await fetch(`${base}/api/watch`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"topic":"home/radio"}',
    });
    assert.equal(r.status, 200);
    await r.body?.cancel();
    await until(
      async () =>
        (await b.handle().topicPeers("home/radio")).includes(a.peerId),
      20_000,
      "b sees a on home/radio",
    );
    // Events over SSE: the message published by b arrives as an update.
    const events = await fetch(`${base}/api/events`);
    const got = readEvents(
      events.body!,
      (evs) =>
        evs.some((e) =>
          (e.data as DashboardUpdate).messages?.some((m) =>
            m.topic === "home/radio"
          )
        ),
    );
    await b.handle().publish("home/radio", te.encode("jazz"));
    const evs = await got;
    const m = evs.flatMap((e) => (e.data as DashboardUpdate).messages ?? [])
      .find((m) => m.topic === "home/radio")!;
    assert.equal(atob(m.data), "jazz");
    assert.equal(m.from, b.peerId);
    await until(() => dash.clients === 0, 10_000, "the page gone");
    const un = await fetch(`${base}/api/watch?topic=home/radio`, {
      method: "DELETE",
    });
    assert.equal(un.status, 200);
    await un.body?.cancel();
    assert.ok(!(await a.handle().subscriptions()).includes("home/radio"));
  } finally {
    await dash.close();
    await shutdownAll(b, a);
  }
  // Closing gave back what the dashboard subscribed.
});
