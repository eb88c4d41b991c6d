/**
 * Shared-context paths as Home Assistant entities: which paths, which
 * component fits each value, the state payload of a value, and the value a
 * command asks for (pure functions, no I/O).
 *
 * - a number → `number`; a boolean → `switch`; a string → `text`;
 * - a light (`component: "light"`, by default every key under `avi.lights`)
 *   → `light` with the JSON schema. Its value in the context may be a
 *   boolean, `"on"`/`"off"`, a number (its brightness, 0 = off) or an object
 *   `{on, brightness}` or `{state, brightness}` (brightness 0..100); a
 *   command keeps the form the value already has.
 *
 * @module
 */

import type { JsonObject, JsonValue } from "../mod.ts";

/** The components a context path may be shown as. */
export type ContextComponent =
  | "number"
  | "switch"
  | "light"
  | "text"
  | "sensor";

/** A context path to expose (`path` may end in `.*`: each key under it). */
export interface ContextEntityOptions {
  /** A dotted path (`avi.device.audio.volume`), or `parent.*` for each key under `parent`. */
  path: string;
  /** The component; without it, the value's type decides (number, switch, text). */
  component?: ContextComponent;
  /** The entity's name (default: the path, or the key for `parent.*`). */
  name?: string;
  /** `number`: the least value. @default 0 */
  min?: number;
  /** `number`: the greatest value. @default 100 */
  max?: number;
  /** `number`: the step. @default 1 */
  step?: number;
  /** `number`, `sensor`: the unit shown. */
  unit?: string;
}

/** The paths exposed by default: the volume and every light. */
export const DEFAULT_CONTEXT_ENTITIES: readonly ContextEntityOptions[] = [
  {
    path: "avi.device.audio.volume",
    component: "number",
    name: "Volume",
    min: 0,
    max: 100,
    step: 1,
  },
  { path: "avi.lights.*", component: "light" },
];

/** One exposed path, as found in the context now. */
export interface ContextEntity {
  /** The full dotted path. */
  path: string;
  /** The component. */
  component: ContextComponent;
  /** Its options. */
  spec: ContextEntityOptions;
  /** The entity's name. */
  name: string;
  /** The value now (undefined: absent). */
  value: JsonValue | undefined;
}

/** The value at a dotted path of a document. */
export function valueAt(
  doc: JsonObject,
  path: string,
): JsonValue | undefined {
  let v: JsonValue | undefined = doc;
  for (const k of path.split(".")) {
    if (v === null || typeof v !== "object" || Array.isArray(v)) {
      return undefined;
    }
    if (!Object.hasOwn(v, k)) return undefined;
    v = (v as JsonObject)[k];
  }
  return v;
}

/** The component a value fits without being told. */
export function inferComponent(
  value: JsonValue | undefined,
): ContextComponent | undefined {
  switch (typeof value) {
    case "number":
      return "number";
    case "boolean":
      return "switch";
    case "string":
      return "text";
    default:
      return undefined;
  }
}

/**
 * The entities the options give in a document: a plain path is there when
 * its component is given or its value fits one; `parent.*` gives one entity
 * per key of the object at `parent`.
 */
export function entitiesIn(
  doc: JsonObject,
  specs: readonly ContextEntityOptions[],
): ContextEntity[] {
  const out: ContextEntity[] = [];
  const seen = new Set<string>();
  const add = (path: string, spec: ContextEntityOptions, name: string) => {
    if (seen.has(path)) return;
    const value = valueAt(doc, path);
    const component = spec.component ?? inferComponent(value);
    if (component === undefined) return;
    seen.add(path);
    out.push({ path, component, spec, name, value });
  };
  for (const spec of specs) {
    if (spec.path.endsWith(".*")) {
      const parent = spec.path.slice(0, -2);
      const obj = valueAt(doc, parent);
      if (obj === null || typeof obj !== "object" || Array.isArray(obj)) {
        continue;
      }
      for (const key of Object.keys(obj)) {
        add(`${parent}.${key}`, spec, spec.name ? `${spec.name} ${key}` : key);
      }
    } else add(spec.path, spec, spec.name ?? spec.path);
  }
  return out;
}

/** Whether a changed path may change what the options expose. */
export function touches(
  changed: string,
  specs: readonly ContextEntityOptions[],
): boolean {
  for (const s of specs) {
    const p = s.path.endsWith(".*") ? s.path.slice(0, -2) : s.path;
    if (
      changed === p || changed.startsWith(`${p}.`) ||
      p.startsWith(`${changed}.`)
    ) return true;
  }
  return false;
}

/** A light's on/off and brightness (0..100), from its context value. */
export function lightState(
  value: JsonValue | undefined,
): { on: boolean | null; brightness?: number } {
  if (typeof value === "boolean") return { on: value };
  if (typeof value === "string") return { on: isOn(value) };
  if (typeof value === "number") return { on: value > 0, brightness: value };
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const b = typeof value.brightness === "number"
      ? value.brightness
      : undefined;
    let on: boolean | null = null;
    if (typeof value.on === "boolean") on = value.on;
    else if (typeof value.state === "string") on = isOn(value.state);
    else if (typeof value.state === "boolean") on = value.state;
    else if (b !== undefined) on = b > 0;
    return b === undefined ? { on } : { on, brightness: b };
  }
  return { on: null };
}

function isOn(s: string): boolean {
  return /^(on|true|1|yes)$/i.test(s.trim());
}

/** The discovery fields of an entity beyond the common ones. */
export function entityFields(e: ContextEntity): Record<string, unknown> {
  const s = e.spec;
  switch (e.component) {
    case "number":
      return {
        name: e.name,
        min: s.min ?? 0,
        max: s.max ?? 100,
        step: s.step ?? 1,
        mode: "slider",
        unit_of_measurement: s.unit,
        payload_reset: "None",
      };
    case "switch":
      return { name: e.name, payload_on: "ON", payload_off: "OFF" };
    case "text":
      return { name: e.name, min: 0, max: 255, mode: "text" };
    case "light": {
      const b = lightState(e.value).brightness !== undefined;
      return {
        name: e.name,
        schema: "json",
        supported_color_modes: [b ? "brightness" : "onoff"],
        brightness: b,
        brightness_scale: b ? 100 : undefined,
      };
    }
    case "sensor":
      return { name: e.name, unit_of_measurement: s.unit };
  }
}

/** The state payload of an entity's value (retained on its state topic). */
export function statePayload(e: ContextEntity): string {
  const v = e.value;
  switch (e.component) {
    case "number":
      return typeof v === "number" ? String(v) : "None";
    case "switch":
      if (typeof v === "boolean") return v ? "ON" : "OFF";
      if (typeof v === "string") return isOn(v) ? "ON" : "OFF";
      return "None";
    case "text":
      return typeof v === "string"
        ? v
        : v === undefined
        ? ""
        : JSON.stringify(v);
    case "light": {
      const s = lightState(v);
      const o: Record<string, unknown> = {
        state: s.on === null ? null : s.on ? "ON" : "OFF",
      };
      if (s.brightness !== undefined) {
        o.brightness = s.brightness;
        o.color_mode = "brightness";
      } else if (s.on !== null) o.color_mode = "onoff";
      return JSON.stringify(o);
    }
    case "sensor":
      return v === undefined
        ? ""
        : typeof v === "string"
        ? v
        : JSON.stringify(v);
  }
}

/**
 * The value a command asks for, in the form the current value has.
 *
 * @param e The entity (its current value).
 * @param payload The command's payload.
 * @returns The new value, or a reason why the command is refused.
 */
export function commandValue(
  e: ContextEntity,
  payload: string,
): { value: JsonValue } | { refused: string } {
  switch (e.component) {
    case "number": {
      const n = Number(payload.trim());
      if (payload.trim() === "" || !Number.isFinite(n)) {
        return { refused: `not a number: ${JSON.stringify(payload)}` };
      }
      return { value: n };
    }
    case "switch": {
      const p = payload.trim();
      if (!/^(on|off|true|false|1|0)$/i.test(p)) {
        return { refused: `not ON or OFF: ${JSON.stringify(payload)}` };
      }
      const on = isOn(p);
      if (typeof e.value === "string") {
        return {
          value: e.value === e.value.toUpperCase() && e.value !== ""
            ? (on ? "ON" : "OFF")
            : on
            ? "on"
            : "off",
        };
      }
      return { value: on };
    }
    case "text":
      return { value: payload };
    case "light":
      return lightCommand(e.value, payload);
    case "sensor":
      return { refused: "read-only" };
  }
}

function lightCommand(
  current: JsonValue | undefined,
  payload: string,
): { value: JsonValue } | { refused: string } {
  let cmd: { state?: unknown; brightness?: unknown };
  try {
    cmd = JSON.parse(payload);
  } catch {
    // A plain ON/OFF is accepted too.
    cmd = { state: payload.trim() };
  }
  if (cmd === null || typeof cmd !== "object") {
    return { refused: `not a light command: ${JSON.stringify(payload)}` };
  }
  let on: boolean | undefined;
  if (typeof cmd.state === "string") {
    if (!/^(on|off)$/i.test(cmd.state)) {
      return { refused: `state must be ON or OFF: ${JSON.stringify(payload)}` };
    }
    on = /^on$/i.test(cmd.state);
  }
  let brightness: number | undefined;
  if (cmd.brightness !== undefined) {
    if (
      typeof cmd.brightness !== "number" || !Number.isFinite(cmd.brightness)
    ) {
      return {
        refused: `brightness must be a number: ${JSON.stringify(payload)}`,
      };
    }
    brightness = Math.max(0, Math.min(100, cmd.brightness));
  }
  if (on === undefined && brightness === undefined) {
    return { refused: `no state or brightness: ${JSON.stringify(payload)}` };
  }
  const now = lightState(current);
  const nextOn = on ?? (brightness !== undefined ? brightness > 0 : !!now.on);
  if (typeof current === "number") {
    return {
      value: nextOn ? brightness ?? (current > 0 ? current : 100) : 0,
    };
  }
  if (
    current !== null && typeof current === "object" && !Array.isArray(current)
  ) {
    const next: JsonObject = { ...current };
    if (typeof current.state === "string") {
      const upper = current.state === current.state.toUpperCase();
      next.state = nextOn ? (upper ? "ON" : "on") : upper ? "OFF" : "off";
    } else if (typeof current.state === "boolean") next.state = nextOn;
    else next.on = nextOn;
    if (brightness !== undefined) next.brightness = brightness;
    return { value: next };
  }
  if (brightness !== undefined) {
    return { value: { on: nextOn, brightness } };
  }
  if (typeof current === "string") {
    const upper = current !== "" && current === current.toUpperCase();
    return { value: nextOn ? (upper ? "ON" : "on") : upper ? "OFF" : "off" };
  }
  return { value: nextOn };
}

/** A patch that sets `value` at a dotted path (for `updateContext`). */
export function patchAt(path: string, value: JsonValue): JsonObject {
  const keys = path.split(".");
  let v: JsonValue = value;
  for (let i = keys.length - 1; i >= 0; i--) v = { [keys[i]]: v };
  return v as JsonObject;
}
