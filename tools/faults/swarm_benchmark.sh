#!/usr/bin/env bash
# tools/faults/swarm_benchmark.sh — swarm throughput (a benchmark, not a test).
#
#   tools/faults/swarm_benchmark.sh [SEEDS]
#
# Runs `vmbsim swarm` over every library scenario (scenarios/*.json) with
# seeds 1..SEEDS (default 60) at --jobs 1 and at --jobs 2, and prints each
# side's runs, wall time, runs per second and events, the speed-up, and
# whether both sides found the same failures (the swarm summary is the same
# bytes but for its timings). Uses an optimised build, tools/vmbsim's
# (VMBSIM=path to use another binary).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
seeds=${1:-60}
# tools/vmbsim builds the optimised binary when the sources changed, then
# execs it; the build happens here, before anything is timed.
VMBSIM=${VMBSIM:-$repo/tools/vmbsim}
"$VMBSIM" --version >/dev/null
export VMBSIM_SCENARIO_DIR=$repo/scenarios
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
scenarios=()
for f in "$repo"/scenarios/*.json; do
  [[ $(basename "$f") == scenario.schema.json ]] || scenarios+=("$(basename "$f" .json)")
done
echo "swarm benchmark: ${#scenarios[@]} library scenarios x seeds 1..$seeds, $(nproc) cores"
declare -A wall
for jobs in 1 2; do
  start=$(date +%s.%N)
  status=0
  "$VMBSIM" swarm "${scenarios[@]}" --seeds "1..$seeds" --jobs "$jobs" --out "$work/j$jobs" \
    >"$work/out$jobs" 2>"$work/err$jobs" || status=$?
  end=$(date +%s.%N)
  if [[ $status -ne 0 && $status -ne 1 ]]; then
    echo "  --jobs $jobs: swarm exited $status"; cat "$work/err$jobs"; exit 1
  fi
  wall[$jobs]=$(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.1f", b-a}')
  summary=$(grep "^swarm: " "$work/out$jobs" | tail -1)
  echo "  --jobs $jobs: ${wall[$jobs]} s wall; $summary"
  # The summary without its timings, to compare the two sides.
  sed -E -e 's/; [0-9.]+ s, [0-9.]+ runs\/s//' -e "s#$work/j$jobs/#OUT/#" "$work/out$jobs" >"$work/cmp$jobs"
done
awk -v a="${wall[1]}" -v b="${wall[2]}" 'BEGIN{printf "  speed-up --jobs 2 over --jobs 1: %.2fx\n", a/b}'
if cmp -s "$work/cmp1" "$work/cmp2"; then
  echo "  same runs, failures and signatures at --jobs 1 and --jobs 2"
else
  echo "  the two sides differ:"; diff "$work/cmp1" "$work/cmp2" | head -20; exit 1
fi
