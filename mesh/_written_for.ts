/**
 * The exact dependency versions the mesh's run-time adjustments of
 * dependencies were written for (internal), and the check their tests make.
 *
 * `_yamux_window.ts`, `_ed25519_cache.ts` and `_libp2p.ts` change or read
 * private parts of packages (prototype methods, fields). Those parts may
 * change in any release, silently turning an adjustment into a no-op or a
 * fault, so each adjustment names the version it was written for and its
 * test fails, naming the package, when the installed version differs (the
 * check is `tests/support/written_for.ts`, kept out of the package).
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
