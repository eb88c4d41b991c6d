/**
 * How the commands print payloads: as text, as one JSON object per line, or
 * as hex.
 *
 * @module
 */

import type { MeshMessage } from "./_access.ts";
import { toBase64 } from "./_control.ts";

const strict = new TextDecoder("utf-8", { fatal: true });

/** The payload as UTF-8 text, or undefined when it is not valid UTF-8. */
export function asText(data: Uint8Array): string | undefined {
  try {
    return strict.decode(data);
  } catch {
    return undefined;
  }
}

/** Lowercase hex of bytes. */
export function hex(data: Uint8Array): string {
  return Array.from(data, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The output formats of `avi sub`. */
export type Format = "text" | "json" | "hex";

/**
 * One message as one line. `json`: `{ts, from, topic, data}` where `data` is
 * the payload as text when it is UTF-8, else `{"base64": "..."}`.
 */
export function formatMessage(m: MeshMessage, format: Format): string {
  switch (format) {
    case "json": {
      const text = asText(m.data);
      return JSON.stringify({
        ts: new Date(m.ts).toISOString(),
        from: m.from,
        topic: m.topic,
        data: text ?? { base64: toBase64(m.data) },
      });
    }
    case "hex":
      return `${m.topic} ${hex(m.data)}`;
    default: {
      const text = asText(m.data) ?? `<${m.data.length} bytes, not UTF-8>`;
      return `${m.topic} ${text.replace(/\r?\n/g, "\\n")}`;
    }
  }
}

/** Writes a line to stdout at once (no buffering behind a pipe). */
export function println(line: string): void {
  const bytes = new TextEncoder().encode(`${line}\n`);
  let done = 0;
  while (done < bytes.length) {
    done += Deno.stdout.writeSync(bytes.subarray(done));
  }
}
