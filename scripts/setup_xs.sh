#!/bin/sh
# Builds the Moddable XS worker binary (xsnap-worker) for the @agoric/xsnap
# copy that Deno uses (node_modules is Deno's: "nodeModulesDir": "auto").
#
# Idempotent: does nothing when the binary is already there and runs.
# Needs: make, cc; node + npm for the package's own build script (falls back
# to calling make directly when npm is absent). Takes about 40 s the first time.
#
# Usage: scripts/setup_xs.sh        (from anywhere)
# Exit status: 0 when the worker binary exists afterwards, non-zero otherwise.
set -eu

ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
DENO="$ROOT/scripts/deno"
VERSION=0.15.0
PKG="$ROOT/node_modules/.deno/@agoric+xsnap@$VERSION/node_modules/@agoric/xsnap"
BIN="$PKG/xsnap-native/xsnap/build/bin/lin/release/xsnap-worker"

say() { printf 'setup_xs: %s\n' "$*"; }
fail() { printf 'setup_xs: ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(uname -s)" = Linux ] || fail "only Linux is supported here (got $(uname -s))"

if [ ! -d "$PKG" ]; then
  say "npm:@agoric/xsnap@$VERSION is not in node_modules yet; asking Deno to install the deno.json imports"
  (cd "$ROOT" && "$DENO" install) || fail "'deno install' failed"
fi
[ -d "$PKG" ] || fail "package folder still missing after 'deno install': $PKG"

if [ -x "$BIN" ]; then
  say "xsnap-worker already built: $BIN"
  exit 0
fi

command -v make >/dev/null 2>&1 || fail "'make' not found (needed to compile XS)"
command -v cc >/dev/null 2>&1 || fail "'cc' not found (needed to compile XS)"

say "building xsnap-worker (Moddable XS) in $PKG (about 40 s)"
if command -v npm >/dev/null 2>&1 && command -v node >/dev/null 2>&1; then
  say "running: npm run build:from-env"
  (cd "$PKG" && npm run build:from-env) || fail "'npm run build:from-env' failed in $PKG"
else
  say "npm/node not found: running the package's makefile directly"
  printf 'XSNAP_VERSION=%s\nCC=cc "-D__has_builtin(x)=1"\n' "$VERSION" >"$PKG/build.config.env"
  for goal in release debug; do
    (cd "$PKG/xsnap-native/xsnap/makefiles/lin" &&
      make "MODDABLE=$PKG/moddable" "GOAL=$goal" "XSNAP_VERSION=$VERSION" \
        'CC=cc "-D__has_builtin(x)=1"' "EXTRA_DEPS=$PKG/build.config.env" \
        -f xsnap-worker.mk) || fail "make ($goal) failed"
  done
fi

[ -x "$BIN" ] || fail "build finished but the binary is missing: $BIN"
say "built: $BIN"
