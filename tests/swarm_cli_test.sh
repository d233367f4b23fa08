#!/usr/bin/env bash
# vmbsim faults, swarm and shrink end to end: the catalogue prints as JSON;
# a swarm over a buggy and a correct scenario groups the failures by
# signature, names only the buggy scenario's seeds, writes its JSON summary
# and a replay file that fails on its own; shrink cuts the failing run at
# least tenfold and the scenario it writes fails alone; bad input exits 2.
#
# Usage: swarm_cli_test.sh VMBSIM
set -uo pipefail
vmbsim=$1
export VMBSIM_SCENARIO_DIR=scenarios
source "$(dirname "$0")/cli_testing.sh"

expect_code 0 "faults" -- "$vmbsim" faults
grep -q '"name": "completion_wrong_trans_id"' "$work/out" || fail "faults: a kind is missing"
[[ $(grep -c '"implemented": true' "$work/out") -ge 25 ]] || fail "faults: fewer than 25 implemented kinds"

expect_code 1 "swarm" -- "$vmbsim" swarm lost_wakeup_buggy lost_wakeup_fixed --seeds 1..8 --jobs 2 --out "$work"
# Runs end in any order; the groups, their seeds and first runs do not depend on --jobs.
# --out makes its directory, as run and sweep do.
expect_code 1 "swarm --jobs 1" -- "$vmbsim" swarm lost_wakeup_buggy lost_wakeup_fixed --seeds 1..8 --jobs 1 --out "$work/one"
strip_run() { sed -e 's/"wall_seconds": [0-9.e+-]*//' -e "s|$work/one/|DIR/|g; s|$work/|DIR/|g" "$1"; }
[[ "$(strip_run "$work/swarm.json")" == "$(strip_run "$work/one/swarm.json")" ]] || fail "swarm: --jobs 1 and --jobs 2 differ"
grep -q '^swarm: 2 scenario(s) x seeds 1..8: 16 runs, 6 failed' "$work/out" || fail "swarm: summary line"
grep -q '^failure 1: ' "$work/out" || fail "swarm: no failure group"
grep -q 'lost_wakeup_fixed: seeds' "$work/out" && fail "swarm: the correct scenario failed"
grep -q 'swarm: 16/16 runs' "$work/err" || fail "swarm: no progress line"
grep -q '"runs": 16, "failed": 6' "$work/swarm.json" || fail "swarm: swarm.json summary"
grep -q '"signature": "exit 4; failed exactly_once; stuck: host reader idle with unread data, unmasked"' \
  "$work/swarm.json" || fail "swarm: the stuck signature"
# Each group's replay file fails on its own with the group's exit code.
groups=0
while read -r code replay; do
  groups=$((groups + 1))
  [[ -f $replay ]] || fail "swarm: no replay file $replay"
  expect_code "$code" "replay $replay" -- "$vmbsim" run "$replay"
done < <(awk '/^failure [0-9]+: /{code=$6; sub(";", "", code)} /^  replay: vmbsim run /{print code, $4}' "$work/out")
[[ $groups -ge 1 ]] || fail "swarm: no replay lines"

expect_code 0 "shrink" -- "$vmbsim" shrink lost_wakeup_buggy --seed 1 --out "$work/shrunk.json"
ratio=$(sed -n 's/^shrunk [0-9]* -> [0-9]* events (\([0-9.]*\)x).*/\1/p' "$work/out")
awk -v r="$ratio" 'BEGIN { exit !(r >= 10) }' || fail "shrink: only ${ratio}x"
grep -q 'replayed alone: same failure' "$work/out" || fail "shrink: the written scenario does not fail alone"
expect_code 4 "shrunk scenario alone" -- "$vmbsim" run "$work/shrunk.json"

expect_code 2 "shrink of a passing run" -- "$vmbsim" shrink lost_wakeup_fixed --seed 1 --as-is --out "$work/x.json"
expect_code 2 "swarm without seeds" -- "$vmbsim" swarm hello
expect_code 2 "swarm bad seeds" -- "$vmbsim" swarm hello --seeds 5..1
expect_code 2 "faults with an argument" -- "$vmbsim" faults extra

finish swarm_cli_test
