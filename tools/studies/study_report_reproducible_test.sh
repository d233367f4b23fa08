#!/usr/bin/env bash
# study_report_reproducible_test.sh — a built-in study's report, byte for byte.
#
# Goal: the README's promise for the built-in studies: the same command gives
# the same bytes, so a report can be checked in and compared. Method: the
# monitor_latency_knee study (the one whose report draws everything a study
# can ask for: a chart per metric and axis, knees, a spread band, the
# histograms of chosen points), shrunk to 2 seeds of 300 requests per point,
# swept twice into separate directories (at --jobs 2 and --jobs 1: the
# schedule must not matter), each reported, and the pages compared with cmp,
# as are the result files behind them.
#
# Usage: study_report_reproducible_test.sh VMBSIM (from the runfiles root).
set -uo pipefail
vmbsim=$(realpath "$1")
export VMBSIM_SCENARIO_DIR=$PWD/scenarios
work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/reproducible.XXXXXX")
cd "$work"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

study=(sweep --study monitor_latency_knee --seeds 2 --set workloads.0.requests=300)
"$vmbsim" "${study[@]}" --jobs 2 --out first >first.out 2>&1 || fail "first sweep: exit $?: $(tail -3 first.out)"
"$vmbsim" "${study[@]}" --jobs 1 --out second >second.out 2>&1 || fail "second sweep: exit $?: $(tail -3 second.out)"
"$vmbsim" report first -o first.html >/dev/null || fail "first report: exit $?"
"$vmbsim" report second -o second.html >/dev/null || fail "second report: exit $?"
for f in plan.txt runs.csv runs.json points.csv points.json; do
  cmp -s "first/$f" "second/$f" || fail "first/$f and second/$f differ"
done
cmp first.html second.html || fail "the two reports differ"
# The page holds what it should, so that comparing it compares something:
# the study's 5 charts against each of its 2 axes, knees, spreads and the
# 4 chosen points' histograms.
[[ $(grep -c '<svg class="chart"' first.html) -eq 10 ]] || fail "first.html: expected 10 charts"
grep -q '<circle class="knee"' first.html || fail "first.html marks no knee"
grep -q '<path class="spread"' first.html || fail "first.html has no spread band"
[[ $(grep -c '<section class="distribution">' first.html) -eq 4 ]] || fail "first.html: expected 4 distributions"
grep -q '<p id="failed-runs">none</p>' first.html || fail "first.html lists failed runs"

if [[ $failures -ne 0 ]]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "PASS: $(stat -c %s first.html) bytes, identical"
