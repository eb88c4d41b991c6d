/**
 * Shared types of @avi/p2p: peer ids, events, typed errors, and the bounded
 * event queue. Every other folder may import this one; it imports nothing
 * of ours.
 *
 * @module
 */
export * from "./errors.ts";
export * from "./event_queue.ts";
export * from "./events.ts";
export * from "./peer_id.ts";
