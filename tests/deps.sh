#!/bin/sh
# Install the Debian packages axle needs, and only those that are missing.
# Idempotent: apt-get runs only when something is absent.
set -eu
# clang and its runtimes build the libFuzzer targets (tests/fuzz); python3
# runs the documents' code blocks (tests/docs); man-db renders the manual
# page (tests/install).
PKGS="build-essential cmake pkg-config libuv1-dev libmsgpack-dev libffi-dev
liblua5.4-dev lua5.4 libcmocka-dev valgrind clang libclang-rt-dev python3
man-db"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "axle: installing Debian packages:$missing"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
fi
