/**
 * The receiver of bench/streams.ts's voice run in its own process: a node of
 * the product's stack with a stream service that accepts every stream and
 * measures each frame's latency from the capture timestamp the sender put in
 * it (absolute milliseconds, so both processes read the same clock).
 *
 * Args (JSON in argv[0]): `{ frames }`, the frames expected. Output: one
 * JSON line per phase on stdout: `ready` (`addr`, `peerId`), `voice` (every
 * frame in, or a `report` line on stdin: `received`, `lost`, `dropped`,
 * `p50`, `p99` in ms).
 *
 * @module
 */

import { applyStackAdjustments } from "../mesh/_libp2p.ts";
import { patchTcpWrites } from "../mesh/_tcp_write.ts";
import { StreamService } from "../streams/service.ts";
import { startTestNode } from "../tests/support/streams_fixture.ts";
import { stdinLines } from "./_child.ts";

const job = JSON.parse(Deno.args[0]) as { frames: number };
const absNow = () => performance.timeOrigin + performance.now();
const out = (o: unknown) => console.log(JSON.stringify(o));

await applyStackAdjustments();
const node = await startTestNode();
patchTcpWrites(node.libp2p);
const latencies: number[] = [];
const ids: string[] = [];
let reported = false;
const report = () => {
  if (reported) return;
  reported = true;
  let lost = 0;
  let dropped = 0;
  for (const id of ids) {
    const s = service.stats(id);
    lost += s.lost;
    dropped += s.dropped;
  }
  const sorted = [...latencies].sort((a, b) => a - b);
  const pct = (p: number) =>
    sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
  out({
    phase: "voice",
    received: latencies.length,
    lost,
    dropped,
    p50: pct(0.5),
    p99: pct(0.99),
  });
};
const service: StreamService = new StreamService({
  libp2p: node.libp2p,
  maxStreams: 64,
  maxStreamsPerPeer: 64,
  emit: (e) => {
    if (e.type === "streamData") {
      latencies.push(absNow() - e.timestamp);
      if (latencies.length === job.frames) report();
    } else if (e.type === "streamRequested") {
      ids.push(e.streamId);
      void service.accept(e.streamId);
    }
  },
});
await service.start();
out({
  phase: "ready",
  addr: node.libp2p.getMultiaddrs()[0].toString(),
  peerId: node.id,
});

for await (const line of stdinLines()) if (line === "report") report();
await service.stop();
await node.stop();
Deno.exit(0);
