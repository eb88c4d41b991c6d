/**
 * Imported before `@endo/init` (which `@agoric/xsnap` needs on the host) so
 * that SES's lockdown does not print its list of removed intrinsics.
 *
 * @module
 */
if (Deno.env.get("LOCKDOWN_REPORTING") === undefined) {
  Deno.env.set("LOCKDOWN_REPORTING", "none");
}
