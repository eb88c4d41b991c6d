/**
 * Benchmark `cli`: wall time of the `avi` command, start to exit, beside
 * `mosquitto_pub` (Debian's mosquitto and mosquitto-clients) in the same run.
 *
 * - `avi pub` through a running node's control endpoint, one message
 *   delivered to a running subscriber on another node of a 3-node mesh
 *   (each delivery is checked);
 * - `avi pub --join` as a short-lived peer of its own (no node on the
 *   machine);
 * - `avi ctx get` through the control endpoint, and `--join` (it catches up
 *   from its peers before printing);
 * - `mosquitto_pub` to a local `mosquitto`, delivered to a `mosquitto_sub`.
 *
 * Targets (issue 12): `avi pub` within 3× of `mosquitto_pub`, and under one
 * second. The `avi` runs use `deno run` on the sources (no type check), as
 * the installed command does.
 *
 * @module
 */

import { aviArgs, AviProcess } from "../tests/support/cli.ts";

const RUNS = 15;

interface Figure {
  min: number;
  median: number;
  max: number;
}

function figure(ms: number[]): Figure {
  const s = [...ms].sort((a, b) => a - b);
  return { min: s[0], median: s[s.length >> 1], max: s[s.length - 1] };
}

function show(name: string, f: Figure): string {
  return `${name.padEnd(34)} median ${
    f.median.toFixed(0).padStart(5)
  } ms  (min ${f.min.toFixed(0)}, max ${f.max.toFixed(0)})`;
}

/** Runs `cmd args` RUNS times; returns the wall times in ms. */
async function time(
  cmd: string,
  args: string[],
  runs = RUNS,
): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = await new Deno.Command(cmd, {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    out.push(performance.now() - t0);
    if (!r.success) {
      throw new Error(
        `${cmd} ${args.join(" ")} failed: ${
          new TextDecoder().decode(r.stderr)
        }`,
      );
    }
  }
  return out;
}

async function waitFor(cond: () => boolean, ms: number, what: string) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Waits until something listens on 127.0.0.1:port (at most 10 s). */
async function waitForPort(port: number): Promise<void> {
  const end = Date.now() + 10_000;
  while (true) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch (e) {
      if (Date.now() > end) throw e;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

async function has(cmd: string): Promise<boolean> {
  try {
    await new Deno.Command(cmd, {
      args: ["--help"],
      stdout: "null",
      stderr: "null",
    })
      .output();
    return true;
  } catch {
    return false;
  }
}

/** Prints the figures. */
export async function bench(): Promise<void> {
  const dir = await Deno.makeTempDir();
  const procs: AviProcess[] = [];
  const node = (name: string, extra: string[] = []) => {
    const p = new AviProcess([
      "node",
      `--name=${name}`,
      "--no-mdns",
      "--host=127.0.0.1",
      `--data-dir=${dir}/${name}`,
      "--control=127.0.0.1:0",
      ...extra,
    ]);
    procs.push(p);
    return p;
  };
  try {
    // A 3-node mesh: b and c bootstrapped to a.
    const a = node("a");
    const aUrl = await a.controlUrl();
    const aAddr = await a.meshAddress();
    const b = node("b", [`--bootstrap=${aAddr}`]);
    const bUrl = await b.controlUrl();
    node("c", [`--bootstrap=${aAddr}`]);
    await b.line(/peer connected/);
    const sub = new AviProcess(["sub", "-t", "bench/cli", "--node", bUrl]);
    procs.push(sub);
    await sub.line(/following bench\/cli/);
    // The subscription reaches a before the first timed run.
    const warm = await new Deno.Command(Deno.execPath(), {
      args: aviArgs([
        "pub",
        "-t",
        "bench/cli",
        "-m",
        "warm",
        "--timeout",
        "20",
        "--node",
        aUrl,
      ]),
      stdout: "null",
      stderr: "null",
    }).output();
    if (!warm.success) throw new Error("the warm-up publish failed");
    await waitFor(() => sub.stdout.length >= 1, 20_000, "the warm-up delivery");

    const deno = Deno.execPath();
    const pubArgs = aviArgs([
      "pub",
      "-t",
      "bench/cli",
      "-m",
      "hello",
      "--node",
      aUrl,
      "--log-level=warning",
    ]);
    const before = sub.stdout.length;
    const pub = figure(await time(deno, pubArgs));
    await waitFor(
      () => sub.stdout.length >= before + RUNS,
      20_000,
      "every delivery",
    );
    const joinArgs = aviArgs([
      "pub",
      "-t",
      "bench/cli",
      "-m",
      "joined",
      "--join",
      "--no-mdns",
      "-b",
      aAddr,
      "--timeout",
      "20",
      "--log-level=warning",
    ]);
    const joined = figure(await time(deno, joinArgs, 5));
    const ctxGet = figure(
      await time(
        deno,
        aviArgs(["ctx", "get", "--node", aUrl, "--log-level=warning"]),
      ),
    );
    const ctxJoin = figure(
      await time(
        deno,
        aviArgs([
          "ctx",
          "get",
          "--join",
          "--no-mdns",
          "-b",
          aAddr,
          "--log-level=warning",
        ]),
        5,
      ),
    );
    const help = figure(await time(deno, aviArgs(["--version"])));

    console.log(show("avi --version (Deno start)", help));
    console.log(show("avi pub (control endpoint)", pub));
    console.log(show("avi pub --join (short-lived peer)", joined));
    console.log(show("avi ctx get (control endpoint)", ctxGet));
    console.log(show("avi ctx get --join", ctxJoin));

    if (!(await has("mosquitto_pub")) || !(await has("mosquitto"))) {
      console.log("mosquitto / mosquitto_pub not installed: no comparison");
      return;
    }
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (probe.addr as Deno.NetAddr).port;
    probe.close();
    await Deno.writeTextFile(
      `${dir}/mosquitto.conf`,
      `listener ${port} 127.0.0.1\nallow_anonymous true\n`,
    );
    const broker = new Deno.Command("mosquitto", {
      args: ["-c", `${dir}/mosquitto.conf`],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await waitForPort(port);
    const msub = new Deno.Command("mosquitto_sub", {
      args: ["-h", "127.0.0.1", "-p", String(port), "-t", "bench/cli"],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    let delivered = 0;
    (async () => {
      for await (
        const chunk of msub.stdout.pipeThrough(new TextDecoderStream())
      ) {
        delivered += chunk.split("\n").length - 1;
      }
    })();
    try {
      const mArgs = [
        "-h",
        "127.0.0.1",
        "-p",
        String(port),
        "-t",
        "bench/cli",
        "-m",
        "hello",
        "-q",
        "1",
      ];
      // the subscriber is up once a message arrives
      for (let i = 0; i < 50 && delivered === 0; i++) {
        await time("mosquitto_pub", mArgs, 1);
        await new Promise((r) => setTimeout(r, 50));
      }
      const start = delivered;
      const mq = figure(await time("mosquitto_pub", mArgs));
      await waitFor(
        () => delivered >= start + RUNS,
        10_000,
        "mosquitto deliveries",
      );
      console.log(show("mosquitto_pub -q 1", mq));
      const ratio = pub.median / mq.median;
      console.log(
        `avi pub / mosquitto_pub: ${ratio.toFixed(1)}x (target 3x: ${
          ratio <= 3 ? "met" : "missed"
        }); avi pub under 1 s: ${pub.median < 1000 ? "met" : "missed"}`,
      );
    } finally {
      for (const p of [msub, broker]) {
        try {
          p.kill();
        } catch { /* already gone */ }
      }
      await msub.status;
      await broker.status;
    }
  } finally {
    await Promise.all(procs.map((p) => p.stop().catch(() => {})));
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  await bench();
  Deno.exit(0);
}
