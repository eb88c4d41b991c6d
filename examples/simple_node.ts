/**
 * A chat between mesh nodes: run it in two terminals on one machine (or on
 * two machines of one LAN). The nodes find each other by mDNS; every line
 * typed in one terminal appears in the others.
 *
 * ```sh
 * deno run -P=node examples/simple_node.ts --name alice
 * deno run -P=node examples/simple_node.ts --name bob
 * ```
 *
 * Permissions: `--allow-net` (TCP and mDNS), `--allow-env` (js-libp2p's
 * logger reads the environment at import), `--allow-sys=networkInterfaces`
 * (mDNS and listen addresses), and `--allow-read`/`--allow-write` on the
 * `--data-dir` when one is given.
 *
 * Flags: `--name <n>` node name; `--topic <t>` (default `chat`); `--port <p>`
 * (default 0: any); `--host <ip>` (default 0.0.0.0); `--bootstrap <multiaddr>`
 * (repeatable); `--data-dir <dir>` to keep the peer id across restarts;
 * `--tag <t>` mDNS discovery tag (default `avi`); `--mesh-key <64 hex>` for a
 * private mesh; `--no-mdns`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { AviP2p } from "../mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    name: { type: "string", default: `node-${Deno.pid}` },
    topic: { type: "string", default: "chat" },
    port: { type: "string", default: "0" },
    host: { type: "string", default: "0.0.0.0" },
    bootstrap: { type: "string", multiple: true, default: [] },
    "data-dir": { type: "string" },
    tag: { type: "string", default: "avi" },
    "mesh-key": { type: "string" },
    "no-mdns": { type: "boolean", default: false },
  },
});

const node = await AviP2p.start({
  nodeName: values.name,
  listenPort: Number(values.port),
  listenHost: values.host,
  bootstrapPeers: values.bootstrap,
  dataDir: values["data-dir"] ?? null,
  discoveryTag: values.tag,
  meshKey: values["mesh-key"],
  enableMdns: !values["no-mdns"],
});
const handle = node.handle();
const topic = values.topic;
await handle.subscribe(topic);

console.log(`${values.name} is ${node.peerId}`);
for (const a of node.listenAddresses) console.log(`  listening on ${a}`);
console.log(`Type a line and press Enter to send it on "${topic}".`);

// a peer's node name arrives with Identify, shortly after it connects
const names = new Map<string, string>();
async function nameOf(id: string): Promise<string> {
  if (!names.has(id)) {
    const info = await handle.peerInfo(id).catch(() => undefined);
    if (info?.agentVersion) names.set(id, info.agentVersion);
  }
  return names.get(id) ?? id.slice(-8);
}

// events: peers and messages
const printing = (async () => {
  for await (const ev of node.events()) {
    switch (ev.type) {
      case "peerConnected":
        console.log(`+ ${ev.peerId} connected (${ev.address})`);
        break;
      case "peerDisconnected":
        console.log(`- ${await nameOf(ev.peerId)} left`);
        break;
      case "message":
        console.log(
          `<${await nameOf(ev.from)}> ${new TextDecoder().decode(ev.data)}`,
        );
        break;
      case "lagged":
        console.log(`(missed ${ev.dropped} events)`);
        break;
    }
  }
})();

let stopping: Promise<void> | undefined;
function stop(): Promise<void> {
  stopping ??= (async () => {
    Deno.removeSignalListener("SIGINT", onSigint);
    await node.shutdown();
    await printing;
  })();
  return stopping;
}
// Ctrl-C: shut down, then exit (stdin is still being read)
const onSigint = () => stop().then(() => Deno.exit(0));
Deno.addSignalListener("SIGINT", onSigint);

// stdin: one message per line
let buffered = "";
const decoder = new TextDecoder();
for await (const chunk of Deno.stdin.readable) {
  buffered += decoder.decode(chunk, { stream: true });
  let nl: number;
  while ((nl = buffered.indexOf("\n")) >= 0) {
    const line = buffered.slice(0, nl).trim();
    buffered = buffered.slice(nl + 1);
    if (line === "") continue;
    try {
      const reached = await handle.publish(
        topic,
        new TextEncoder().encode(line),
      );
      if (reached === 0) {
        console.log("(nobody is listening yet: message not delivered)");
      }
    } catch (e) {
      console.log(`(not sent: ${(e as Error).message})`);
    }
  }
}
// end of input (Ctrl-D): shut down; the process then exits by itself
await stop();
