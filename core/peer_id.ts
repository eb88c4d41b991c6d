/**
 * Our own peer id type: a base58btc string such as `12D3KooW...`, branded so
 * that a plain string is not taken for one by accident.
 *
 * @module
 */

/**
 * The id of a node in the mesh, as a string (`12D3KooW...`).
 *
 * @example
 * ```ts
 * import type { PeerId } from "@avi/p2p";
 * const show = (id: PeerId): string => id.slice(0, 12);
 * ```
 */
export type PeerId = string & { readonly __brand: "PeerId" };

/**
 * A stream id, unique on the node that holds it.
 *
 * @example
 * ```ts
 * import type { StreamId } from "@avi/p2p";
 * const label = (id: StreamId): string => `stream ${id}`;
 * ```
 */
export type StreamId = string;
