/**
 * Part of bench/context.ts: what one change of a gateway costs a replica in
 * a house of `n` sensors. The change is what the bridge writes under load:
 * the latest reading of 16 sensors (`avi.sensors.<device>.<sensor>`, the
 * bridge's sensor JSON) in one delta. Per change: the merge, and the
 * document a `contextUpdated` event carries with its size for the event
 * queue's byte bound, both as the node does it (`view()`: frozen, shared
 * where nothing changed, its size known) and as it did before (a fresh copy
 * of the whole document, walked again for its size), side by side.
 *
 * @module
 */

import { ContextDoc } from "../context/doc.ts";
import { encodeDelta } from "../context/delta.ts";
import { jsonBytes } from "../context/_view.ts";
import type { JsonObject } from "../core/events.ts";

const CHANGES = 300;
const PER_CHANGE = 16;

/** The bridge's JSON of a temperature reading (bridge/device_events.ts). */
function reading(value: number, t: number): JsonObject {
  return {
    name: "temp",
    data: { value, unit: "C", custom: { t } },
    ts: t,
  };
}

/** µs per change: merge, the event's document as now, and as before. */
function measure(n: number): { merge: number; view: number; copy: number } {
  const writer = new ContextDoc({ replicaId: "gateway" });
  const replica = new ContextDoc({ replicaId: "replica" });
  for (let i = 0; i < n; i += 100) {
    const part: JsonObject = {};
    for (let j = i; j < Math.min(n, i + 100); j++) {
      part[String(j)] = { temp: reading(20, 0) };
    }
    replica.merge(
      encodeDelta(writer.update({ avi: { sensors: part } }).delta!),
    );
  }
  const deltas: Uint8Array[] = [];
  for (let k = 1; k <= CHANGES; k++) {
    const part: JsonObject = {};
    for (let j = 0; j < PER_CHANGE; j++) {
      part[String((k * PER_CHANGE + j) % n)] = { temp: reading(k, k) };
    }
    deltas.push(
      encodeDelta(writer.update({ avi: { sensors: part } }).delta!),
    );
  }
  let merge = 0;
  let view = 0;
  let copy = 0;
  let sink = 0;
  for (const d of deltas) {
    let t = performance.now();
    replica.merge(d);
    merge += performance.now() - t;
    t = performance.now();
    sink += jsonBytes(replica.view());
    view += performance.now() - t;
    t = performance.now();
    sink -= jsonBytes(replica.toJSON());
    copy += performance.now() - t;
  }
  if (sink !== 0) throw new Error("bench: view and copy differ in size");
  const us = (ms: number) => (ms * 1000) / CHANGES;
  return { merge: us(merge), view: us(view), copy: us(copy) };
}

/** Prints the figures for houses of 20, 200 and 1,000 sensors. */
export function houseChanges(): void {
  measure(200); // warm-up
  console.log(
    `a gateway's change (the latest reading of ${PER_CHANGE} sensors) ` +
      `merged into a replica, µs per change (${CHANGES} changes):`,
  );
  for (const n of [20, 200, 1000]) {
    const r = measure(n);
    console.log(
      `  ${n} sensors in the house: merge ${r.merge.toFixed(0)}, ` +
        `the event's document and its size ${r.view.toFixed(0)} ` +
        `(a fresh copy of the whole document and a walk, as before: ` +
        `${r.copy.toFixed(0)}, ${(r.copy / r.view).toFixed(1)}x)`,
    );
  }
}
