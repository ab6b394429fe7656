# Shared by the tests/install scripts (sourced, POSIX sh).
# Every process a test starts carries AXLE_INSTALL_TEST=<unique mark> in its
# environment, which children inherit: check_no_leftovers finds any actor
# process still alive.
work=$(mktemp -d)
AXLE_INSTALL_TEST="$$-$(date +%s%N)"
export AXLE_INSTALL_TEST
trap 'rm -rf "$work"' EXIT

fail() {
  echo "FAIL: $*"
  exit 1
}

# The pids of live actor processes (axle, lua5.4, the test's own programs,
# named ax*) that carry this test's mark; the script's own subshells carry
# it too and are not actors.
leftovers() {
  for d in /proc/[0-9]*; do
    case "$(cat "$d/comm" 2>/dev/null)" in
      axle | lua5.4 | ax*) ;;
      *) continue ;;
    esac
    tr '\0' '\n' <"$d/environ" 2>/dev/null |
      grep -qx "AXLE_INSTALL_TEST=$AXLE_INSTALL_TEST" && echo "${d#/proc/}"
  done
  return 0
}

# Fails if an actor process of this test is still running, after a
# generous wait for exits in flight (a reaped tree is gone at once).
check_no_leftovers() {
  i=0
  while [ -n "$(leftovers)" ]; do
    i=$((i + 1))
    if [ "$i" -gt 100 ]; then
      for p in $(leftovers); do
        echo "left running: $p $(tr '\0' ' ' </proc/"$p"/cmdline)"
      done
      fail "processes left running"
    fi
    sleep 0.1
  done
}

# expect PATTERN CMD...: runs CMD and fails unless it exits 0 with a line
# matching PATTERN (grep) in its output, which is shown.
expect() {
  want=$1
  shift
  rc=0
  "$@" >"$work/out" 2>&1 || rc=$?
  cat "$work/out"
  [ "$rc" -eq 0 ] || fail "exit $rc: $*"
  grep -q "$want" "$work/out" || fail "no '$want' from: $*"
}

# check_runpath FILE: its run path, if any, holds only $ORIGIN-relative
# entries and no empty one (the loader reads that as the current
# directory).
check_runpath() {
  rp=$(readelf -d "$1" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p')
  [ -z "$rp" ] && return 0
  case ":$rp:" in
    *::*) fail "$1 has an empty run path entry: [$rp]" ;;
  esac
  echo "$rp" | tr ':' '\n' | grep -v '^\$ORIGIN' &&
    fail "$1 has a run path entry not relative to \$ORIGIN: [$rp]"
  return 0
}
