/**
 * A fixed-rate sender for the bridge benchmark: the same pacing for the
 * device fleet (both paths) and for the mesh-alone reference.
 *
 * @module
 */

/**
 * Calls `send(i)` for i = 0 .. total-1 at `rate` calls per second (as many
 * as are due each time the loop wakes, about every millisecond).
 */
export async function atRate(
  rate: number,
  total: number,
  send: (i: number) => void,
): Promise<void> {
  const start = performance.now();
  let i = 0;
  while (i < total) {
    const due = Math.floor(((performance.now() - start) / 1000) * rate);
    while (i < Math.min(due, total)) send(i++);
    await new Promise((r) => setTimeout(r, 1));
  }
}
