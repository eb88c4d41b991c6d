/**
 * The node's identity: an Ed25519 key kept under `dataDir`, so a restarted
 * node keeps its peer id.
 *
 * @module
 */

import {
  generateKeyPair,
  privateKeyFromProtobuf,
  privateKeyToProtobuf,
} from "@libp2p/crypto/keys";
import type { PrivateKey } from "@libp2p/interface";

/** The name of the key file inside `dataDir`. */
export const IDENTITY_FILE = "identity.key";

/** The outcome of {@linkcode loadIdentity} (internal). */
export interface LoadedIdentity {
  /** The Ed25519 private key. */
  privateKey: PrivateKey;
  /** Whether the key is on disk (false: ephemeral). */
  persisted: boolean;
}

/**
 * Loads the Ed25519 key from `<dataDir>/identity.key`, or creates and saves
 * one. When the file cannot be read or written (no permission, read-only
 * disk) it calls `warn` once and returns an ephemeral key. A file that exists
 * but holds no valid Ed25519 key is never overwritten: that is also reported
 * and an ephemeral key is used.
 *
 * @param dataDir The directory, or `null` for an ephemeral key (no warning).
 * @param warn Receives the one warning.
 * @returns The key and whether it persists.
 *
 * @example
 * ```ts ignore
 * const { privateKey, persisted } = await loadIdentity("/tmp/avi", console.warn);
 * ```
 */
export async function loadIdentity(
  dataDir: string | null,
  warn: (message: string) => void,
): Promise<LoadedIdentity> {
  if (dataDir === null) {
    return { privateKey: await generateKeyPair("Ed25519"), persisted: false };
  }
  const path = `${dataDir}/${IDENTITY_FILE}`;
  let bytes: Uint8Array | undefined;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      warn(
        `avi-p2p: cannot read identity ${path} (${describe(e)}); ` +
          `running with an ephemeral peer id`,
      );
      return { privateKey: await generateKeyPair("Ed25519"), persisted: false };
    }
  }
  if (bytes !== undefined) {
    try {
      const key = privateKeyFromProtobuf(bytes);
      if (key.type !== "Ed25519") throw new Error(`key type is ${key.type}`);
      return { privateKey: key, persisted: true };
    } catch (e) {
      warn(
        `avi-p2p: ${path} holds no valid Ed25519 key (${describe(e)}); ` +
          `running with an ephemeral peer id (the file is left as it is)`,
      );
      return { privateKey: await generateKeyPair("Ed25519"), persisted: false };
    }
  }
  const privateKey = await generateKeyPair("Ed25519");
  try {
    await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
    const tmp = `${path}.${crypto.randomUUID()}.tmp`;
    await Deno.writeFile(tmp, privateKeyToProtobuf(privateKey), {
      mode: 0o600,
      createNew: true,
    });
    await Deno.rename(tmp, path);
    return { privateKey, persisted: true };
  } catch (e) {
    warn(
      `avi-p2p: cannot write identity ${path} (${describe(e)}); ` +
        `running with an ephemeral peer id`,
    );
    return { privateKey, persisted: false };
  }
}

function describe(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}
