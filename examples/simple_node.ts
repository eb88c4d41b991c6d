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
 * Flags (`--help` lists them with their defaults): `--name <n>` node name;
 * `--topic <t>` (default `chat`); `--port <p>` (default 0: any); `--host
 * <ip>` (default 0.0.0.0); `--bootstrap <multiaddr>` (repeatable);
 * `--data-dir <dir>` to keep the peer id across restarts; `--tag <t>` mDNS
 * discovery tag (default `avi`); `--mesh-key <64 hex>` for a private mesh;
 * `--no-mdns`. A bad flag or a missing permission flag prints one line
 * (exit status 2).
 *
 * @module
 */

import {
  type Need,
  parseFlags,
  portFlag,
  program,
  requirePermissions,
  startFailed,
} from "./_args.ts";

const PROGRAM = program({
  name: "simple_node.ts",
  summary: "a chat between mesh nodes: every line typed reaches the others",
  usage: [
    "deno run -P=node examples/simple_node.ts [--name NAME] [flags]",
    "deno run --allow-net --allow-env --allow-sys=networkInterfaces examples/simple_node.ts [flags]",
  ],
  permissionSet: "node",
  flags: {
    name: {
      type: "string",
      arg: "NAME",
      default: `node-${Deno.pid}`,
      shown: "node-<pid>",
      help: "node name, shown to the others",
    },
    topic: {
      type: "string",
      arg: "TOPIC",
      default: "chat",
      help: "the topic lines are sent on",
    },
    port: {
      type: "string",
      arg: "PORT",
      default: "0",
      help: "TCP port to listen on, 0 for any",
    },
    host: {
      type: "string",
      arg: "IP",
      default: "0.0.0.0",
      help: "address to listen on",
    },
    bootstrap: {
      type: "string",
      arg: "MULTIADDR",
      multiple: true,
      help: "a peer to dial at start",
    },
    "data-dir": {
      type: "string",
      arg: "DIR",
      shown: "none, a new peer id each run",
      help: "keep the peer id there across restarts",
    },
    tag: {
      type: "string",
      arg: "TAG",
      default: "avi",
      help: "mDNS discovery tag",
    },
    "mesh-key": {
      type: "string",
      arg: "HEX",
      shown: "none, an open mesh",
      help: "64 hex characters: a private mesh with that pre-shared key",
    },
    "no-mdns": { type: "boolean", help: "no mDNS discovery" },
  },
  notes: `Permissions: --allow-net; --allow-env (js-libp2p reads the environment
as it is imported); --allow-sys=networkInterfaces (mDNS, or a wildcard
--host); --allow-read and --allow-write on --data-dir when one is given.

Type a line and press Enter to send it; Ctrl-D or Ctrl-C to leave.`,
});

const values = parseFlags(PROGRAM);
const listenPort = portFlag(PROGRAM, "port", values.port);
const needs: Need[] = [{ name: "env" }, { name: "net" }];
if (!values["no-mdns"] || values.host === "0.0.0.0" || values.host === "::") {
  needs.push({ name: "sys", kind: "networkInterfaces" });
}
requirePermissions(PROGRAM, needs);

// The library, once the permissions are known to be there (js-libp2p reads
// the environment as it is imported).
const { AviP2p } = await import("../mod.ts");

const node = await AviP2p.start({
  nodeName: values.name,
  listenPort,
  listenHost: values.host,
  bootstrapPeers: values.bootstrap,
  dataDir: values["data-dir"] ?? null,
  discoveryTag: values.tag,
  meshKey: values["mesh-key"],
  enableMdns: !values["no-mdns"],
}).catch((e) => startFailed(PROGRAM, e));
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
