# cli_testing.sh: what the command-line tests share. Source it, after
# `set -uo pipefail`:
#   source "$(dirname "$0")/cli_testing.sh"
# It makes a scratch directory ($work, removed on exit) and defines:
#   fail MESSAGE...          count a failure and print it;
#   expect_code WANT DESCRIPTION -- COMMAND...
#                            run COMMAND (stdout to $work/out, stderr to
#                            $work/err) and fail unless it exits WANT;
#   expect WANT FRAGMENT -- COMMAND...
#                            the same, and fail unless FRAGMENT is in what
#                            it printed (stderr, then stdout); counts $checked;
#   finish NAME              print the result and exit 1 if anything failed.

work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/cli.XXXXXX")
trap 'rm -rf "$work"' EXIT
failures=0
checked=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

expect_code() {
  local want=$1 what=$2
  shift 3
  "$@" >"$work/out" 2>"$work/err"
  local got=$?
  if [[ $got != "$want" ]]; then
    fail "$what: exit $got, expected $want"
    sed 's/^/  | /' "$work/out" "$work/err" | head -20
  fi
}

expect() {
  local want=$1 fragment=$2
  shift 3
  "$@" >"$work/out" 2>"$work/err"
  local got=$?
  checked=$((checked + 1))
  if [[ $got != "$want" ]]; then
    fail "$*: exit $got, expected $want"
    sed 's/^/  | /' "$work/err" "$work/out" | head -10
  elif ! grep -qF -- "$fragment" "$work/err" "$work/out"; then
    fail "$*: the output lacks: $fragment"
    sed 's/^/  | /' "$work/err" "$work/out" | head -10
  fi
}

finish() {
  if [[ $failures -ne 0 ]]; then
    echo "$1: $failures check(s) failed"
    exit 1
  fi
  echo "$1: all checks passed"
  exit 0
}
