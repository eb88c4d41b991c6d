/**
 * Device streams relayed to mesh streams: a device's StreamStart asks the
 * mesh for a real-time stream to a peer, its StreamData goes on it (loss and
 * reordering counted), the peer's data comes back as StreamData, and either
 * side's close closes the other.
 *
 * @module
 */

import { ErrorCode } from "../protocol/mod.ts";
import type { BridgeMesh } from "./mesh_port.ts";
import type { ResolvedLimits } from "./options.ts";
import type { Outbox } from "./outbox.ts";
import type { Device, Session, StreamState } from "./sessions.ts";
import type { BridgeStats } from "./stats.ts";

/** What the relay works with. */
export interface StreamRelayDeps {
  /** The mesh node (its stream calls are optional). */
  mesh: BridgeMesh;
  /** Bounds. */
  limits: ResolvedLimits;
  /** Counters. */
  stats: BridgeStats;
  /** Every known device by id. */
  devices: Map<string, Device>;
  /** Queues to sessions. */
  outbox: Outbox;
  /** Keep a mesh call until close. */
  track(p: Promise<unknown>): void;
}

/** Device streams ↔ mesh streams. */
export class StreamRelay {
  #deps: StreamRelayDeps;
  #meshStreams = new Map<string, [Device, number]>();

  /** No streams yet. */
  constructor(deps: StreamRelayDeps) {
    this.#deps = deps;
  }

  #ack(s: Session, msgId: number, code: number): void {
    this.#deps.outbox.queue(s, { type: "ack", msgId, code });
  }

  /** A StreamStart: acked once the mesh stream is open (or why not). */
  start(
    s: Session,
    msgId: number,
    streamId: number,
    target: string,
    reason: string,
  ): void {
    const { mesh, limits, stats } = this.#deps;
    const d = s.device;
    const existing = d.streams.get(streamId);
    if (existing) {
      // A retransmitted StreamStart: answer once it is settled.
      if (!existing.opening) this.#ack(s, msgId, ErrorCode.OK);
      return;
    }
    if (!mesh.requestStream || !mesh.sendStreamData) {
      return this.#ack(s, msgId, ErrorCode.UNAVAILABLE);
    }
    if (d.streams.size >= limits.maxStreamsPerDevice) {
      return this.#ack(s, msgId, ErrorCode.LIMIT_REACHED);
    }
    const st: StreamState = {
      meshId: undefined,
      opening: true,
      nextSeqIn: 0,
      lost: 0,
      reordered: 0,
      seqOut: 0,
    };
    d.streams.set(streamId, st);
    this.#deps.track(
      mesh.requestStream(target, reason, { mode: "realtime" }).then(
        (id) => {
          st.opening = false;
          if (d.streams.get(streamId) !== st) {
            mesh.closeStream?.(id);
            return;
          }
          st.meshId = id;
          this.#meshStreams.set(id, [d, streamId]);
          if (d.session) this.#ack(d.session, msgId, ErrorCode.OK);
        },
        (e) => {
          stats.meshErrors++;
          if (d.streams.get(streamId) === st) d.streams.delete(streamId);
          const code = e?.name === "PeerNotFoundError" ||
              e?.name === "StreamRejectedError"
            ? ErrorCode.UNAVAILABLE
            : e?.name === "LimitExceededError"
            ? ErrorCode.LIMIT_REACHED
            : ErrorCode.UNAVAILABLE;
          if (d.session) this.#ack(d.session, msgId, code);
        },
      ),
    );
  }

  /** A device's StreamData, sent on its mesh stream. */
  data(s: Session, streamId: number, seq: number, data: Uint8Array): void {
    const st = s.device.streams.get(streamId);
    if (st === undefined || st.meshId === undefined) {
      this.#deps.outbox.queue(s, {
        type: "streamClose",
        streamId,
        code: ErrorCode.UNKNOWN_STREAM,
      });
      return;
    }
    if (seq > st.nextSeqIn) st.lost += seq - st.nextSeqIn;
    if (seq < st.nextSeqIn) {
      st.reordered++;
      if (st.lost > 0) st.lost--;
    } else st.nextSeqIn = seq + 1;
    const p = this.#deps.mesh.sendStreamData!(st.meshId, data.slice());
    if (p instanceof Promise) p.catch(() => this.#deps.stats.meshErrors++);
  }

  /** A device's StreamClose. */
  close(s: Session, streamId: number): void {
    const st = s.device.streams.get(streamId);
    if (st === undefined) return;
    this.#closeDeviceStream(s.device, streamId, st);
  }

  /** Close every stream of a device (its session ended). */
  closeAll(d: Device): void {
    for (const [id, st] of [...d.streams]) this.#closeDeviceStream(d, id, st);
  }

  #closeDeviceStream(d: Device, streamId: number, st: StreamState): void {
    d.streams.delete(streamId);
    if (st.meshId !== undefined) {
      this.#meshStreams.delete(st.meshId);
      try {
        const p = this.#deps.mesh.closeStream?.(st.meshId);
        if (p instanceof Promise) p.catch(() => {});
      } catch { /* already closed */ }
    }
  }

  /** Data from a mesh stream, for its device. */
  meshData(meshId: string, data: Uint8Array): void {
    const e = this.#meshStreams.get(meshId);
    if (!e) return;
    const [d, streamId] = e;
    const st = d.streams.get(streamId);
    if (!st || !d.session) return;
    const seq = st.seqOut++ >>> 0;
    if (data.length + 26 + 16 > d.session.secure.maxFrame) {
      this.#deps.stats.tooLarge++;
      return;
    }
    this.#deps.outbox.queue(d.session, {
      type: "streamData",
      streamId,
      seq,
      data,
    });
  }

  /** A mesh stream closed: tell its device. */
  meshClosed(meshId: string): void {
    const e = this.#meshStreams.get(meshId);
    if (!e) return;
    this.#meshStreams.delete(meshId);
    const [d, streamId] = e;
    d.streams.delete(streamId);
    if (d.session) {
      this.#deps.outbox.queue(d.session, {
        type: "streamClose",
        streamId,
        code: 0,
      });
    }
  }

  /**
   * Loss and reordering counted on a device's stream (device → mesh).
   *
   * @returns The counters, or undefined if no such stream is open.
   */
  stats(
    deviceId: string,
    streamId: number,
  ): { lost: number; reordered: number } | undefined {
    const st = this.#deps.devices.get(deviceId)?.streams.get(streamId);
    return st ? { lost: st.lost, reordered: st.reordered } : undefined;
  }
}
