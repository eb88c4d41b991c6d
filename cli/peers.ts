/**
 * `avi peers`: the peers in view.
 *
 * @module
 */

import type { CommandSpec, Parsed } from "./_args.ts";
import { flag } from "./_args.ts";
import { println } from "./_format.ts";
import { CLIENT_OPTIONS, connect, untilPeers } from "./_mesh.ts";

/** The command. */
export const PEERS: CommandSpec = {
  name: "peers",
  summary: "list the peers in view: name, addresses, state, round-trip time",
  usage: ["avi peers [--json]"],
  options: {
    json: { type: "boolean", help: "one JSON object per peer and line" },
    ...CLIENT_OPTIONS,
  },
};

/** Runs `avi peers`. */
export async function peers(p: Parsed): Promise<number> {
  const access = await connect(p);
  try {
    // A short-lived node first needs a moment to find its peers.
    await untilPeers(
      access,
      access.description.startsWith("a short") ? 3000 : 0,
    );
    const rows = await access.peers();
    if (flag(p, "json")) {
      for (const r of rows) println(JSON.stringify(r));
      return 0;
    }
    if (rows.length === 0) {
      println(`no peers in view (${access.description})`);
      return 0;
    }
    for (const r of rows) {
      const rtt = r.rttMs === undefined ? "-" : `${r.rttMs.toFixed(1)} ms`;
      println(
        `${r.peerId}  ${r.name ?? "?"}  ${
          r.connected ? "connected" : "known"
        }  ${rtt}  ${r.addresses.join(" ")}`,
      );
    }
    return 0;
  } finally {
    await access.close();
  }
}
