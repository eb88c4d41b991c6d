/**
 * The pages attached to a dashboard, each over one Server-Sent Events
 * stream: a `snapshot` event at once, then an `update` event per tick with
 * what changed. A page that does not read (slow, stuck, in a background
 * tab) never makes the node buffer without bound: once `bufferBytes` wait
 * for it, its updates are dropped and counted, and when it has read its
 * backlog it gets a fresh snapshot carrying `droppedUpdates`.
 *
 * @module
 */

import type { DashboardSnapshot, DashboardUpdate } from "./types.ts";

/** Where the hub takes its snapshots and updates from. */
export interface UpdateSource {
  snapshot(): DashboardSnapshot;
  collect(): DashboardUpdate | undefined;
  setActive(active: boolean): void;
}

/** Options of {@linkcode ClientHub}. */
export interface HubOptions {
  maxClients: number;
  bufferBytes: number;
  tickMs: number;
}

interface Client {
  controller: ReadableStreamDefaultController<Uint8Array>;
  /** Updates dropped since it fell behind; undefined while it keeps up. */
  dropped: number | undefined;
}

const enc = new TextEncoder();
const KEEPALIVE_MS = 15_000;

/** One SSE event's bytes. */
function event(name: string, body: unknown): Uint8Array {
  return enc.encode(`event: ${name}\ndata: ${JSON.stringify(body)}\n\n`);
}

/** A page's view of its own stream, for tests: bytes queued and updates dropped. */
export interface ClientState {
  queuedBytes: number;
  dropped: number | undefined;
}

/** The attached pages and the tick that feeds them. */
export class ClientHub {
  readonly #src: UpdateSource;
  readonly #o: HubOptions;
  #clients = new Set<Client>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #lastWrite = Date.now();
  #closed = false;

  constructor(source: UpdateSource, options: HubOptions) {
    this.#src = source;
    this.#o = options;
  }

  /** Pages attached now. */
  get size(): number {
    return this.#clients.size;
  }

  /** Each page's queue (for tests and the bench). */
  states(): ClientState[] {
    return [...this.#clients].map((c) => ({
      queuedBytes: this.#o.bufferBytes - (c.controller.desiredSize ?? 0),
      dropped: c.dropped,
    }));
  }

  /**
   * A new page's stream, or undefined when `maxClients` are attached. The
   * stream ends when the page goes (`ended` settles, or the stream is
   * cancelled) or the hub closes.
   */
  open(ended?: Promise<unknown>): ReadableStream<Uint8Array> | undefined {
    if (this.#closed || this.#clients.size >= this.#o.maxClients) {
      return undefined;
    }
    let client: Client | undefined;
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        client = { controller, dropped: undefined };
        this.#clients.add(client);
        if (this.#clients.size === 1) this.#start();
        controller.enqueue(enc.encode(": avi dashboard\n\n"));
        controller.enqueue(event("snapshot", this.#src.snapshot()));
      },
      cancel: () => this.#remove(client),
    }, {
      highWaterMark: this.#o.bufferBytes,
      size: (chunk) => chunk.byteLength,
    });
    ended?.then(() => this.#remove(client), () => this.#remove(client));
    return stream;
  }

  /** Ends every stream and the tick. */
  close(): void {
    this.#closed = true;
    for (const c of [...this.#clients]) {
      this.#remove(c);
      try {
        c.controller.close();
      } catch { /* closed */ }
    }
  }

  #start(): void {
    this.#src.setActive(true);
    this.#timer = setInterval(() => this.tick(), this.#o.tickMs);
  }

  #remove(c: Client | undefined): void {
    if (!c || !this.#clients.delete(c)) return;
    if (this.#clients.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      this.#src.setActive(false);
    }
  }

  /** Sends what changed to every page (run by the timer; tests call it). */
  tick(): void {
    if (this.#clients.size === 0) return;
    const update = this.#src.collect();
    let bytes: Uint8Array | undefined;
    let snapshot: DashboardSnapshot | undefined;
    const now = Date.now();
    const keepalive = now - this.#lastWrite > KEEPALIVE_MS;
    for (const c of this.#clients) {
      const room = c.controller.desiredSize ?? 0;
      if (c.dropped !== undefined) {
        // Behind: wait until half its buffer drained, then resynchronise.
        if (room >= this.#o.bufferBytes / 2) {
          snapshot ??= this.#src.snapshot();
          this.#send(
            c,
            event("snapshot", {
              ...snapshot,
              droppedUpdates: c.dropped + (update ? 1 : 0),
            }),
          );
          c.dropped = undefined;
        } else if (update) c.dropped++;
        continue;
      }
      if (!update) {
        if (keepalive) this.#send(c, enc.encode(": keep-alive\n\n"));
        continue;
      }
      if (room <= 0) {
        c.dropped = 1;
        continue;
      }
      bytes ??= event("update", update);
      this.#send(c, bytes);
    }
    if (update || keepalive) this.#lastWrite = now;
  }

  #send(c: Client, bytes: Uint8Array): void {
    try {
      c.controller.enqueue(bytes);
    } catch {
      this.#remove(c); // the page went
    }
  }
}
