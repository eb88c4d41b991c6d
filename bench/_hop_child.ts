/**
 * One side of one variant of bench/hop.ts, in its own process: an `AviP2p`
 * node (or the same with the dependencies' own code put back), a raw
 * js-libp2p node, or a raw TCP socket; it sends or receives and reports
 * its figures on stdout.
 *
 * @module
 */

import { stdinLines } from "./_child.ts";
import {
  absNow,
  cpuUs,
  frame,
  type Job,
  out,
  pct,
  RATE,
  sleep,
  TAIL,
  TOPIC,
} from "./_hop_common.ts";
import { profiler } from "./_hop_profile.ts";

export interface Side {
  /** Receiver: its address for the sender. */
  addr?: string;
  /** Sender: resolves once the receiver is reachable and subscribed. */
  ready(): Promise<void>;
  send(data: Uint8Array): Promise<unknown> | void;
  /** Receiver: calls `fn` for each message. */
  onMessage(fn: (data: Uint8Array) => void): void;
}

export async function until(
  cond: () => boolean | Promise<boolean>,
): Promise<void> {
  const end = Date.now() + 30_000;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error("hop: setup timed out");
    await sleep(20);
  }
}

export async function aviSide(job: Job): Promise<Side> {
  let restore = () => {};
  if (job.undo) restore = await undoAdjustments();
  const { AviP2p } = await import("../mesh/mod.ts");
  const { RUNTIME } = await import("../mesh/node.ts");
  const node = await AviP2p.start({
    nodeName: `hop-${job.role}`,
    listenHost: "127.0.0.1",
    dataDir: null,
    enableMdns: false,
    enableKad: false,
    eventQueueSize: 65_536,
    bootstrapPeers: [...(job.addr ? [job.addr] : []), ...(job.more ?? [])],
    onWarning: () => {},
  });
  restore();
  if (job.undo) {
    // and without the message-id options of mesh/_msg_id.ts that matter
    // here: a relayed copy is checked again before it is found in the cache
    const runtime = (node as unknown as Record<
      symbol,
      () => {
        libp2p: {
          addEventListener(type: "connection:open", fn: () => void): void;
          services: {
            pubsub: {
              fastMsgIdFn?: unknown;
              score: Record<string, unknown>;
              mcache: Record<string, unknown>;
            } & Record<string, Record<string, unknown> | undefined>;
          };
        };
      }
    >)[RUNTIME]();
    const pubsub = runtime.libp2p.services.pubsub;
    pubsub.fastMsgIdFn = undefined;
    // and the package's own peer-score records and message-cache entries
    // (mesh/_gossip_records.ts and mesh/_message_cache.ts set own methods
    // on the instances: without them, the classes' methods apply again)
    const { GOSSIP_RECORDS_METHODS } = await import(
      "../mesh/_gossip_records.ts"
    );
    for (const m of GOSSIP_RECORDS_METHODS) delete pubsub.score[m];
    const { MESSAGE_CACHE_METHODS } = await import(
      "../mesh/_message_cache.ts"
    );
    for (const m of MESSAGE_CACHE_METHODS) delete pubsub.mcache[m];
    // and the package's seen caches (mesh/_time_cache.ts, own methods too;
    // nothing is in them before the first message)
    const { TIME_CACHE_FIELDS, TIME_CACHE_METHODS } = await import(
      "../mesh/_time_cache.ts"
    );
    for (const f of TIME_CACHE_FIELDS) {
      const cache = pubsub[f];
      if (cache === undefined) continue;
      if ((cache.entries as Map<unknown, unknown>).size > 0) {
        throw new Error(`hop: ${f} already holds entries: cannot undo`);
      }
      for (const m of TIME_CACHE_METHODS) delete cache[m];
    }
    // and the package's socket writes (mesh/_tcp_write.ts adjusts the TCP
    // connection class at the first connection: put back after it)
    const { undoTcpWrites } = await import("../mesh/_tcp_write.ts");
    undoTcpWrites();
    runtime.libp2p.addEventListener("connection:open", undoTcpWrites);
    // and Yamux's own frame headers (mesh/_yamux_header.ts, likewise)
    const { undoYamuxHeaders } = await import("../mesh/_yamux_header.ts");
    undoYamuxHeaders();
    runtime.libp2p.addEventListener("connection:open", undoYamuxHeaders);
  }
  let handler: (d: Uint8Array) => void = () => {};
  if (job.role === "recv") {
    await node.handle().subscribe(TOPIC);
    (async () => {
      for await (const ev of node.events()) {
        if (ev.type === "message") handler(ev.data);
      }
    })();
  }
  return {
    addr: node.listenAddresses[0],
    ready: () =>
      until(async () =>
        (await node.handle().topicPeers(TOPIC)).length === (job.peers ?? 1)
      ),
    send: (d) => node.handle().publish(TOPIC, d),
    onMessage: (fn) => (handler = fn),
  };
}

/**
 * Puts back the packages' `Uint8ArrayList.consume` (both versions),
 * `LengthPrefixedDecoder.decode`, `ChaCha20Poly1305.seal` and GossipSub's
 * `emitGossip` and `validateReceivedMessage` after the node has installed
 * mesh/_consume.ts, mesh/_lp_decoder.ts, mesh/_chacha_seal.ts,
 * mesh/_gossip_idle.ts and mesh/_gossip_validate.ts:
 * the code as it ran before issue 17's adjustments (of the message-id
 * options of mesh/_msg_id.ts, `aviSide` removes the fast id; the others
 * make the same ids).
 * Returns the function to call once the node has started.
 */
export async function undoAdjustments(): Promise<() => void> {
  const { Uint8ArrayList: V3 } = await import("uint8arraylist");
  const { Uint8ArrayList: V2 } = await import("uint8arraylist-v2");
  const { LengthPrefixedDecoder: LP } = await import("@libp2p/utils");
  const { ChaCha20Poly1305: CP } = await import(
    "@chainsafe/as-chacha20poly1305"
  ) as unknown as { ChaCha20Poly1305: { prototype: Record<string, unknown> } };
  const gs = await import(
    new URL("gossipsub.js", import.meta.resolve("@libp2p/gossipsub")).href
  ) as { GossipSub: { prototype: Record<string, unknown> } };
  const saved = [
    [V3.prototype, "consume", V3.prototype.consume],
    [V2.prototype, "consume", V2.prototype.consume],
    [LP.prototype, "decode", LP.prototype.decode],
    [CP.prototype, "seal", CP.prototype.seal],
    [gs.GossipSub.prototype, "emitGossip", gs.GossipSub.prototype.emitGossip],
    [
      gs.GossipSub.prototype,
      "validateReceivedMessage",
      gs.GossipSub.prototype.validateReceivedMessage,
    ],
  ] as const;
  return () => {
    for (const [proto, name, fn] of saved) {
      if ((proto as Record<string, unknown>)[name] === fn) {
        throw new Error(`hop: ${name} was not adjusted: nothing to undo`);
      }
      (proto as Record<string, unknown>)[name] = fn;
    }
  };
}

export async function libp2pSide(job: Job): Promise<Side> {
  // the same raw node as bench/pubsub.ts (default options)
  const { rawNode } = await import("./pubsub.ts");
  const { multiaddr } = await import("@multiformats/multiaddr");
  // deno-lint-ignore no-explicit-any
  const node: any = await rawNode();
  let handler: (d: Uint8Array) => void = () => {};
  if (job.role === "recv") {
    node.services.pubsub.subscribe(TOPIC);
    node.services.pubsub.addEventListener(
      "message",
      (ev: { detail: { topic: string; data: Uint8Array } }) => {
        if (ev.detail.topic === TOPIC) handler(ev.detail.data);
      },
    );
  } else {
    await node.dial(multiaddr(job.addr!));
  }
  return {
    addr: node.getMultiaddrs()[0]?.toString(),
    ready: () =>
      until(() => node.services.pubsub.getSubscribers(TOPIC).length === 1),
    send: (d) => node.services.pubsub.publish(TOPIC, d),
    onMessage: (fn) => (handler = fn),
  };
}

export async function tcpSide(job: Job): Promise<Side> {
  let handler: (d: Uint8Array) => void = () => {};
  if (job.role === "recv") {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    (async () => {
      const conn = await listener.accept();
      conn.setNoDelay(true);
      let buf = new Uint8Array(0);
      for await (const chunk of conn.readable) {
        const all = new Uint8Array(buf.length + chunk.length);
        all.set(buf);
        all.set(chunk, buf.length);
        let at = 0;
        while (all.length - at >= 4) {
          const n = new DataView(all.buffer, at).getUint32(0);
          if (all.length - at - 4 < n) break;
          handler(all.subarray(at + 4, at + 4 + n));
          at += 4 + n;
        }
        buf = all.slice(at);
      }
    })();
    const a = listener.addr as Deno.NetAddr;
    return {
      addr: `${a.hostname}:${a.port}`,
      ready: () => Promise.resolve(),
      send: () => {},
      onMessage: (fn) => (handler = fn),
    };
  }
  const [hostname, port] = job.addr!.split(":");
  const conn = await Deno.connect({ hostname, port: Number(port) });
  conn.setNoDelay(true);
  return {
    ready: () => Promise.resolve(),
    send: async (d) => {
      const f = new Uint8Array(4 + d.length);
      new DataView(f.buffer).setUint32(0, d.length);
      f.set(d, 4);
      let at = 0;
      while (at < f.length) at += await conn.write(f.subarray(at));
    },
    onMessage: (fn) => (handler = fn),
  };
}

export async function child(job: Job): Promise<void> {
  const make = { avi: aviSide, libp2p: libp2pSide, tcp: tcpSide }[job.kind];
  const side = await make(job);
  const lines = stdinLines();
  const prof = job.profile ? await profiler() : undefined;
  if (job.role === "recv") {
    const lat: number[] = [];
    let got = 0;
    let cpu0 = 0;
    let done = false;
    const report = () => {
      if (done) return;
      done = true;
      // (read once: process.cpuUsage() itself costs about 30 µs)
      const cpuEnd = cpuUs();
      lat.sort((a, b) => a - b);
      prof?.stop(got).then((p) => out({ phase: "recvProf", ...p }));
      out({
        phase: "recv",
        received: got,
        cpuUsPerMsg: (cpuEnd - cpu0) / Math.max(1, got - 1),
        p50: pct(lat, 0.5),
        p99: pct(lat, 0.99),
        max: lat[lat.length - 1] ?? NaN,
      });
    };
    const first = job.warm;
    const end = job.warm + job.count - 1;
    side.onMessage((d) => {
      const now = absNow();
      const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
      const seq = v.getUint32(8);
      if (seq < first || seq > end) {
        if (seq > end && !done && got > 0) report();
        return;
      }
      if (got === 0) {
        prof?.start();
        cpu0 = cpuUs();
      }
      got++;
      if (job.mode === "steady") lat.push(now - v.getFloat64(0));
      if (seq === end) report();
    });
    out({ phase: "ready", addr: side.addr });
    for await (const line of lines) {
      if (line === "report") report();
    }
    return;
  }
  // sender
  await side.ready();
  out({ phase: "ready" });
  if (job.mode === "steady") {
    const total = job.warm + job.count + TAIL;
    const start = performance.now();
    let i = 0;
    let cpu0 = 0;
    let cpu1 = 0;
    while (i < total) {
      const due = Math.min(
        total,
        Math.floor(((performance.now() - start) / 1000) * RATE),
      );
      while (i < due) {
        if (i === job.warm) {
          prof?.start();
          cpu0 = cpuUs();
        }
        await side.send(frame(i));
        if (i === job.warm + job.count - 1) {
          cpu1 = cpuUs();
          if (prof) out({ phase: "sendProf", ...await prof.stop(job.count) });
        }
        i++;
      }
      await sleep(1);
    }
    out({ phase: "send", cpuUsPerMsg: (cpu1 - cpu0) / job.count });
  } else {
    // warm-up at the steady rate, a pause, then the burst back to back
    const start = performance.now();
    let i = 0;
    while (i < job.warm) {
      const due = Math.min(
        job.warm,
        Math.floor(((performance.now() - start) / 1000) * RATE),
      );
      while (i < due) await side.send(frame(i++));
      await sleep(1);
    }
    await sleep(500);
    const cpu0 = cpuUs();
    const t0 = performance.now();
    for (let k = 0; k < job.count; k++) await side.send(frame(job.warm + k));
    const sendMs = performance.now() - t0;
    out({ phase: "sent", sendMs });
    for await (const line of lines) {
      if (line === "stop") {
        out({ phase: "send", cpuUsPerMsg: (cpuUs() - cpu0) / job.count });
        break;
      }
    }
  }
  for await (const _ of lines) { /* until the parent closes stdin */ }
}
