/**
 * The dashboard's HTTP server: the page (HTML, its ES modules and the
 * vendored preact and htm, all embedded in `_assets.ts`), a small JSON API
 * and one Server-Sent Events stream.
 *
 * | route | what |
 * | --- | --- |
 * | `GET /` | the page |
 * | `GET /assets/<file>` | its modules and style sheet |
 * | `GET /api/state` | a {@linkcode DashboardSnapshot} |
 * | `GET /api/events` | SSE: `snapshot`, then one `update` per tick |
 * | `PUT /api/context` | `{path, value}` → `{changedPaths}` (403 when read-only) |
 * | `DELETE /api/context?path=P` | → `{changedPaths}` (403 when read-only) |
 * | `POST /api/watch` | `{topic}`: subscribe the node for the log (403 when read-only) |
 * | `DELETE /api/watch?topic=T` | stop watching it (403 when read-only) |
 *
 * With a token, every request without it gets 401. Without one (loopback
 * only), requests must name a loopback host (no DNS rebinding), and writes
 * must be JSON from this origin (no cross-site form posts).
 *
 * @module
 */

import type { JsonValue } from "../mod.ts";
import { ASSETS } from "./_assets.ts";
import { ClientHub } from "./_clients.ts";
import { DashboardModel } from "./_model.ts";
import type {
  DashboardNode,
  DashboardOptions,
  DashboardServer,
} from "./options.ts";

/** Whether `hostname` is a loopback address (or name). */
export function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "::1" ||
    hostname === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/** A random token: 24 bytes, URL-safe base64 (32 characters). */
export function newToken(): string {
  const b = crypto.getRandomValues(new Uint8Array(24));
  return btoa(String.fromCharCode(...b)).replaceAll("+", "-").replaceAll(
    "/",
    "_",
  );
}

function sameText(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ (y[i % y.length] ?? 0);
  return diff === 0;
}

const SECURITY_HEADERS = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
  "x-frame-options": "DENY",
};

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { ...SECURITY_HEADERS, "content-type": "application/json" },
  });
}

function failure(status: number, error: string): Response {
  return json({ error }, status);
}

function escapeHtml(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll('"', "&quot;").replaceAll(
    "<",
    "&lt;",
  ).replaceAll(">", "&gt;");
}

/** The page, with the token carried into its module and style URLs. */
function page(token: string | undefined): Response {
  const q = token === undefined ? "" : `?token=${encodeURIComponent(token)}`;
  const imports: Record<string, string> = {
    "preact": `/assets/vendor/preact.mjs${q}`,
    "preact/hooks": `/assets/vendor/hooks.mjs${q}`,
    "htm": `/assets/vendor/htm.mjs${q}`,
  };
  for (const name of Object.keys(ASSETS)) {
    if (/\.m?js$/.test(name)) {
      imports[`/assets/${name}`] = `/assets/${name}${q}`;
    }
  }
  const nonce = newToken();
  const importmap = JSON.stringify({ imports }).replaceAll("<", "\\u003c");
  const html = ASSETS["index.html"].body
    .replace(
      "<!--importmap-->",
      `<script type="importmap" nonce="${nonce}">${importmap}</script>`,
    )
    .replaceAll("{{query}}", escapeHtml(q));
  return new Response(html, {
    headers: {
      ...SECURITY_HEADERS,
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": [
        "default-src 'none'",
        `script-src 'self' 'nonce-${nonce}'`,
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
      ].join("; "),
    },
  });
}

/** The message of an error. */
function messageOf(e: unknown): string {
  return (e as Error)?.message ?? String(e);
}

/** Starts the model and the server (see {@linkcode serveDashboard}). */
export async function startDashboard(
  node: DashboardNode,
  options: DashboardOptions,
): Promise<DashboardServer> {
  const hostname = options.hostname ?? "127.0.0.1";
  const loopback = isLoopback(hostname);
  const token = options.token ?? (loopback ? undefined : newToken());
  if (token !== undefined && token.length === 0) {
    throw new TypeError("the dashboard's token must not be empty");
  }
  const readOnly = options.readOnly ?? false;
  const tickMs = options.tickMs ?? 250;
  const model = new DashboardModel(node, {
    bridge: options.bridge,
    tap: options.tap,
    readOnly,
    topics: options.topics ?? [],
  });
  const hub = new ClientHub(model, {
    maxClients: options.maxClients ?? 8,
    bufferBytes: options.clientBufferBytes ?? 256 * 1024,
    tickMs,
  });
  await model.start();
  const onError = options.onError ?? (() => {});

  const handler = async (
    request: Request,
    info: Deno.ServeHandlerInfo,
  ): Promise<Response> => {
    const url = new URL(request.url);
    if (token !== undefined) {
      const auth = request.headers.get("authorization");
      const given = auth?.startsWith("Bearer ")
        ? auth.slice(7)
        : url.searchParams.get("token");
      if (given === null || !sameText(given, token)) {
        return failure(401, "a token is required (?token=...)");
      }
    } else {
      // No token: only for a loopback bind, so only loopback names.
      const host = (request.headers.get("host") ?? "").replace(/:\d+$/, "");
      if (!isLoopback(host)) return failure(403, "unexpected Host header");
    }
    const write = request.method !== "GET" && request.method !== "HEAD";
    if (write) {
      const origin = request.headers.get("origin");
      if (origin !== null && origin !== url.origin) {
        return failure(403, "cross-origin request");
      }
    }
    const route = `${request.method} ${url.pathname}`;
    try {
      if (request.method === "GET" && url.pathname.startsWith("/assets/")) {
        const asset = ASSETS[url.pathname.slice(8)];
        if (!asset) return failure(404, "no such file");
        return new Response(asset.body, {
          headers: { ...SECURITY_HEADERS, "content-type": asset.type },
        });
      }
      switch (route) {
        case "GET /":
        case "GET /index.html":
          return page(token);
        case "GET /api/state":
          return json(model.snapshot());
        case "GET /api/events": {
          const stream = hub.open(info.completed);
          if (!stream) return failure(503, "too many pages attached");
          return new Response(stream, {
            headers: {
              ...SECURITY_HEADERS,
              "content-type": "text/event-stream",
            },
          });
        }
        case "PUT /api/context":
        case "DELETE /api/context":
        case "POST /api/watch":
        case "DELETE /api/watch":
          if (readOnly) return failure(403, "this dashboard is read-only");
          return await change(request, url, route);
        default:
          return failure(404, `no route ${route}`);
      }
    } catch (e) {
      const name = (e as Error)?.name ?? "";
      if (/Invalid|TooLarge|Type|Range|Limit/.test(name)) {
        return failure(400, messageOf(e));
      }
      onError(e);
      return failure(500, messageOf(e));
    }
  };

  const change = async (
    request: Request,
    url: URL,
    route: string,
  ): Promise<Response> => {
    if (request.method !== "DELETE") {
      const type = request.headers.get("content-type") ?? "";
      if (!type.startsWith("application/json")) {
        return failure(415, "send application/json");
      }
    }
    const handle = node.handle();
    switch (route) {
      case "PUT /api/context": {
        const body = await request.json().catch(() => undefined) as {
          path?: unknown;
          value?: JsonValue;
        } | undefined;
        if (typeof body?.path !== "string" || !("value" in body)) {
          return failure(400, "expected {path, value}");
        }
        return json({
          changedPaths: await handle.setContextPath(body.path, body.value!),
        });
      }
      case "DELETE /api/context": {
        const path = url.searchParams.get("path");
        if (!path) return failure(400, "give ?path=...");
        return json({ changedPaths: await handle.deleteContextPath(path) });
      }
      case "POST /api/watch": {
        const body = await request.json().catch(() => undefined) as {
          topic?: unknown;
        } | undefined;
        if (typeof body?.topic !== "string") {
          return failure(400, "expected {topic}");
        }
        await model.watch(body.topic);
        return json({ watched: body.topic });
      }
      default: {
        const topic = url.searchParams.get("topic");
        if (!topic) return failure(400, "give ?topic=...");
        await model.unwatch(topic);
        return json({ unwatched: topic });
      }
    }
  };

  let server: Deno.HttpServer;
  try {
    server = Deno.serve({
      hostname,
      port: options.port ?? 8080,
      onListen: () => {},
    }, handler);
  } catch (e) {
    await model.close();
    throw e;
  }
  const port = (server.addr as Deno.NetAddr).port;
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  const shown = hostname === "0.0.0.0" || hostname === "::"
    ? "127.0.0.1"
    : host;
  const url = `http://${shown}:${port}/${
    token === undefined ? "" : `?token=${encodeURIComponent(token)}`
  }`;
  let closing: Promise<void> | undefined;
  return {
    hostname,
    port,
    token,
    url,
    readOnly,
    get clients() {
      return hub.size;
    },
    close() {
      closing ??= (async () => {
        hub.close();
        await server.shutdown().catch(() => {});
        await model.close();
      })();
      return closing;
    },
  };
}
