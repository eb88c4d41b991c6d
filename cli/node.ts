/**
 * `avi node`: run a mesh node in the foreground.
 *
 * @module
 */

import type { Parsed } from "./_args.ts";
import { nodeConfig, serveNode } from "./_serve.ts";

/** Runs `avi node`. */
export async function node(p: Parsed): Promise<number> {
  return await serveNode(p, await nodeConfig(p, { nodeName: "avi-node" }));
}
