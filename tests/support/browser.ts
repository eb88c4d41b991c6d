/**
 * A real headless Chromium (Debian's `chromium` package, installed by
 * `.ci/run`) driven with puppeteer-core, for the dashboard's tests and
 * benchmark: one browser per test file, a fresh profile each time, no
 * network beyond what the page asks for.
 *
 * @module
 */

import puppeteer, { type Browser, type Page } from "puppeteer-core";

/** Where Debian puts Chromium (`AVI_CHROMIUM` overrides it). */
export function chromiumPath(): string {
  return Deno.env.get("AVI_CHROMIUM") ?? "/usr/bin/chromium";
}

/** A running browser and its profile directory. */
export interface TestBrowser {
  browser: Browser;
  /** A new tab, with the page's console errors collected in `errors`. */
  page(): Promise<{ page: Page; errors: string[] }>;
  /** Closes the browser and removes its profile. */
  close(): Promise<void>;
}

/** Starts headless Chromium with a fresh profile. */
export async function launchBrowser(): Promise<TestBrowser> {
  const profile = await Deno.makeTempDir({ prefix: "avi-chromium-" });
  const browser = await puppeteer.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      `--user-data-dir=${profile}`,
    ],
  });
  return {
    browser,
    async page() {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error") errors.push(m.text());
      });
      page.on("pageerror", (e) => errors.push(String(e)));
      return { page, errors };
    },
    async close() {
      await browser.close().catch(() => {});
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    },
  };
}

/** Where the test run writes screenshots (ignored by git). */
export async function screenshotDir(): Promise<string> {
  const dir = new URL("../../tmp/screenshots/", import.meta.url).pathname;
  await Deno.mkdir(dir, { recursive: true });
  return dir;
}
