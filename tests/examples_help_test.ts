// Every program in examples/, run as a real process: `--help` prints the
// usage and every flag with its default (exit 0, no permission needed); a bad
// argument prints one line and the usage (exit 2, no stack trace); a missing
// permission flag is named in one line (exit 2), before js-libp2p is
// imported (it reads the environment as it is imported).
import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url).pathname;
const KEY = "ab".repeat(32);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(permissions: string[], file: string, args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", ...permissions, `examples/${file}`, ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return {
    code: out.code,
    stdout: text.decode(out.stdout),
    stderr: text.decode(out.stderr),
  } satisfies Run;
}

/** One line `<file>: <what>`, then only the usage; exit 2; no stack. */
function assertUsageError(r: Run, file: string, what: RegExp): void {
  const context = `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
  assert.equal(r.code, 2, context);
  assert.equal(r.stdout, "", context);
  const [first, ...rest] = r.stderr.trimEnd().split("\n");
  assert.ok(first.startsWith(`${file}: `), context);
  assert.match(first.slice(file.length + 2), what, context);
  assert.equal(rest[0], "Usage:", context);
  assert.equal(rest.at(-1), "Run it with --help for every flag.", context);
  for (const line of rest.slice(1, -1)) {
    assert.ok(line.startsWith("  deno "), `a usage line: ${line}\n${context}`);
  }
  assert.doesNotMatch(r.stderr, /^\s+at |Uncaught|Error/m, context);
}

interface Case {
  file: string;
  /** Every flag the help must list, besides --help. */
  flags: string[];
  /** Defaults the help must show. */
  defaults: string[];
  /** Arguments every run needs to get past the required flags. */
  required: string[];
  /** A flag whose value is a number, and a value that is not one. */
  badNumber: [string, string];
  /** A string flag, given last with no value. */
  needsValue: string;
  /** Too few permission flags, and what the message must name. */
  permissions?: { given: string[]; missing: string[] };
}

const CASES: Case[] = [
  {
    file: "simple_node.ts",
    flags: [
      "--name NAME",
      "--topic TOPIC",
      "--port PORT",
      "--host IP",
      "--bootstrap MULTIADDR",
      "--data-dir DIR",
      "--tag TAG",
      "--mesh-key HEX",
      "--no-mdns",
    ],
    defaults: ["node-<pid>", "chat", "0", "0.0.0.0", "avi", "off"],
    required: [],
    badNumber: ["--port", "abc"],
    needsValue: "--name",
    permissions: {
      given: ["--allow-net"],
      missing: ["--allow-env", "--allow-sys=networkInterfaces"],
    },
  },
  {
    file: "context_sync.ts",
    flags: [
      "--name NAME",
      "--port PORT",
      "--host IP",
      "--data-dir DIR",
      "--tag TAG",
      "--bootstrap MULTIADDR",
      "--volume N",
    ],
    defaults: ["ctx-<pid>", "0", "0.0.0.0", "avi-context-demo"],
    required: [],
    badNumber: ["--volume", "loud"],
    needsValue: "--data-dir",
    permissions: {
      given: ["--allow-net", "--allow-sys"],
      missing: ["--allow-env"],
    },
  },
  {
    file: "gateway.ts",
    flags: [
      "--keys FILE",
      "--port PORT",
      "--host IP",
      "--mesh-port PORT",
      "--bootstrap MULTIADDR",
      "--topic TOPIC",
      "--name NAME",
      "--no-mdns",
      "--data-dir DIR",
    ],
    defaults: ["8888", "0.0.0.0", "0", "gateway", "off"],
    required: ["--keys", "devices.json"],
    badNumber: ["--mesh-port", "12x"],
    needsValue: "--topic",
    permissions: {
      given: ["--allow-net"],
      missing: [
        "--allow-env",
        "--allow-sys=networkInterfaces",
        "--allow-read=devices.json",
      ],
    },
  },
  {
    file: "audio_chat.ts",
    flags: ["--seconds N", "--mode MODE"],
    defaults: ["5", "realtime"],
    required: [],
    badNumber: ["--seconds", "soon"],
    needsValue: "--mode",
    permissions: { given: ["--allow-net"], missing: ["--allow-env"] },
  },
  {
    file: "simulated_mcu.ts",
    flags: [
      "--host IP",
      "--port PORT",
      "--discovery IP",
      "--device-id N",
      "--key HEX",
      "--interval SECONDS",
      "--topic FILTER",
      "--count N",
    ],
    defaults: ["8888", "239.255.97.118", "42", "5", "home/#", "forever"],
    required: ["--key", KEY],
    badNumber: ["--interval", "often"],
    needsValue: "--host",
    permissions: { given: [], missing: ["--allow-net"] },
  },
  {
    file: "demo.ts",
    flags: ["--udp-port N"],
    defaults: ["0"],
    required: [],
    badNumber: ["--udp-port", "-1"],
    needsValue: "--udp-port",
    permissions: {
      given: ["--allow-env", "--allow-sys"],
      missing: ["--allow-net"],
    },
  },
];

for (const c of CASES) {
  Deno.test(`examples/${c.file}: --help, bad arguments and missing permissions`, async (t) => {
    await t.step(
      "--help lists every flag with its default; exit 0",
      async () => {
        // No permission at all: the help needs none.
        const r = await run([], c.file, ["--help"]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stderr, "");
        assert.ok(r.stdout.startsWith(`${c.file}: `), r.stdout);
        assert.match(r.stdout, /^Usage:$/m);
        for (const f of [...c.flags, "-h, --help"]) {
          assert.match(r.stdout, new RegExp(`^  ${escape(f)}  `, "m"), f);
        }
        for (const d of c.defaults) {
          assert.ok(r.stdout.includes(`(default: ${d})`), `default ${d}`);
        }
        // -h is the same
        const h = await run([], c.file, ["-h"]);
        assert.equal(h.stdout, r.stdout);
      },
    );

    await t.step("an unknown flag", async () => {
      const r = await run([], c.file, [...c.required, "--bogus"]);
      assertUsageError(r, c.file, /^unknown flag --bogus$/);
    });

    await t.step("a flag without its value", async () => {
      const r = await run([], c.file, [...c.required, c.needsValue]);
      assertUsageError(r, c.file, new RegExp(`^${c.needsValue} needs a value`));
    });

    await t.step("a number that is not one", async () => {
      const [flag, value] = c.badNumber;
      const r = await run([], c.file, [...c.required, `${flag}=${value}`]);
      assertUsageError(
        r,
        c.file,
        new RegExp(`^${flag} must be .* not "${escape(value)}"$`),
      );
    });

    await t.step("a stray argument", async () => {
      const stray = await run([], c.file, [...c.required, "stray"]);
      assertUsageError(stray, c.file, /^unexpected argument "stray"/);
    });

    if (c.permissions) {
      const p = c.permissions;
      await t.step(
        "a missing permission flag is named in one line",
        async () => {
          const r = await run(p.given, c.file, c.required);
          const context = `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
          assert.equal(r.code, 2, context);
          const lines = r.stderr.trimEnd().split("\n");
          assert.equal(lines.length, 1, context);
          assert.ok(lines[0].startsWith(`${c.file}: missing permission `));
          for (const m of p.missing) assert.ok(lines[0].includes(m), context);
          assert.doesNotMatch(r.stderr, /supports-color|Uncaught|^\s+at /m);
        },
      );
    }
  });
}

Deno.test("examples: the required flags and the choices are checked too", async () => {
  assertUsageError(
    await run([], "gateway.ts", []),
    "gateway.ts",
    /^--keys <file> is required$/,
  );
  assertUsageError(
    await run([], "simulated_mcu.ts", []),
    "simulated_mcu.ts",
    /^--key <hex> is required$/,
  );
  assertUsageError(
    await run([], "simulated_mcu.ts", ["--key", "abc"]),
    "simulated_mcu.ts",
    /^--key must be 64 hex characters/,
  );
  assertUsageError(
    await run([], "audio_chat.ts", ["--mode", "loud"]),
    "audio_chat.ts",
    /^--mode must be "realtime" or "reliable", not "loud"$/,
  );
  assertUsageError(
    await run([], "simple_node.ts", ["--no-mdns=yes"]),
    "simple_node.ts",
    /^--no-mdns takes no value$/,
  );
  assertUsageError(
    await run([], "simple_node.ts", ["--port", "70000"]),
    "simple_node.ts",
    /^--port must be a whole number from 0 to 65535, not "70000"$/,
  );
});

Deno.test("examples: a bad value the library refuses at start is one line too", async () => {
  const r = await run(
    ["--allow-net", "--allow-env"],
    "simple_node.ts",
    ["--host", "127.0.0.1", "--no-mdns", "--mesh-key", "abc"],
  );
  assert.equal(r.code, 2, r.stderr);
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /^simple_node\.ts: ConfigError: .*meshKey/);
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
