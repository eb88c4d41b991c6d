/**
 * Runs bundled TypeScript inside real Moddable XS (the `xsnap-worker` of
 * `npm:@agoric/xsnap`) from Deno, with the device's UDP socket carried to a
 * real Deno UDP socket on 127.0.0.1.
 *
 * The XS side ({@link ./xs_runtime.ts}) calls `issueCommand` with the
 * requests of {@link ./xs_commands.ts}; {@linkcode XsHost} answers them (an
 * async answer blocks XS until it is ready, which is how RECV waits, bounded).
 * XS has no timers of its own here: the host drives the XS loop with
 * `__xsStep` until what a test waits for has happened, with a deadline.
 *
 * Needs the worker binary: run `scripts/setup_xs.sh` once (CI does).
 * Requires `--allow-run --allow-read --allow-write --allow-net --allow-env
 * --allow-sys` (the test permissions in deno.json).
 *
 * @example
 * ```ts ignore
 * import { XsHost } from "./xs_host.ts";
 * const host = await XsHost.start({ name: "demo" });
 * try {
 *   await host.load(new URL("./xs_udp_echo_entry.ts", import.meta.url));
 *   console.log(await host.call("echo", ["127.0.0.1", 9000, [1, 2, 3]]));
 * } finally {
 *   await host.close();
 * }
 * ```
 * @module
 */

import "./_quiet_lockdown.ts";
import "@endo/init";
import { xsnap } from "@agoric/xsnap";
import { spawn } from "node:child_process";
import os from "node:os";
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import {
  decodeRecv,
  decodeSend,
  encodeF64Reply,
  encodeRecvReply,
  MAX_RANDOM,
  OP_INFO,
  OP_LOG,
  OP_NOW,
  OP_RANDOM,
  OP_RECV,
  OP_SEND,
  XS_BAD_REQUEST,
  XS_EMPTY,
  XS_OK,
  XS_SEND_FAILED,
  type XsDatagram,
} from "./xs_commands.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const XSNAP_PKG =
  `${ROOT}node_modules/.deno/@agoric+xsnap@0.15.0/node_modules/@agoric/xsnap/`;

/** Path of the release `xsnap-worker` binary that `@agoric/xsnap` spawns. */
export const XSNAP_WORKER: string =
  `${XSNAP_PKG}xsnap-native/xsnap/build/bin/lin/release/xsnap-worker`;

/** Thrown when the XS worker binary has not been built. */
export class XsnapMissingError extends Error {
  /** @param path The missing binary. */
  constructor(path: string) {
    super(
      `Cannot start Moddable XS: ${path} is missing. Run scripts/setup_xs.sh (builds it with make + cc, ~40 s).`,
    );
    this.name = "XsnapMissingError";
  }
}

/**
 * Fails with {@linkcode XsnapMissingError} when the worker binary is absent.
 * Tests call this instead of skipping: CI runs `scripts/setup_xs.sh` first.
 *
 * @throws {XsnapMissingError} when the binary is missing.
 * @example
 * ```ts ignore
 * requireXsnapWorker();
 * ```
 */
export function requireXsnapWorker(): void {
  try {
    const st = Deno.statSync(XSNAP_WORKER);
    if (st.isFile) return;
  } catch { /* fall through */ }
  throw new XsnapMissingError(XSNAP_WORKER);
}

/** Options of {@linkcode bundleForXs}. */
export interface BundleOptions {
  /** Minify the output. @default false */
  minify?: boolean;
}

/**
 * Bundles a TypeScript entry into one classic script with
 * `deno bundle --format=iife` (works offline once esbuild is cached).
 *
 * @param entry Entry module path or file URL.
 * @param options Bundling options.
 * @returns The script source.
 * @throws {Error} with deno's stderr when bundling fails.
 * @example
 * ```ts ignore
 * const src = await bundleForXs(new URL("./entry.ts", import.meta.url));
 * ```
 */
export async function bundleForXs(
  entry: string | URL,
  options: BundleOptions = {},
): Promise<string> {
  const path = entry instanceof URL ? fileURLToPath(entry) : entry;
  const dir = await Deno.makeTempDir({ prefix: "avi_xs_bundle_" });
  try {
    const out = `${dir}/out.js`;
    const args = ["bundle", "--quiet", "--format=iife", "-o", out];
    if (options.minify) args.push("--minify");
    args.push(path);
    const r = await new Deno.Command(Deno.execPath(), {
      args,
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!r.success) {
      throw new Error(
        `Cannot bundle ${path} for XS: deno bundle exited ${r.code}: ${
          new TextDecoder().decode(r.stderr)
        }`,
      );
    }
    return await Deno.readTextFile(out);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** xsnap's metering after an evaluation. */
export interface XsMeter {
  /** Heap slots in use (each `XS_SLOT_BYTES` bytes). */
  currentHeapCount: number;
  /** Computation units used by the evaluation. */
  compute: number;
  /** Bytes the XS machine has allocated from the OS (slots + chunks). */
  allocate: number;
}

/** Bytes per XS heap slot on this 64-bit host (`sizeof(txSlot)`). */
export const XS_SLOT_BYTES = 32;

/** Options of {@linkcode XsHost.start}. */
export interface XsHostOptions {
  /** Worker name (shown in errors). @default "avi-xs" */
  name?: string;
  /**
   * Remove `TextEncoder`/`TextDecoder` from XS before loading code, as on a
   * Moddable device without them in its manifest. @default true
   */
  hideTextCodec?: boolean;
  /** Longest single wait inside one `__xsStep`, ms. @default 20 */
  stepWaitMs?: number;
  /** Datagrams queued for XS before new ones are dropped. @default 256 */
  maxQueue?: number;
  /** Print XS log lines on the host's console. @default false */
  echoLogs?: boolean;
}

interface CallReply {
  state?: "pending" | "fulfilled" | "rejected" | "unknown";
  value?: unknown;
  error?: string;
  code?: number;
  errors?: string[];
}

/** A rejection from XS: `name` and `code` are those of the error in XS. */
export class XsCallError extends Error {
  /** The XS error's `code` property, when numeric. */
  code: number | undefined;
  /**
   * @param call The export called.
   * @param xsName The XS error's name.
   * @param message The XS error's message.
   * @param code The XS error's numeric code, if any.
   */
  constructor(
    call: string,
    xsName: string,
    message: string,
    code: number | undefined,
  ) {
    super(`XS call ${call} failed: ${xsName}: ${message}`);
    this.name = xsName;
    this.code = code;
  }
}

const decoder = new TextDecoder();

/** A running XS machine with a real UDP socket. */
export class XsHost {
  /** Log lines from XS, in order (`E ` prefix for errors). */
  readonly logs: string[] = [];
  /** Datagram counters. */
  readonly stats = { sent: 0, received: 0, dropped: 0, badRequests: 0 };
  /** Errors caught inside XS (thrown by callbacks and timers). */
  xsErrors: string[] = [];

  #worker: Awaited<ReturnType<typeof xsnap>>;
  #conn: Deno.DatagramConn;
  #queue: XsDatagram[] = [];
  #wake: (() => void) | undefined;
  #recvLoop: Promise<void>;
  #closed = false;
  #nextCall = 1;
  #opts: Required<XsHostOptions>;

  private constructor(
    worker: Awaited<ReturnType<typeof xsnap>>,
    conn: Deno.DatagramConn,
    opts: Required<XsHostOptions>,
  ) {
    this.#worker = worker;
    this.#conn = conn;
    this.#opts = opts;
    this.#recvLoop = this.#receive();
  }

  /**
   * Starts an XS worker and binds its UDP socket on 127.0.0.1 (random port).
   *
   * @param options Host options.
   * @returns The running host; call {@linkcode XsHost.close} when done.
   * @throws {XsnapMissingError} when the worker binary is missing.
   * @example
   * ```ts ignore
   * const host = await XsHost.start();
   * await host.close();
   * ```
   */
  static async start(options: XsHostOptions = {}): Promise<XsHost> {
    requireXsnapWorker();
    const opts: Required<XsHostOptions> = {
      name: options.name ?? "avi-xs",
      hideTextCodec: options.hideTextCodec ?? true,
      stepWaitMs: options.stepWaitMs ?? 20,
      maxQueue: options.maxQueue ?? 256,
      echoLogs: options.echoLogs ?? false,
    };
    const conn = Deno.listenDatagram({
      hostname: "127.0.0.1",
      port: 0,
      transport: "udp",
    });
    const ref: { host?: XsHost } = {};
    let worker;
    try {
      worker = await xsnap({
        os: os.type(),
        spawn,
        fs,
        name: opts.name,
        stdout: "inherit",
        stderr: "inherit",
        handleCommand: (req: Uint8Array) => ref.host!.#handle(req),
        // deno-lint-ignore no-explicit-any
      } as any);
    } catch (e) {
      conn.close();
      throw e;
    }
    const host = new XsHost(worker, conn, opts);
    ref.host = host;
    if (opts.hideTextCodec) {
      await host.evaluate(
        "delete globalThis.TextEncoder; delete globalThis.TextDecoder;" +
          "if (typeof TextEncoder !== 'undefined') throw Error('TextEncoder stays');",
      );
    }
    return host;
  }

  /** The device socket's port on 127.0.0.1. */
  get port(): number {
    return (this.#conn.addr as Deno.NetAddr).port;
  }

  async #receive(): Promise<void> {
    while (!this.#closed) {
      let got: [Uint8Array, Deno.Addr];
      try {
        got = await this.#conn.receive();
      } catch (e) {
        if (this.#closed) return;
        throw e;
      }
      const [data, addr] = got;
      const a = addr as Deno.NetAddr;
      if (this.#queue.length >= this.#opts.maxQueue) {
        this.stats.dropped++;
        continue;
      }
      this.stats.received++;
      this.#queue.push({ host: a.hostname, port: a.port, payload: data });
      this.#wake?.();
    }
  }

  async #handle(req: Uint8Array): Promise<Uint8Array> {
    try {
      switch (req[0]) {
        case OP_SEND: {
          const d = decodeSend(req);
          try {
            await this.#conn.send(d.payload.slice(), {
              transport: "udp",
              hostname: d.host,
              port: d.port,
            });
            this.stats.sent++;
            return new Uint8Array([XS_OK]);
          } catch {
            return new Uint8Array([XS_SEND_FAILED]);
          }
        }
        case OP_RECV: {
          const wait = decodeRecv(req);
          if (this.#queue.length === 0 && wait > 0 && !this.#closed) {
            let timer: ReturnType<typeof setTimeout> | undefined;
            await new Promise<void>((resolve) => {
              this.#wake = resolve;
              timer = setTimeout(resolve, wait);
            });
            clearTimeout(timer);
            this.#wake = undefined;
          }
          const d = this.#queue.shift();
          return d === undefined
            ? new Uint8Array([XS_EMPTY])
            : encodeRecvReply(d);
        }
        case OP_NOW:
          return encodeF64Reply(performance.now());
        case OP_LOG: {
          const line = decoder.decode(req.subarray(2));
          this.logs.push(req[1] === 1 ? `E ${line}` : line);
          if (this.logs.length > 10000) this.logs.shift();
          if (this.#opts.echoLogs) console.log(`[xs ${this.#opts.name}]`, line);
          return new Uint8Array([XS_OK]);
        }
        case OP_RANDOM: {
          if (req.length < 3) break;
          const n = Math.min(MAX_RANDOM, (req[1] << 8) | req[2]);
          const out = new Uint8Array(1 + n);
          crypto.getRandomValues(out.subarray(1));
          return out;
        }
        case OP_INFO:
          return new Uint8Array([XS_OK, this.port >> 8, this.port & 0xff]);
      }
    } catch { /* malformed: answered below */ }
    this.stats.badRequests++;
    return new Uint8Array([XS_BAD_REQUEST]);
  }

  /**
   * Evaluates script source in XS (not a module).
   *
   * @param source Script source.
   * @returns The reply bytes (an ArrayBuffer result or `{ result }`) and
   *   xsnap's metering.
   * @throws {Error} on an uncaught exception in XS.
   * @example
   * ```ts ignore
   * const { meter } = await host.evaluate("globalThis.x = 1");
   * ```
   */
  async evaluate(
    source: string,
  ): Promise<{ reply: Uint8Array; meter: XsMeter }> {
    const r = await this.#worker.evaluate(source);
    const m = r.meterUsage;
    return {
      reply: r.reply,
      meter: {
        currentHeapCount: m.currentHeapCount ?? 0,
        compute: m.compute ?? 0,
        allocate: m.allocate ?? 0,
      },
    };
  }

  /**
   * Bundles an entry (which must call `installXsRuntime`) and evaluates it.
   *
   * @param entry Entry module path or file URL.
   * @returns Metering of the evaluation and the bundle's size in bytes.
   * @example
   * ```ts ignore
   * await host.load(new URL("./entry.ts", import.meta.url));
   * ```
   */
  async load(
    entry: string | URL,
  ): Promise<{ meter: XsMeter; bundleBytes: number }> {
    const src = await bundleForXs(entry);
    const { meter } = await this.evaluate(src);
    return { meter, bundleBytes: src.length };
  }

  /**
   * Reads a JSON value out of XS by evaluating `expr`.
   *
   * @param expr A JavaScript expression evaluated in XS's global scope.
   * @returns Its JSON value.
   * @example
   * ```ts ignore
   * const n = await host.query<number>("globalThis.count");
   * ```
   */
  async query<T>(expr: string): Promise<T> {
    const { reply } = await this.evaluate(`__xsQuery((${expr}))`);
    return JSON.parse(decoder.decode(reply)) as T;
  }

  /**
   * Runs one turn of the XS loop (waits at most `maxWaitMs` for datagrams).
   *
   * @param maxWaitMs Longest wait. @default the `stepWaitMs` option
   * @example
   * ```ts ignore
   * await host.step();
   * ```
   */
  async step(maxWaitMs: number = this.#opts.stepWaitMs): Promise<void> {
    const { reply } = await this.evaluate(`__xsStep(${maxWaitMs | 0})`);
    this.#noteErrors(JSON.parse(decoder.decode(reply)) as CallReply);
  }

  #noteErrors(r: CallReply): void {
    if (r.errors) this.xsErrors = r.errors;
  }

  /**
   * Calls an exported XS function and drives the XS loop until the returned
   * promise settles.
   *
   * @param name Export name given to `installXsRuntime`.
   * @param args JSON-serialisable arguments.
   * @param options `timeoutMs`: deadline for the call. @default 20000
   * @returns The JSON value the XS function resolved with.
   * @throws {XsCallError} named as the XS error (with its `code`) when it
   *   rejects.
   * @throws {Error} on timeout.
   * @example
   * ```ts ignore
   * const v = await host.call("connect", ["127.0.0.1", 9000]);
   * ```
   */
  async call<T = unknown>(
    name: string,
    args: unknown[] = [],
    options: { timeoutMs?: number } = {},
  ): Promise<T> {
    const timeoutMs = options.timeoutMs ?? 20000;
    const id = this.#nextCall++;
    const argsJson = JSON.stringify(JSON.stringify(args));
    let r = await this.#callReply(
      `__xsCall(${id}, ${JSON.stringify(name)}, ${argsJson})`,
    );
    const deadline = performance.now() + timeoutMs;
    while (r.state === "pending") {
      if (performance.now() > deadline) {
        throw new Error(
          `XS call ${name} did not settle within ${timeoutMs} ms; XS log tail: ${
            this.logs.slice(-5).join(" | ")
          }`,
        );
      }
      r = await this.#callReply(`__xsStep(${this.#opts.stepWaitMs}, ${id})`);
    }
    if (r.state === "fulfilled") return r.value as T;
    const text = r.error ?? String(r.state);
    const colon = text.indexOf(": ");
    throw colon > 0
      ? new XsCallError(
        name,
        text.slice(0, colon),
        text.slice(colon + 2),
        r.code,
      )
      : new XsCallError(name, "Error", text, r.code);
  }

  async #callReply(source: string): Promise<CallReply> {
    const { reply } = await this.evaluate(source);
    const r = JSON.parse(decoder.decode(reply)) as CallReply;
    this.#noteErrors(r);
    return r;
  }

  /**
   * Drives the XS loop until `done()` holds (checked on the host between
   * steps).
   *
   * @param done Condition; may be async.
   * @param options `timeoutMs` deadline (default 20000); `what` names the
   *   condition in the timeout error.
   * @throws {Error} on timeout.
   * @example
   * ```ts ignore
   * await host.runUntil(() => gatewaySaw.length > 0, { what: "a publish" });
   * ```
   */
  async runUntil(
    done: () => boolean | Promise<boolean>,
    options: { timeoutMs?: number; what?: string } = {},
  ): Promise<void> {
    const timeoutMs = options.timeoutMs ?? 20000;
    const deadline = performance.now() + timeoutMs;
    while (!(await done())) {
      if (performance.now() > deadline) {
        throw new Error(
          `XS: ${
            options.what ?? "condition"
          } not reached within ${timeoutMs} ms`,
        );
      }
      await this.step();
    }
  }

  /**
   * Drives the XS loop for `ms` milliseconds of host time.
   *
   * @param ms Duration.
   * @example
   * ```ts ignore
   * await host.runFor(200);
   * ```
   */
  async runFor(ms: number): Promise<void> {
    const end = performance.now() + ms;
    while (performance.now() < end) {
      await this.step(Math.min(this.#opts.stepWaitMs, end - performance.now()));
    }
  }

  /**
   * Size of an XS heap snapshot of the machine now: every live slot and chunk,
   * written compactly. A whole-heap footprint figure (slot counts alone miss
   * strings, bytecode and buffers).
   *
   * @returns Snapshot size in bytes.
   * @example
   * ```ts ignore
   * const bytes = await host.snapshotBytes();
   * ```
   */
  async snapshotBytes(): Promise<number> {
    let n = 0;
    for await (const chunk of this.#worker.makeSnapshotStream("footprint")) {
      n += chunk.length;
    }
    return n;
  }

  /**
   * Stops the worker and closes the socket.
   *
   * @example
   * ```ts ignore
   * await host.close();
   * ```
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#wake?.();
    try {
      await this.#worker.close();
    } catch {
      await this.#worker.terminate();
    }
    this.#conn.close();
    await this.#recvLoop;
  }
}
