// The shared context against a hostile mesh member and a lost disk, on real
// libp2p nodes on 127.0.0.1 (issue 10, findings 1, 2, 4 and 5): a range
// claim cannot silence a writer; a writer whose replica was lost, damaged or
// restored from an old copy still reaches its peers; a damaged replica is
// moved aside and the node goes on saving; digests on the gossip topic are
// not answered to the whole mesh; an allow-list holds for context changes.
import assert from "node:assert/strict";
import { decode, encode } from "../context/_msgpack.ts";
import { decodeDelta } from "../context/delta.ts";
import type { AviP2p } from "../mesh/mod.ts";
import { CONTEXT_TOPIC } from "../context/sync.ts";
import { peerIdFromPrivateKey } from "@libp2p/peer-id";
import { loadIdentity } from "../mesh/identity.ts";
import { shutdownAll, startNode } from "./support/mesh_fixture.ts";
import { until } from "./support/wait.ts";
import { rawPublish, rawSubscribe } from "./support/raw_pubsub.ts";

const base = {
  enableMdns: false,
  enableKad: false,
  redialInitialMs: 200,
  redialMaxMs: 1000,
};

function startHub(): Promise<AviP2p> {
  return startNode({ ...base, nodeName: "hub" });
}

function startSpoke(
  hub: AviP2p,
  nodeName: string,
  dataDir: string | null = null,
  onWarning: (m: string) => void = () => {},
): Promise<AviP2p> {
  return startNode({
    ...base,
    nodeName,
    dataDir,
    onWarning,
    bootstrapPeers: [hub.listenAddresses[0]],
  });
}

async function untilSees(
  node: AviP2p,
  path: string,
  value: unknown,
  what: string,
): Promise<void> {
  await until(
    async () => (await node.handle().getContext(path)) === value,
    30_000,
    what,
  );
}

async function untilTopicPeers(node: AviP2p, n: number): Promise<void> {
  await until(
    async () => (await node.handle().topicPeers(CONTEXT_TOPIC)).length >= n,
    20_000,
    "context topic peers",
  );
}

Deno.test("context hostile: a forged range claim for a writer does not silence it", async () => {
  const hub = await startHub();
  const w = await startSpoke(hub, "writer");
  const evil = await startSpoke(hub, "evil");
  let late: AviP2p | undefined;
  try {
    // Evil reads the context topic as any member can, to learn w's writer id.
    const seen: Uint8Array[] = [];
    const stopReading = rawSubscribe(evil, CONTEXT_TOPIC, (from, data) => {
      if (from === w.peerId) seen.push(data);
    });
    await untilTopicPeers(evil, 1);
    await untilTopicPeers(w, 1);
    await w.handle().updateContext({ avi: { device: { lamp: "before" } } });
    await untilSees(hub, "avi.device.lamp", "before", "the first write");
    const writers = new Set<string>([w.peerId]);
    await until(() => seen.length > 0, 20_000, "w's change on the topic");
    stopReading();
    const msg = decode(seen[0]) as [number, [Uint8Array, Uint8Array][]];
    for (const [bytes] of msg[1]) writers.add(decodeDelta(bytes).writer);
    assert.equal(writers.size, 2);
    // Evil claims, for w's writer id, that all of w's changes up to 2^53-1
    // are seen.
    const claims = [...writers].map((id) =>
      encode([1, [], [id, 0, Number.MAX_SAFE_INTEGER]])
    );
    for (const c of claims) await rawPublish(evil, CONTEXT_TOPIC, c);
    await until(
      () => hub.stats().context.rejectedIndirect >= claims.length,
      20_000,
      "the claims to arrive",
    );
    await w.handle().updateContext({ avi: { device: { lamp: "after" } } });
    await untilSees(hub, "avi.device.lamp", "after", "the next write");
    await untilSees(evil, "avi.device.lamp", "after", "the next write at evil");
    // A node that joins later learns it too.
    late = await startSpoke(hub, "late");
    await untilSees(late, "avi.device.lamp", "after", "a late joiner");
  } finally {
    await shutdownAll(hub, w, evil, late);
  }
});

Deno.test("context hostile: a writer whose context.bin was lost, damaged or restored old still reaches its peers", async () => {
  const dir = await Deno.makeTempDir();
  const data = `${dir}/a`;
  const file = `${data}/context.bin`;
  const warnings: string[] = [];
  const hub = await startHub();
  let a: AviP2p | undefined;
  const restart = async () => {
    await a?.shutdown();
    a = await startSpoke(hub, "a", data, (m) => warnings.push(m));
  };
  const writeUpTo = async (from: number, to: number) => {
    for (let n = from; n <= to; n++) {
      await a!.handle().updateContext({ avi: { device: { n } } });
    }
    await untilSees(hub, "avi.device.n", to, `write ${to} at the hub`);
  };
  try {
    await restart();
    const id = a!.peerId;
    await writeUpTo(1, 10);
    await a!.shutdown(); // a clean stop leaves one snapshot, no log
    const old = await Deno.readFile(file);
    await restart();
    await writeUpTo(11, 20);

    // Lost: the identity stays, the replica goes.
    await a!.shutdown();
    await Deno.remove(file);
    await restart();
    assert.equal(a!.peerId, id);
    await writeUpTo(101, 103);

    // Restored from an older copy.
    await a!.shutdown();
    await Deno.writeFile(file, old);
    await restart();
    await writeUpTo(201, 203);

    // Damaged: one flipped byte. The node starts, says so, moves the file
    // aside, and saves again; a crash's orphan temporary file is removed.
    await a!.shutdown();
    const bytes = await Deno.readFile(file);
    bytes[bytes.length >> 1] ^= 0x40;
    await Deno.writeFile(file, bytes);
    await Deno.writeFile(`${file}.0000-orphan.tmp`, new Uint8Array(10));
    warnings.length = 0;
    await restart();
    assert.ok(
      warnings.some((m) => m.includes("checksum") && m.includes("corrupt-")),
      `a warning naming the damage: ${warnings.join(" | ")}`,
    );
    const names = [...Deno.readDirSync(data)].map((e) => e.name);
    assert.ok(
      names.some((n) => n.startsWith("context.bin.corrupt-")),
      names.join(),
    );
    assert.ok(!names.some((n) => n.endsWith(".tmp")), names.join());
    await writeUpTo(301, 303);
    await untilSees(a!, "avi.device.n", 303, "its own write");
    // Saved: after one more restart, with no peer to learn from, it is there.
    await a!.shutdown();
    await hub.shutdown();
    const alone = await startNode({ ...base, nodeName: "a", dataDir: data });
    try {
      assert.equal(await alone.handle().getContext("avi.device.n"), 303);
    } finally {
      await alone.shutdown();
    }
  } finally {
    await shutdownAll(hub, a);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("context hostile: digests on the gossip topic are not answered to the mesh, nor kept", async () => {
  const hub = await startHub();
  const a = await startSpoke(hub, "a");
  const evil = await startSpoke(hub, "evil");
  try {
    await untilTopicPeers(evil, 1);
    // 60 deltas of ~500 B to offer.
    for (let i = 0; i < 60; i++) {
      await a.handle().updateContext({
        avi: { device: { [`k${i}`]: "x".repeat(500) } },
      });
    }
    await untilSees(hub, "avi.device.k59", "x".repeat(500), "the writes");
    // Everyone has them: ordinary anti-entropy then has nothing to offer.
    await untilSees(
      evil,
      "avi.device.k59",
      "x".repeat(500),
      "the writes at evil",
    );
    const before = hub.stats().context.offersSent;
    const rows: [string, number][] = [];
    for (let i = 0; i < 2000; i++) rows.push([`forged-${i}`, i + 1]);
    const digest = encode([2, rows]);
    const empty = encode([2, []]);
    for (let i = 0; i < 25; i++) {
      await rawPublish(evil, CONTEXT_TOPIC, empty);
      await rawPublish(evil, CONTEXT_TOPIC, digest);
    }
    await until(
      () => hub.stats().context.rejectedIndirect >= 50,
      20_000,
      "the digests to arrive",
    );
    const ctx = hub.stats().context;
    assert.ok(
      ctx.offersSent - before < 5,
      `offers sent for 50 gossip digests: ${ctx.offersSent - before}`,
    );
    assert.ok(ctx.peerStates <= 2, `peer states: ${ctx.peerStates}`);
  } finally {
    await shutdownAll(hub, a, evil);
  }
});

Deno.test("context hostile: with allowedPeers, changes written by a peer off the list are refused, whoever relays them", async () => {
  // b's peer id must be on a's list before b starts: make its key first.
  const dirB = await Deno.makeTempDir();
  const { privateKey } = await loadIdentity(dirB, () => {});
  const idB = peerIdFromPrivateKey(privateKey).toString();
  const a = await startNode({ ...base, nodeName: "a", allowedPeers: [idB] });
  const c = await startNode({ ...base, nodeName: "c" });
  const b = await startNode({
    ...base,
    nodeName: "b",
    dataDir: dirB,
    allowedPeers: [a.peerId, c.peerId],
    bootstrapPeers: [a.listenAddresses[0], c.listenAddresses[0]],
  });
  try {
    await untilTopicPeers(b, 2);
    await c.handle().updateContext({ avi: { device: { fromC: 1 } } });
    await untilSees(b, "avi.device.fromC", 1, "c's change at b");
    // b offers it to a in answer to a's digest: a refuses and counts it.
    await until(
      () => a.stats().context.rejectedUnauthorized >= 1,
      30_000,
      "a to refuse c's change",
    );
    assert.equal(await a.handle().getContext("avi.device.fromC"), undefined);
    await b.handle().updateContext({ avi: { device: { fromB: 1 } } });
    await untilSees(a, "avi.device.fromB", 1, "b's change at a");
    assert.equal(await a.handle().getContext("avi.device.fromC"), undefined);
  } finally {
    await shutdownAll(a, b, c);
    await Deno.remove(dirB, { recursive: true });
  }
});
