/**
 * The shared context across terminals: run this in several terminals, change
 * the volume in one, and watch it change everywhere.
 *
 * ```sh
 * # terminal 1
 * scripts/deno run -P=node examples/context_sync.ts --name kitchen
 * # terminal 2 (mDNS finds terminal 1; or pass --bootstrap <multiaddr>)
 * scripts/deno run -P=node examples/context_sync.ts --name hall
 * ```
 *
 * Then type at either prompt:
 * - `volume 40`: sets `avi.device.audio.volume`;
 * - `set avi.device.lights "on"`: sets a path to a JSON value;
 * - `patch {"avi": {"device": {"lights": null}}}`: applies a merge patch;
 * - `get [path]`, `mine`, `peer <peerId>`, `quit`.
 *
 * Every `contextUpdated` event is printed with its writer and changed paths.
 * Flags: `--name`, `--port`, `--host`, `--data-dir` (the context and identity
 * persist there; `--data-dir none` keeps nothing), `--tag` (mDNS discovery
 * tag), `--bootstrap` (repeatable), `--volume N` (set once at start).
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  AviP2p,
  type JsonObject,
  type JsonValue,
  type PeerId,
} from "../mod.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    name: { type: "string", default: "avi-node" },
    port: { type: "string", default: "0" },
    host: { type: "string", default: "0.0.0.0" },
    "data-dir": { type: "string" },
    tag: { type: "string", default: "avi-context-demo" },
    bootstrap: { type: "string", multiple: true, default: [] },
    volume: { type: "string" },
  },
});

const node = await AviP2p.start({
  nodeName: values.name,
  listenPort: Number(values.port),
  listenHost: values.host,
  dataDir: values["data-dir"] === "none" ? null : values["data-dir"],
  discoveryTag: values.tag,
  bootstrapPeers: values.bootstrap,
});
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

if (values.volume !== undefined) {
  await handle.updateContext({
    avi: { device: { audio: { volume: Number(values.volume) } } },
  });
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
