#!/usr/bin/env bash
# tools/soak/soak_cli_test.sh VMBSIM: `vmbsim soak` on a small budget prints
# a row per check and passes; a broken budget or scenario is refused (exit 2);
# a scenario without faults is refused.
set -uo pipefail
vmbsim=$1
export VMBSIM_SCENARIO_DIR=$PWD/scenarios
work=$(mktemp -d)
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

"$vmbsim" soak --events 2000000 --check-every 250000 --csv "$work/soak.csv" >"$work/out" 2>"$work/err"
code=$?
[[ $code -eq 0 ]] || fail "small soak: exit $code: $(cat "$work/out" "$work/err")"
[[ $(grep -c '^ *[0-9]\+ \+[0-9]\+ ' "$work/out") -eq 7 ]] || fail "expected 7 check rows: $(cat "$work/out")"
grep -q '^soak: PASSED' "$work/out" || fail "no PASSED verdict: $(cat "$work/out")"
grep -q '^soak: memory .* MiB after the warm-up' "$work/out" || fail "no memory line"
[[ $(wc -l <"$work/soak.csv") -eq 8 ]] || fail "--csv: expected a header and 7 rows"

"$vmbsim" soak --events 0 >"$work/out" 2>"$work/err"
[[ $? -eq 2 ]] || fail "--events 0: expected exit 2"
grep -q 'vmbsim: soak: --events: expected an integer >= 1' "$work/err" || fail "--events 0: $(cat "$work/err")"
"$vmbsim" soak hello --events 10000 --check-every 1000 >"$work/out" 2>"$work/err"
[[ $? -eq 2 ]] || fail "hello (no faults): expected exit 2"
grep -q 'a soak needs faults' "$work/err" || fail "hello: $(cat "$work/err")"

rm -rf "$work"
if [[ $failures -ne 0 ]]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "PASS"
