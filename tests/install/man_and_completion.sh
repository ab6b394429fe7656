#!/bin/sh
# The manual page renders without warnings and documents the exit status
# and every environment variable `axle --help` names (read from
# host/main.c, so that a variable added there fails this until the page
# has it too); the bash completion parses, and completes commands, help
# topics and c: module specs, without bash-completion's helpers and never
# offering --child.
# Usage: man_and_completion.sh SOURCE_DIR
set -eu
src=$(cd "$1" && pwd)
page="$src/docs/axle.1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

fail() {
  echo "man_and_completion: $*" >&2
  exit 1
}

# --------------------------------------------------------------- the page

# ASCII, 80 columns, no pager: the same text on every machine.
LC_ALL=C MANWIDTH=80 MANPAGER=cat PAGER=cat man -l "$page" \
  >"$tmp/page.txt" 2>"$tmp/man.err" || fail "man -l failed: $(cat "$tmp/man.err")"
[ -s "$tmp/page.txt" ] || fail "man -l rendered nothing"
for section in NAME SYNOPSIS DESCRIPTION 'EXIT STATUS' ENVIRONMENT FILES; do
  grep -q "^$section\$" "$tmp/page.txt" || fail "no section $section"
done

# The variables of the help's Environment: list, one a line.
sed -n '/"Environment:/,/^static const char help_run/p' "$src/host/main.c" |
  sed -n 's/^ *"  \([A-Z][A-Z0-9_]*\) .*/\1/p' >"$tmp/vars"
{ grep -qx AXLE_LOG "$tmp/vars" && grep -qx NO_COLOR "$tmp/vars"; } ||
  fail "could not read the environment variables of host/main.c's help"
# The ENVIRONMENT section alone: from its heading to the next one.
sed -n '/^ENVIRONMENT$/,/^[A-Z]/p' "$tmp/page.txt" >"$tmp/env.txt"
while read -r var; do
  grep -q "^ *$var\$" "$tmp/env.txt" ||
    fail "the page's ENVIRONMENT does not describe $var"
done <"$tmp/vars"

LC_ALL=C MANWIDTH=80 MANPAGER=cat man --warnings -l "$page" \
  >/dev/null 2>"$tmp/warnings"
if [ -s "$tmp/warnings" ]; then
  cat "$tmp/warnings" >&2
  fail "man --warnings warns"
fi
if command -v groff >/dev/null 2>&1; then
  groff -man -ww -z "$page" 2>"$tmp/warnings"
  if [ -s "$tmp/warnings" ]; then
    cat "$tmp/warnings" >&2
    fail "groff -ww warns"
  fi
fi

# --------------------------------------------------------- the completion

bash -n "$src/host/axle.bash" || fail "bash -n rejects host/axle.bash"

mkdir "$tmp/mods" "$tmp/mods/plugins"
: >"$tmp/mods/plugin_one.so"
: >"$tmp/mods/plugin_two.so"
: >"$tmp/mods/plugin_notes.txt"
: >"$tmp/mods/script.lua"
cat >"$tmp/complete.bash" <<'EOF'
# Completes as bash would, without bash-completion: COMP_WORDS and
# COMP_CWORD only.
source "$1"
unset -f _init_completion
status=0
# check EXPECT WORD... : the replies for the last word of the line, one a
# line in $replies; EXPECT a reply that must be among them ("" for none).
check() {
  local expect=$1
  shift
  COMP_WORDS=("$@")
  COMP_CWORD=$(($# - 1))
  COMPREPLY=()
  _axle
  replies=$(printf '%s\n' "${COMPREPLY[@]}")
  echo "[$*] -> $(printf '%s ' "${COMPREPLY[@]}")"
  if [[ -n $expect ]] && ! printf '%s\n' "${COMPREPLY[@]}" | grep -qxF -- "$expect"; then
    echo "  missing: $expect"
    status=1
  fi
  if printf '%s\n' "${COMPREPLY[@]}" | grep -qxF -- --child; then
    echo "  offers --child"
    status=1
  fi
}
check run axle r
check run axle ""
check --version axle --
check run axle help ""
check --help axle run ""
check script.lua axle run ""
check plugins axle run ""
check c: axle run ""
check c: axle run c
check lua: axle run l
# A bare .so is refused by axle run: only c: leads to one.
check "" axle run plug
if printf '%s\n' "${COMPREPLY[@]}" | grep -q '\.so$'; then
  echo "  offers a bare .so"
  status=1
fi
check c:plugin_one.so axle run c:plug
check c:plugin_two.so axle run c:plug
check c:plugins/ axle run c:plug
check lua:script.lua axle run lua:
check "" axle run c:plugin_one.so ""
check "" axle --child ""
# Only .so files after c:, only .lua ones after lua:.
check c:plugin_one.so axle run c:
for bad in c:plugin_notes.txt c:script.lua; do
  if printf '%s\n' "${COMPREPLY[@]}" | grep -qxF -- "$bad"; then
    echo "  offers $bad"
    status=1
  fi
done
check "" axle run lua:plug
if ((${#COMPREPLY[@]} != 1)) || [[ ${COMPREPLY[0]} != lua:plugins/ ]]; then
  echo "  lua:plug should offer lua:plugins/ alone"
  status=1
fi
exit $status
EOF
(cd "$tmp/mods" && BASH_ENV='' bash --norc --noprofile "$tmp/complete.bash" \
  "$src/host/axle.bash") >"$tmp/complete.out" 2>&1 || {
  cat "$tmp/complete.out" >&2
  fail "the completion misses"
}
echo "man_and_completion: ok"
