# axle.bash - bash completion for the axle executable: its commands, the
# help topics, and module specs (c:plugin.so, lua:script.lua, script.lua).
# Works with bash-completion's helpers and without them.

# Without bash-completion: the words of the command line into the caller's
# words, cword and cur, with c:path and lua:path whole, since bash splits
# them at the colon when COMP_WORDBREAKS holds one (split=1 when it split
# the current word). "c: x" and "c:x" split alike; this takes both as one.
_axle_words() {
  local i w glue=0
  words=() cword=0 split=0
  for ((i = 0; i < ${#COMP_WORDS[@]}; i++)); do
    w=${COMP_WORDS[i]}
    if ((${#words[@]} > 0)) && [[ $w =~ ^:+$ || (-n $w && glue -eq 1) ]]; then
      words[${#words[@]} - 1]+=$w
      ((i == COMP_CWORD)) && split=1
    else
      words+=("$w")
    fi
    glue=0
    [[ $w =~ ^:+$ ]] && glue=1
    ((i == COMP_CWORD)) && cword=$((${#words[@]} - 1))
  done
  cur=${words[cword]}
}

# Paths under a scheme prefix (c: or lua:): directories, to go on into,
# and the files whose names end as one of the given patterns.
_axle_scheme_paths() {
  local scheme=$1 path=${cur#*:} p pat
  shift
  while IFS= read -r p; do
    COMPREPLY+=("$scheme$p/")
  done < <(compgen -d -- "$path")
  while IFS= read -r p; do
    [[ -d $p ]] && continue
    for pat in "$@"; do
      # Unquoted on purpose: pat is a pattern.
      # shellcheck disable=SC2053
      if [[ $p == $pat ]]; then
        COMPREPLY+=("$scheme$p")
        break
      fi
    done
  done < <(compgen -f -- "$path")
}

_axle() {
  local cur words cword split=0 prev
  COMPREPLY=()
  if declare -F _init_completion >/dev/null 2>&1; then
    _init_completion -n : || return
    [[ $cur == *:* && $COMP_WORDBREAKS == *:* ]] && split=1
  else
    _axle_words
  fi
  prev=${words[cword - 1]}

  local p
  if ((cword == 1)); then
    mapfile -t COMPREPLY < <(compgen -W 'run help --version --help -h' -- "$cur")
  elif ((cword == 2)) && [[ $prev == help ]]; then
    mapfile -t COMPREPLY < <(compgen -W run -- "$cur")
  elif ((cword == 2)) && [[ $prev == run ]]; then
    case $cur in
      c:*) _axle_scheme_paths c: '*.so' '*.so.[0-9]*' ;;
      lua:*) _axle_scheme_paths lua: '*.lua' ;;
      *)
        # The schemes, a plain script path, or --help; a plugin needs its
        # c: (a bare .so is refused), so only the scheme leads to one.
        compopt -o filenames 2>/dev/null
        mapfile -t COMPREPLY < <(compgen -W '--help c: lua:' -- "$cur")
        while IFS= read -r p; do
          COMPREPLY+=("$p")
        done < <(compgen -d -- "$cur")
        while IFS= read -r p; do
          [[ ! -d $p && $p == *.lua ]] && COMPREPLY+=("$p")
        done < <(compgen -f -- "$cur")
        ;;
    esac
    # A lone directory or scheme goes on into it, without a space after it.
    if ((${#COMPREPLY[@]} == 1)) && [[ ${COMPREPLY[0]} == */ || ${COMPREPLY[0]} == *: ]]; then
      compopt -o nospace 2>/dev/null
    fi
  elif ((cword >= 3)) && [[ ${words[1]} == run ]]; then
    # After the module: the function and its arguments, as files if at all.
    compopt -o default 2>/dev/null
  fi

  # --child starts a child actor: for axle's own use only.
  local keep=()
  for p in "${COMPREPLY[@]}"; do
    [[ $p == --child ]] || keep+=("$p")
  done
  COMPREPLY=("${keep[@]}")

  # Where bash split the word at its colon, it replaces only the part after
  # the last colon.
  if ((split)) && [[ $cur == *:* ]]; then
    local head=${cur%"${cur##*:}"}
    COMPREPLY=("${COMPREPLY[@]#"$head"}")
  fi
}

complete -F _axle axle
