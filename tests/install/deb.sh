#!/bin/sh
# The Debian package: cpack -G DEB builds one .deb holding the runtime,
# host, Lua module, header, pkg-config file and man page; dpkg-deb -I shows
# dependencies that cover every shared library its binaries need; unpacked
# with dpkg-deb -x into a scratch directory, it runs examples from there.
#   sh tests/install/deb.sh SOURCE_DIR BUILD_DIR
set -eu
src=$1
build=$2
. "$src/tests/install/lib.sh"
cpack --config "$build/CPackConfig.cmake" -G DEB -B "$work/pkg" \
  >"$work/log" 2>&1 || {
  cat "$work/log"
  fail "cpack -G DEB"
}
deb=$(ls "$work"/pkg/axle_*.deb)
dpkg-deb -I "$deb" | tee "$work/info"
depends=$(sed -n 's/^ Depends: //p' "$work/info")
[ -n "$depends" ] || fail "no Depends"
dpkg-deb -c "$deb" >"$work/files"
for f in ./usr/bin/axle ./usr/include/axle.h /lua/5.4/axle.so \
  /pkgconfig/axle.pc /libaxle.so.0 /cmake/axle/axleConfig.cmake \
  ./usr/share/man/man1/axle.1 ./usr/share/bash-completion/completions/axle \
  ./usr/share/doc/axle/copyright; do
  grep -q -- "$f" "$work/files" || fail "the package lacks $f"
done

x="$work/x"
dpkg-deb -x "$deb" "$x"
# Each library a packaged binary needs comes from the package itself or
# from a package it depends on.
find "$x" -type f -name '*.so*' -o -type f -path '*/bin/*' | while read -r f; do
  for lib in $(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    find "$x" -name "$lib" | grep -q . && continue
    path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64/ {print $NF; exit}')
    [ -n "$path" ] || fail "$f needs $lib, which is not installed here"
    pkg=$(dpkg -S "$path" 2>/dev/null || dpkg -S "$(readlink -f "$path")")
    pkg=${pkg%%:*}
    echo "$depends" | tr ',' '\n' | sed 's/^ *//; s/ .*//' | grep -qx "$pkg" ||
      fail "$f needs $lib from $pkg, which is not in Depends: $depends"
  done
done

find "$x" -type f -name '*.so*' -o -type f -path '*/bin/*' |
  while read -r f; do check_runpath "$f"; done

# Unpacked anywhere, it runs: the host from there, children included.
cd "$work"
unset AXLE_HOST AXLE_LUA_BINDING AXLE_LUA_PATH LUA_CPATH LUA_PATH
expect "^Zombies Contained$" "$x/usr/bin/axle" run \
  "$x/usr/share/doc/axle/examples/lua/we_are_processes.lua"
luadir=$(dirname "$(find "$x" -path '*/lua/5.4/axle.so')")
LUA_CPATH="$luadir/?.so" expect "^Collected subproc [0-9]*$" \
  lua5.4 "$x/usr/share/doc/axle/examples/lua/single_func.lua"
check_no_leftovers
echo "ok: the .deb installs what it should and runs unpacked"
