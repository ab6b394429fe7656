#!/bin/sh
# A smoke run of one fuzz target: every seed, then mutations of them, for
# a fixed number of inputs with a fixed seed. New inputs go to a scratch
# directory, never into the committed corpus.
# Usage: smoke.sh FUZZER CORPUS SCRATCH RUNS [DICT]
set -eu
fuzzer=$1 corpus=$2 scratch=$3 runs=$4 dict=${5:-}
rm -rf "$scratch" && mkdir -p "$scratch"
set --
[ -z "$dict" ] || set -- -dict="$dict"
# close_fd_mask=2: the runtime's log lines are dropped; libFuzzer's and the
# sanitizers' reports still show.
exec "$fuzzer" "$@" -runs="$runs" -seed=1 -timeout=60 -close_fd_mask=2 \
  -artifact_prefix="$scratch/" "$scratch" "$corpus"
