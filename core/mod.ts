/**
 * Shared types of @avi/p2p: peer ids, events and typed errors. Every other
 * folder may import this one; it imports nothing of ours.
 *
 * @module
 */
export * from "./errors.ts";
export * from "./events.ts";
export * from "./peer_id.ts";
