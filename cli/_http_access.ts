/**
 * {@linkcode HttpAccess}: the mesh through a running node's control endpoint
 * (see `_control.ts`), for the one-shot commands.
 *
 * @module
 */

import type { JsonValue } from "../mod.ts";
import { CliError } from "./_args.ts";
import type {
  ContextChange,
  MeshAccess,
  MeshMessage,
  PeerRow,
  PublishOptions,
} from "./_access.ts";
import { fromBase64, toBase64 } from "./_control.ts";

/** The mesh through a node's control endpoint at `base` (`http://host:port`). */
export class HttpAccess implements MeshAccess {
  readonly #base: string;
  readonly #token: string | undefined;
  readonly description: string;

  /**
   * @param base The endpoint, `http://127.0.0.1:7357`.
   * @param token Its token, when it requires one.
   */
  constructor(base: string, token?: string) {
    this.#base = base.replace(/\/+$/, "");
    this.#token = token;
    this.description = `the node at ${this.#base}`;
  }

  /**
   * Is a node answering at `base`? Resolves undefined when nothing listens
   * there (the caller may join the mesh itself).
   * @throws {CliError} Something answers but refuses (a token is needed) or is no node.
   */
  static async probe(
    base: string,
    token: string | undefined,
    timeoutMs: number,
  ): Promise<HttpAccess | undefined> {
    const access = new HttpAccess(base, token);
    try {
      await access.#call(
        "GET",
        "/api/info",
        undefined,
        AbortSignal.timeout(timeoutMs),
      );
      return access;
    } catch (e) {
      if (e instanceof CliError) throw e;
      return undefined;
    }
  }

  async #call(
    method: string,
    path: string,
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<unknown> {
    const res = await this.#fetch(method, path, body, signal);
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      throw new CliError(
        `${this.description} answered something else than JSON (${res.status})`,
      );
    }
    if (!res.ok) {
      const error = (parsed as { error?: string })?.error ?? res.statusText;
      if (res.status === 401) {
        throw new CliError(
          `${this.description} needs a token (--token or AVI_TOKEN): ${error}`,
        );
      }
      throw new CliError(error, res.status === 409 ? 1 : 1);
    }
    return parsed;
  }

  #fetch(
    method: string,
    path: string,
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    return fetch(`${this.#base}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  }

  async publish(
    topic: string,
    data: Uint8Array,
    { minSubscribers, timeoutMs }: PublishOptions,
  ): Promise<number> {
    const r = await this.#call("POST", "/api/publish", {
      topic,
      data: toBase64(data),
      minSubscribers,
      timeoutMs,
    }) as { reached: number };
    return r.reached;
  }

  async *#events<T>(path: string, signal: AbortSignal): AsyncIterable<T> {
    let res: Response;
    try {
      res = await this.#fetch("GET", path, undefined, signal);
    } catch (e) {
      if (signal.aborted) return;
      throw new CliError(`${this.description}: ${(e as Error).message}`);
    }
    if (!res.ok || !res.body) {
      const text = await res.text();
      let error = text;
      try {
        error = JSON.parse(text).error ?? text;
      } catch { /* plain text */ }
      throw new CliError(`${this.description}: ${error}`);
    }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    const onAbort = () => reader.cancel().catch(() => {});
    signal.addEventListener("abort", onAbort, { once: true });
    let buffer = "";
    try {
      while (!signal.aborted) {
        const { value, done } = await reader.read().catch(() => ({
          value: undefined,
          done: true,
        }));
        if (done) break;
        buffer += value;
        let at: number;
        while ((at = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, at);
          buffer = buffer.slice(at + 2);
          let event = "message";
          const data: string[] = [];
          for (const line of block.split("\n")) {
            if (line.startsWith("event: ")) event = line.slice(7);
            else if (line.startsWith("data: ")) data.push(line.slice(6));
          }
          if (data.length === 0) continue;
          const parsed = JSON.parse(data.join("\n"));
          if (event === "error") {
            throw new CliError(`${this.description}: ${parsed.error}`);
          }
          yield parsed as T;
        }
      }
      if (!signal.aborted) {
        throw new CliError(`${this.description} closed the stream`);
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      await reader.cancel().catch(() => {});
    }
  }

  async *messages(
    topics: string[],
    signal: AbortSignal,
  ): AsyncIterable<MeshMessage> {
    const q = topics.map((t) => `topic=${encodeURIComponent(t)}`).join("&");
    for await (
      const m of this.#events<
        { ts: number; from: string; topic: string; data: string }
      >(`/api/messages?${q}`, signal)
    ) {
      yield { ...m, data: fromBase64(m.data) };
    }
  }

  async getContext(path?: string): Promise<JsonValue | undefined> {
    const q = path ? `?path=${encodeURIComponent(path)}` : "";
    const r = await this.#call("GET", `/api/context${q}`) as {
      value?: JsonValue;
    };
    return r.value;
  }

  async setContext(path: string, value: JsonValue): Promise<string[]> {
    const r = await this.#call("PUT", "/api/context", { path, value }) as {
      changedPaths: string[];
    };
    return r.changedPaths;
  }

  async deleteContext(path: string): Promise<string[]> {
    const r = await this.#call(
      "DELETE",
      `/api/context?path=${encodeURIComponent(path)}`,
    ) as { changedPaths: string[] };
    return r.changedPaths;
  }

  watchContext(
    path: string | undefined,
    signal: AbortSignal,
  ): AsyncIterable<ContextChange> {
    const q = path ? `?path=${encodeURIComponent(path)}` : "";
    return this.#events<ContextChange>(`/api/context/watch${q}`, signal);
  }

  async peers(): Promise<PeerRow[]> {
    return await this.#call("GET", "/api/peers") as PeerRow[];
  }

  /** A running node keeps up with its peers by itself. */
  syncContext(): Promise<boolean> {
    return Promise.resolve(true);
  }

  /** The gateway's devices (a node that is no gateway: CliError). */
  async devices(): Promise<unknown[]> {
    return await this.#call("GET", "/api/devices") as unknown[];
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
