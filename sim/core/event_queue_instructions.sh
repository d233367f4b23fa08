#!/usr/bin/env bash
# Instructions per event of the hold model, per side and N, counted by
# callgrind (noise-free, unlike the timings of event_queue_benchmark).
# Only the steps are counted: the benchmark runs them inside KernelSteps,
# WheelSteps or HeapSteps, and callgrind collects inside that function alone
# (setup, the N initial events and teardown are left out).
#
# Usage (from the repository root, after building the benchmark optimised):
#   bazel build --config=opt //sim/core:event_queue_benchmark
#   sim/core/event_queue_instructions.sh [STEPS] [N...]
# Defaults: 10^6 steps; N = 1000 100000 1000000. Prints one line per N:
# instructions per event of each side and the kernel/wheel ratio.
set -euo pipefail

binary=${VMBSIM_EVENT_QUEUE_BENCHMARK:-bazel-bin/sim/core/event_queue_benchmark}
steps=${1:-1000000}
shift || true
sizes=("$@")
[[ ${#sizes[@]} -gt 0 ]] || sizes=(1000 100000 1000000)
[[ -x $binary ]] || { echo "no benchmark binary at $binary: build it with --config=opt" >&2; exit 2; }
command -v valgrind > /dev/null || { echo "valgrind is not installed" >&2; exit 2; }

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

count() {  # side n -> instructions per event
  local side=$1 n=$2 function
  function="$(tr '[:lower:]' '[:upper:]' <<< "${side:0:1}")${side:1}Steps"
  valgrind --tool=callgrind --callgrind-out-file="$out/$side.$n" --collect-atstart=no \
    --toggle-collect="*${function}*" "$binary" --only="$side" --pending="$n" --steps="$steps" \
    > /dev/null 2>&1
  awk -v steps="$steps" '/^summary:/ { printf "%.1f", $2 / steps }' "$out/$side.$n"
}

printf '%10s %12s %12s %12s %20s\n' N kernel wheel heap 'kernel/wheel instr'
for n in "${sizes[@]}"; do
  kernel=$(count kernel "$n")
  wheel=$(count wheel "$n")
  heap=$(count heap "$n")
  printf '%10s %12s %12s %12s %20s\n' "$n" "$kernel" "$wheel" "$heap" \
    "$(awk -v k="$kernel" -v w="$wheel" 'BEGIN { printf "%.2f", k / w }')"
done
echo "(instructions per event: callgrind, $steps steps, inside the steps function only)"
