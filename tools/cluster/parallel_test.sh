#!/usr/bin/env bash
# parallel_test.sh — the GNU parallel job definition end to end.
#
# Goal: tools/cluster/parallel_sweep.sh runs a sweep as shards under GNU
# parallel and merges them into exactly the single-machine result. Method:
# the same sweep both ways, the five result files compared with cmp.
# GNU parallel comes from Debian's `parallel` (tools/bootstrap installs it).
#
# Usage: parallel_test.sh VMBSIM PARALLEL_SWEEP_SH (from the runfiles root).
set -uo pipefail
export VMBSIM=$(realpath "$1")
script=$(realpath "$2")
export VMBSIM_SCENARIO_DIR=$PWD/scenarios
command -v parallel >/dev/null || { echo "FAIL: GNU parallel is not installed (tools/bootstrap installs it)"; exit 1; }
work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/parallel.XXXXXX")
cd "$work"
sweep=(dispatch_vs_passive --grid channels.1.host_passive_processing=false,true --grid workloads.0.requests=400,800 --seeds 3)
"$VMBSIM" sweep "${sweep[@]}" --jobs 2 --out single >/dev/null 2>&1 || { echo "FAIL: single sweep exit $?"; exit 1; }
"$script" -n 4 -j 2 -o par -- "${sweep[@]}" >par.out 2>&1 || { echo "FAIL: parallel_sweep.sh exit $?"; cat par.out; exit 1; }
grep -q "merged 4 shard(s): 12 runs of 4 points" par.out || { echo "FAIL: no merge line"; cat par.out; exit 1; }
grep -q "^shard 3" par.out || { echo "FAIL: parallel did not run shard 3"; cat par.out; exit 1; }
for f in plan.txt runs.csv runs.json points.csv points.json; do
  cmp single/$f par/merged/$f || { echo "FAIL: $f differs"; exit 1; }
done
# A usage error is exit 2.
"$script" -o x -- hello >/dev/null 2>&1
[[ $? -eq 2 ]] || { echo "FAIL: a missing -n did not exit 2"; exit 1; }
echo PASS
