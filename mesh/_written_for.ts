/**
 * The exact dependency versions the mesh's run-time adjustments of
 * dependencies were written for (internal), and the check their tests make.
 *
 * `_yamux_window.ts`, `_ed25519_cache.ts` and `_libp2p.ts` change or read
 * private parts of packages (prototype methods, fields). Those parts may
 * change in any release, silently turning an adjustment into a no-op or a
 * fault, so each adjustment names the version it was written for and its
 * test fails, naming the package, when the installed version differs.
 *
 * @module
 */

/** A package and the exact version an adjustment was written for. */
export interface WrittenFor {
  /** The npm package name, as imported (for example `@libp2p/crypto`). */
  readonly name: string;
  /** The exact version the adjustment was written and tested for. */
  readonly version: string;
  /** The file that holds the adjustment. */
  readonly adjustment: string;
}

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
