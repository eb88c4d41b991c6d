/**
 * How device events become mesh messages (the topics are part of the public
 * contract; docs in bridge/mod.ts):
 *
 * - ButtonPress → topic `device/<id>/button`, JSON
 *   `{"button_id": n, "type": "single"|"double"|"long", "data": <custom>, "ts": ms}`
 * - SensorUpdate → topic `device/<id>/sensor/<name>`, JSON
 *   `{"name": s, "data": {"value": v, "unit": u, "custom": <custom>}, "ts": ms}`
 *   and the same object in the shared context at `avi.sensors.<id>.<name>`.
 *
 * `<custom>` is the device's custom bytes decoded as UTF-8 JSON when they are
 * valid JSON, else as a UTF-8 string, else as base64; `null` when absent.
 * `ts` is the gateway's clock when the event arrived, in milliseconds since
 * the Unix epoch.
 *
 * Each mesh `message` event carries exactly one of these objects (under
 * load several travel in one envelope, which the receiving node unpacks
 * into one `message` event each). Units: temperature `"C"`, humidity and
 * battery `"%"`, status and raw `""`.
 *
 * @module
 */

import type { JsonObject, JsonValue } from "../core/events.ts";
import type { PressType, SensorValue } from "../protocol/mod.ts";

/** Topic of a device's button events. */
export function buttonTopic(deviceId: string): string {
  return `device/${deviceId}/button`;
}

/** Topic of one of a device's sensors. */
export function sensorTopic(deviceId: string, name: string): string {
  return `device/${deviceId}/sensor/${name}`;
}

const UNITS: Record<SensorValue["kind"], string> = {
  temperature: "C",
  humidity: "%",
  battery: "%",
  status: "",
  raw: "",
};

const dec = new TextDecoder("utf-8", { fatal: true });

/**
 * Turn custom bytes into JSON: parsed JSON, else text, else base64.
 *
 * @param b The bytes, or null.
 * @returns A JSON value.
 *
 * @example
 * ```ts
 * import { customToJson } from "./device_events.ts";
 * console.log(customToJson(new TextEncoder().encode('{"a":1}'))); // { a: 1 }
 * ```
 */
export function customToJson(b: Uint8Array | null): JsonValue {
  if (b === null || b === undefined) return null;
  let text: string;
  try {
    text = dec.decode(b);
  } catch {
    let s = "";
    for (const x of b) s += String.fromCharCode(x);
    return { base64: btoa(s) };
  }
  try {
    return JSON.parse(text) as JsonValue;
  } catch {
    return text;
  }
}

/**
 * The JSON of a ButtonPress.
 *
 * @example
 * ```ts
 * import { buttonJson } from "./device_events.ts";
 * console.log(buttonJson(1, "double", null, 0)); // { button_id: 1, type: "double", data: null, ts: 0 }
 * ```
 */
export function buttonJson(
  buttonId: number,
  pressType: PressType,
  custom: Uint8Array | null,
  ts: number,
): JsonObject {
  return {
    button_id: buttonId,
    type: pressType,
    data: customToJson(custom),
    ts,
  };
}

/**
 * The JSON of a SensorUpdate.
 *
 * @example
 * ```ts
 * import { sensorJson } from "./device_events.ts";
 * const j = sensorJson("t", { kind: "temperature", value: 21.5 }, null, 0);
 * console.log(j.data); // { value: 21.5, unit: "C", custom: null }
 * ```
 */
export function sensorJson(
  name: string,
  value: SensorValue,
  custom: Uint8Array | null,
  ts: number,
): JsonObject {
  const v = typeof value.value === "number" && !Number.isFinite(value.value)
    ? null
    : value.value;
  return {
    name,
    data: {
      value: v,
      unit: UNITS[value.kind] ?? "",
      kind: value.kind,
      custom: customToJson(custom),
    },
    ts,
  };
}
