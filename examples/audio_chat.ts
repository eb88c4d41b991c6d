/**
 * Two nodes call each other: each opens a realtime stream to the other and a
 * simulated microphone sends 16 kHz, 16-bit mono PCM in 20 ms frames (640
 * bytes, 32 kB/s) both ways. The statistics of both calls print every
 * second.
 *
 * ```sh
 * scripts/deno run -P=node examples/audio_chat.ts --seconds 5
 * ```
 *
 * Flags (`--help` lists them with their defaults): `--seconds N` (how long
 * the call lasts, default 5), `--mode` (`realtime`, the default, or
 * `reliable`). A bad flag or a missing permission flag prints one line
 * (exit status 2).
 *
 * @module
 */

import type { AviEvent, StreamId, StreamMode, StreamStats } from "../mod.ts";
import {
  numberFlag,
  parseFlags,
  program,
  requirePermissions,
  usageError,
} from "./_args.ts";

const PROGRAM = program({
  name: "audio_chat.ts",
  summary: "two nodes call each other with a simulated microphone",
  usage: [
    "deno run -P=node examples/audio_chat.ts [--seconds N] [--mode MODE]",
    "deno run --allow-net --allow-env examples/audio_chat.ts [flags]",
  ],
  permissionSet: "node",
  flags: {
    seconds: {
      type: "string",
      arg: "N",
      default: "5",
      help: "how long the call lasts",
    },
    mode: {
      type: "string",
      arg: "MODE",
      default: "realtime",
      help: "realtime or reliable",
    },
  },
  notes: `Permissions: --allow-net; --allow-env (js-libp2p reads the environment
as it is imported). Both nodes run in this process on 127.0.0.1.`,
});

const values = parseFlags(PROGRAM);
const seconds = numberFlag(PROGRAM, "seconds", values.seconds, {
  positive: true,
});
if (values.mode !== "realtime" && values.mode !== "reliable") {
  usageError(
    PROGRAM,
    `--mode must be "realtime" or "reliable", not ${
      JSON.stringify(values.mode)
    }`,
  );
}
const mode: StreamMode = values.mode;
requirePermissions(PROGRAM, [{ name: "env" }, { name: "net" }]);

// The library, once the permissions are known to be there (js-libp2p reads
// the environment as it is imported).
const { AviP2p } = await import("../mod.ts");
type AviP2p = Awaited<ReturnType<typeof AviP2p.start>>;

const SAMPLE_RATE = 16_000;
const FRAME_MS = 20;
const SAMPLES = SAMPLE_RATE * FRAME_MS / 1000; // 320 samples = 640 bytes

/** A microphone that hums a tone: one 20 ms frame of 16-bit LE PCM per call. */
function microphone(hz: number): () => Uint8Array {
  let t = 0;
  return () => {
    const pcm = new Int16Array(SAMPLES);
    for (let i = 0; i < SAMPLES; i++, t++) {
      pcm[i] = Math.round(8000 * Math.sin(2 * Math.PI * hz * t / SAMPLE_RATE));
    }
    return new Uint8Array(pcm.buffer);
  };
}

const config = {
  listenHost: "127.0.0.1",
  enableMdns: false,
  dataDir: null,
  onWarning: () => {},
};
const alice = await AviP2p.start({ ...config, nodeName: "alice" });
const bob = await AviP2p.start({
  ...config,
  nodeName: "bob",
  bootstrapPeers: [alice.listenAddresses[0]],
});

/** Each node accepts every incoming call and counts the audio it hears. */
function answer(node: AviP2p, heard: { frames: number }): Promise<void> {
  const events = node.events();
  return (async () => {
    for await (const ev of events as AsyncIterable<AviEvent>) {
      if (ev.type === "streamRequested") {
        await node.handle().acceptStream(ev.streamId);
      } else if (ev.type === "streamData") {
        heard.frames++;
      }
    }
  })();
}
const heardByAlice = { frames: 0 };
const heardByBob = { frames: 0 };
const answering = [answer(alice, heardByAlice), answer(bob, heardByBob)];

// wait for the bootstrap connection
while (!(await alice.handle().connectedPeers()).includes(bob.peerId)) {
  await new Promise((r) => setTimeout(r, 50));
}

const [aliceCall, bobCall] = await Promise.all([
  alice.handle().requestStream(bob.peerId, "voice call", { mode }),
  bob.handle().requestStream(alice.peerId, "voice call", { mode }),
]);
console.log(
  `call up (${mode}): alice -> bob ${aliceCall}, bob -> alice ${bobCall}`,
);

const aliceMic = microphone(440);
const bobMic = microphone(660);
const start = performance.now();
const ticks = Math.round(seconds * 1000 / FRAME_MS);

/** One call's figures: the sender's view and the receiver's. */
async function line(
  from: AviP2p,
  to: AviP2p,
  id: StreamId,
  label: string,
): Promise<string> {
  const tx: StreamStats = await from.handle().streamStats(id);
  const rx: StreamStats = await to.handle().streamStats(id);
  return `${label}: sent ${tx.framesSent} frames (${tx.bytesSent} B), ` +
    `received ${rx.framesReceived} (${rx.bytesReceived} B), lost ${rx.lost}, ` +
    `dropped ${tx.dropped + rx.dropped}, reordered ${rx.reordered}, ` +
    `jitter ${rx.jitterMs.toFixed(2)} ms, latency ${
      rx.latencyMs.toFixed(2)
    } ms`;
}

async function report(): Promise<void> {
  console.log("  " + await line(alice, bob, aliceCall, "alice -> bob"));
  console.log("  " + await line(bob, alice, bobCall, "bob -> alice"));
}

const printer = setInterval(async () => {
  const secs = ((performance.now() - start) / 1000).toFixed(0);
  console.log(`[${secs} s]`);
  await report();
}, 1000);

for (let t = 0; t < ticks; t++) {
  const due = start + t * FRAME_MS;
  const wait = due - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const ts = Date.now();
  await Promise.all([
    alice.handle().sendStreamData(aliceCall, aliceMic(), { timestamp: ts }),
    bob.handle().sendStreamData(bobCall, bobMic(), { timestamp: ts }),
  ]);
}
await new Promise((r) => setTimeout(r, 200));
clearInterval(printer);
console.log(
  `hanging up after ${seconds} s: alice heard ${heardByAlice.frames} frames, ` +
    `bob heard ${heardByBob.frames} frames (${ticks} sent each way)`,
);
await report();
await alice.handle().closeStream(aliceCall);
await bob.handle().closeStream(bobCall);
await Promise.all([alice.shutdown(), bob.shutdown()]);
await Promise.allSettled(answering);
// js-libp2p under Deno can keep the process alive for a while after both
// nodes stopped; the call is over, so leave now.
Deno.exit(0);
