#!/bin/sh
# A user's build from source: with -DBUILD_TESTING=OFF, axle configures and
# builds where cmocka is not installed, and warnings are no errors unless
# AXLE_WERROR asks. pkg-config is pointed at a folder that holds only the
# .pc files axle needs, so cmocka's is not found; with the tests on, the
# same configure fails and names cmocka.
#   sh tests/build_without_cmocka.sh SOURCE_DIR
set -eu
src=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/pc"
for m in libuv msgpack libffi lua5.4; do
  ln -s "$(pkg-config --variable=pcfiledir "$m")/$m.pc" "$work/pc/"
done
export PKG_CONFIG_LIBDIR="$work/pc" PKG_CONFIG_PATH=
if pkg-config --exists cmocka; then
  echo "cmocka is still visible to pkg-config"
  exit 1
fi
cmake -S "$src" -B "$work/b" -DBUILD_TESTING=OFF >"$work/log" 2>&1 || {
  cat "$work/log"
  echo "configure without cmocka failed"
  exit 1
}
grep -q "AXLE_WERROR:BOOL=OFF" "$work/b/CMakeCache.txt" || {
  echo "warnings are errors by default"
  exit 1
}
cmake --build "$work/b" -j"$(nproc 2>/dev/null || echo 2)" \
  --target axle axle_host axle_lua >"$work/log" 2>&1 || {
  cat "$work/log"
  echo "build without cmocka failed"
  exit 1
}
"$work/b/host/axle" --version
if cmake -S "$src" -B "$work/c" >"$work/log" 2>&1; then
  echo "configured with the tests on and no cmocka"
  exit 1
fi
grep -q cmocka "$work/log" || {
  cat "$work/log"
  echo "the failed configure does not name cmocka"
  exit 1
}
echo "ok: builds without cmocka"
