/**
 * The hop's heap part (bench/hop.ts): what one gossip message leaves alive
 * on the heap while GossipSub still remembers it. A sender and a receiver
 * in this process exchange `count` messages of 100 B at about 1,000 a
 * second, well inside the message cache's five heartbeats and the seen
 * caches' 30 s; the heap after a full GC, minus the heap before, over the
 * messages, is what every young-generation GC copied and promoted for each
 * message (sender and receiver together).
 *
 * Side by side: the nodes as they run, and the same nodes with the
 * package's own message cache, peer score and seen caches (the instance
 * methods of mesh/_message_cache.ts, mesh/_gossip_records.ts and
 * mesh/_time_cache.ts removed before any message). Each measurement runs in a fresh process (what one left behind
 * would be freed during the next).
 *
 * @module
 */

import { forceGc } from "./_gc.ts";
import { spawnChild } from "./_child.ts";
import { out, PAYLOAD, sleep, TOPIC } from "./_hop_common.ts";
import { GOSSIP_RECORDS_METHODS } from "../mesh/_gossip_records.ts";
import { MESSAGE_CACHE_METHODS } from "../mesh/_message_cache.ts";
import { TIME_CACHE_FIELDS, TIME_CACHE_METHODS } from "../mesh/_time_cache.ts";

/**
 * Bytes left alive on the heap per message, sender and receiver together,
 * measured in a helper process.
 */
export async function retainedPerMessage(
  count: number,
  packageOwn: boolean,
): Promise<number> {
  const helper = spawnChild("_hop_heap.ts", { count, packageOwn });
  try {
    return (await helper.phase("heap")).bytes;
  } finally {
    await helper.close();
  }
}

/** In the helper: the measurement itself. */
async function measure(
  count: number,
  packageOwn: boolean,
): Promise<number> {
  const gc = forceGc();
  if (!gc) throw new Error("no way to force a GC here");
  const { AviP2p } = await import("../mesh/mod.ts");
  const { RUNTIME } = await import("../mesh/node.ts");
  const start = (name: string, boot: string[] = []) =>
    AviP2p.start({
      nodeName: name,
      listenHost: "127.0.0.1",
      dataDir: null,
      enableMdns: false,
      enableKad: false,
      eventQueueSize: 65_536,
      bootstrapPeers: boot,
      onWarning: () => {},
    });
  const b = await start("heap-recv");
  const a = await start("heap-send", [b.listenAddresses[0]]);
  try {
    if (packageOwn) {
      for (const n of [a, b]) {
        const pubsub = (n as unknown as Record<
          symbol,
          () => {
            libp2p: {
              services: {
                pubsub: {
                  score: Record<string, unknown>;
                  mcache: Record<string, unknown>;
                } & Record<string, Record<string, unknown> | undefined>;
              };
            };
          }
        >)[RUNTIME]().libp2p.services.pubsub;
        for (const m of GOSSIP_RECORDS_METHODS) delete pubsub.score[m];
        for (const m of MESSAGE_CACHE_METHODS) delete pubsub.mcache[m];
        for (const f of TIME_CACHE_FIELDS) {
          const cache = pubsub[f];
          if (cache === undefined) continue;
          for (const m of TIME_CACHE_METHODS) delete cache[m];
        }
      }
    }
    await b.handle().subscribe(TOPIC);
    let got = 0;
    void (async () => {
      for await (const e of b.events()) if (e.type === "message") got++;
    })();
    while ((await a.handle().topicPeers(TOPIC)).length < 1) await sleep(20);
    const send = async (n: number) => {
      const target = got + n;
      for (let i = 0; i < n; i++) {
        await a.handle().publish(TOPIC, new Uint8Array(PAYLOAD));
        if (i % 5 === 4) await sleep(1); // about 1,000 a second
      }
      while (got < target) await sleep(5);
    };
    await send(200); // warm-up
    gc();
    gc();
    const before = Deno.memoryUsage().heapUsed;
    await send(count);
    gc();
    gc();
    return (Deno.memoryUsage().heapUsed - before) / count;
  } finally {
    await a.shutdown();
    await b.shutdown();
  }
}

if (import.meta.main) {
  const job = JSON.parse(Deno.args[0]) as {
    count: number;
    packageOwn: boolean;
  };
  out({ phase: "heap", bytes: await measure(job.count, job.packageOwn) });
  Deno.exit(0);
}
