/**
 * Moved to `tests/support/mesh_fixture.ts`; this re-export remains only for
 * `tests/support/bridge_rig.ts` (the bridge's, being split) until it imports
 * `./mesh_fixture.ts` there.
 *
 * @module
 */
export * from "./support/mesh_fixture.ts";
