// The layering rules of docs/ARCHITECTURE.md, checked on the import
// statements of every library file: a test fails when an import breaks one.
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

/** Which of our folders each folder's library code may import (besides itself). */
const ALLOWED: Record<string, string[]> = {
  core: [],
  protocol: [],
  embedded: ["protocol"],
  context: ["core", "protocol"],
  streams: ["core", "protocol"],
  mesh: ["core", "context", "streams", "protocol"],
  bridge: ["core", "protocol", "context"],
};

/** Folders whose code must not import libp2p or any other network package. */
const NO_LIBP2P = ["core", "protocol", "embedded", "context", "bridge"];

/** The package's public entries (deno.json "exports"): all examples may import. */
async function publicEntries(): Promise<Set<string>> {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("deno.json", ROOT)),
  ) as { exports: Record<string, string> };
  return new Set(
    Object.values(config.exports).map((p) => p.replace(/^\.\//, "")),
  );
}

/**
 * The specifiers of a file's `import`/`export ... from` statements and of its
 * dynamic `import("...")` calls (outside comments).
 */
function importsOf(source: string): string[] {
  const out: string[] = [];
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(
    /^\s*\/\/.*$/gm,
    "",
  );
  for (const m of code.matchAll(/\bimport\(\s*"([^"]+)"\s*\)/g)) out.push(m[1]);
  // Statements start at the beginning of a line (doc examples sit in
  // comments, after a `*`), and may span lines up to `from "..."`.
  const re =
    /^(?:import|export)\s[^;]*?from\s+"([^"]+)"|^import\s+"([^"]+)"/gms;
  for (const m of source.matchAll(re)) out.push(m[1] ?? m[2]);
  return [...new Set(out)];
}

async function* tsFiles(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(new URL(`${dir}/`, ROOT))) {
    if (e.isFile && e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) {
      yield `${dir}/${e.name}`;
    } else if (e.isDirectory) yield* tsFiles(`${dir}/${e.name}`);
  }
}

/** The repository-relative path `spec` resolves to from `file`, or undefined for a package. */
function resolveLocal(file: string, spec: string): string | undefined {
  if (!spec.startsWith(".")) return undefined;
  const url = new URL(spec, new URL(file, ROOT));
  return decodeURIComponent(url.pathname.slice(ROOT.pathname.length));
}

Deno.test("architecture: every folder imports only the folders its layer allows", async () => {
  const broken: string[] = [];
  for (const [folder, allowed] of Object.entries(ALLOWED)) {
    for await (const file of tsFiles(folder)) {
      const source = await Deno.readTextFile(new URL(file, ROOT));
      for (const spec of importsOf(source)) {
        const local = resolveLocal(file, spec);
        if (local === undefined) {
          if (
            NO_LIBP2P.includes(folder) &&
            /^(libp2p|@libp2p\/|@chainsafe\/|@multiformats\/)/.test(spec)
          ) broken.push(`${file} imports ${spec} (no libp2p in ${folder}/)`);
          continue;
        }
        const target = local.split("/")[0];
        if (target === folder || allowed.includes(target)) continue;
        broken.push(`${file} imports ${local}`);
      }
    }
  }
  assert.deepEqual(broken, [], broken.join("\n"));
});

/** Rooms that use the library as a user would: through its public entries only. */
const USER_ROOMS = ["examples", "cli", "dashboard", "mqtt"];

Deno.test("architecture: examples, the command line and the user-facing rooms use the library only through its public entries", async () => {
  const entries = await publicEntries();
  const broken: string[] = [];
  for (const room of USER_ROOMS) {
    try {
      await Deno.stat(new URL(`${room}/`, ROOT));
    } catch {
      continue; // not built yet
    }
    for await (const file of tsFiles(room)) {
      const source = await Deno.readTextFile(new URL(file, ROOT));
      for (const spec of importsOf(source)) {
        const local = resolveLocal(file, spec);
        if (local === undefined || local.startsWith(`${room}/`)) continue;
        if (!entries.has(local)) broken.push(`${file} imports ${local}`);
      }
    }
  }
  assert.deepEqual(broken, [], broken.join("\n"));
});

Deno.test("architecture: the import scanner sees multi-line imports and skips doc examples", () => {
  const found = importsOf(
    [
      "/**",
      ' * import { x } from "../bridge/mod.ts";',
      " */",
      "import {",
      "  a,",
      "  b,",
      '} from "../core/errors.ts";',
      'export { c } from "./c.ts";',
      'import "./side_effect.ts";',
      'const m = await import("./lazy.ts");',
      '// await import("./commented.ts");',
    ].join("\n"),
  );
  assert.deepEqual(found.sort(), [
    "../core/errors.ts",
    "./c.ts",
    "./lazy.ts",
    "./side_effect.ts",
  ]);
});
