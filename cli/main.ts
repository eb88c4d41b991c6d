#!/usr/bin/env -S deno run --allow-net --allow-env --allow-sys=networkInterfaces --allow-read --allow-write --unstable-net
/**
 * `avi`: run, watch and steer a home mesh from the command line.
 *
 * Installed from JSR as `@avi/p2p/cli` with `deno install -g -n avi` and the
 * permissions below (the README has the whole line); in this repository,
 * `deno task avi --help`.
 *
 * Commands: `node`, `gateway`, `pub`, `sub`, `ctx`, `peers`, `devices`;
 * `avi COMMAND --help` describes each. Exit status: 0 success; 1 the command
 * failed (nobody reached, a timeout, a file it cannot read, the node
 * refused: one line says why); 2 bad arguments or a missing permission (one
 * line, then the usage).
 *
 * This module only checks the permissions the program needs (js-libp2p
 * reads the environment as it loads, which would otherwise fail with a
 * stack trace) and then loads the commands.
 *
 * @module
 */

/** The permissions `avi` needs, with the flag that grants each. */
const NEEDED: [Deno.PermissionDescriptor, string][] = [
  [{ name: "env" }, "--allow-env"],
  [{ name: "net" }, "--allow-net"],
  [{ name: "sys", kind: "networkInterfaces" }, "--allow-sys=networkInterfaces"],
  [{ name: "read" }, "--allow-read"],
  [{ name: "write" }, "--allow-write"],
];

/**
 * The flags of the permissions that are missing (empty: all granted).
 *
 * @example
 * ```ts
 * import { missingPermissions } from "@avi/p2p/cli";
 * console.log(missingPermissions()); // e.g. ["--allow-env"]
 * ```
 */
export function missingPermissions(): string[] {
  return NEEDED.filter(([d]) =>
    Deno.permissions.querySync(d).state !== "granted"
  )
    .map(([, flag]) => flag);
}

if (import.meta.main) {
  const missing = missingPermissions();
  if (missing.length > 0) {
    console.error(
      `avi: run with ${missing.join(" ")} (and --unstable-net); for example\n` +
        "  deno run --allow-net --allow-env --allow-sys=networkInterfaces --allow-read --allow-write --unstable-net cli/main.ts --help",
    );
    Deno.exit(2);
  }
  const { main } = await import("./_main.ts");
  const status = await main(Deno.args);
  // A stopped js-libp2p node can keep the process alive for a few seconds.
  Deno.exit(status);
}
