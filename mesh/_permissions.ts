/**
 * Checks, before libp2p starts, the Deno permissions a node needs, so that a
 * missing flag is a clear error at `start` rather than a crash inside a
 * socket callback later.
 *
 * A node needs: `--allow-net`; `--allow-env` (js-libp2p's logger lists the
 * environment when it is imported, so this one fails at import time);
 * `--allow-sys=networkInterfaces` when mDNS is on or the node listens on a
 * wildcard address (`0.0.0.0`, `::`); `--allow-read` and `--allow-write` on
 * `dataDir` to keep its identity (without them it warns once and runs with
 * an ephemeral key).
 *
 * @module
 */

import { NetworkError } from "../core/errors.ts";
import type { ResolvedConfig } from "./config.ts";

function granted(desc: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(desc).state === "granted";
  } catch {
    return true; // a runtime without the permission API: let the call decide
  }
}

/**
 * Throws when a permission the configuration needs is missing.
 *
 * @throws {NetworkError} Naming the missing flag.
 */
export function checkPermissions(config: ResolvedConfig): void {
  if (!granted({ name: "net" })) {
    throw new NetworkError("A mesh node requires --allow-net");
  }
  const wildcard = config.listenHost === "0.0.0.0" ||
    config.listenHost === "::";
  if (
    (config.enableMdns || wildcard) &&
    !granted({ name: "sys", kind: "networkInterfaces" })
  ) {
    throw new NetworkError(
      `A mesh node ${
        config.enableMdns ? "with mDNS" : `listening on ${config.listenHost}`
      } ` +
        "requires --allow-sys=networkInterfaces (or set enableMdns: false and a specific listenHost)",
    );
  }
}
