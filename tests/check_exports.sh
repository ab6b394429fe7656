#!/bin/sh
# libaxle.so must export the ax_ names and nothing else.
set -eu
lib="$1"
syms=$(nm -D --defined-only "$lib" | awk '$2 != "A" {print $3}')
[ -n "$syms" ] || { echo "no exported symbols in $lib"; exit 1; }
bad=$(printf '%s\n' "$syms" | grep -v '^ax_' || true)
if [ -n "$bad" ]; then
  echo "exported names outside ax_:"; printf '%s\n' "$bad"; exit 1
fi
echo "$(printf '%s\n' "$syms" | wc -l) exported names, all ax_"
