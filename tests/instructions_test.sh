#!/usr/bin/env bash
# tools/instructions: a small run under callgrind prints its total, its
# events and fingerprint (the same as the run's without valgrind), and a
# layer table whose counts add up to the total, with the kernel, the fabric
# and KMCL each doing some of the work; a failing command, no command and a
# bad VMBSIM_BIN fail with their documented codes.
#
# Skips, saying so, when valgrind is not installed (tools/bootstrap installs
# it), and in the ASan build, whose runtime cannot run under valgrind.
#
# Usage: instructions_test.sh plain|asan TOOLS_INSTRUCTIONS VMBSIM
set -uo pipefail
build=$1
tool=$2
vmbsim=$3
if [[ "$build" == "asan" ]]; then
  echo "SKIPPED: an ASan build cannot run under valgrind; the plain build's run of this test checks it"
  exit 0
fi
if ! command -v valgrind >/dev/null 2>&1; then
  echo "SKIPPED: valgrind is not installed (Debian package valgrind; tools/bootstrap installs it)"
  exit 0
fi
source "$(dirname "$0")/cli_testing.sh"
export VMBSIM_SCENARIO_DIR=scenarios
export VMBSIM_BIN=$vmbsim

cmd=(run hello --set workloads.0.requests=200)
expect_code 0 "a small run" -- "$tool" "${cmd[@]}"
cp "$work/out" "$work/table"
"$vmbsim" "${cmd[@]}" >"$work/plain" 2>&1 || fail "the run without valgrind failed"
want_fp=$(grep -E '^fingerprint ' "$work/plain" | cut -d' ' -f2)
want_events=$(grep -oE '[0-9]+ events' "$work/plain" | head -1 | cut -d' ' -f1)
first=$(head -1 "$work/table")
[[ "$first" =~ ^([0-9]+)\ instructions,\ ([0-9]+)\ events\ \(([0-9]+)\ per\ event\),\ fingerprint\ ([0-9a-f]{16})$ ]] ||
  fail "first line: '$first'"
total=${BASH_REMATCH[1]:-0}
[[ "${BASH_REMATCH[2]:-}" == "$want_events" ]] || fail "events: '${BASH_REMATCH[2]:-}', the run says '$want_events'"
[[ "${BASH_REMATCH[4]:-}" == "$want_fp" ]] || fail "fingerprint: '${BASH_REMATCH[4]:-}', the run says '$want_fp'"
sed -n 2p "$work/table" | grep -Eq '^layer +instructions +share +per event$' || fail "no table header"
layers=$(awk 'NR > 2 { print $1 }' "$work/table" | tr '\n' ' ')
[[ "$layers" == "kernel fabric KMCL drivers scenario libraries other " ]] || fail "layers: '$layers'"
sum=$(awk 'NR > 2 { s += $2 } END { print s }' "$work/table")
[[ "$sum" == "$total" ]] || fail "the layers add up to $sum, the total is $total"
for layer in kernel fabric KMCL; do
  count=$(awk -v l="$layer" '$1 == l { print $2 }' "$work/table")
  [[ "${count:-0}" -gt 0 ]] || fail "$layer: no instructions"
done

expect_code 1 "a command that fails" -- "$tool" run no_such_scenario
grep -q 'tools/instructions: the command failed' "$work/err" || fail "no message for a failing command"
grep -q 'no_such_scenario' "$work/err" || fail "the command's own error is not shown"
expect_code 2 "no command" -- "$tool"
VMBSIM_BIN=/nonexistent expect_code 2 "a bad VMBSIM_BIN" -- "$tool" run hello
grep -q 'VMBSIM_BIN=/nonexistent is not an executable' "$work/err" || fail "no message for a bad VMBSIM_BIN"

finish instructions_test
