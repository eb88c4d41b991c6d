/**
 * The one wait helper of the tests.
 *
 * @module
 */

/**
 * Polls `cond` every 10 ms until it holds; throws after `ms`.
 *
 * @param cond The condition (it may be async).
 * @param ms How long to wait at most.
 * @param what What is awaited, for the error message.
 * @example
 * ```ts ignore
 * await until(() => events.length > 0, 5_000, "an event");
 * ```
 */
export async function until(
  cond: () => boolean | Promise<boolean>,
  ms = 20_000,
  what = "condition",
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
