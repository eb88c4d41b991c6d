/**
 * The device keys of the benchmarks and their device fleets: derived from
 * the id and a seed, so both processes know them without a file.
 *
 * @module
 */

/** Device `id`'s 32-byte key. */
export function keyOf(id: number, seed: number): Uint8Array {
  const k = new Uint8Array(32);
  const v = new DataView(k.buffer);
  v.setUint32(0, id);
  v.setUint32(4, seed);
  k[31] = 0xa5;
  return k;
}
