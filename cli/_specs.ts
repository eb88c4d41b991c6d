/**
 * What each `avi` command is called, takes and says in its help: the specs
 * only, so that `avi --help` and argument errors need none of the library
 * (each command's code is loaded when it runs).
 *
 * @module
 */

import type { CommandSpec, OptionSpec } from "./_args.ts";
import { CONTROL_PORT, DEFAULT_CONFIG } from "./_constants.ts";

/** Options that say how a node joins the mesh. */
export const MESH_OPTIONS: Record<string, OptionSpec> = {
  bootstrap: {
    type: "string",
    short: "b",
    multiple: true,
    arg: "MULTIADDR",
    help: "a peer to dial at start (/ip4/.../tcp/.../p2p/...), repeatable",
  },
  "mesh-key-file": {
    type: "string",
    arg: "FILE",
    help: "the private mesh's key (64 hex characters, or a swarm.key)",
  },
  "no-mdns": { type: "boolean", help: "do not look for peers on the LAN" },
  "discovery-tag": {
    type: "string",
    arg: "TAG",
    help: 'the mDNS tag: meshes with other tags stay apart (default "avi")',
  },
};

/** Options of the one-shot commands: where the node is. */
export const CLIENT_OPTIONS: Record<string, OptionSpec> = {
  node: {
    type: "string",
    short: "n",
    arg: "URL",
    help:
      `a running node's control endpoint (default: AVI_NODE or http://127.0.0.1:${CONTROL_PORT})`,
  },
  token: {
    type: "string",
    arg: "TOKEN",
    help: "the control endpoint's token (default: AVI_TOKEN)",
  },
  join: {
    type: "boolean",
    help: "join the mesh as a short-lived peer, even when a node runs here",
  },
  ...MESH_OPTIONS,
};

/** Options of a node that runs in the foreground. */
export const SERVE_OPTIONS: Record<string, OptionSpec> = {
  name: {
    type: "string",
    arg: "NAME",
    help: "the node's name (its Identify agent version; names the data dir)",
  },
  port: {
    type: "string",
    short: "p",
    arg: "PORT",
    help: "the mesh TCP port (default 0: any free port)",
  },
  host: {
    type: "string",
    arg: "ADDRESS",
    help: "the address to listen on for the mesh (default 0.0.0.0)",
  },
  "data-dir": {
    type: "string",
    arg: "DIR",
    help: "identity and context replica (default .avi-p2p/<name>)",
  },
  "no-kad": { type: "boolean", help: "no Kademlia DHT" },
  control: {
    type: "string",
    arg: "HOST:PORT",
    help:
      `the control endpoint for the one-shot commands (default 127.0.0.1:${CONTROL_PORT})`,
  },
  "no-control": { type: "boolean", help: "serve no control endpoint" },
  token: {
    type: "string",
    arg: "TOKEN",
    help:
      "require this token on the control endpoint and the dashboard (default: AVI_TOKEN; needed off 127.0.0.1)",
  },
  metrics: {
    type: "string",
    arg: "HOST:PORT",
    help: "serve Prometheus metrics at http://HOST:PORT/metrics",
  },
  http: {
    type: "string",
    arg: "HOST:PORT",
    help:
      "serve the live web dashboard at http://HOST:PORT/ (off 127.0.0.1 it needs --token, or one is generated and printed)",
  },
  "read-only": {
    type: "boolean",
    help: "the dashboard shows, never changes (no context edits, no topics)",
  },
  ...MESH_OPTIONS,
};

/** `avi node`. */
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

/** `avi gateway`. */
export const GATEWAY: CommandSpec = {
  name: "gateway",
  summary: "run a node and the UDP bridge for devices, from a config file",
  usage: [
    "avi gateway [--config avi-gateway.toml]",
    "avi gateway --init [--config FILE]      write a sample config and exit",
  ],
  options: {
    config: {
      type: "string",
      short: "c",
      arg: "FILE",
      help: `the config, TOML or .json (default ${DEFAULT_CONFIG})`,
    },
    init: {
      type: "boolean",
      help: "write a sample config (not over an existing file)",
    },
    mqtt: {
      type: "string",
      arg: "URL",
      help:
        "bridge to an MQTT broker with Home Assistant discovery: mqtt://host:1883 or mqtts://host:8883 (default: the file's [mqtt] url)",
    },
    ...SERVE_OPTIONS,
  },
  notes: `Command-line options override the file's [node], [control],
[metrics] and [mqtt] url. The device table ([devices] and devices_file) reloads when either
file changes: an added device may connect at once, a removed or re-keyed
device's session ends. A malformed file keeps the last good table and the log
names the line. Exit status: 0 after Ctrl-C; 1 when it cannot start (the
reason, with the file and line); 2 for bad arguments.`,
};

/** `avi pub`. */
export const PUB: CommandSpec = {
  name: "pub",
  summary: "publish a message on a topic",
  usage: [
    "avi pub -t TOPIC -m TEXT",
    "avi pub -t TOPIC -f FILE",
    "avi pub -t TOPIC --stdin        (one message per input line)",
  ],
  options: {
    topic: { type: "string", short: "t", arg: "TOPIC", help: "the topic" },
    message: {
      type: "string",
      short: "m",
      arg: "TEXT",
      help: "the message (UTF-8)",
    },
    file: {
      type: "string",
      short: "f",
      arg: "FILE",
      help: "send the file's bytes as one message",
    },
    stdin: { type: "boolean", help: "send each line read from stdin" },
    "min-subscribers": {
      type: "string",
      arg: "N",
      help:
        "wait until N peers subscribe to the topic (default 1; 0 never waits)",
    },
    timeout: {
      type: "string",
      arg: "SECONDS",
      help: "how long to wait for them (default 5)",
    },
    ...CLIENT_OPTIONS,
  },
  notes: `Exit status: 0 when every message reached at least --min-subscribers
peers; 1 when nobody (or too few) could be reached in time; 2 for bad
arguments.`,
};

/** `avi sub`. */
export const SUB: CommandSpec = {
  name: "sub",
  summary: "print the messages of topics as they arrive",
  usage: [
    "avi sub -t TOPIC [-t TOPIC ...] [-C COUNT] [-W SECONDS] [--format text|json|hex]",
  ],
  options: {
    topic: {
      type: "string",
      short: "t",
      multiple: true,
      arg: "TOPIC",
      help: "a topic to follow, repeatable",
    },
    count: {
      type: "string",
      short: "C",
      arg: "COUNT",
      help: "exit after COUNT messages",
    },
    wait: {
      type: "string",
      short: "W",
      arg: "SECONDS",
      help: "exit after SECONDS (with -C: fail if fewer came)",
    },
    format: {
      type: "string",
      arg: "FORMAT",
      help:
        "text (topic and payload), json (one object per line: ts, from, topic, data) or hex",
    },
    ...CLIENT_OPTIONS,
  },
  notes: `Exit status: 0 at -C COUNT messages, at -W without -C, or at Ctrl-C;
1 when -W passes before -C COUNT messages came, or the node goes; 2 for bad
arguments.`,
};

/** `avi ctx`. */
export const CTX: CommandSpec = {
  name: "ctx",
  summary: "read, change and watch the shared context",
  usage: [
    "avi ctx get [PATH]         print the converged context (or the value at PATH)",
    "avi ctx set PATH JSON      set PATH to a JSON value (a bare word is a string)",
    "avi ctx del PATH           delete PATH",
    "avi ctx watch [PATH]       print each change at or below PATH",
  ],
  options: {
    compact: { type: "boolean", help: "print JSON on one line" },
    "sync-wait": {
      type: "string",
      arg: "SECONDS",
      help:
        "a short-lived node: how long to catch up from peers first (default 3)",
    },
    ...CLIENT_OPTIONS,
  },
  notes: `PATH is dotted: avi.device.audio.volume. Exit status: 0; 1 when the
node cannot be reached or refuses the change (the reason is printed); 2 for
bad arguments.`,
};

/** `avi peers`. */
export const PEERS: CommandSpec = {
  name: "peers",
  summary: "list the peers in view: name, addresses, state, round-trip time",
  usage: ["avi peers [--json]"],
  options: {
    json: { type: "boolean", help: "one JSON object per peer and line" },
    ...CLIENT_OPTIONS,
  },
};

/** `avi devices`. */
export const DEVICES: CommandSpec = {
  name: "devices",
  summary: "add, list, remove and re-key devices in the gateway's key table",
  usage: [
    "avi devices add ID [--publish PATTERN ...] [--subscribe PATTERN ...]",
    "avi devices list [--json]",
    "avi devices remove ID",
    "avi devices rotate ID",
  ],
  options: {
    file: {
      type: "string",
      short: "f",
      arg: "FILE",
      help:
        "the key file (default: the config's devices_file, else devices.json)",
    },
    config: {
      type: "string",
      short: "c",
      arg: "FILE",
      help:
        `the gateway's config, for its devices_file (default ${DEFAULT_CONFIG})`,
    },
    publish: {
      type: "string",
      multiple: true,
      arg: "PATTERN",
      help: "add: a topic pattern the device may publish to, repeatable",
    },
    subscribe: {
      type: "string",
      multiple: true,
      arg: "PATTERN",
      help: "add: a topic pattern the device may subscribe to, repeatable",
    },
    json: {
      type: "boolean",
      help: "list: one JSON object per device and line",
    },
    node: {
      type: "string",
      short: "n",
      arg: "URL",
      help:
        `list: the running gateway's control endpoint (default http://127.0.0.1:${CONTROL_PORT})`,
    },
    token: {
      type: "string",
      arg: "TOKEN",
      help: "list: the endpoint's token (default: AVI_TOKEN)",
    },
  },
  notes:
    `ID is the device's decimal id. The key is 32 bytes from a cryptographic
random source; the file is replaced atomically and readable by its owner
only. A running gateway picks the change up at once (no restart). Exit status:
0; 1 when the file cannot be read or written, or the device exists (add) or
does not (remove, rotate); 2 for bad arguments.`,
};
