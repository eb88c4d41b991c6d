/**
 * Size-measurement entry: the device client without the pure-JS crypto, as on
 * a device that plugs in Moddable's native `crypt` module instead.
 *
 * @module
 */
import { AviEmbedded } from "../../embedded/client.ts";

(globalThis as unknown as Record<string, unknown>).avi = { AviEmbedded };
