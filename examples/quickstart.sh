#!/bin/sh
# Install what is missing, build everything, run the flagship example.
set -eu
cd "$(dirname "$0")/.."
sh tests/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)"
./build/host/axle run examples/lua/full_streaming_service.lua
