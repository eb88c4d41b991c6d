/**
 * The XS side of the test harness: a UDP socket, a clock, timers, random bytes
 * and a log, all carried to the Deno host through xsnap's synchronous
 * `issueCommand(arrayBuffer)`, plus the small run loop the host drives.
 *
 * This file is bundled (with the entry that imports it) and evaluated inside
 * XS. It uses no Deno, Node, `TextEncoder` or `console` API. xsnap has no
 * `setTimeout`, so timers live here: the host calls the global `__xsStep(ms)`
 * repeatedly; each step blocks in the host for at most `ms` (less when a
 * timer is due sooner) waiting for a datagram, delivers what arrived, fires
 * due timers, and returns; XS then runs its promise jobs before answering.
 *
 * @example
 * ```ts ignore
 * // an entry bundled for XS
 * import { installXsRuntime, xsSocket } from "./xs_runtime.ts";
 * installXsRuntime({
 *   echo: () => xsSocket.send(new Uint8Array([1]), "127.0.0.1", 9000),
 * });
 * ```
 * @module
 */

import {
  decodeF64Reply,
  decodeRecvReply,
  encodeRecv,
  encodeSend,
  encodeU16Request,
  MAX_RANDOM,
  OP_INFO,
  OP_LOG,
  OP_NOW,
  OP_RANDOM,
  utf8Encode,
  XS_OK,
} from "./xs_commands.ts";

declare const issueCommand: (request: ArrayBuffer) => ArrayBuffer;

/** Most datagrams delivered in one step (the rest wait for the next step). */
export const MAX_DATAGRAMS_PER_STEP = 64;
/** Most timers pending at once. */
export const MAX_TIMERS = 256;
/** Most error messages kept for the host. */
export const MAX_ERRORS = 32;

function command(req: Uint8Array): Uint8Array {
  const buf = req.byteOffset === 0 && req.byteLength === req.buffer.byteLength
    ? req.buffer as ArrayBuffer
    : req.slice().buffer;
  return new Uint8Array(issueCommand(buf));
}

/**
 * Reads the host's monotonic clock.
 *
 * @returns Milliseconds since an arbitrary origin.
 * @example
 * ```ts ignore
 * const t = hostNow();
 * ```
 */
export function hostNow(): number {
  return decodeF64Reply(command(new Uint8Array([OP_NOW])));
}

/**
 * Fills `out` with random bytes from the host's CSPRNG.
 *
 * @param out Buffer to fill.
 * @returns `out`.
 * @example
 * ```ts ignore
 * const nonce = hostRandom(new Uint8Array(12));
 * ```
 */
export function hostRandom(out: Uint8Array): Uint8Array {
  for (let at = 0; at < out.length; at += MAX_RANDOM) {
    const n = Math.min(MAX_RANDOM, out.length - at);
    const r = command(encodeU16Request(OP_RANDOM, n));
    if (r[0] !== XS_OK || r.length !== n + 1) {
      throw new RangeError(`RANDOM failed with status ${r[0]}`);
    }
    out.set(r.subarray(1), at);
  }
  return out;
}

/**
 * Logs a line on the host (kept in `XsHost.logs`).
 *
 * @param text The line.
 * @param level 0 info, 1 error.
 * @example
 * ```ts ignore
 * hostLog("connected");
 * ```
 */
export function hostLog(text: string, level = 0): void {
  const body = utf8Encode(text.length > 4096 ? text.slice(0, 4096) : text);
  const req = new Uint8Array(2 + body.length);
  req[0] = OP_LOG;
  req[1] = level;
  req.set(body, 2);
  command(req);
}

/** Receives one datagram. */
export type XsDatagramHandler = (
  payload: Uint8Array,
  host: string,
  port: number,
) => void;

/** The device's one UDP socket (bound by the host on 127.0.0.1). */
export class XsUdpSocket {
  /** Called for every datagram; set by the code under test. */
  onDatagram: XsDatagramHandler | undefined = undefined;

  /**
   * Sends a datagram.
   *
   * @param payload Bytes to send (at most 65507).
   * @param host Destination host.
   * @param port Destination port.
   * @throws {Error} when the host could not send it.
   * @example
   * ```ts ignore
   * xsSocket.send(new Uint8Array([1]), "127.0.0.1", 9000);
   * ```
   */
  send(payload: Uint8Array, host: string, port: number): void {
    const r = command(encodeSend(host, port, payload));
    if (r[0] !== XS_OK) {
      throw new Error(
        `Cannot send datagram to ${host}:${port}: status ${r[0]}`,
      );
    }
  }

  /**
   * The socket's local port on the host.
   *
   * @returns The port.
   * @example
   * ```ts ignore
   * const p = xsSocket.localPort();
   * ```
   */
  localPort(): number {
    const r = command(new Uint8Array([OP_INFO]));
    return (r[1] << 8) | r[2];
  }
}

/** The one socket of this XS machine. */
export const xsSocket: XsUdpSocket = new XsUdpSocket();

interface Timer {
  id: number;
  at: number;
  every: number;
  fn: () => void;
}

let nextTimerId = 1;
const timers: Timer[] = [];
const errors: string[] = [];

function recordError(where: string, e: unknown): void {
  const msg = `${where}: ${
    e instanceof Error ? `${e.name}: ${e.message}` : String(e)
  }`;
  if (errors.length < MAX_ERRORS) errors.push(msg);
  try {
    hostLog(msg, 1);
  } catch { /* the log is best effort */ }
}

/**
 * Schedules `fn` after `ms` milliseconds (host clock).
 *
 * @param fn Callback.
 * @param ms Delay.
 * @returns Timer id for {@linkcode xsClearTimer}.
 * @throws {RangeError} when {@linkcode MAX_TIMERS} are pending.
 * @example
 * ```ts ignore
 * const id = xsSetTimeout(() => hostLog("tick"), 100);
 * ```
 */
export function xsSetTimeout(fn: () => void, ms: number): number {
  return addTimer(fn, ms, 0);
}

/**
 * Calls `fn` every `ms` milliseconds until cleared.
 *
 * @param fn Callback.
 * @param ms Period (at least 1).
 * @returns Timer id for {@linkcode xsClearTimer}.
 * @example
 * ```ts ignore
 * const id = xsSetInterval(() => hostLog("tick"), 1000);
 * ```
 */
export function xsSetInterval(fn: () => void, ms: number): number {
  return addTimer(fn, ms, ms > 1 ? ms : 1);
}

function addTimer(fn: () => void, ms: number, every: number): number {
  if (timers.length >= MAX_TIMERS) {
    throw new RangeError(`Cannot add timer: ${MAX_TIMERS} already pending`);
  }
  const id = nextTimerId++;
  timers.push({ id, at: hostNow() + (ms > 0 ? ms : 0), every, fn });
  return id;
}

/**
 * Cancels a timer; unknown ids are ignored.
 *
 * @param id Timer id.
 * @example
 * ```ts ignore
 * xsClearTimer(xsSetTimeout(() => {}, 10));
 * ```
 */
export function xsClearTimer(id: number | undefined): void {
  for (let i = 0; i < timers.length; i++) {
    if (timers[i].id === id) {
      timers.splice(i, 1);
      return;
    }
  }
}

/**
 * One turn of the loop: wait (bounded) for datagrams, deliver them, fire due
 * timers. Exposed to the host as `__xsStep`.
 *
 * @param maxWaitMs Longest time to block in the host.
 * @example
 * ```ts ignore
 * step(20);
 * ```
 */
export function step(maxWaitMs: number): void {
  let wait = maxWaitMs;
  if (timers.length > 0) {
    let first = Infinity;
    for (const t of timers) if (t.at < first) first = t.at;
    const until = first - hostNow();
    if (until < wait) wait = until > 0 ? until : 0;
  }
  for (let n = 0; n < MAX_DATAGRAMS_PER_STEP; n++) {
    const d = decodeRecvReply(command(encodeRecv(n === 0 ? wait : 0)));
    if (d === undefined) break;
    const h = xsSocket.onDatagram;
    if (h === undefined) continue;
    try {
      h(d.payload, d.host, d.port);
    } catch (e) {
      recordError("onDatagram", e);
    }
  }
  if (timers.length === 0) return;
  const now = hostNow();
  // Fire only what is due now; timers added by callbacks wait for the next step.
  const due = timers.filter((t) => t.at <= now);
  for (const t of due) {
    const i = timers.indexOf(t);
    if (i < 0) continue; // cleared by an earlier callback
    if (t.every > 0) t.at = now + t.every;
    else timers.splice(i, 1);
    try {
      t.fn();
    } catch (e) {
      recordError("timer", e);
    }
  }
}

type Exported = (...args: never[]) => unknown;

interface CallState {
  state: "pending" | "fulfilled" | "rejected";
  value?: unknown;
  error?: string;
  /** The `code` property of the rejection, when it has a numeric one. */
  code?: number;
}

/**
 * Installs the globals the host drives: `__xsStep(ms, callId?)`,
 * `__xsCall(callId, name, argsJson)`, `__xsQuery(json)`, and the exported
 * scenario functions.
 *
 * Replies travel as UTF-8 JSON in an ArrayBuffer under a `result` getter,
 * which xsnap reads after running the promise jobs, so a call that settles
 * during a step is reported by that step.
 *
 * @param exports Functions the host may call by name (may return promises;
 *   results must be JSON-serialisable).
 * @example
 * ```ts ignore
 * installXsRuntime({ hello: () => "hi" });
 * ```
 */
export function installXsRuntime(exports: Record<string, Exported>): void {
  const calls = new Map<number, CallState>();
  const g = globalThis as unknown as Record<string, unknown>;
  const json = (v: unknown): ArrayBuffer =>
    utf8Encode(JSON.stringify(v === undefined ? null : v))
      .buffer as ArrayBuffer;
  const callReply = (id: number | undefined) => ({
    get result(): ArrayBuffer {
      if (id === undefined) return json({ errors });
      const c = calls.get(id);
      if (c === undefined) return json({ state: "unknown", errors });
      if (c.state !== "pending") calls.delete(id);
      return json({ ...c, errors });
    },
  });
  g.__xsStep = (ms: number, id?: number) => {
    step(ms);
    return callReply(id);
  };
  g.__xsCall = (id: number, name: string, argsJson: string) => {
    const c: CallState = { state: "pending" };
    calls.set(id, c);
    const f = exports[name];
    try {
      if (typeof f !== "function") throw new TypeError(`No export ${name}`);
      const args = JSON.parse(argsJson) as never[];
      Promise.resolve(f(...args)).then(
        (v) => {
          c.state = "fulfilled";
          c.value = v === undefined ? null : v;
        },
        (e) => {
          c.state = "rejected";
          c.error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
          const code = (e as { code?: unknown } | null)?.code;
          if (typeof code === "number") c.code = code;
        },
      );
    } catch (e) {
      c.state = "rejected";
      c.error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    }
    return callReply(id);
  };
  g.__xsQuery = (v: unknown) => ({ result: json(v) });
}
