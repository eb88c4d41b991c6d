import assert from "node:assert/strict";
import { generateKeyPair } from "@libp2p/crypto/keys";
import { resolveConfig } from "./config.ts";
import { PeerGate } from "./_gate.ts";
import {
  buildLibp2p,
  IDENTIFY_PROTOCOL_VERSION,
  INBOUND_REQUEST_TIMEOUT_MS,
  LIBP2P_ADJUSTMENTS_WRITTEN_FOR,
  SEEN_TTL_MS,
} from "./_libp2p.ts";
import {
  assertWrittenFor,
  installedVersion,
} from "../tests/support/written_for.ts";

for (const w of LIBP2P_ADJUSTMENTS_WRITTEN_FOR) {
  Deno.test(`libp2p adjustments: written for the installed ${w.name}`, async () => {
    await assertWrittenFor(w);
  });
}

Deno.test("libp2p adjustments: a version mismatch is reported by package, versions and file", async () => {
  const w = LIBP2P_ADJUSTMENTS_WRITTEN_FOR[1];
  const installed = await installedVersion(w.name);
  await assert.rejects(
    assertWrittenFor({ ...w, version: "0.0.1" }),
    (e: unknown) =>
      e instanceof Error && e.message.includes(w.name) &&
      e.message.includes("0.0.1") && e.message.includes(installed) &&
      e.message.includes("mesh/_libp2p.ts"),
  );
});

Deno.test("libp2p adjustments take hold on a built node (Identify version, Kademlia timeout, BroadcastChannel.unref)", async () => {
  const config = resolveConfig({
    listenHost: "127.0.0.1",
    enableMdns: false,
    dataDir: null,
  });
  const node = await buildLibp2p(
    config,
    await generateKeyPair("Ed25519"),
    new PeerGate(undefined).gater,
  );
  try {
    const identify = node.services.identify as {
      host?: { protocolVersion?: string };
    };
    assert.equal(
      identify.host?.protocolVersion,
      IDENTIFY_PROTOCOL_VERSION,
      "@libp2p/identify no longer keeps its protocol version in host.protocolVersion",
    );
    const rpc =
      (node.services.dht as { rpc?: { incomingMessageTimeout?: unknown } })
        .rpc;
    assert.equal(
      rpc?.incomingMessageTimeout,
      INBOUND_REQUEST_TIMEOUT_MS,
      "@libp2p/kad-dht no longer keeps its inbound timeout in rpc.incomingMessageTimeout",
    );
    // the seen-caches keep messages SEEN_TTL_MS, not the package's 2 min
    const pubsub = node.services.pubsub as unknown as {
      seenCache: { validityMs: number };
      fastMsgIdCache?: { validityMs: number };
      publishedMessageIds: { validityMs: number };
    };
    assert.equal(pubsub.seenCache.validityMs, SEEN_TTL_MS);
    assert.equal(pubsub.fastMsgIdCache?.validityMs, SEEN_TTL_MS);
    assert.equal(pubsub.publishedMessageIds.validityMs, SEEN_TTL_MS);
    assert.equal(
      typeof (BroadcastChannel.prototype as { unref?: unknown }).unref,
      "function",
      `Deno ${Deno.version.deno}: BroadcastChannel has no unref() and its ` +
        `internal ref switch (written for Deno 2.9.6) was not found`,
    );
  } finally {
    await node.stop();
  }
});
