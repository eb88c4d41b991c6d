/**
 * A byte stream as text chunks, for tests reading a child process's output.
 * (Not `pipeThrough(new TextDecoderStream())`: when the whole suite is
 * type-checked together, `@types/node`, pulled in by some npm packages,
 * changes `TextDecoderStream`'s writable side to `BufferSource`, which no
 * longer matches a `ReadableStream<Uint8Array>`.)
 *
 * @module
 */

/** The UTF-8 text of `stream`, chunk by chunk, as it comes. */
export async function* textChunks(
  stream: ReadableStream<Uint8Array>,
): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  const reader = stream.getReader();
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      const text = decoder.decode(value, { stream: true });
      if (text) yield text;
    }
    const rest = decoder.decode();
    if (rest) yield rest;
  } finally {
    reader.releaseLock();
  }
}
