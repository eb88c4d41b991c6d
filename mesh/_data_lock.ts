/**
 * The `dataDir` lock: one running node per data directory. Two nodes sharing
 * a directory would share a peer id and could never connect to each other,
 * so the second one is refused at `start`.
 *
 * The lock is an OS advisory lock (`flock`) on `<dataDir>/lock`, taken with
 * {@linkcode Deno.FsFile.tryLock}: the OS releases it when the holder closes
 * the file or its process dies, so a crashed node leaves no stale lock. The
 * file itself stays (deleting it would let two nodes lock two different
 * files); it holds the holder's pid and start time, for people only.
 *
 * @module
 */

import { ConfigError } from "../core/errors.ts";

/** The name of the lock file inside `dataDir`. */
export const LOCK_FILE = "lock";

/** A held `dataDir` lock (internal). */
export interface DataDirLock {
  /** Releases the lock (idempotent). */
  release(): void;
}

/**
 * Takes the exclusive lock on `<dataDir>/lock`.
 *
 * Returns `undefined` (no lock, no error) when `dataDir` is `null` or the
 * lock file cannot be created or opened (no write permission, read-only
 * disk, a path that is not a directory): the identity loader then falls back
 * to an ephemeral peer id and warns, so there is nothing to protect.
 *
 * @param dataDir The node's data directory, or `null`.
 * @returns The held lock, or `undefined`.
 * @throws {ConfigError} On field `dataDir` when another running node (in
 * this process or another) holds the lock.
 *
 * @example
 * ```ts ignore
 * const lock = await lockDataDir("/var/lib/avi/kitchen");
 * // ... run the node ...
 * lock?.release();
 * ```
 */
export async function lockDataDir(
  dataDir: string | null,
): Promise<DataDirLock | undefined> {
  if (dataDir === null) return undefined;
  const path = `${dataDir}/${LOCK_FILE}`;
  let file: Deno.FsFile;
  try {
    await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
    file = await Deno.open(path, {
      read: true,
      write: true,
      create: true,
      mode: 0o600,
    });
  } catch {
    return undefined; // not writable: ephemeral identity, nothing to guard
  }
  let locked: boolean;
  try {
    locked = await file.tryLock(true);
  } catch {
    file.close();
    return undefined; // a file system without locks: behave as before
  }
  if (!locked) {
    file.close();
    throw new ConfigError(
      "dataDir",
      `${dataDir} is in use by another running node${await holder(path)}; ` +
        "give each running node its own dataDir",
    );
  }
  try {
    const text = JSON.stringify({
      pid: Deno.pid,
      startedAt: new Date().toISOString(),
    });
    await file.truncate(0);
    await file.write(new TextEncoder().encode(text + "\n"));
  } catch { /* the contents are informative only */ }
  let held = true;
  return {
    release(): void {
      if (!held) return;
      held = false;
      try {
        file.truncateSync(0);
      } catch { /* informative only */ }
      file.close(); // closing releases the flock
    },
  };
}

/** " (pid N, started T)" from the lock file, or "" when unreadable. */
async function holder(path: string): Promise<string> {
  try {
    const info = JSON.parse(await Deno.readTextFile(path));
    if (typeof info?.pid === "number") {
      return ` (pid ${info.pid}, started ${info.startedAt})`;
    }
  } catch { /* empty, being written, or not readable */ }
  return "";
}
