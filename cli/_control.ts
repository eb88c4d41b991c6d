/**
 * The control endpoint of a running node (`avi node`, `avi gateway`): a small
 * JSON API over HTTP that the one-shot commands use (and tests, and a
 * dashboard), with Server-Sent Events for what flows.
 *
 * | route | what |
 * | --- | --- |
 * | `GET /api/info` | the node: peer id, name, addresses |
 * | `GET /api/peers` | the peers in view |
 * | `POST /api/publish` | `{topic, data (base64), minSubscribers, timeoutMs}` → `{reached}` |
 * | `GET /api/messages?topic=T&topic=U` | SSE: one `{ts, from, topic, data}` per message |
 * | `GET /api/context?path=P` | `{value}` (absent: `{}`) |
 * | `PUT /api/context` | `{path, value}` → `{changedPaths}` |
 * | `DELETE /api/context?path=P` | → `{changedPaths}` |
 * | `GET /api/context/watch?path=P` | SSE: one `{ts, peerId, changedPaths, value}` per change |
 * | `GET /api/devices` | a gateway's devices |
 * | `GET /api/stats` | the counters |
 *
 * It binds 127.0.0.1 by default. With a token, every request must carry it
 * (`Authorization: Bearer <token>`, or `?token=` for a browser's event
 * stream); binding any other address requires one. Errors are
 * `{"error": "..."}` with 400 (bad request), 401, 404, 409 (nobody reached)
 * or 500.
 *
 * @module
 */

import type { JsonValue } from "../mod.ts";
import { CliError } from "./_args.ts";
import type { MeshAccess } from "./_access.ts";
import { log } from "./_log.ts";

/** What the endpoint serves beyond the mesh access. */
export interface ControlOptions {
  hostname: string;
  port: number;
  /** Required on every request when set. */
  token?: string;
  /** The node's identity, for `/api/info`. */
  info: () => Record<string, unknown>;
  /** Counters, for `/api/stats`. */
  stats: () => Record<string, unknown>;
  /** A gateway's devices, for `/api/devices`. */
  devices?: () => unknown[];
}

/** A running control endpoint. */
export interface ControlServer {
  /** The bound port. */
  readonly port: number;
  /** Stops serving (open event streams end). */
  close(): Promise<void>;
}

/** Base64 of bytes. */
export function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/** Bytes of base64 (throws on bad input). */
export function fromBase64(text: string): Uint8Array {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

function failure(status: number, error: string): Response {
  return json({ error }, status);
}

/** An SSE response fed by `source` until the client goes. */
function eventStream<T>(
  request: Request,
  open: Set<AbortController>,
  source: (signal: AbortSignal) => AsyncIterable<T>,
  encode: (item: T) => unknown,
): Response {
  const abort = new AbortController();
  open.add(abort);
  abort.signal.addEventListener("abort", () => open.delete(abort));
  request.signal.addEventListener("abort", () => abort.abort(), { once: true });
  const enc = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      controller.enqueue(enc.encode(": ready\n\n"));
      try {
        for await (const item of source(abort.signal)) {
          controller.enqueue(
            enc.encode(`data: ${JSON.stringify(encode(item))}\n\n`),
          );
        }
      } catch (e) {
        if (!abort.signal.aborted) {
          controller.enqueue(
            enc.encode(
              `event: error\ndata: ${JSON.stringify({ error: String(e) })}\n\n`,
            ),
          );
        }
      }
      open.delete(abort);
      try {
        controller.close();
      } catch { /* the client went */ }
    },
    cancel() {
      abort.abort();
    },
  });
  return new Response(body, {
    headers: {
      "content-type": "text/event-stream",
      "cache-control": "no-store",
    },
  });
}

/** The message of an error, for a response or a line. */
function messageOf(e: unknown): string {
  return (e as Error)?.message ?? String(e);
}

/**
 * Serves `access` on `hostname:port`.
 * @throws {CliError} A non-loopback address without a token, or the port is taken.
 */
export function serveControl(
  access: MeshAccess,
  options: ControlOptions,
): ControlServer {
  const loopback = options.hostname === "127.0.0.1" ||
    options.hostname === "::1" || options.hostname === "localhost";
  if (!loopback && !options.token) {
    throw new CliError(
      `the control endpoint on ${options.hostname} needs a token (--token or AVI_TOKEN): only 127.0.0.1 may go without`,
      2,
    );
  }
  const logger = log("control");
  const open = new Set<AbortController>();
  const handler = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    if (options.token) {
      const auth = request.headers.get("authorization");
      const given = auth?.startsWith("Bearer ")
        ? auth.slice(7)
        : url.searchParams.get("token");
      if (given !== options.token) return failure(401, "a token is required");
    }
    const route = `${request.method} ${url.pathname}`;
    try {
      switch (route) {
        case "GET /api/info":
          return json(options.info());
        case "GET /api/stats":
          return json(options.stats());
        case "GET /api/devices":
          if (!options.devices) return failure(404, "this node is no gateway");
          return json(options.devices());
        case "GET /api/peers":
          return json(await access.peers());
        case "POST /api/publish": {
          const body = await request.json().catch(() => undefined) as {
            topic?: unknown;
            data?: unknown;
            minSubscribers?: unknown;
            timeoutMs?: unknown;
          } | undefined;
          if (
            typeof body?.topic !== "string" || typeof body.data !== "string"
          ) {
            return failure(400, "expected {topic, data (base64)}");
          }
          const min = Number(body.minSubscribers ?? 1);
          const timeoutMs = Number(body.timeoutMs ?? 5000);
          if (
            !Number.isSafeInteger(min) || min < 0 ||
            !(timeoutMs >= 0 && timeoutMs <= 600_000)
          ) {
            return failure(400, "bad minSubscribers or timeoutMs");
          }
          let data: Uint8Array;
          try {
            data = fromBase64(body.data);
          } catch {
            return failure(400, "data must be base64");
          }
          try {
            const reached = await access.publish(body.topic, data, {
              minSubscribers: min,
              timeoutMs,
            });
            return json({ reached });
          } catch (e) {
            if (e instanceof CliError) return failure(409, e.message);
            throw e;
          }
        }
        case "GET /api/messages": {
          const topics = url.searchParams.getAll("topic");
          if (topics.length === 0) return failure(400, "give ?topic=...");
          return eventStream(
            request,
            open,
            (signal) => access.messages(topics, signal),
            (m) => ({
              ts: m.ts,
              from: m.from,
              topic: m.topic,
              data: toBase64(m.data),
            }),
          );
        }
        case "GET /api/context": {
          const path = url.searchParams.get("path") ?? undefined;
          const value = await access.getContext(path);
          return json(value === undefined ? {} : { value });
        }
        case "PUT /api/context": {
          const body = await request.json().catch(() => undefined) as {
            path?: unknown;
            value?: JsonValue;
          } | undefined;
          if (typeof body?.path !== "string" || !("value" in body)) {
            return failure(400, "expected {path, value}");
          }
          return json({
            changedPaths: await access.setContext(body.path, body.value!),
          });
        }
        case "DELETE /api/context": {
          const path = url.searchParams.get("path");
          if (!path) return failure(400, "give ?path=...");
          return json({ changedPaths: await access.deleteContext(path) });
        }
        case "GET /api/context/watch": {
          const path = url.searchParams.get("path") ?? undefined;
          return eventStream(
            request,
            open,
            (signal) => access.watchContext(path, signal),
            (c) => c,
          );
        }
        default:
          return failure(404, `no route ${route}`);
      }
    } catch (e) {
      const name = (e as Error)?.name ?? "";
      const status = /Invalid|TooLarge|Type|Range/.test(name) ? 400 : 500;
      if (status === 500) {
        logger.error("{route} failed: {error}", { route, error: messageOf(e) });
      }
      return failure(status, messageOf(e));
    }
  };
  let server: Deno.HttpServer;
  try {
    server = Deno.serve({
      hostname: options.hostname,
      port: options.port,
      onListen: () => {},
    }, handler);
  } catch (e) {
    throw new CliError(
      `cannot serve the control endpoint on ${options.hostname}:${options.port}: ${
        messageOf(e)
      }`,
    );
  }
  const addr = server.addr as Deno.NetAddr;
  const host = options.hostname.includes(":")
    ? `[${options.hostname}]`
    : options.hostname;
  logger.info("control endpoint on {url}", {
    url: `http://${host}:${addr.port}`,
  });
  return {
    port: addr.port,
    async close() {
      for (const a of [...open]) a.abort();
      await server.shutdown();
    },
  };
}
