#!/usr/bin/env bash
# tools/studies/sweep_benchmark.sh — sweep throughput (a benchmark, not a test).
#
#   tools/studies/sweep_benchmark.sh [POINTS] [SIMULATED_NS]
#
# A sweep of POINTS points (default 1000; the monitor latency of `hello` at
# POINTS values) of one seed each, every run SIMULATED_NS of simulated time
# (default 10^9, one second) under Poisson requests every 20 us, at --jobs 1
# and at --jobs 2. Prints each side's wall time and runs per second, the
# ratio, the peak memory of the largest process (the sweep or one run), and
# the sweep's own overhead: its wall time at --jobs 1 beyond the runs' own
# time (set-up, fork, aggregation, writing), as a share of the runs' time.
# Also checks that both sides wrote identical results. Uses an optimised
# build, tools/vmbsim's (VMBSIM=path to use another binary).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
points=${1:-1000}
simulated_ns=${2:-1000000000}
# tools/vmbsim builds the optimised binary when the sources changed, then
# execs it; the build happens here, before anything is timed.
VMBSIM=${VMBSIM:-$repo/tools/vmbsim}
"$VMBSIM" --version >/dev/null
export VMBSIM_SCENARIO_DIR=$repo/scenarios
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
values=$(seq -s, 0 $((points - 1)))
args=(hello --grid "channels.0.interrupt_latency_100ns=$values" --seeds 1
      --set 'workloads.0.arrival={"kind":"poisson","interval_ns":20000}' --set workloads.0.requests=1000000000
      --set "stop.time_ns=$simulated_ns" --set 'expectations.latency=[]' --set expectations.no_lost_packets=false)
echo "sweep benchmark: $points points x 1 seed, $simulated_ns ns simulated each, $(nproc) cores"
declare -A wall
for jobs in 1 2; do
  /usr/bin/time -f "%e %M" -o "$work/time$jobs" "$VMBSIM" sweep "${args[@]}" --jobs $jobs --out "$work/j$jobs" \
    >/dev/null 2>"$work/err$jobs"
  read -r seconds rss_kb <"$work/time$jobs"
  wall[$jobs]=$seconds
  line=$(grep "runs' own time" "$work/err$jobs")
  own=$(sed -E "s/.*own time ([0-9.]+) s.*/\1/" <<<"$line")
  echo "  --jobs $jobs: $seconds s wall, $(awk -v n="$points" -v s="$seconds" 'BEGIN{printf "%.1f", n/s}') runs/s," \
       "peak memory of one process $((rss_kb / 1024)) MiB; runs' own time $own s"
  if [[ $jobs -eq 1 ]]; then
    awk -v w="$seconds" -v o="$own" 'BEGIN{printf "  sweep overhead at --jobs 1: %.1f%% of the runs'"'"' own time\n", 100*(w-o)/o}'
  fi
done
awk -v a="${wall[1]}" -v b="${wall[2]}" 'BEGIN{printf "  speed-up --jobs 2 over --jobs 1: %.2fx\n", a/b}'
for f in runs.csv points.csv runs.json points.json; do
  cmp -s "$work/j1/$f" "$work/j2/$f" || { echo "  results differ between --jobs 1 and --jobs 2: $f"; exit 1; }
done
echo "  results identical at --jobs 1 and --jobs 2"
