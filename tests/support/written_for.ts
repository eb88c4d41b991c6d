/**
 * The check the tests of the mesh's run-time adjustments make: the installed
 * version of a package is the exact one an adjustment was written for (see
 * `mesh/_written_for.ts`).
 *
 * @module
 */

import type { WrittenFor } from "../../mesh/_written_for.ts";

/**
 * The version of an npm package as installed: the `version` of its
 * `package.json`, found from where its entry resolves (the import map of
 * `deno.json`, then `node_modules`). Needs read permission.
 *
 * @param name The package, as imported.
 */
export async function installedVersion(name: string): Promise<string> {
  let dir = new URL(".", import.meta.resolve(name));
  for (;;) {
    try {
      const pkg = JSON.parse(
        await Deno.readTextFile(new URL("package.json", dir)),
      ) as { name?: string; version?: string };
      if (pkg.name === name && typeof pkg.version === "string") {
        return pkg.version;
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    const up = new URL("..", dir);
    if (up.href === dir.href) {
      throw new Error(`Cannot find the package.json of ${name}`);
    }
    dir = up;
  }
}

/**
 * Throws, naming the package, both versions and the adjustment, when the
 * installed version of `w.name` is not exactly `w.version`.
 */
export async function assertWrittenFor(w: WrittenFor): Promise<void> {
  const installed = await installedVersion(w.name);
  if (installed !== w.version) {
    throw new Error(
      `${w.name} is ${installed}, but ${w.adjustment} was written for ` +
        `${w.name} ${w.version} exactly: check the adjustment against ` +
        `${installed} (it uses private parts of the package), then update ` +
        `its WrittenFor and pin ${w.name}@${installed} exactly in deno.json`,
    );
  }
}
