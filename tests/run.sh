#!/bin/sh
# The whole test suite: install what is missing, build twice (plain, and
# AddressSanitizer + UndefinedBehaviorSanitizer), warnings as errors, and
# run ctest on both; then build the fuzz targets with clang and run each
# briefly.
set -eu
cd "$(dirname "$0")/.."
sh tests/deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAXLE_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DAXLE_SANITIZE=ON \
  -DAXLE_WERROR=ON >/dev/null
cmake --build build-asan -j"$jobs"
# Child actors report to files: a child whose parent ignores its exit
# status must not hide a sanitizer report.
logs="$PWD/build-asan/sanitizer-logs"
rm -rf "$logs" && mkdir -p "$logs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:log_path="$logs/asan" \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path="$logs/ubsan" \
  ctest --output-on-failure -j"$jobs")
if [ -n "$(ls -A "$logs")" ]; then
  echo "sanitizer output from the test run:"
  cat "$logs"/*
  # Findings fail the run; the tools' own notes (a thread LeakSanitizer
  # could not stop) do not.
  if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$logs"/*; then
    exit 1
  fi
fi
# libFuzzer targets (tests/fuzz) in a clang tree of their own, each run for
# a fixed number of inputs from its committed corpus: a smoke run.
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAXLE_FUZZ=ON -DAXLE_WERROR=ON >/dev/null
cmake --build build-fuzz -j"$jobs" --target fuzzers
(cd build-fuzz && ctest -L fuzz --output-on-failure -j"$jobs")
