/**
 * `avi node`: run a mesh node in the foreground.
 *
 * @module
 */

import type { CommandSpec, Parsed } from "./_args.ts";
import { nodeConfig, SERVE_OPTIONS, serveNode } from "./_serve.ts";

/** The command. */
export const NODE: CommandSpec = {
  name: "node",
  summary: "run a mesh node in the foreground (Ctrl-C stops it cleanly)",
  usage: ["avi node [--name NAME] [--port PORT] [--bootstrap MULTIADDR] ..."],
  options: SERVE_OPTIONS,
  notes: `It logs peers as they come and go, and serves the control endpoint
that \`avi pub/sub/ctx/peers\` use on this machine. Exit status: 0 after
Ctrl-C; 1 when the node cannot start (the reason is printed); 2 for bad
arguments.`,
};

/** Runs `avi node`. */
export async function node(p: Parsed): Promise<number> {
  return await serveNode(p, await nodeConfig(p, { nodeName: "avi-node" }));
}
