/**
 * A seeded UDP chaos proxy for tests: it sits between UDP clients (devices)
 * and one UDP server (the gateway) on 127.0.0.1 and, per direction, drops,
 * duplicates, reorders and delays datagrams. Every decision comes from a
 * deterministic PRNG seeded by the caller, so a failing run can be replayed
 * with the same seed (timings may still differ; the decisions per datagram
 * index do not).
 *
 * Each client address gets its own upstream socket (like a NAT), so the
 * server sees one distinct address per client and its answers find the way
 * back.
 *
 * Requires `--allow-net` and `--unstable-net` (Deno.listenDatagram).
 *
 * @example
 * ```ts
 * import { ChaosProxy } from "./chaos_proxy.ts";
 * const proxy = await ChaosProxy.start({
 *   target: { hostname: "127.0.0.1", port: 8888 },
 *   seed: 42,
 *   up: { loss: 0.1, duplicate: 0.05, reorder: 0.2 },
 *   down: { loss: 0.1 },
 * });
 * console.log(proxy.port, proxy.stats.up.dropped);
 * await proxy.close();
 * ```
 *
 * @module
 */

/** What happens to datagrams travelling in one direction. */
export interface ChaosDirection {
  /** Probability (0..1) that a datagram is dropped. @default 0 */
  loss?: number;
  /** Probability (0..1) that a datagram is sent twice. @default 0 */
  duplicate?: number;
  /**
   * Probability (0..1) that a datagram is held back and sent after the next
   * one in the same direction (or after `reorderHoldMs`, whichever is first).
   * @default 0
   */
  reorder?: number;
  /** Longest time a reordered datagram is held, in ms. @default 20 */
  reorderHoldMs?: number;
  /** Fixed delay added to every datagram, in ms. @default 0 */
  delayMs?: number;
  /** Extra random delay, uniform in [0, jitterMs), in ms. @default 0 */
  jitterMs?: number;
}

/** Options of {@linkcode ChaosProxy.start}. */
export interface ChaosProxyOptions {
  /** The server all client datagrams go to. */
  target: { hostname: string; port: number };
  /** PRNG seed (any 32-bit integer). */
  seed: number;
  /** Client → server behaviour. @default {} (pass through) */
  up?: ChaosDirection;
  /** Server → client behaviour. @default {} (pass through) */
  down?: ChaosDirection;
  /** Port the proxy listens on (127.0.0.1). @default 0 (any) */
  port?: number;
  /** Most distinct clients tracked at once; more are dropped. @default 4096 */
  maxClients?: number;
}

/** Counters for one direction. */
export interface ChaosCounters {
  /** Datagrams received from the sending side. */
  received: number;
  /** Datagrams dropped on purpose. */
  dropped: number;
  /** Extra copies sent. */
  duplicated: number;
  /** Datagrams held back to be sent out of order. */
  reordered: number;
  /** Datagrams handed to the socket (copies included). */
  forwarded: number;
  /** Send failures (e.g. the server was down). */
  sendErrors: number;
}

/**
 * A small, fast, seeded PRNG (mulberry32). Returns floats in [0, 1).
 *
 * @example
 * ```ts
 * import { mulberry32 } from "./chaos_proxy.ts";
 * const r = mulberry32(1);
 * console.log(r() === mulberry32(1)());
 * ```
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function zero(): ChaosCounters {
  return {
    received: 0,
    dropped: 0,
    duplicated: 0,
    reordered: 0,
    forwarded: 0,
    sendErrors: 0,
  };
}

type Sender = (data: Uint8Array) => Promise<void>;

/** One direction's pipeline: decisions, a hold slot, delays. */
class Lane {
  readonly counters = zero();
  #cfg: Required<ChaosDirection>;
  #rand: () => number;
  #held: {
    data: Uint8Array;
    send: Sender;
    timer: ReturnType<typeof setTimeout>;
  } | undefined;
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #closed = false;

  constructor(cfg: ChaosDirection, rand: () => number) {
    this.#cfg = {
      loss: cfg.loss ?? 0,
      duplicate: cfg.duplicate ?? 0,
      reorder: cfg.reorder ?? 0,
      reorderHoldMs: cfg.reorderHoldMs ?? 20,
      delayMs: cfg.delayMs ?? 0,
      jitterMs: cfg.jitterMs ?? 0,
    };
    this.#rand = rand;
  }

  /** Change the behaviour from now on. */
  configure(cfg: ChaosDirection): void {
    this.#cfg = { ...this.#cfg, ...cfg };
  }

  push(data: Uint8Array, send: Sender): void {
    if (this.#closed) return;
    this.counters.received++;
    const c = this.#cfg;
    // Draw every decision for every datagram, so the sequence of decisions
    // depends only on the seed and the datagram index.
    const rLoss = this.#rand();
    const rDup = this.#rand();
    const rReorder = this.#rand();
    const rJitter = this.#rand();
    if (rLoss < c.loss) {
      this.counters.dropped++;
      return;
    }
    const copies = rDup < c.duplicate ? 2 : 1;
    if (copies === 2) this.counters.duplicated++;
    const delay = c.delayMs + Math.floor(rJitter * c.jitterMs);
    if (rReorder < c.reorder && this.#held === undefined) {
      this.counters.reordered++;
      const timer = setTimeout(() => this.#releaseHeld(), c.reorderHoldMs);
      this.#held = { data, send, timer };
      if (copies === 2) this.#emit(data, send, delay);
      return;
    }
    for (let i = 0; i < copies; i++) this.#emit(data, send, delay);
    this.#releaseHeld();
  }

  #releaseHeld(): void {
    const h = this.#held;
    if (h === undefined) return;
    this.#held = undefined;
    clearTimeout(h.timer);
    this.#emit(h.data, h.send, this.#cfg.delayMs);
  }

  #emit(data: Uint8Array, send: Sender, delay: number): void {
    if (this.#closed) return;
    if (delay <= 0) {
      this.#send(data, send);
      return;
    }
    const t = setTimeout(() => {
      this.#timers.delete(t);
      this.#send(data, send);
    }, delay);
    this.#timers.add(t);
  }

  #send(data: Uint8Array, send: Sender): void {
    if (this.#closed) return;
    this.counters.forwarded++;
    send(data).catch(() => {
      this.counters.sendErrors++;
    });
  }

  close(): void {
    this.#closed = true;
    if (this.#held) clearTimeout(this.#held.timer);
    this.#held = undefined;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }
}

/**
 * Sends on one socket strictly in call order (concurrent `send` calls on a
 * Deno datagram socket may otherwise complete out of order).
 */
class SerialSocket {
  #conn: Deno.DatagramConn;
  #queue: Array<[Uint8Array, Deno.NetAddr, () => void, (e: unknown) => void]> =
    [];
  #busy = false;
  constructor(conn: Deno.DatagramConn) {
    this.#conn = conn;
  }
  send(data: Uint8Array, to: Deno.NetAddr): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push([data, to, resolve, reject]);
      if (!this.#busy) this.#pump();
    });
  }
  async #pump(): Promise<void> {
    this.#busy = true;
    while (this.#queue.length > 0) {
      const [d, to, ok, fail] = this.#queue.shift()!;
      try {
        await this.#conn.send(d, to);
        ok();
      } catch (e) {
        fail(e);
      }
    }
    this.#busy = false;
  }
}

interface Client {
  addr: Deno.NetAddr;
  conn: Deno.DatagramConn;
  out: SerialSocket;
  loop: Promise<void>;
}

/**
 * The proxy. Create with {@linkcode ChaosProxy.start}; read `stats`; stop with
 * `close()`.
 *
 * @example
 * ```ts
 * import { ChaosProxy } from "./chaos_proxy.ts";
 * const p = await ChaosProxy.start({
 *   target: { hostname: "127.0.0.1", port: 9 },
 *   seed: 7,
 * });
 * await p.close();
 * ```
 */
export class ChaosProxy {
  /** The port clients should send to (on 127.0.0.1). */
  readonly port: number;
  #front: Deno.DatagramConn;
  #frontOut: SerialSocket;
  #target: Deno.NetAddr;
  #up: Lane;
  #down: Lane;
  #clients = new Map<string, Client>();
  #maxClients: number;
  #frontLoop: Promise<void>;
  #closed = false;
  /** Clients refused because `maxClients` was reached. */
  refusedClients = 0;

  private constructor(front: Deno.DatagramConn, opts: ChaosProxyOptions) {
    this.#front = front;
    this.#frontOut = new SerialSocket(front);
    this.port = (front.addr as Deno.NetAddr).port;
    this.#target = {
      transport: "udp",
      hostname: opts.target.hostname,
      port: opts.target.port,
    };
    const rand = mulberry32(opts.seed);
    // Independent streams per direction, both derived from the seed.
    const seedDown = Math.floor(rand() * 2 ** 32);
    this.#up = new Lane(opts.up ?? {}, rand);
    this.#down = new Lane(opts.down ?? {}, mulberry32(seedDown));
    this.#maxClients = opts.maxClients ?? 4096;
    this.#frontLoop = this.#runFront();
  }

  /**
   * Start a proxy on 127.0.0.1.
   *
   * @param opts Target, seed and per-direction behaviour.
   * @returns The running proxy.
   */
  static start(opts: ChaosProxyOptions): Promise<ChaosProxy> {
    const front = Deno.listenDatagram({
      transport: "udp",
      hostname: "127.0.0.1",
      port: opts.port ?? 0,
    });
    return Promise.resolve(new ChaosProxy(front, opts));
  }

  /** Counters per direction (live objects). */
  get stats(): { up: ChaosCounters; down: ChaosCounters } {
    return { up: this.#up.counters, down: this.#down.counters };
  }

  /** Change one direction's behaviour from now on (e.g. heal the link). */
  configure(dir: "up" | "down", cfg: ChaosDirection): void {
    (dir === "up" ? this.#up : this.#down).configure(cfg);
  }

  /** Number of distinct clients seen. */
  get clientCount(): number {
    return this.#clients.size;
  }

  async #runFront(): Promise<void> {
    while (!this.#closed) {
      let data: Uint8Array, from: Deno.Addr;
      try {
        [data, from] = await this.#front.receive();
      } catch {
        if (this.#closed) return;
        continue;
      }
      const addr = from as Deno.NetAddr;
      const key = `${addr.hostname}:${addr.port}`;
      let client = this.#clients.get(key);
      if (client === undefined) {
        if (this.#clients.size >= this.#maxClients) {
          this.refusedClients++;
          continue;
        }
        const conn = Deno.listenDatagram({
          transport: "udp",
          hostname: "127.0.0.1",
          port: 0,
        });
        const c: Client = {
          addr,
          conn,
          out: new SerialSocket(conn),
          loop: Promise.resolve(),
        };
        c.loop = this.#runBack(c);
        this.#clients.set(key, c);
        client = c;
      }
      const out = client.out;
      this.#up.push(data, (d) => out.send(d, this.#target));
    }
  }

  async #runBack(c: Client): Promise<void> {
    while (!this.#closed) {
      let data: Uint8Array;
      try {
        [data] = await c.conn.receive();
      } catch {
        if (this.#closed) return;
        // e.g. ECONNREFUSED after the server went away: keep going.
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      this.#down.push(data, (d) => this.#frontOut.send(d, c.addr));
    }
  }

  /** Stop: close every socket, cancel every pending timer. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#up.close();
    this.#down.close();
    try {
      this.#front.close();
    } catch { /* already closed */ }
    for (const c of this.#clients.values()) {
      try {
        c.conn.close();
      } catch { /* already closed */ }
    }
    await this.#frontLoop;
    await Promise.all([...this.#clients.values()].map((c) => c.loop));
    this.#clients.clear();
  }
}
