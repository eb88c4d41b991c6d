/**
 * The stream service reaches the network only through the `StreamsHost`
 * port: a js-libp2p node satisfies it without a cast, and a small in-memory
 * fake is enough to drive the service.
 */
import assert from "node:assert/strict";
import type { Libp2p } from "@libp2p/interface";
import { generateKeyPair } from "@libp2p/crypto/keys";
import { peerIdFromPrivateKey } from "@libp2p/peer-id";
import type { AviEvent } from "../core/events.ts";
import type { PeerId } from "../core/peer_id.ts";
import {
  encodeFrame,
  FLAG_ACK_NOW,
  type Frame,
  FrameDecoder,
  FrameType,
  STREAM_PROTOCOL,
} from "../streams/frame.ts";
import type {
  HostConnection,
  HostStream,
  HostStreamEvents,
  StreamsHost,
} from "../streams/host.ts";
import { StreamService } from "../streams/service.ts";

// A js-libp2p node, with or without services, is a host as it is.
type Assignable<T, U extends T> = U;
export type LibP2pIsAHost = Assignable<StreamsHost, Libp2p>;
export type MeshLikeIsAHost = Assignable<
  StreamsHost,
  Libp2p<{ pubsub: { publish(): void }; dht?: unknown }>
>;

/** One end of an in-memory stream: records what the service writes. */
class FakeStream implements HostStream {
  status = "open";
  writableNeedsDrain = false;
  writeBufferLength = 0;
  readBufferLength = 0;
  maxReadBufferLength = 4 << 20;
  aborted?: Error;
  readonly written: Frame[] = [];
  readonly #decoder = new FrameDecoder(1 << 20);
  readonly #listeners = new Map<string, Set<(event: unknown) => void>>();

  send(data: Uint8Array): boolean {
    this.#decoder.push(data);
    for (let f = this.#decoder.next(); f; f = this.#decoder.next()) {
      this.written.push(f);
    }
    return true;
  }
  close(): Promise<void> {
    this.status = "closed";
    return Promise.resolve();
  }
  abort(err: Error): void {
    this.aborted = err;
    this.status = "aborted";
  }
  pause(): void {}
  resume(): void {}
  addEventListener<K extends keyof HostStreamEvents>(
    type: K,
    listener: (event: HostStreamEvents[K]) => void,
  ): void {
    const set = this.#listeners.get(type) ?? new Set();
    set.add(listener as (event: unknown) => void);
    this.#listeners.set(type, set);
  }
  removeEventListener<K extends keyof HostStreamEvents>(
    type: K,
    listener: (event: HostStreamEvents[K]) => void,
  ): void {
    this.#listeners.get(type)?.delete(listener as (event: unknown) => void);
  }
  /** The peer sends a frame. */
  receive(frame: Uint8Array): void {
    for (const l of this.#listeners.get("message") ?? []) l({ data: frame });
  }
}

/** A host with no connections that records its handler. */
class FakeHost implements StreamsHost {
  handler?: (stream: HostStream, connection: HostConnection) => void;
  readonly calls: string[] = [];
  handle(
    protocol: string,
    handler: (stream: HostStream, connection: HostConnection) => void,
    options: { maxInboundStreams: number },
  ): Promise<void> {
    this.calls.push(`handle ${protocol} ${options.maxInboundStreams}`);
    this.handler = handler;
    return Promise.resolve();
  }
  unhandle(protocol: string): Promise<void> {
    this.calls.push(`unhandle ${protocol}`);
    return Promise.resolve();
  }
  dialProtocol(): Promise<HostStream> {
    this.calls.push("dialProtocol");
    return Promise.reject(new Error("no dialling here"));
  }
  getConnections(): readonly unknown[] {
    return [];
  }
}

const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

Deno.test("the service runs on any StreamsHost: a fake host and stream", async () => {
  const host = new FakeHost();
  const events: AviEvent[] = [];
  const service = new StreamService({
    libp2p: host,
    emit: (e) => events.push(e),
    maxStreams: 5,
  });
  await service.start();
  assert.deepEqual(host.calls, [`handle ${STREAM_PROTOCOL} 64`]);

  // an unconnected peer: refused without dialling
  const peer = peerIdFromPrivateKey(await generateKeyPair("Ed25519"))
    .toString() as PeerId;
  await assert.rejects(service.request(peer, "x"), {
    name: "PeerNotFoundError",
  });
  assert.ok(!host.calls.includes("dialProtocol"));

  // an inbound realtime stream: request, accept, data, acks, close
  const raw = new FakeStream();
  host.handler!(raw, { remotePeer: { toString: () => peer } });
  raw.receive(encodeFrame(
    FrameType.Request,
    0,
    0,
    json({ id: "s1", reason: "voice", mode: "realtime" }),
  ));
  assert.deepEqual(events.map((e) => e.type), ["streamRequested"]);
  await service.accept("s1");
  assert.equal(raw.written.at(-1)?.type, FrameType.Accept);
  for (let seq = 0; seq < 8; seq++) {
    raw.receive(
      encodeFrame(FrameType.Data, seq, 1000 + seq, new Uint8Array(3)),
    );
  }
  assert.equal(events.filter((e) => e.type === "streamData").length, 8);
  // a request without ackNow (an older sender): acks every 4th frame
  assert.deepEqual(
    raw.written.filter((f) => f.type === FrameType.Ack).map((f) => f.seq),
    [3, 7],
  );
  // a frame that fills the sender's window is acknowledged at once
  raw.receive(
    encodeFrame(FrameType.Data, 8, 1008, new Uint8Array(3), FLAG_ACK_NOW),
  );
  assert.equal(raw.written.at(-1)?.type, FrameType.Ack);
  assert.equal(raw.written.at(-1)?.seq, 8);
  assert.equal(service.stats("s1").framesReceived, 9);
  await service.close("s1");
  assert.equal(raw.written.at(-1)?.type, FrameType.Close);
  assert.equal(raw.status, "closed");

  // a request with ackNow (a sender that flags its window-filling frame):
  // acks every 8th frame, and the accept says this end flags too
  const raw2 = new FakeStream();
  host.handler!(raw2, { remotePeer: { toString: () => peer } });
  raw2.receive(encodeFrame(
    FrameType.Request,
    0,
    0,
    json({ id: "s2", reason: "voice", mode: "realtime", ackNow: true }),
  ));
  await service.accept("s2");
  const accept = raw2.written.at(-1)!;
  assert.equal(accept.type, FrameType.Accept);
  assert.deepEqual(
    JSON.parse(new TextDecoder().decode(accept.payload)),
    { ackNow: true },
  );
  for (let seq = 0; seq < 16; seq++) {
    raw2.receive(
      encodeFrame(FrameType.Data, seq, 2000 + seq, new Uint8Array(3)),
    );
  }
  assert.deepEqual(
    raw2.written.filter((f) => f.type === FrameType.Ack).map((f) => f.seq),
    [7, 15],
  );
  await service.close("s2");

  // a peer that breaks the protocol is counted and aborted
  const bad = new FakeStream();
  host.handler!(bad, { remotePeer: { toString: () => peer } });
  bad.receive(encodeFrame(FrameType.Data, 0, 0, new Uint8Array(1)));
  assert.equal(service.counters().protocolErrors, 1);
  assert.ok(bad.aborted);

  await service.stop();
  assert.equal(host.calls.at(-1), `unhandle ${STREAM_PROTOCOL}`);
});
