#!/bin/sh
# axle installed as a user installs it, then used from outside its tree:
# cmake --install into a scratch prefix; with only that prefix on the
# paths, a C plugin and a C program build with pkg-config and with
# find_package(axle CONFIG), and run a tree with a child, a result and an
# error; stock lua5.4 with the prefix's module directory on LUA_CPATH runs
# an installed Lua example that spawns children; the rockspec builds with
# luarocks make --tree against the prefix. Nothing is left running.
#   sh tests/install/prefix.sh SOURCE_DIR BUILD_DIR
set -eu
src=$1
build=$2
. "$src/tests/install/lib.sh"
prefix="$work/prefix"
cmake --install "$build" --prefix "$prefix" >"$work/log" 2>&1 || {
  cat "$work/log"
  fail "cmake --install"
}
pc=$(find "$prefix" -name axle.pc)
[ -n "$pc" ] || fail "no axle.pc installed"
libdir=$(dirname "$(dirname "$pc")")
for f in "$libdir/libaxle.so.0.1.0" "$libdir/libaxle.so.0" "$libdir/libaxle.so" \
  "$prefix/include/axle.h" "$prefix/bin/axle" \
  "$libdir/cmake/axle/axleConfig.cmake" \
  "$libdir/cmake/axle/axleConfigVersion.cmake" \
  "$prefix/share/man/man1/axle.1" \
  "$prefix/share/bash-completion/completions/axle" \
  "$prefix/share/doc/axle/README.md" "$prefix/share/doc/axle/lua.md"; do
  [ -e "$f" ] || fail "not installed: $f"
done
[ "$(readlink "$libdir/libaxle.so.0")" = libaxle.so.0.1.0 ] ||
  fail "libaxle.so.0 does not link to libaxle.so.0.1.0"
# Installed to /usr/local (or /usr), the Lua module is where Debian's
# lua5.4 looks for C modules.
luadir=$(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --variable=luadir axle)
[ -f "$luadir/axle.so" ] || fail "no Lua module in $luadir"
# axle.pc names its directories relative to itself.
luadir=$(cd "$luadir" && pwd -P)
prefix=$(cd "$prefix" && pwd -P)
rel=${luadir#"$prefix"/}
lua5.4 -e "print(package.cpath)" | tr ';' '\n' |
  grep -qx "/usr/local/$rel/?.so\|/usr/$rel/?.so" ||
  fail "lua5.4 looks for C modules in neither /usr/local/$rel nor /usr/$rel"

# Only the prefix: no build tree, no axle variable.
unset AXLE_HOST AXLE_LUA_BINDING AXLE_LUA_PATH LUA_CPATH LUA_PATH
export PATH="$prefix/bin:/usr/bin:/bin"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
export LD_LIBRARY_PATH="$libdir"
cp "$src"/tests/install/consumer/* "$work/"

echo "== pkg-config"
mkdir "$work/pc"
cc -o "$work/pc/plugin.so" -shared -fPIC "$work/plugin.c" \
  $(pkg-config --cflags --libs axle) || fail "plugin with pkg-config"
cc -o "$work/pc/axprog" "$work/axprog.c" $(pkg-config --cflags --libs axle) ||
  fail "program with pkg-config"
expect "^square 49$" "$work/pc/axprog" "$work/pc/plugin.so"
grep -q "^error ValueError: refused by the plugin$" "$work/out" ||
  fail "the child's error did not reach the program"
expect "^49$" axle run "c:$work/pc/plugin.so" square n=7
check_no_leftovers

echo "== find_package(axle CONFIG)"
cmake -S "$work" -B "$work/cm" -DCMAKE_PREFIX_PATH="$prefix" \
  >"$work/log" 2>&1 || {
  cat "$work/log"
  fail "configure with find_package(axle)"
}
cmake --build "$work/cm" >"$work/log" 2>&1 || {
  cat "$work/log"
  fail "build with axle::axle"
}
expect "^square 49$" "$work/cm/axprog" "$work/cm/plugin.so"
grep -q "^error ValueError: refused by the plugin$" "$work/out" ||
  fail "the child's error did not reach the program"
check_no_leftovers

echo "== lua5.4"
example="$prefix/share/doc/axle/examples/lua/single_func.lua"
cd "$work"
LUA_CPATH="$luadir/?.so" expect "^Collected subproc [0-9]*$" lua5.4 "$example"
LUA_CPATH="$luadir/?.so" expect "^Zombies Contained$" \
  lua5.4 "$prefix/share/doc/axle/examples/lua/we_are_processes.lua"
check_no_leftovers

echo "== luarocks make --tree"
# luarocks builds in the current directory: a copy of the sources.
mkdir "$work/rock"
cp -r "$src/axle-scm-1.rockspec" "$src/bindings" "$work/rock/"
(cd "$work/rock" && luarocks --lua-version=5.4 make --tree "$work/rocks" \
  axle-scm-1.rockspec AXLE_DIR="$prefix") >"$work/log" 2>&1 || {
  cat "$work/log"
  fail "luarocks make"
}
rocklib=$(find "$work/rocks" -name axle.so)
[ -n "$rocklib" ] || fail "luarocks installed no axle.so"
LUA_CPATH="$(dirname "$rocklib")/?.so" expect "^Collected subproc [0-9]*$" \
  lua5.4 "$example"
check_no_leftovers
echo "ok: installed axle builds and runs from $prefix"
