/// <reference lib="dom" />
/**
 * The dashboard in a real headless Chromium (puppeteer-core): a gateway (a
 * mesh node with the UDP bridge and the dashboard on 0.0.0.0, so with a
 * token), two more mesh nodes, and simulated devices over real UDP, all on
 * 127.0.0.1. What a person would check by looking: both peers, a device
 * card that appears on connect and goes offline when the device stops, a
 * sensor value, a button flash, a context edit that reaches another node,
 * a published message in the log.
 *
 * Screenshots go to tmp/screenshots/ (ignored); with
 * AVI_DASHBOARD_DOC_SCREENSHOT=1 the run also rewrites docs/dashboard.png.
 */
import assert from "node:assert/strict";
import type { Page } from "puppeteer-core";
import { toHex } from "../core/hex.ts";
import { EmbeddedBridge } from "../bridge/mod.ts";
import { PublishTap, serveDashboard } from "../dashboard/mod.ts";
import { RawDevice } from "./support/bridge_device.ts";
import { launchBrowser, screenshotDir } from "./support/browser.ts";
import { shutdownAll, startNode } from "./support/mesh_fixture.ts";
import { until } from "./support/wait.ts";

const KEY42 = new Uint8Array(32).fill(42);
const KEY43 = new Uint8Array(32).fill(43);
const WAIT = { timeout: 20_000 };
const te = new TextEncoder();

/** Waits until `fn(...args)` is true in the page. */
function pageUntil<A extends unknown[]>(
  page: Page,
  fn: (...args: A) => boolean,
  ...args: A
): Promise<unknown> {
  // deno-lint-ignore no-explicit-any
  return page.waitForFunction(fn as any, WAIT, ...args);
}

Deno.test({
  name:
    "dashboard in Chromium: peers, device cards, sensor, button, context edit, message log, device offline",
  // puppeteer keeps its own pipes and timers past browser.close().
  sanitizeOps: false,
  sanitizeResources: false,
}, async (t) => {
  const gw = await startNode({ nodeName: "gateway" });
  const kitchen = await startNode({
    nodeName: "kitchen",
    bootstrapPeers: [gw.listenAddresses[0]],
  });
  const bedroom = await startNode({
    nodeName: "bedroom",
    bootstrapPeers: [gw.listenAddresses[0]],
  });
  const tap = new PublishTap();
  const bridge = await EmbeddedBridge.start(tap.wrap(gw.handle()), {
    udpPort: 0,
    hostname: "127.0.0.1",
    devices: { "42": toHex(KEY42), "43": toHex(KEY43) },
  });
  // Not the loopback: a token is generated, and the page must carry it.
  const dash = await serveDashboard(gw, {
    bridge,
    tap,
    hostname: "0.0.0.0",
    port: 0,
  });
  assert.ok(dash.token && dash.url.includes(`token=`));
  const browser = await launchBrowser();
  const dir = await screenshotDir();
  const devices: RawDevice[] = [];
  try {
    await kitchen.handle().setContextPath("home.volume", 3);
    await kitchen.handle().setContextPath("home.lights.kitchen", "on");
    const { page, errors } = await browser.page();
    await page.setViewport({ width: 1500, height: 1100 });
    await page.goto(dash.url);
    await page.waitForSelector("body[data-ready]", WAIT);

    await t.step("the page shows this node and both peers", async () => {
      await pageUntil(
        page,
        (a: string, b: string) =>
          ["kitchen", "bedroom"].every((name, i) => {
            const row = document.querySelector(
              `tr[data-peer="${[a, b][i]}"]`,
            );
            return row?.getAttribute("data-connected") === "true" &&
              row.querySelector(".name")?.textContent === name;
          }) &&
          document.querySelectorAll("[data-graph-peer]").length === 2,
        kitchen.peerId,
        bedroom.peerId,
      );
      const title = await page.$eval("header h1", (e) => e.textContent);
      assert.equal(title, "gateway");
    });

    await t.step("a device card appears when the device connects", async () => {
      for (const [id, key] of [[42, KEY42], [43, KEY43]] as const) {
        const d = new RawDevice({
          deviceId: id,
          key,
          gatewayPort: bridge.port,
        });
        devices.push(d);
        await d.connect();
      }
      await devices[0].subscribe("home/lights");
      await page.waitForSelector(
        '[data-device="42"][data-state="online"]',
        WAIT,
      );
      await page.waitForSelector(
        '[data-device="43"][data-state="online"]',
        WAIT,
      );
      await pageUntil(
        page,
        () =>
          document.querySelector('[data-device="42"] dl')?.textContent
            ?.includes("home/lights") ?? false,
      );
    });

    await t.step("a sensor update shows its value and unit", async () => {
      const code = await devices[0].request((msgId) => ({
        type: "sensorUpdate",
        msgId,
        name: "temp",
        value: { kind: "temperature", value: 21.5 },
        customData: null,
      }));
      assert.equal(code, 0);
      await devices[1].request((msgId) => ({
        type: "sensorUpdate",
        msgId,
        name: "humidity",
        value: { kind: "humidity", value: 48 },
        customData: null,
      }));
      await devices[1].request((msgId) => ({
        type: "sensorUpdate",
        msgId,
        name: "battery",
        value: { kind: "battery", value: 87 },
        customData: null,
      }));
      await pageUntil(page, () => {
        const li = document.querySelector(
          '[data-device="42"] [data-sensor="temp"]',
        );
        return li?.querySelector(".sensor-value")?.textContent === "21.5" &&
          li.querySelector(".unit")?.textContent === "C";
      });
    });

    await t.step("a button press flashes on its card", async () => {
      const code = await devices[0].request((msgId) => ({
        type: "buttonPress",
        msgId,
        buttonId: 1,
        pressType: "double",
        customData: null,
      }));
      assert.equal(code, 0);
      await pageUntil(page, () => {
        const card = document.querySelector('[data-device="42"]');
        return card?.getAttribute("data-presses") === "1" &&
          card.classList.contains("flash") &&
          (card.textContent?.includes("double of button 1") ?? false);
      });
      await page.screenshot({ path: `${dir}/dashboard-button.png` });
    });

    await t.step("editing a context value reaches another node", async () => {
      const value = '[data-path="home.volume"] .value';
      await page.waitForSelector(value, WAIT);
      await page.click(value);
      const input = await page.waitForSelector(".edit-input", WAIT);
      assert.equal(
        await page.$eval(".edit-type", (e) => (e as HTMLSelectElement).value),
        "number",
      );
      await input!.click({ count: 3 });
      await input!.type("7");
      await input!.press("Enter");
      await until(
        async () => (await bedroom.handle().getContext("home.volume")) === 7,
        20_000,
        "home.volume = 7 on the bedroom node",
      );
      // The page shows the new value, written by this node.
      await pageUntil(page, () => {
        const leaf = document.querySelector('[data-path="home.volume"]');
        return leaf?.querySelector(".value")?.textContent === "7" &&
          (leaf.querySelector(".writer")?.textContent?.startsWith(
            "this node",
          ) ?? false);
      });
    });

    await t.step("a published message appears in the log", async () => {
      await page.type(".watch-topic", "home/lights");
      await page.click("button.watch");
      await page.waitForSelector('[data-watched="home/lights"]', WAIT);
      await kitchen.handle().waitForSubscribers("home/lights", {
        min: 1,
        timeoutMs: 20_000,
      });
      await until(
        async () =>
          (await kitchen.handle().topicPeers("home/lights")).includes(
            gw.peerId,
          ),
        20_000,
        "the gateway subscribed to home/lights",
      );
      await kitchen.handle().publish(
        "home/lights",
        te.encode('{"kitchen":"off"}'),
      );
      await pageUntil(
        page,
        () =>
          [...document.querySelectorAll('.msg[data-topic="home/lights"]')]
            .some((m) =>
              m.querySelector(".payload")?.textContent === '{"kitchen":"off"}'
            ),
      );
      // The payload as JSON, then as hex.
      await page.select(".format", "json");
      await pageUntil(
        page,
        () =>
          document.querySelector('.msg[data-topic="home/lights"] .payload')
            ?.textContent === '{\n  "kitchen": "off"\n}',
      );
      await page.select(".format", "hex");
      await pageUntil(
        page,
        () =>
          document.querySelector('.msg[data-topic="home/lights"] .payload')
            ?.textContent?.startsWith("7b 22 6b 69") ?? false,
      );
      await page.select(".format", "text");
      // The device events the gateway published are there too.
      await page.type(".filter", "device/#");
      await pageUntil(
        page,
        () =>
          document.querySelector('.msg[data-topic="device/42/button"]') !==
            null &&
          document.querySelector('.msg[data-topic="home/lights"]') === null,
      );
      await page.click(".filter", { count: 3 });
      await page.keyboard.press("Backspace");
      await page.screenshot({ path: `${dir}/dashboard-log.png` });
      if (Deno.env.get("AVI_DASHBOARD_DOC_SCREENSHOT") === "1") {
        await page.screenshot({
          path: new URL("../docs/dashboard.png", import.meta.url).pathname,
        });
      }
    });

    await t.step("the card goes offline when the device stops", async () => {
      devices[0].sendMessage({ type: "disconnect", sleepSeconds: 0 });
      await devices[0].close();
      await page.waitForSelector(
        '[data-device="42"][data-state="offline"]',
        WAIT,
      );
      await page.waitForSelector(
        '[data-device="43"][data-state="online"]',
        WAIT,
      );
      await page.screenshot({ path: `${dir}/dashboard-offline.png` });
    });

    assert.deepEqual(errors, [], "no errors in the page's console");
  } finally {
    await browser.close();
    for (const d of devices) await d.close().catch(() => {});
    await dash.close();
    await bridge.close();
    await shutdownAll(bedroom, kitchen, gw);
  }
});
