/**
 * The gateway's devices as the dashboard sees them: one
 * {@linkcode DeviceView} per device, kept from the bridge's events, the
 * publish tap's `device/...` messages and the bridge's device list (polled
 * for what has no event), with which ones changed while a page is attached.
 *
 * @module
 */

import type { BridgeEvent } from "../bridge/mod.ts";
import type { DashboardBridge } from "./options.ts";
import type { DashboardUpdate, DeviceView, LagView } from "./types.ts";
import { BOUNDS, trim } from "./_tables.ts";

const BUTTON = /^device\/([^/]+)\/button$/;
const DEVICE = /^device\/([^/]+)\//;

/** The devices of a gateway (none without a bridge), bounded by {@linkcode BOUNDS.devices}. */
export class DeviceTable {
  readonly #bridge: DashboardBridge | undefined;
  readonly #lag: LagView;
  #devices = new Map<string, DeviceView>();
  #dirty = new Set<string>();
  #active = false;

  /** `lag.bridgeEvents` counts the bridge events lost. */
  constructor(bridge: DashboardBridge | undefined, lag: LagView) {
    this.#bridge = bridge;
    this.#lag = lag;
  }

  /** Whether changes are collected (a page is attached); forgets them either way. */
  setActive(active: boolean): void {
    this.#active = active;
    this.#dirty.clear();
  }

  /** Every device. */
  views(): DeviceView[] {
    return [...this.#devices.values()];
  }

  /** Puts the devices changed since the previous call in `u`; whether any. */
  collect(u: DashboardUpdate): boolean {
    if (this.#dirty.size === 0) return false;
    u.devices = [...this.#dirty].map((id) => this.#devices.get(id))
      .filter((d): d is DeviceView => d !== undefined);
    this.#dirty.clear();
    return true;
  }

  /** Takes one of the bridge's events. */
  onBridgeEvent(ev: BridgeEvent): void {
    switch (ev.type) {
      case "deviceConnected": {
        const d = this.#get(ev.deviceId);
        d.online = true;
        d.sleeping = false;
        d.address = ev.address;
        d.sessionId = ev.sessionId;
        d.connectedAt = d.lastSeen = Date.now();
        d.goneReason = undefined;
        this.#touch(d.deviceId);
        this.poll();
        break;
      }
      case "deviceGone": {
        const d = this.#devices.get(ev.deviceId);
        if (!d) break;
        if (ev.reason !== "replaced") d.online = false;
        d.goneReason = ev.reason;
        this.#touch(d.deviceId);
        break;
      }
      case "deviceSleeping": {
        const d = this.#get(ev.deviceId);
        d.sleeping = true;
        this.#touch(d.deviceId);
        break;
      }
      case "deviceAwake": {
        const d = this.#get(ev.deviceId);
        d.sleeping = false;
        this.#touch(d.deviceId);
        break;
      }
      case "lagged":
        this.#lag.bridgeEvents += ev.dropped;
        this.poll();
        break;
    }
  }

  /**
   * Counts a message this node published (from the publish tap) on a known
   * device's topic (`device/<id>/...`): events, button presses, last seen.
   */
  onPublished(topic: string, data: Uint8Array, now: number): void {
    if (!topic.startsWith("device/")) return;
    const id = DEVICE.exec(topic)?.[1];
    if (id === undefined) return;
    const d = this.#devices.get(id);
    if (!d) return;
    d.events++;
    if (BUTTON.test(topic)) {
      d.presses++;
      const press: DeviceView["lastPress"] = { ts: now };
      try {
        const j = JSON.parse(new TextDecoder().decode(data));
        if (typeof j?.button_id === "number") press.buttonId = j.button_id;
        if (typeof j?.type === "string") press.type = j.type;
      } catch { /* not the bridge's JSON */ }
      d.lastPress = press;
    }
    d.lastSeen = now;
    this.#touch(id);
  }

  #get(id: string): DeviceView {
    let d = this.#devices.get(id);
    if (!d) {
      d = {
        deviceId: id,
        online: false,
        address: "",
        sessionId: 0,
        connectedAt: 0,
        lastSeen: 0,
        subscriptions: [],
        sleeping: false,
        queued: 0,
        events: 0,
        presses: 0,
      };
      this.#devices.set(id, d);
      trim(this.#devices, BOUNDS.devices, (v) => !v.online);
    }
    return d;
  }

  #touch(id: string): void {
    if (this.#active) this.#dirty.add(id);
  }

  /** Takes the bridge's device list (details that have no event). */
  poll(): void {
    const bridge = this.#bridge;
    if (!bridge) return;
    let list;
    try {
      list = bridge.devices();
    } catch {
      return; // closed
    }
    const seen = new Set<string>();
    for (const info of list) {
      seen.add(info.deviceId);
      const d = this.#get(info.deviceId);
      const subs = info.subscriptions.join("\n");
      if (
        d.online && d.address === info.address &&
        d.sessionId === info.sessionId && d.lastSeen === info.lastSeen &&
        d.sleeping === info.sleeping && d.queued === info.queued &&
        d.subscriptions.join("\n") === subs
      ) continue;
      d.online = true;
      d.address = info.address;
      d.sessionId = info.sessionId;
      d.connectedAt = info.connectedAt;
      d.lastSeen = Math.max(d.lastSeen, info.lastSeen);
      d.subscriptions = [...info.subscriptions];
      d.sleeping = info.sleeping;
      d.queued = info.queued;
      this.#touch(d.deviceId);
    }
    for (const d of this.#devices.values()) {
      if (d.online && !seen.has(d.deviceId)) {
        d.online = false;
        this.#touch(d.deviceId);
      }
    }
  }
}
