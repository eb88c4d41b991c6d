/**
 * Defaults the `avi` commands share.
 *
 * @module
 */

/** The control endpoint's default port. */
export const CONTROL_PORT = 7357;

/** The gateway's config file read by default. */
export const DEFAULT_CONFIG = "avi-gateway.toml";
