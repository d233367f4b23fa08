#!/usr/bin/env bash
# vmbsim faults, swarm and shrink end to end: the catalogue prints as JSON;
# a swarm over a buggy and a correct scenario groups the failures by
# signature, names only the buggy scenario's seeds, writes its JSON summary
# and a replay file that fails on its own; shrink cuts the failing run at
# least tenfold and the scenario it writes fails alone; bad input exits 2.
#
# Two scenarios that fail differently give two groups, each naming only its
# own scenario's seeds. The commands swarm prints carry the run's --set and
# --driver-lib flags, quoted for a shell: run as printed, they reproduce the
# failure. shrink --tie-break-seed pins that seed in the shrunk scenario.
#
# Usage: swarm_cli_test.sh VMBSIM MY_VSP_LIB
set -uo pipefail
vmbsim=$1
plugin=$2
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

# Two signatures, two groups: the host's lost wake-up and the guest's
# dropped early doorbell.
expect_code 1 "swarm, two signatures" -- "$vmbsim" swarm lost_wakeup_buggy early_signal_buggy --seeds 1..1 --jobs 2 \
  --out "$work/two"
grep -q '^swarm: 2 scenario(s) x seeds 1..1: 2 runs, 2 failed, 2 signature(s)' "$work/out" || fail "two groups: summary"
[[ $(grep -c '^failure [0-9]*: 1 run(s): ' "$work/out") == 2 ]] || fail "two groups: not two groups of one run"
# Groups in signature order: the guest's before the host's.
awk '/^failure [0-9]+: /{g=$2} /^  [a-z_]+: seeds /{print g, $1, $3}' "$work/out" >"$work/two/names"
[[ "$(cat "$work/two/names")" == $'1: early_signal_buggy: 1\n2: lost_wakeup_buggy: 1' ]] ||
  fail "two groups: each group names only its own scenario: $(cat "$work/two/names")"
grep -q '"signature": "exit 4; failed exactly_once; stuck: guest reader idle with unread data, unmasked", "runs": 1, "first": {"scenario": "early_signal_buggy"' \
  "$work/two/swarm.json" || fail "two groups: the guest's signature in swarm.json"
grep -q '"signature": "exit 4; failed exactly_once; stuck: host reader idle with unread data, unmasked", "runs": 1, "first": {"scenario": "lost_wakeup_buggy"' \
  "$work/two/swarm.json" || fail "two groups: the host's signature in swarm.json"

# The printed commands keep --set and --driver-lib, quoted: a library in a
# directory with a space, a name with spaces. Run as printed (from $work,
# where shrink writes its file), each reproduces the failure; without the
# library the driver is unknown, without the --set the name differs.
mkdir -p "$work/lib dir" "$work/flags"
cp "$plugin" "$work/lib dir/libmy_vsp.so"
expect_code 1 "swarm with --set and --driver-lib" -- "$vmbsim" swarm lost_wakeup_buggy --seeds 1..1 --jobs 1 \
  --set 'channels.0.host_driver={"name": "my_vsp"}' --set "description=it's mine" \
  --driver-lib "$work/lib dir/libmy_vsp.so" --out "$work/flags"
shrink_line=$(sed -n 's/^  shrink: //p' "$work/out")
replay_line=$(sed -n 's/^  replay: //p' "$work/out")
[[ $shrink_line == *"--set 'channels.0.host_driver={\"name\": \"my_vsp\"}'"* ]] || fail "shrink line: the --set: $shrink_line"
[[ $shrink_line == *"--set 'description=it'\\''s mine'"* ]] || fail "shrink line: the quote in a --set: $shrink_line"
[[ $shrink_line == *"--driver-lib '$work/lib dir/libmy_vsp.so'"* ]] || fail "shrink line: the --driver-lib: $shrink_line"
[[ $replay_line == *"--driver-lib '$work/lib dir/libmy_vsp.so'"* ]] || fail "replay line: the --driver-lib: $replay_line"
grep -qF "\"shrink\": \"vmbsim shrink lost_wakeup_buggy --seed 1 --set" "$work/flags/swarm.json" || fail "swarm.json: the shrink command"
vmbsim_path=$(realpath "$vmbsim")
(export VMBSIM_SCENARIO_DIR=$PWD/scenarios && cd "$work" && eval "\"$vmbsim_path\" ${shrink_line#vmbsim }" >"$work/out" 2>"$work/err")
code=$?
[[ $code == 0 ]] || { fail "the printed shrink command: exit $code"; sed 's/^/  | /' "$work/out" "$work/err" | head; }
grep -q 'replayed alone: same failure' "$work/out" || fail "the printed shrink command did not reproduce the failure"
grep -q '"name": "my_vsp"' "$work/lost_wakeup_buggy-shrunk.json" || fail "the printed shrink command lost the --set"
grep -q "it's mine" "$work/flags/lost_wakeup_buggy-seed1.json" || fail "the replay file lost the --set"
(eval "\"$vmbsim_path\" ${replay_line#vmbsim }" >"$work/out" 2>"$work/err")
code=$?
[[ $code == 4 ]] || { fail "the printed replay command: exit $code, expected 4"; sed 's/^/  | /' "$work/err" | head; }

# --tie-break-seed: the shrunk scenario runs with that seed, pinned.
expect_code 0 "shrink --tie-break-seed" -- "$vmbsim" shrink lost_wakeup_buggy --seed 1 --tie-break-seed 12345 \
  --out "$work/tie.json"
grep -q 'replayed alone: same failure' "$work/out" || fail "shrink --tie-break-seed: the written scenario does not fail alone"
grep -q '"tie_break_seed": 12345' "$work/tie.json" || fail "shrink --tie-break-seed: the seed is not pinned"
grep -q '"tie_break_seed": 12345' "$work/shrunk.json" && fail "shrink: a tie-break seed of 12345 without the flag"
expect_code 2 "shrink --tie-break-seed not a number" -- "$vmbsim" shrink lost_wakeup_buggy --seed 1 --tie-break-seed x
grep -q 'tie-break-seed' "$work/err" || fail "shrink --tie-break-seed x: the error does not name the flag"

expect_code 2 "shrink of a passing run" -- "$vmbsim" shrink lost_wakeup_fixed --seed 1 --as-is --out "$work/x.json"
expect_code 2 "swarm without seeds" -- "$vmbsim" swarm hello
expect_code 2 "swarm bad seeds" -- "$vmbsim" swarm hello --seeds 5..1
expect_code 2 "faults with an argument" -- "$vmbsim" faults extra

finish swarm_cli_test
