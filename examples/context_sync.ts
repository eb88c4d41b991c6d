/**
 * The shared context across terminals: run this in several terminals, change
 * the volume in one, and watch it change everywhere.
 *
 * ```sh
 * # terminal 1
 * scripts/deno run -P=node examples/context_sync.ts
 * # terminal 2 (mDNS finds terminal 1; or pass --bootstrap <multiaddr>)
 * scripts/deno run -P=node examples/context_sync.ts
 * ```
 *
 * Each run is its own node: by default it is named `ctx-<pid>` and keeps
 * nothing on disk, so any number of them run side by side. Give `--name`
 * and `--data-dir` to keep a node's identity and context across restarts
 * (one process per data dir; it needs `--allow-read`/`--allow-write` there,
 * which `-P=node` grants under `.avi-p2p/`):
 *
 * ```sh
 * scripts/deno run -P=node examples/context_sync.ts --name kitchen --data-dir .avi-p2p/kitchen
 * ```
 *
 * Then type at either prompt:
 * - `volume 40`: sets `avi.device.audio.volume`;
 * - `set avi.device.lights "on"`: sets a path to a JSON value;
 * - `patch {"avi": {"device": {"lights": null}}}`: applies a merge patch;
 * - `get [path]`, `mine`, `peer <peerId>`, `quit`.
 *
 * Every `contextUpdated` event is printed with its writer and changed paths.
 * Flags (`--help` lists them with their defaults): `--name`, `--port`,
 * `--host`, `--data-dir` (the context and identity persist there; without
 * it, or with `--data-dir none`, nothing is kept), `--tag` (mDNS discovery
 * tag), `--bootstrap` (repeatable), `--volume N` (set once at start). A bad
 * flag or a missing permission flag prints one line (exit status 2).
 *
 * @module
 */

import type { JsonObject, JsonValue, PeerId } from "../mod.ts";
import {
  numberFlag,
  parseFlags,
  portFlag,
  program,
  requirePermissions,
  startFailed,
} from "./_args.ts";

const PROGRAM = program({
  name: "context_sync.ts",
  summary: "the shared context across terminals (run it in several)",
  usage: [
    "deno run -P=node examples/context_sync.ts [flags]",
    "deno run --allow-net --allow-env --allow-sys=networkInterfaces examples/context_sync.ts [flags]",
  ],
  permissionSet: "node",
  flags: {
    name: {
      type: "string",
      arg: "NAME",
      default: `ctx-${Deno.pid}`,
      shown: "ctx-<pid>",
      help: "node name",
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
    "data-dir": {
      type: "string",
      arg: "DIR",
      shown: "none, nothing kept",
      help: 'keep the identity and context there ("none": keep nothing)',
    },
    tag: {
      type: "string",
      arg: "TAG",
      default: "avi-context-demo",
      help: "mDNS discovery tag",
    },
    bootstrap: {
      type: "string",
      arg: "MULTIADDR",
      multiple: true,
      help: "a peer to dial at start",
    },
    volume: {
      type: "string",
      arg: "N",
      shown: "unchanged",
      help: "set avi.device.audio.volume once at start",
    },
  },
  notes: `Permissions: --allow-net; --allow-env (js-libp2p reads the environment
as it is imported); --allow-sys=networkInterfaces; --allow-read and
--allow-write on --data-dir when one is given.

Commands at the prompt: volume N | set PATH JSON | patch JSON | get [PATH] |
mine | peer ID | quit`,
});

const values = parseFlags(PROGRAM);
const listenPort = portFlag(PROGRAM, "port", values.port);
const volume = numberFlag(PROGRAM, "volume", values.volume);
const dataDir = values["data-dir"] === undefined ||
    values["data-dir"] === "none"
  ? null
  : values["data-dir"];
requirePermissions(PROGRAM, [
  { name: "env" },
  { name: "net" },
  { name: "sys", kind: "networkInterfaces" },
  ...(dataDir === null ? [] : [
    { name: "read", path: dataDir } as const,
    { name: "write", path: dataDir } as const,
  ]),
]);

// The library, once the permissions are known to be there (js-libp2p reads
// the environment as it is imported).
const { AviP2p } = await import("../mod.ts");

const node = await AviP2p.start({
  nodeName: values.name,
  listenPort,
  listenHost: values.host,
  dataDir,
  discoveryTag: values.tag,
  bootstrapPeers: values.bootstrap,
}).catch((e) => startFailed(PROGRAM, e));
const handle = node.handle();
console.log(`${values.name}: ${node.peerId}`);
for (const a of node.listenAddresses) console.log(`  listening on ${a}`);

(async () => {
  for await (const ev of node.events()) {
    if (ev.type === "peerConnected") console.log(`+ peer ${ev.peerId}`);
    if (ev.type === "peerDisconnected") console.log(`- peer ${ev.peerId}`);
    if (ev.type === "contextUpdated") {
      const who = ev.peerId === node.peerId ? "me" : ev.peerId.slice(-8);
      const volume =
        (ev.context as { avi?: { device?: { audio?: { volume?: number } } } })
          .avi?.device?.audio?.volume;
      console.log(
        `~ ${who} changed ${ev.changedPaths.join(", ")} (volume: ${volume})`,
      );
    }
  }
})();

if (volume !== undefined) {
  await handle.updateContext({ avi: { device: { audio: { volume } } } });
}

const show = (v: JsonValue | undefined) =>
  console.log(JSON.stringify(v, null, 2));
const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
let buffer = "";
console.log(
  "commands: volume N | set PATH JSON | patch JSON | get [PATH] | mine | peer ID | quit",
);
loop: for await (const chunk of lines) {
  buffer += chunk;
  let nl;
  while ((nl = buffer.indexOf("\n")) >= 0) {
    const line = buffer.slice(0, nl).trim();
    buffer = buffer.slice(nl + 1);
    const [cmd, ...rest] = line.split(" ");
    const arg = rest.join(" ");
    try {
      if (cmd === "quit") break loop;
      else if (cmd === "volume") {
        await handle.updateContext({
          avi: { device: { audio: { volume: Number(arg) } } },
        });
      } else if (cmd === "set") {
        const [path, ...json] = rest;
        const patch: JsonObject = {};
        let at = patch;
        const keys = path.split(".");
        keys.slice(0, -1).forEach((k) => at = (at[k] = {}) as JsonObject);
        at[keys[keys.length - 1]] = JSON.parse(json.join(" "));
        await handle.updateContext(patch);
      } else if (cmd === "patch") await handle.updateContext(JSON.parse(arg));
      else if (cmd === "get") {
        show(arg ? await handle.getContext(arg) : await handle.getContext());
      } else if (cmd === "mine") show(await handle.getPeerContext(node.peerId));
      else if (cmd === "peer") show(await handle.getPeerContext(arg as PeerId));
      else if (cmd) console.log("unknown command");
    } catch (error) {
      console.log(`${(error as Error).name}: ${(error as Error).message}`);
    }
  }
}
await node.shutdown();
