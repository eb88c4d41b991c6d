/**
 * Benchmark `xs`: the device client's footprint on Moddable XS (xsnap) and
 * its speed there beside the same client on Deno.
 *
 * - source bytes of the bundled client (`deno bundle --format=iife`, plain
 *   and minified; with the pure-JS crypto and without it, as on a device
 *   using Moddable's native `crypt`);
 * - XS heap in use from xsnap's metering (`currentHeapCount` slots after a
 *   `gc()`) and the XS heap snapshot size (slots and chunks), on a bare
 *   machine, with the client loaded, and after `connect()` + one subscribe;
 * - QoS 1 publishes per second to the test gateway, XS vs Deno.
 *
 * The measuring runs in a child process: the XS host needs SES's `lockdown()`
 * (from `@endo/init`), which must not freeze the intrinsics of the process
 * running the other benchmarks. Needs the XS worker: `scripts/setup_xs.sh`.
 *
 * @module
 */

import type { XsHost as XsHostType } from "../tests/xs/xs_host.ts";

/** Runs the XS benchmark in a child process and prints its figures. */
export async function bench(): Promise<void> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, "--child"],
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!r.success) throw new Error(`xs benchmark child exited ${r.code}`);
}

async function measure(): Promise<void> {
  const { bundleForXs, XS_SLOT_BYTES, XsHost } = await import(
    "../tests/xs/xs_host.ts"
  );
  const { TestGateway } = await import("../tests/support/test_gateway.ts");
  const { AviEmbedded, createDenoUdpSocket, denoCrypto } = await import(
    "../embedded/mod.ts"
  );
  const url = (p: string) => new URL(`../tests/xs/${p}`, import.meta.url);
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

  // --- source size
  const full = url("xs_size_entry.ts");
  const native = url("xs_size_native_crypto_entry.ts");
  const fullRaw = (await bundleForXs(full)).length;
  const fullMin = (await bundleForXs(full, { minify: true })).length;
  const natRaw = (await bundleForXs(native)).length;
  const natMin = (await bundleForXs(native, { minify: true })).length;
  console.log("device client bundle (embedded + protocol):");
  console.log(
    `  with pure-JS crypto (@noble): ${fullRaw} B (${
      kb(fullRaw)
    }), minified ${fullMin} B (${kb(fullMin)})`,
  );
  console.log(
    `  without (native crypt):       ${natRaw} B (${
      kb(natRaw)
    }), minified ${natMin} B (${kb(natMin)})`,
  );

  // --- XS heap
  const KEY = crypto.getRandomValues(new Uint8Array(32));
  const hex = (b: Uint8Array) =>
    Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  const gw = TestGateway.start({ devices: new Map([[1, KEY]]) });
  const heap = async (h: XsHostType) => {
    const { meter } = await h.evaluate("gc()");
    return { slots: meter.currentHeapCount, snap: await h.snapshotBytes() };
  };
  const base = await XsHost.start({ name: "bench-xs-base" });
  let b0;
  try {
    await base.load(url("xs_baseline_entry.ts"));
    b0 = await heap(base);
  } finally {
    await base.close();
  }
  const host = await XsHost.start({ name: "bench-xs-client" });
  let xsRate = 0;
  try {
    await host.load(url("xs_client_entry.ts"));
    await host.call("setup", [{
      deviceId: 1,
      keyHex: hex(KEY),
      gatewayPort: gw.port,
    }]);
    const loaded = await heap(host);
    await host.call("connect");
    await host.call("subscribe", ["home/cmd"]);
    const connected = await heap(host);
    const row = (what: string, h: { slots: number; snap: number }) => {
      const ds = h.slots - b0.slots, dn = h.snap - b0.snap;
      console.log(
        `  ${what.padEnd(26)} ${String(h.slots).padStart(6)} slots (+${ds} = ${
          kb(ds * XS_SLOT_BYTES)
        } over the harness), snapshot ${kb(h.snap)} (+${kb(dn)})`,
      );
    };
    console.log(
      `XS heap (xsnap metering after gc(); ${XS_SLOT_BYTES} B per slot on this 64-bit host):`,
    );
    row("harness only", b0);
    row("client loaded + setup", loaded);
    row("after connect + subscribe", connected);
    const cs = connected.slots - loaded.slots;
    console.log(
      `  connect + subscribe added ${cs} slots (${kb(cs * XS_SLOT_BYTES)}; ${
        kb(cs * 16)
      } with the 16 B slots of a 32-bit MCU) and ${
        kb(connected.snap - loaded.snap)
      } of snapshot`,
    );
    console.log(
      "  (the client reserves maxPending x maxFrame = 16 x 1024 B for its retry queue plus a 1024 B scratch buffer at setup)",
    );

    // --- QoS 1 publish rate, XS
    const N = 1000;
    const t0 = performance.now();
    await host.call("publishMany", ["bench/xs", N, 8], { timeoutMs: 60000 });
    xsRate = N / ((performance.now() - t0) / 1000);
    await host.call("close");
  } finally {
    await host.close();
  }
  // --- the same on Deno
  const socket = await createDenoUdpSocket({ hostname: "127.0.0.1" });
  const avi = new AviEmbedded(socket, {
    deviceId: 1,
    key: KEY,
    crypto: denoCrypto(),
    gateway: { address: "127.0.0.1", port: gw.port },
  }, () => {});
  let denoRate = 0;
  try {
    await avi.connect();
    const N = 1000;
    const t0 = performance.now();
    const inflight: Promise<void>[] = [];
    for (let i = 0; i < N; i++) {
      inflight.push(avi.publish("bench/deno", new Uint8Array([i & 0xff]), {
        qos: 1,
      }));
      if (inflight.length === 8) await Promise.all(inflight.splice(0));
    }
    await Promise.all(inflight);
    denoRate = N / ((performance.now() - t0) / 1000);
  } finally {
    await avi.close();
    await gw.close();
  }
  console.log("QoS 1 publishes acknowledged by the test gateway (window 8):");
  console.log(`  XS (xsnap, via issueCommand): ${xsRate.toFixed(0)} msg/s`);
  console.log(`  Deno:                         ${denoRate.toFixed(0)} msg/s`);
  console.log(
    `  XS / Deno:                    ${(xsRate / denoRate).toFixed(2)}`,
  );
}

if (import.meta.main) {
  if (Deno.args.includes("--child")) await measure();
  else await bench();
}
