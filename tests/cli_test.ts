// The real `avi` program, run as subprocesses on 127.0.0.1: help and
// argument errors, pub/sub across two nodes, the shared context, metrics and
// JSON logs, and a short-lived peer that joins the mesh by itself.
import assert from "node:assert/strict";
import { avi, AviProcess } from "./support/cli.ts";
import { until } from "./support/wait.ts";

const COMMANDS = ["node", "pub", "sub", "ctx", "peers", "gateway", "devices"];

/** Two `avi node`s, b bootstrapped to a, each with a control endpoint on a free port. */
async function twoNodes(extra: string[] = []) {
  const dir = await Deno.makeTempDir();
  const a = new AviProcess([
    "node",
    "--name=a",
    "--no-mdns",
    `--data-dir=${dir}/a`,
    "--control=127.0.0.1:0",
    "--host=127.0.0.1",
    ...extra,
  ]);
  const aUrl = await a.controlUrl();
  const aAddr = await a.meshAddress();
  const b = new AviProcess([
    "node",
    "--name=b",
    "--no-mdns",
    `--data-dir=${dir}/b`,
    "--control=127.0.0.1:0",
    "--host=127.0.0.1",
    `--bootstrap=${aAddr}`,
  ]);
  const bUrl = await b.controlUrl();
  await b.line(/peer connected/);
  return {
    a,
    b,
    aUrl,
    bUrl,
    aAddr,
    async stop() {
      const [sa, sb] = await Promise.all([a.stop(), b.stop()]);
      await Deno.remove(dir, { recursive: true });
      return [sa, sb];
    },
  };
}

Deno.test("avi: --help on every command, --version, and one clear line for bad arguments", async () => {
  const top = await avi(["--help"]);
  assert.equal(top.code, 0);
  for (const c of COMMANDS) assert.match(top.stdout, new RegExp(`\\b${c}\\b`));
  const version = await avi(["--version"]);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^avi \d+\.\d+\.\d+/);
  for (const c of COMMANDS) {
    const r = await avi([c, "--help"]);
    assert.equal(r.code, 0, `${c} --help: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^avi ${c}: `));
    assert.match(r.stdout, /Options:/);
  }
  for (
    const bad of [
      ["frobnicate"],
      ["pub", "--bogus"],
      ["pub", "-t", "x"],
      ["sub"],
      ["sub", "-t", "x", "-C", "many"],
      ["ctx", "fly"],
      ["ctx", "set", "a.b"],
      ["node", "--port", "99999"],
    ]
  ) {
    const r = await avi(bad);
    assert.equal(r.code, 2, `${bad.join(" ")}: ${r.stderr}`);
    const first = r.stderr.split("\n")[0];
    assert.match(first, /^avi: \S/, bad.join(" "));
    assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
    assert.match(r.stderr, /Usage:/);
  }
});

Deno.test("avi: sub in one process prints what pub sends from another, across two nodes", async () => {
  const n = await twoNodes();
  try {
    const sub = new AviProcess([
      "sub",
      "-t",
      "home/lights",
      "-C",
      "2",
      "--format",
      "json",
      "--node",
      n.bUrl,
    ]);
    await sub.line(/following home\/lights/);
    const one = await avi([
      "pub",
      "-t",
      "home/lights",
      "-m",
      "on",
      "--node",
      n.aUrl,
    ]);
    assert.equal(one.code, 0, one.stderr);
    const two = await avi(
      ["pub", "-t", "home/lights", "--stdin", "--node", n.aUrl],
      "off\n",
    );
    assert.equal(two.code, 0, two.stderr);
    assert.equal((await sub.status()).code, 0);
    const lines = sub.stdout.map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.data), ["on", "off"]);
    assert.equal(lines[0].topic, "home/lights");
    assert.match(lines[0].from, /^12D3KooW/);
    assert.ok(!Number.isNaN(Date.parse(lines[0].ts)));
    // Nobody subscribes: a clear failure, never "sent to 0 peers" and 0.
    const none = await avi([
      "pub",
      "-t",
      "nobody/here",
      "-m",
      "x",
      "--timeout",
      "0.5",
      "--node",
      n.aUrl,
    ]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /^avi: nobody reached/m);
  } finally {
    await n.stop();
  }
});

Deno.test("avi: ctx set in one process is what ctx get prints in another; ctx watch prints the change", async () => {
  const n = await twoNodes();
  try {
    const watch = new AviProcess([
      "ctx",
      "watch",
      "avi.device.audio",
      "--node",
      n.bUrl,
    ]);
    // Set until the watch (whose stream may open after the first set) prints.
    let volume = 40;
    await until(
      async () => {
        const set = await avi([
          "ctx",
          "set",
          "avi.device.audio.volume",
          String(++volume),
          "--node",
          n.aUrl,
        ]);
        assert.equal(set.code, 0, set.stderr);
        assert.match(set.stdout, /changed avi\.device\.audio\.volume/);
        return watch.stdout.length > 0;
      },
      60_000,
      "the watch to print a change",
    );
    const ev = JSON.parse(watch.stdout[0]);
    assert.deepEqual(Object.keys(ev.value), ["volume"]);
    assert.deepEqual(ev.changed, ["avi.device.audio.volume"]);
    assert.match(ev.writer, /^12D3KooW/);
    await until(
      async () => {
        const get = await avi([
          "ctx",
          "get",
          "avi.device.audio.volume",
          "--node",
          n.bUrl,
        ]);
        return get.code === 0 && get.stdout.trim() === String(volume);
      },
      30_000,
      "b to print the last value",
    );
    await watch.stop();
    const del = await avi(["ctx", "del", "avi.device.audio", "--node", n.bUrl]);
    assert.equal(del.code, 0, del.stderr);
    const gone = await avi([
      "ctx",
      "get",
      "avi.device.audio",
      "--node",
      n.bUrl,
    ]);
    assert.equal(gone.code, 1);
    assert.equal(gone.stdout.trim(), "null");
    // A JSON value that is not JSON: exit 2.
    const bad = await avi(["ctx", "set", "a.b", "{oops", "--node", n.aUrl]);
    assert.equal(bad.code, 2);
  } finally {
    await n.stop();
  }
});

Deno.test("avi: a short-lived peer (--join) publishes and reads the context with no node on this machine's endpoint", async () => {
  const n = await twoNodes();
  try {
    await avi(["ctx", "set", "avi.lights.hall", "on", "--node", n.aUrl]);
    const sub = new AviProcess([
      "sub",
      "-t",
      "t/join",
      "-C",
      "1",
      "--node",
      n.bUrl,
    ]);
    await sub.line(/following t\/join/);
    const pub = await avi([
      "pub",
      "-t",
      "t/join",
      "-m",
      "hi",
      "--join",
      "--no-mdns",
      "-b",
      n.aAddr,
      "--timeout",
      "20",
    ]);
    assert.equal(pub.code, 0, pub.stderr);
    assert.equal((await sub.status()).code, 0);
    assert.deepEqual(sub.stdout, ["t/join hi"]);
    const get = await avi([
      "ctx",
      "get",
      "avi.lights.hall",
      "--join",
      "--no-mdns",
      "-b",
      n.aAddr,
    ]);
    assert.equal(get.code, 0, get.stderr);
    assert.equal(get.stdout.trim(), '"on"');
  } finally {
    await n.stop();
  }
});

Deno.test("avi: metrics answer in the Prometheus format and move with traffic; JSON log lines parse", async () => {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  const n = await twoNodes([
    `--metrics=127.0.0.1:${port}`,
    "--log-format=json",
  ]);
  try {
    const read = async () => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`))
        .text();
      const get = (name: string) =>
        Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? NaN);
      return { text, get };
    };
    const before = await read();
    assert.match(before.text, /^# TYPE avi_mesh_peers gauge$/m);
    assert.equal(before.get("avi_mesh_peers"), 1);
    for (
      const name of [
        "avi_mesh_messages_published",
        "avi_mesh_messages_received",
        "avi_mesh_streams_open",
        "avi_mesh_events_dropped",
        "avi_context_rejected_forged",
      ]
    ) {
      assert.ok(!Number.isNaN(before.get(name)), `${name} in the metrics`);
    }
    const merged = before.get("avi_context_deltas_merged");
    await avi(["ctx", "set", "avi.x", "1", "--node", n.bUrl]);
    await until(
      async () => (await read()).get("avi_context_deltas_merged") > merged,
      30_000,
      "the counter to move",
    );
    for (const l of n.a.stderr.filter((l) => l.startsWith("{"))) {
      const rec = JSON.parse(l);
      assert.ok(rec.level && rec.message && rec.logger, l);
    }
    assert.ok(n.a.stderr.some((l) => l.includes('"peer connected')));
  } finally {
    await n.stop();
  }
});

Deno.test("avi node: Ctrl-C stops it cleanly (exit 0)", async () => {
  const dir = await Deno.makeTempDir();
  const a = new AviProcess([
    "node",
    "--no-mdns",
    `--data-dir=${dir}`,
    "--control=127.0.0.1:0",
  ]);
  try {
    await a.controlUrl();
    const status = await a.stop("SIGINT");
    assert.equal(status.code, 0, a.stderr.join("\n"));
    assert.ok(a.stderr.some((l) => l.includes("stopping")));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("avi: a missing permission is named in one line (exit 2), not a stack trace", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      new URL("../cli/main.ts", import.meta.url).pathname,
      "--help",
    ],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 2);
  assert.match(err.split("\n")[0], /^avi: run with --allow-env/);
  assert.doesNotMatch(err, /^\s+at /m);
});
