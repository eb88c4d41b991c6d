import assert from "node:assert/strict";
import { ConfigError } from "../core/errors.ts";
import { type AviP2pConfig, CONFIG_DEFAULTS, resolveConfig } from "./config.ts";

Deno.test("resolveConfig() fills every default", () => {
  const c = resolveConfig();
  assert.equal(c.nodeName, CONFIG_DEFAULTS.nodeName);
  assert.equal(c.listenPort, 0);
  assert.equal(c.listenHost, "0.0.0.0");
  assert.equal(c.maxPeers, 10);
  assert.equal(c.maxStreams, 5);
  assert.equal(c.maxStreamsPerPeer, 3);
  assert.equal(c.enableMdns, true);
  assert.equal(c.enableKad, true);
  assert.equal(c.dataDir, ".avi-p2p/avi-node");
  assert.equal(c.swarmKey, undefined);
  assert.equal(c.eventQueueSize, 1024);
  assert.equal(c.eventQueueBytes, 16 * 1024 * 1024);
  assert.equal(c.maxMessageBytes, 1_048_576);
  assert.deepEqual(c.bootstrapPeers, []);
});

const bad: [keyof AviP2pConfig | "bogus", unknown][] = [
  ["nodeName", ""],
  ["nodeName", "x".repeat(65)],
  ["listenPort", -1],
  ["listenPort", 65536],
  ["listenPort", 1.5],
  ["listenPort", "4001"],
  ["listenHost", "localhost"],
  ["bootstrapPeers", "/ip4/1.2.3.4/tcp/1"],
  ["bootstrapPeers", ["not a multiaddr"]],
  ["bootstrapPeers", ["/ip4/1.2.3.4/tcp/1"]],
  ["enableMdns", "yes"],
  ["enableKad", 1],
  ["maxPeers", 0],
  ["maxStreams", 0],
  ["maxStreamsPerPeer", 0],
  ["maxStreamsPerPeer", 6],
  ["maxStreamsPerPeer", 1.5],
  ["maxStreamsPerPeer", "2"],
  ["dataDir", ""],
  ["meshKey", new Uint8Array(31)],
  ["meshKey", "abc"],
  ["allowedPeers", ["nope"]],
  ["discoveryTag", "Has Spaces"],
  ["discoveryTag", ""],
  ["eventQueueSize", 0],
  ["eventQueueBytes", 1023],
  ["eventQueueBytes", 4_294_967_297],
  ["eventQueueBytes", 1.5],
  ["eventQueueBytes", "16MiB"],
  ["maxMessageBytes", 4_194_305],
  ["maxTopicLength", 0],
  ["redialInitialMs", 5],
  ["onWarning", "console"],
  ["bogus", 1],
];
for (const [field, value] of bad) {
  Deno.test(`resolveConfig() rejects ${field}=${JSON.stringify(value) ?? value} with ConfigError naming the field`, () => {
    assert.throws(
      () => resolveConfig({ [field]: value } as AviP2pConfig),
      (e: unknown) =>
        e instanceof ConfigError && e.field === field &&
        e.message.includes(field),
    );
  });
}

Deno.test("resolveConfig() rejects redialMaxMs below redialInitialMs", () => {
  assert.throws(
    () => resolveConfig({ redialInitialMs: 500, redialMaxMs: 100 }),
    (e: unknown) => e instanceof ConfigError && e.field === "redialMaxMs",
  );
});

Deno.test("resolveConfig() accepts the three mesh key forms and yields the same swarm key", () => {
  const bytes = new Uint8Array(32).fill(0xab);
  const hex = "ab".repeat(32);
  const file = `/key/swarm/psk/1.0.0/\n/base16/\n${hex}\n`;
  const k1 = resolveConfig({ meshKey: bytes }).swarmKey!;
  assert.deepEqual(resolveConfig({ meshKey: hex }).swarmKey, k1);
  assert.deepEqual(resolveConfig({ meshKey: file }).swarmKey, k1);
  assert.equal(k1.length, 95);
  assert.equal(resolveConfig({ dataDir: null }).dataDir, null);
  assert.equal(resolveConfig({ listenHost: "::1" }).listenHost, "::1");
});

Deno.test("resolveConfig() maxStreamsPerPeer: half of maxStreams by default (at least 1), at most maxStreams", () => {
  assert.equal(resolveConfig({ maxStreams: 1 }).maxStreamsPerPeer, 1);
  assert.equal(resolveConfig({ maxStreams: 2 }).maxStreamsPerPeer, 1);
  assert.equal(resolveConfig({ maxStreams: 7 }).maxStreamsPerPeer, 4);
  assert.equal(resolveConfig({ maxStreams: 1000 }).maxStreamsPerPeer, 500);
  const c = resolveConfig({ maxStreams: 8, maxStreamsPerPeer: 8 });
  assert.equal(c.maxStreamsPerPeer, 8);
  assert.equal(resolveConfig({ maxStreamsPerPeer: 1 }).maxStreamsPerPeer, 1);
  assert.throws(
    () => resolveConfig({ maxStreams: 8, maxStreamsPerPeer: 9 }),
    (e: unknown) =>
      e instanceof ConfigError && e.field === "maxStreamsPerPeer" &&
      e.message.includes("maxStreams (8)"),
  );
});
