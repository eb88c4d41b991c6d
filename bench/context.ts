/**
 * Benchmark of the shared context CRDT beside @automerge/automerge and yjs
 * doing the same map workload in the same run (in memory, one process):
 * local updates per second, remote merges per second, bytes on the wire per
 * update against the size of the JSON patch, and the time for ten replicas to
 * converge after a burst of concurrent updates; and what one change of a
 * gateway costs a replica in a house of many sensors (bench/_context_house.ts).
 *
 * Run alone: `scripts/deno run -P=node bench/context.ts`.
 *
 * @module
 */

import * as Automerge from "@automerge/automerge";
import * as Y from "yjs";
import { encode } from "@msgpack/msgpack";
import { ed25519 } from "@noble/curves/ed25519.js";
import { ContextDoc, jsonEqual } from "../context/doc.ts";
import { encodeDelta } from "../context/delta.ts";
import { ContextSync } from "../context/sync.ts";
import { MemoryNetwork } from "../tests/support/context_fixture.ts";
import { AviP2p } from "../mesh/mod.ts";
import { houseChanges } from "./_context_house.ts";

const KEYS = 100;
const UPDATES = 5_000;
const REPLICAS = 10;
const BURST = 100; // updates per replica in the convergence burst
const WRITER = "12D3KooWQp6Lr7nDTu5Z4RduPTbxmbLUgUpNF1z5ts4qYEwTgDAk"; // a peer-id-sized id

type AmDoc = { device: Record<string, number> };

function rate(n: number, ms: number): string {
  return `${Math.round((n / ms) * 1000).toLocaleString("en-US")}/s`;
}

function time(f: () => void): number {
  const t = performance.now();
  f();
  return performance.now() - t;
}

/** Prints the figures. */
export async function bench(): Promise<void> {
  await Promise.resolve();
  const key = (i: number) => `k${i % KEYS}`;
  const patchBytes = new TextEncoder().encode(
    JSON.stringify({ avi: { device: { [key(42)]: 4242 } } }),
  ).length;

  // ---------------------------------------------------------- local updates
  const ours = new ContextDoc({ replicaId: WRITER });
  const rawDeltas: Uint8Array[] = [];
  const tOurs = time(() => {
    for (let i = 0; i < UPDATES; i++) {
      rawDeltas.push(
        encodeDelta(ours.update({ avi: { device: { [key(i)]: i } } }).delta!),
      );
    }
  });
  // On the wire: the delta, its writer's Ed25519 signature, message framing.
  const sig = ed25519.sign(rawDeltas[0], ed25519.utils.randomSecretKey());
  const ourDeltas = rawDeltas.map((d) => encode([1, [[d, sig]], null]));

  let am = Automerge.from<AmDoc>({ device: {} });
  const amChanges: Uint8Array[] = [];
  const tAm = time(() => {
    for (let i = 0; i < UPDATES; i++) {
      am = Automerge.change(am, (d) => {
        d.device[key(i)] = i;
      });
      amChanges.push(Automerge.getLastLocalChange(am)!);
    }
  });

  const yd = new Y.Doc();
  const yUpdates: Uint8Array[] = [];
  yd.on("update", (u: Uint8Array) => yUpdates.push(u));
  const ymap = yd.getMap<number>("device");
  const tY = time(() => {
    for (let i = 0; i < UPDATES; i++) ymap.set(key(i), i);
  });

  console.log(
    `context: map workload, ${KEYS} keys, ${UPDATES} updates of one key each`,
  );
  console.log(
    `local updates:  avi ${rate(UPDATES, tOurs)}  automerge ${
      rate(UPDATES, tAm)
    }  yjs ${rate(UPDATES, tY)}`,
  );
  console.log(
    `  (avi / automerge: ${(tAm / tOurs).toFixed(2)}x, avi / yjs: ${
      (tY / tOurs).toFixed(2)
    }x)`,
  );

  // ---------------------------------------------------------- remote merges
  const ourRemote = new ContextDoc({ replicaId: "R" });
  const tOursM = time(() => {
    for (const d of rawDeltas) ourRemote.merge(d);
  });
  let amR = Automerge.init<AmDoc>();
  const tAmM = time(() => {
    for (const c of amChanges) [amR] = Automerge.applyChanges(amR, [c]);
  });
  const yr = new Y.Doc();
  const tYM = time(() => {
    for (const u of yUpdates) Y.applyUpdate(yr, u);
  });
  if (ourRemote.get("avi.device.k42") !== ours.get("avi.device.k42")) {
    throw new Error("bench: avi replicas differ");
  }
  console.log(
    `remote merges:  avi ${rate(UPDATES, tOursM)}  automerge ${
      rate(UPDATES, tAmM)
    }  yjs ${rate(UPDATES, tYM)}`,
  );
  console.log(
    `  (avi / automerge: ${(tAmM / tOursM).toFixed(2)}x, avi / yjs: ${
      (tYM / tOursM).toFixed(2)
    }x)`,
  );

  // ------------------------------------------------------------ wire bytes
  const avg = (xs: Uint8Array[]) =>
    xs.reduce((n, x) => n + x.length, 0) / xs.length;
  const ourWire = avg(ourDeltas);
  console.log(
    `bytes per update (patch ${patchBytes} B of JSON): avi ${
      ourWire.toFixed(0)
    } B ` +
      `(delta ${
        avg(rawDeltas).toFixed(0)
      } B + Ed25519 signature 64 B + framing; writer id ` +
      `${WRITER.length} B), automerge ${
        avg(amChanges).toFixed(0)
      } B (unsigned), yjs ${avg(yUpdates).toFixed(0)} B (unsigned)`,
  );
  console.log(
    `  original (whole document per update, ${KEYS} keys): ${
      new TextEncoder().encode(JSON.stringify(ours.get())).length
    } B`,
  );

  // -------------------------------------------- ten replicas, burst, converge
  const ids = Array.from({ length: REPLICAS }, (_, r) => `replica-${r}`);
  {
    const docs = ids.map((replicaId) => new ContextDoc({ replicaId }));
    const burst: Uint8Array[][] = docs.map((d, r) => {
      const out: Uint8Array[] = [];
      for (let i = 0; i < BURST; i++) {
        const change = d.update({
          avi: { device: { [key(i * 7 + r)]: r * 1000 + i } },
        });
        out.push(encodeDelta(change.delta!));
      }
      return out;
    });
    const t = time(() => {
      for (let r = 0; r < REPLICAS; r++) {
        for (let s = 0; s < REPLICAS; s++) {
          if (s !== r) {
            for (const b of burst[s]) docs[r].merge(b);
          }
        }
      }
    });
    const ok = docs.every((d) => jsonEqual(d.get()!, docs[0].get()!));
    // Anti-entropy instead of broadcast: a late replica pulls from one peer.
    const late = new ContextDoc({ replicaId: "late" });
    const tAe = time(() => {
      for (const offer of docs[0].offer(late.version())) {
        for (const d of offer.deltas) late.merge(d.bytes);
        late.joinRange(offer.writer, offer.from, offer.to);
      }
    });
    const okLate = jsonEqual(late.get()!, docs[0].get()!);
    const base = Automerge.from<AmDoc>({ device: {} });
    const amDocs = ids.map((_, r) =>
      Automerge.clone(base, {
        actor: (r + 1).toString(16).padStart(2, "0").repeat(16),
      })
    );
    const amBurst = amDocs.map((d, r) => {
      const out: Uint8Array[] = [];
      let doc = d;
      for (let i = 0; i < BURST; i++) {
        doc = Automerge.change(doc, (x) => {
          x.device[key(i * 7 + r)] = r * 1000 + i;
        });
        out.push(Automerge.getLastLocalChange(doc)!);
      }
      amDocs[r] = doc;
      return out;
    });
    const tA = time(() => {
      for (let r = 0; r < REPLICAS; r++) {
        const mine = amDocs[r];
        const others = amBurst.filter((_, s) => s !== r).flat();
        [amDocs[r]] = Automerge.applyChanges(mine, others);
      }
    });
    const okA = amDocs.every((d) =>
      JSON.stringify(Automerge.toJS(d)) ===
        JSON.stringify(Automerge.toJS(amDocs[0]))
    );
    const yDocs = ids.map((_, r) => {
      const d = new Y.Doc();
      d.clientID = r + 1;
      return d;
    });
    const yBurst = yDocs.map((d, r) => {
      const out: Uint8Array[] = [];
      d.on("update", (u: Uint8Array, origin: unknown) => {
        if (origin !== "remote") out.push(u);
      });
      for (let i = 0; i < BURST; i++) {
        d.getMap("device").set(key(i * 7 + r), r * 1000 + i);
      }
      return out;
    });
    const tYc = time(() => {
      for (let r = 0; r < REPLICAS; r++) {
        for (let s = 0; s < REPLICAS; s++) {
          if (s !== r) {
            for (const u of yBurst[s]) Y.applyUpdate(yDocs[r], u, "remote");
          }
        }
      }
    });
    const okY = yDocs.every((d) =>
      jsonEqual(d.getMap("device").toJSON(), yDocs[0].getMap("device").toJSON())
    );
    console.log(
      `${REPLICAS} replicas x ${BURST} concurrent updates, then every update to every replica:`,
    );
    console.log(
      `  converge: avi ${tAvi(t)} (${
        ok ? "converged" : "DIVERGED"
      }), automerge ${tAvi(tA)} (${okA ? "converged" : "DIVERGED"}), yjs ${
        tAvi(tYc)
      } (${okY ? "converged" : "DIVERGED"})`,
    );
    console.log(
      `  avi late joiner via anti-entropy from one replica: ${tAvi(tAe)} (${
        okLate ? "converged" : "DIVERGED"
      }), ${docs[0].stats().heldDeltas} deltas kept of ${
        REPLICAS * BURST
      } made`,
    );
  }

  // ---------------------- a gateway's change in a house of many sensors
  houseChanges();

  // ------------------- the same burst through ContextSync (signed, gossiped)
  {
    const net = new MemoryNetwork({ seed: 5 });
    const nodes = await Promise.all(ids.map(async () => {
      const sync = new ContextSync({
        transport: await net.join(),
        emit: () => {},
        antiEntropyIntervalMs: 1000,
        connectSyncDelayMs: 0,
      });
      await sync.start();
      return sync;
    }));
    await new Promise((r) => setTimeout(r, 50));
    const t0 = performance.now();
    await Promise.all(nodes.map(async (n, r) => {
      for (let i = 0; i < BURST; i++) {
        await n.updateContext({
          avi: { device: { [key(i * 7 + r)]: r * 1000 + i } },
        });
      }
    }));
    const first = () => nodes[0].getContext()!;
    while (!nodes.every((n) => jsonEqual(n.getContext()!, first()))) {
      await new Promise((r) => setTimeout(r, 1));
    }
    const ms = performance.now() - t0;
    console.log(
      `  avi ContextSync, ${REPLICAS} nodes on an in-memory gossip network (Ed25519 sign + ` +
        `verify every delta): burst to convergence ${tAvi(ms)}`,
    );
    for (const n of nodes) await n.stop();
    net.close();
  }

  // ------------------------------- ten real mesh nodes on 127.0.0.1 (libp2p)
  {
    const opts = {
      listenHost: "127.0.0.1",
      dataDir: null,
      enableMdns: false,
      enableKad: false,
      onWarning: () => {},
    };
    const hub = await AviP2p.start({ ...opts, nodeName: "hub" });
    const nodes = [hub];
    try {
      for (let r = 1; r < REPLICAS; r++) {
        nodes.push(
          await AviP2p.start({
            ...opts,
            nodeName: `n${r}`,
            bootstrapPeers: [hub.listenAddresses[0]],
          }),
        );
      }
      const deadline = Date.now() + 20_000;
      while ((await hub.handle().connectedPeers()).length < REPLICAS - 1) {
        if (Date.now() > deadline) throw new Error("bench: mesh did not form");
        await new Promise((r) => setTimeout(r, 20));
      }
      await new Promise((r) => setTimeout(r, 1500)); // GossipSub subscriptions
      const t0 = performance.now();
      await Promise.all(nodes.map(async (n, r) => {
        for (let i = 0; i < BURST; i++) {
          await n.handle().updateContext({
            avi: { device: { [key(i * 7 + r)]: r * 1000 + i } },
          });
        }
      }));
      const tWrite = performance.now() - t0;
      let ok = false;
      while (!ok && performance.now() - t0 < 40_000) {
        const all = await Promise.all(
          nodes.map((n) => n.handle().getContext()),
        );
        ok = all.every((c) => jsonEqual(c, all[0]));
        if (!ok) await new Promise((r) => setTimeout(r, 5));
      }
      const ms = performance.now() - t0;
      console.log(
        `  avi on ${REPLICAS} real mesh nodes in this one process (TCP + Noise + Yamux + GossipSub, star): burst of ` +
          `${REPLICAS * BURST} updates written in ${
            tAvi(tWrite)
          }, all converged after ${ok ? tAvi(ms) : "NOT within 40 s"}`,
      );
    } finally {
      await Promise.all(nodes.map((n) => n.shutdown().catch(() => {})));
    }
  }

  function tAvi(ms: number): string {
    return `${ms.toFixed(1)} ms`;
  }
}

if (import.meta.main) await bench();
