/**
 * Shared types and helpers of @avi/p2p: peer ids, events, typed errors, the
 * bounded event queue and hex text. Every other folder may import this one;
 * it imports nothing of ours.
 *
 * @module
 */
export * from "./errors.ts";
export * from "./event_queue.ts";
export * from "./events.ts";
export * from "./hex.ts";
export * from "./peer_id.ts";
