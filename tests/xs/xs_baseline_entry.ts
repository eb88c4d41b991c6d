/**
 * XS entry with only the harness runtime: the baseline for footprint figures.
 *
 * @module
 */
import { installXsRuntime } from "./xs_runtime.ts";

installXsRuntime({
  gc: () => (globalThis as unknown as { gc: () => void }).gc(),
});
