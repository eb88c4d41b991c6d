/**
 * XS entry: the device client (`embedded/`, unmodified) on the XS platform
 * adapter, driven by the host through named calls. Byte arrays travel as
 * hex strings.
 *
 * @module
 */
import {
  AviEmbedded,
  type AviEmbeddedConfig,
  type EmbeddedState,
  type PressType,
  type SensorValue,
} from "../../embedded/mod.ts";
import { hostLog, installXsRuntime, xsSetInterval } from "./xs_runtime.ts";
import { xsPlatform } from "./xs_platform.ts";

import { fromHex, toHex } from "../../core/hex.ts";

/** The device's settings, as the host sends them. */
interface Setup {
  deviceId: number;
  keyHex: string;
  /** Gateway port on 127.0.0.1, or null to discover one. */
  gatewayPort: number | null;
  /** Where SearchGw goes (127.0.0.1:port) when gatewayPort is null. */
  discoveryPort?: number;
  /** false: no timers; a 20 ms loop calls tick(), as a timer-less device. */
  useTimers?: boolean;
  retryInitialMs?: number;
  retryMaxMs?: number;
  connectTimeoutMs?: number;
  maxPending?: number;
  maxTransmissions?: number;
}

let avi: AviEmbedded | undefined;
const inbox: { topic: string; data: string }[] = [];
const states: EmbeddedState[] = [];
const gatewayErrors: { code: number; detail: string }[] = [];
const MAX_INBOX = 1000;

function client(): AviEmbedded {
  if (avi === undefined) throw new Error("setup() first");
  return avi;
}

installXsRuntime({
  setup: (s: Setup) => {
    const p = xsPlatform();
    const config: AviEmbeddedConfig = {
      deviceId: s.deviceId,
      key: fromHex(s.keyHex),
      crypto: p.crypto,
      now: p.now,
      timers: s.useTimers === false ? null : p.timers,
      retryInitialMs: s.retryInitialMs ?? 100,
      retryMaxMs: s.retryMaxMs ?? 800,
      connectTimeoutMs: s.connectTimeoutMs ?? 8000,
      onStateChange: (st) => states.push(st),
      onError: (code, detail) => gatewayErrors.push({ code, detail }),
    };
    if (s.maxPending !== undefined) config.maxPending = s.maxPending;
    if (s.maxTransmissions !== undefined) {
      config.maxTransmissions = s.maxTransmissions;
    }
    if (s.gatewayPort !== null) {
      config.gateway = { address: "127.0.0.1", port: s.gatewayPort };
    } else if (s.discoveryPort !== undefined) {
      config.discovery = { address: "127.0.0.1", port: s.discoveryPort };
    }
    avi = new AviEmbedded(p.socket, config, (topic, data) => {
      if (inbox.length < MAX_INBOX) inbox.push({ topic, data: toHex(data) });
    });
    if (s.useTimers === false) {
      const a = avi;
      xsSetInterval(() => a.tick(), 20);
    }
    hostLog(`device ${s.deviceId} ready`);
  },
  connect: () => client().connect(),
  subscribe: (topic: string) => client().subscribe(topic),
  unsubscribe: (topic: string) => client().unsubscribe(topic),
  publish: (topic: string, hex: string, qos: 0 | 1) =>
    client().publish(topic, fromHex(hex), { qos }),
  /** Starts `n` QoS 1 publishes of [i] at once, `window` at a time. */
  publishMany: async (topic: string, n: number, window: number) => {
    const inflight: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      inflight.push(
        client().publish(topic, new Uint8Array([i & 0xff]), { qos: 1 }),
      );
      if (inflight.length === window) await Promise.all(inflight.splice(0));
    }
    await Promise.all(inflight);
  },
  button: (id: number, press: PressType, hex: string | null) =>
    client().buttonPressed(
      id,
      press,
      hex === null ? undefined : fromHex(hex),
    ),
  sensor: (name: string, value: SensorValue, hex: string | null) =>
    client().updateSensor(
      name,
      value,
      hex === null ? undefined : fromHex(hex),
    ),
  /** `n` sensor readings in one job; settles when all are acknowledged. */
  sensorMany: async (n: number) => {
    const a = client();
    await Promise.all(
      Array.from(
        { length: n },
        (_, i) => a.updateSensor(`s${i}`, { kind: "temperature", value: i }),
      ),
    );
  },
  startStream: (id: number, peer: string, reason: string) =>
    client().startStream(id, peer, reason),
  sendAudio: (id: number, n: number, fill: number) =>
    client().sendAudio(id, new Uint8Array(n).fill(fill)),
  closeStream: (id: number) => client().closeStream(id),
  close: () => client().close(),
  status: () => {
    const a = client();
    return {
      state: a.state,
      connected: a.isConnected(),
      gateway: a.gateway,
      pending: a.pendingCount(),
      subscriptions: a.subscriptions(),
      stats: a.stats,
      states,
      gatewayErrors,
      inbox,
    };
  },
});
