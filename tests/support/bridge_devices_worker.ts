/**
 * A Web Worker holding many simulated devices (RawDevice) on its own heap, so
 * that the gateway's memory can be measured apart from theirs. Used by
 * bench/bridge.ts.
 *
 * In: `{ port, ids: number[], keySeed: number, topic?: string }`: connect
 * every device (and subscribe each to `topic`), then answer `{ connected }`.
 * A second message `{ close: true }` closes them and answers `{ closed }`.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { RawDevice } from "./bridge_device.ts";

/** The key of a simulated device (bench/bridge.ts derives the same). */
function simKey(id: number, seed: number): Uint8Array {
  const k = new Uint8Array(32);
  const v = new DataView(k.buffer);
  v.setUint32(0, id);
  v.setUint32(4, seed);
  k[31] = 0xa5;
  return k;
}

let devices: RawDevice[] = [];

self.onmessage = async (
  e: MessageEvent<
    { port: number; ids: number[]; keySeed: number; topic?: string } | {
      close: true;
    }
  >,
) => {
  const m = e.data;
  if ("close" in m) {
    await Promise.all(devices.map((d) => d.close()));
    devices = [];
    self.postMessage({ closed: true });
    return;
  }
  devices = m.ids.map((id) =>
    new RawDevice({
      deviceId: id,
      key: simKey(id, m.keySeed),
      gatewayPort: m.port,
      rtoMs: 1000,
    })
  );
  // Connect in batches so the handshake budget is not the bottleneck.
  for (let i = 0; i < devices.length; i += 100) {
    await Promise.all(devices.slice(i, i + 100).map((d) => d.connect()));
  }
  if (m.topic) {
    await Promise.all(devices.map((d) => d.subscribe(m.topic!)));
  }
  self.postMessage({ connected: devices.length });
};
