/**
 * Size-measurement entry: the device client with its pure-JS crypto, as a
 * device program would import it (`embedded/mod.ts`), kept alive by a global.
 *
 * @module
 */
import { AviEmbedded, nobleCrypto } from "../../embedded/mod.ts";

(globalThis as unknown as Record<string, unknown>).avi = {
  AviEmbedded,
  nobleCrypto,
};
