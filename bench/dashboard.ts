/**
 * Benchmark of the web dashboard (`deno task bench dashboard`), on a real
 * gateway: `avi gateway` in its own process with 200 devices, fed by a
 * fleet of 200 simulated devices (bench/_dashboard_fleet.ts, another
 * process) sending 10 events a second each (2,000/s: sensor readings and
 * every tenth a button press, QoS 1), and headless Chromium
 * (puppeteer-core) on the dashboard.
 *
 * - gateway CPU (user + system, % of one core, from /proc) over a window
 *   with no dashboard at all, with the dashboard served and no page
 *   attached, and with one page attached;
 * - the page's time from navigation to its first full render (the
 *   snapshot applied and drawn: 200 device cards, the context, the log);
 * - gateway memory (RSS) while ten minutes' worth of events (1.2 million)
 *   pass with a page attached, compressed in time: the fleet sends as fast
 *   as `MEMORY_RATE` (`AVI_BENCH_DASHBOARD_EVENTS` sets the number).
 *
 * Figures are printed, never asserted. Everything shares this machine's
 * cores (gateway, fleet, Chromium): the CPU figures are the gateway
 * process's own time.
 *
 * @module
 */

import { AviProcess } from "../tests/support/cli.ts";
import { launchBrowser } from "../tests/support/browser.ts";
import { toHex } from "../core/hex.ts";
import { keyOf } from "./_keys.ts";

const DEVICES = 200;
const RATE = DEVICES * 10;
const WINDOW_S = 10;
const ROUNDS = 3;
const MEMORY_RATE = 5000;
const SEED = 1313;
const TEN_MINUTES = RATE * 600;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CLK_TCK = 100;

/**
 * A file of /proc, read with `cat`: Deno lets only --allow-all read /proc
 * directly, and the bench task allows running programs.
 */
async function proc(path: string): Promise<string> {
  const out = await new Deno.Command("cat", { args: [`/proc/${path}`] })
    .output();
  return new TextDecoder().decode(out.stdout);
}

/** CPU seconds (user + system) of a process so far. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await proc(`${pid}/stat`);
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

/** Resident memory of a process, MiB. */
async function rssMiB(pid: number): Promise<number> {
  const status = await proc(`${pid}/status`);
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

/** The gateway's CPU over a window, and the events acknowledged in it. */
interface Window {
  /** % of one core. */
  cpu: number;
  /** Events acknowledged per second. */
  rate: number;
  /** CPU ms per 1,000 events. */
  perK: number;
}

/** Measures the gateway `pid` over `seconds` while `fleet` sends. */
async function measure(
  pid: number,
  fleet: Fleet,
  seconds: number,
): Promise<Window> {
  const acked = () => Number(fleet.last()?.acked ?? 0);
  const c0 = await cpuSeconds(pid);
  const a0 = acked();
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const c1 = await cpuSeconds(pid);
  const a1 = acked();
  const secs = (performance.now() - t0) / 1000;
  const events = Math.max(1, a1 - a0);
  return {
    cpu: (100 * (c1 - c0)) / secs,
    rate: events / secs,
    perK: (1000 * 1000 * (c1 - c0)) / events,
  };
}

/** The mean of windows. */
function mean(ws: Window[]): Window {
  const m = (k: keyof Window) => ws.reduce((n, w) => n + w[k], 0) / ws.length;
  return { cpu: m("cpu"), rate: m("rate"), perK: m("perK") };
}

const show = (w: Window) =>
  `${fmt(w.cpu)}% (${fmt(w.rate, 0)} events/s, ${fmt(w.perK, 0)} ms per 1,000)`;

/** The fleet process, with its progress lines. */
class Fleet {
  readonly child: Deno.ChildProcess;
  readonly lines: Record<string, number | boolean | string>[] = [];
  /** Whether the process ended. */
  exited = false;
  #writer: WritableStreamDefaultWriter<Uint8Array>;

  constructor(port: number, rate: number, total?: number) {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--unstable-net",
        new URL("./_dashboard_fleet.ts", import.meta.url).pathname,
        JSON.stringify({ port, devices: DEVICES, keySeed: SEED, rate, total }),
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.child = child;
    this.#writer = child.stdin.getWriter();
    child.status.then(() => this.exited = true);
    (async () => {
      let buf = "";
      for await (
        const chunk of child.stdout.pipeThrough(new TextDecoderStream())
      ) {
        buf += chunk;
        let at;
        while ((at = buf.indexOf("\n")) >= 0) {
          this.lines.push(JSON.parse(buf.slice(0, at)));
          buf = buf.slice(at + 1);
        }
      }
    })();
  }

  async until(
    pred: (l: Record<string, unknown>) => boolean,
    ms: number,
  ): Promise<Record<string, unknown>> {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const l = this.lines.find(pred);
      if (l) return l;
      await sleep(50);
    }
    throw new Error("the fleet did not get there in time");
  }

  last(): Record<string, unknown> | undefined {
    return this.lines.at(-1);
  }

  async stop(): Promise<void> {
    await this.#writer.close().catch(() => {});
    await this.child.status;
  }
}

/** A gateway for DEVICES devices, with `extra` arguments. */
async function startGateway(
  dir: string,
  extra: string[],
): Promise<{ gw: AviProcess; port: number; url?: string }> {
  const config = `${dir}/gw-${crypto.randomUUID().slice(0, 6)}.toml`;
  const devices = Array.from(
    { length: DEVICES },
    (_, i) => `"${i + 1}" = "${toHex(keyOf(i + 1, SEED))}"`,
  );
  await Deno.writeTextFile(
    config,
    [
      "[node]",
      'name = "bench-gateway"',
      "[bridge]",
      "udpPort = 0",
      'hostname = "127.0.0.1"',
      "[devices]",
      ...devices,
      "",
    ].join("\n"),
  );
  const gw = new AviProcess([
    "gateway",
    "--config",
    config,
    "--no-mdns",
    "--no-kad",
    "--host=127.0.0.1",
    `--data-dir=${dir}/data-${crypto.randomUUID().slice(0, 6)}`,
    "--no-control",
    ...extra,
  ]);
  const port = Number((await gw.line(/bridge on udp \S+:(\d+)/, 60_000))[1]);
  const url = extra.some((a) => a.startsWith("--http"))
    ? (await gw.line(/dashboard on (http:\/\/\S+)/, 60_000))[1]
    : undefined;
  return { gw, port, url };
}

const fmt = (n: number, d = 1) => n.toFixed(d);

export async function bench(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "avi-bench-dashboard-" });
  try {
    // 1. No dashboard: the baseline.
    let run = await startGateway(dir, []);
    let fleet = new Fleet(run.port, RATE);
    let base: Window;
    try {
      await fleet.until((l) => l.phase === "ready", 60_000);
      await sleep(3000);
      base = await measure(run.gw.child.pid, fleet, WINDOW_S);
    } finally {
      await fleet.stop();
      await run.gw.stop();
    }

    // 2. The dashboard served: windows with no page and with one page
    // attached, alternated ROUNDS times (the machine is shared: its noise
    // spreads over both).
    run = await startGateway(dir, ["--http=127.0.0.1:0"]);
    const pid = run.gw.child.pid;
    fleet = new Fleet(run.port, RATE);
    const browser = await launchBrowser();
    const idle: Window[] = [], attached: Window[] = [];
    const renders: number[] = [];
    try {
      await fleet.until((l) => l.phase === "ready", 60_000);
      await sleep(3000);
      const open = async () => {
        const { page } = await browser.page();
        await page.setViewport({ width: 1500, height: 1100 });
        await page.goto(run.url!);
        await page.waitForSelector("body[data-ready]", { timeout: 30_000 });
        renders.push(
          Number(await page.evaluate("globalThis.__aviFirstRender")),
        );
        return page;
      };
      for (let i = 0; i < ROUNDS; i++) {
        idle.push(await measure(pid, fleet, WINDOW_S));
        const p = await open();
        await sleep(1000);
        attached.push(await measure(pid, fleet, WINDOW_S));
        await p.close();
        await sleep(1000);
      }
      const page = await open();
      const shown = await page.evaluate(
        'document.querySelectorAll("[data-device]").length',
      );
      // Memory: ten minutes' worth of events with the page attached.
      await fleet.stop();
      const events = Number(
        Deno.env.get("AVI_BENCH_DASHBOARD_EVENTS") ?? TEN_MINUTES,
      );
      const rss0 = await rssMiB(pid);
      fleet = new Fleet(run.port, MEMORY_RATE, events);
      await fleet.until((l) => l.phase === "ready", 60_000);
      const t0 = performance.now();
      const samples: string[] = [];
      const fleetRss: number[] = [];
      let next = 0.1;
      while (!fleet.lines.some((l) => l.done)) {
        if (fleet.exited) throw new Error("the fleet stopped");
        if (Number(fleet.last()?.rssMiB ?? 0) > 2048) {
          throw new Error("the fleet itself grew past 2 GiB: stopped");
        }
        const sent = Number(fleet.last()?.sent ?? 0);
        if (sent >= next * events) {
          samples.push(
            `${fmt(100 * next, 0)}%: ${fmt(await rssMiB(pid), 0)} MiB`,
          );
          fleetRss.push(Number(fleet.last()?.rssMiB ?? NaN));
          next += 0.1;
        }
        await sleep(250);
      }
      const done = fleet.last()!;
      const secs = (performance.now() - t0) / 1000;
      samples.push(`end: ${fmt(await rssMiB(pid), 0)} MiB`);
      const lagged = await page.evaluate(
        '[...document.querySelectorAll(".banner")].map((b) => b.textContent)',
      );
      await page.close();
      const median = [...renders].sort((a, b) => a - b)[renders.length >> 1];
      console.log(
        `devices: ${DEVICES}, events: ${RATE}/s asked; page attached: ${shown} device cards`,
      );
      const i = mean(idle), a = mean(attached);
      console.log(
        `gateway CPU, % of one core (events acknowledged, CPU per 1,000 events): no dashboard ${
          show(base)
        }; dashboard served, no page ${show(i)}; one page attached ${
          show(a)
        }; the page's extra: ${fmt(a.cpu - i.cpu)} points (${
          fmt((100 * (a.perK - i.perK)) / i.perK)
        }% per event)`,
      );
      console.log(
        `first full render (navigation to the snapshot drawn, ${DEVICES} cards, events flowing): median ${
          fmt(median, 0)
        } ms of ${renders.map((r) => fmt(r, 0)).join(", ")} ms`,
      );
      console.log(
        `gateway RSS with a page attached, ${done.sent} events (${
          fmt(Number(done.sent) / RATE / 60)
        } min at ${RATE}/s) sent in ${fmt(secs, 0)} s (${
          fmt(Number(done.sent) / secs, 0)
        }/s, ${done.acked} acked, ${done.skipped} turns skipped): start ${
          fmt(rss0, 0)
        } MiB, ${samples.join(", ")}`,
      );
      console.log(`page banners at the end: ${JSON.stringify(lagged)}`);
      console.log(`(the fleet's own RSS, MiB: ${fleetRss.join(", ")})`);
    } finally {
      await browser.close();
      await fleet.stop();
      await run.gw.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  await bench();
  Deno.exit(0);
}
