#!/bin/sh
# Installs the Debian packages the tests use, when they are missing:
#   tmux                       the terminal test of the avi command
#   chromium                   the dashboard in a real browser
#   mosquitto, -clients        the MQTT bridge against a real broker
#   qemu-user-static, libc6-arm64-cross, libgcc-s1-arm64-cross
#                              the gateway artifact on aarch64
#   libmbedtls-dev, libssl-dev, clang, libclang-rt-14-dev
#                              the C device client, its back ends and fuzzing
#   systemd                    systemd-analyze verify of the gateway's unit
#
# Idempotent: does nothing when every package is there. Uses apt-get (as root,
# or through sudo). Exit status: 0 when every package is installed afterwards.
set -eu

PKGS="tmux chromium mosquitto mosquitto-clients qemu-user-static libc6-arm64-cross libgcc-s1-arm64-cross libmbedtls-dev libssl-dev clang libclang-rt-14-dev systemd"

if ! command -v dpkg >/dev/null 2>&1; then
  echo "setup_packages: not a Debian system; the tests need: $PKGS" >&2
  exit 1
fi
missing=""
for p in $PKGS; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "setup_packages: installing$missing" >&2
$sudo apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
