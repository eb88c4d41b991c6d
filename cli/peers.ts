/**
 * `avi peers`: the peers in view.
 *
 * @module
 */

import { flag, type Parsed } from "./_args.ts";
import { println } from "./_format.ts";
import { connect, untilPeers } from "./_mesh.ts";

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
