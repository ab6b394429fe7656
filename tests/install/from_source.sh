#!/bin/sh
# A user's build from source: with -DBUILD_TESTING=OFF, axle configures and
# builds where cmocka is not installed, and warnings are no errors unless
# AXLE_WERROR asks. pkg-config is pointed at a folder that holds only the
# .pc files axle needs, so cmocka's is not found; with the tests on, the
# same configure fails and names cmocka. Then the build tree is moved
# elsewhere and still runs C and Lua examples with no environment variable:
# no absolute path is compiled in.
#   sh tests/install/from_source.sh SOURCE_DIR
set -eu
src=$1
. "$src/tests/install/lib.sh"
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
  --target axle axle_host axle_lua single_func >"$work/log" 2>&1 || {
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

# The tree moved: the binaries hold no path into it, only $ORIGIN-relative
# run paths, and libaxle finds the host and the Lua binding beside itself.
b="$work/b"
for f in "$b/libaxle.so" "$b/host/axle" "$b/bindings/lua/axle.so"; do
  if readelf -p .rodata -p .data -p .dynstr "$f" 2>/dev/null |
      grep -F "$b"; then
    fail "$f holds its build path"
  fi
done
readelf -d "$b/host/axle" | grep -q 'RUNPATH.*\[\$ORIGIN/\.\.' ||
  fail "the host's run path is not relative to it"
for f in "$b/libaxle.so" "$b/host/axle" "$b/bindings/lua/axle.so" \
  "$b/examples/c/single_func.so"; do
  check_runpath "$f"
done
mv "$b" "$work/moved"
m="$work/moved"
[ ! -e "$b" ] || fail "the original tree is still there"
cd "$work"
env -i PATH=/usr/bin:/bin AXLE_INSTALL_TEST="$AXLE_INSTALL_TEST" \
  "$m/host/axle" run "c:$m/examples/c/single_func.so" >"$work/out" 2>&1 || {
  cat "$work/out"
  fail "moved tree: C example"
}
cat "$work/out"
grep -q "^Collected subproc [0-9]*$" "$work/out" || fail "moved tree: C example"
env -i PATH=/usr/bin:/bin AXLE_INSTALL_TEST="$AXLE_INSTALL_TEST" \
  "$m/host/axle" run "$src/examples/lua/we_are_processes.lua" \
  >"$work/out" 2>&1 || {
  cat "$work/out"
  fail "moved tree: Lua example"
}
cat "$work/out"
grep -q "^Zombies Contained$" "$work/out" || fail "moved tree: Lua example"
env -i PATH=/usr/bin:/bin AXLE_INSTALL_TEST="$AXLE_INSTALL_TEST" \
  LUA_CPATH="$m/bindings/lua/?.so" lua5.4 "$src/examples/lua/single_func.lua" \
  >"$work/out" 2>&1 || {
  cat "$work/out"
  fail "moved tree: lua5.4"
}
cat "$work/out"
grep -q "^Collected subproc [0-9]*$" "$work/out" || fail "moved tree: lua5.4"
check_no_leftovers
echo "ok: a moved build tree runs"
