/**
 * A full garbage collection on demand, for the benchmarks that measure what
 * stays alive on the heap.
 *
 * @module
 */

import v8 from "node:v8";
import vm from "node:vm";

/** A way to force a full GC (V8's gc, exposed at run time), if there is one. */
export function forceGc(): (() => void) | undefined {
  try {
    v8.setFlagsFromString("--expose-gc");
    return vm.runInNewContext("gc") as () => void;
  } catch {
    return undefined;
  }
}
