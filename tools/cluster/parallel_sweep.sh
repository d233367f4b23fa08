#!/usr/bin/env bash
# tools/cluster/parallel_sweep.sh — a sweep in N shards under GNU parallel
# (Debian package `parallel`), on this machine or over ssh, then the merge.
#
#   tools/cluster/parallel_sweep.sh -n SHARDS -o OUT [-j JOBS] [-S SSHLOGINS] -- SWEEP_ARGS...
#
#   -n SHARDS     number of shards (each `vmbsim sweep --shard i/SHARDS --jobs 1`)
#   -o OUT        result directory: OUT/shard-i per shard, OUT/merged the result
#   -j JOBS       shards at once per machine (default: parallel's, one per core)
#   -S SSHLOGINS  run over ssh (parallel's --sshlogin, e.g. "2/node1,2/node2");
#                 every machine needs vmbsim at $VMBSIM and OUT on a shared file system
#
# Environment: VMBSIM (default: vmbsim on PATH), VMBSIM_SCENARIO_DIR as for vmbsim.
# OUT/merged is byte-identical to `vmbsim sweep SWEEP_ARGS --out DIR` on one machine.
# Exit codes: vmbsim merge's (0, or 2 when a shard is missing or damaged);
# 1 when some runs failed (they are listed in each shard's output).
set -uo pipefail
shards="" out="" jobs="" sshlogins=""
while getopts "n:o:j:S:" opt; do
  case $opt in
    n) shards=$OPTARG ;;
    o) out=$OPTARG ;;
    j) jobs=$OPTARG ;;
    S) sshlogins=$OPTARG ;;
    *) echo "usage: $0 -n SHARDS -o OUT [-j JOBS] [-S SSHLOGINS] -- SWEEP_ARGS..." >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[[ "${1:-}" == "--" ]] && shift
if [[ -z "$shards" || -z "$out" || $# -eq 0 ]] || ! [[ "$shards" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 -n SHARDS -o OUT [-j JOBS] [-S SSHLOGINS] -- SWEEP_ARGS..." >&2
  exit 2
fi
command -v parallel >/dev/null || { echo "$0: GNU parallel is not installed (apt-get install parallel)" >&2; exit 2; }
vmbsim=${VMBSIM:-vmbsim}
mkdir -p "$out"
options=(--will-cite --line-buffer --tagstring 'shard {}')
[[ -n "$jobs" ]] && options+=(-j "$jobs")
[[ -n "$sshlogins" ]] && options+=(--sshlogin "$sshlogins" --workdir .)
# A shard whose runs failed exits 1: its results are still written and the
# merge lists the failures; any other exit is a shard that did not finish.
parallel "${options[@]}" "$vmbsim" sweep "$@" --jobs 1 --shard '{}'/"$shards" --out "$out/shard-{}" \
  ::: $(seq 0 $((shards - 1))) >"$out/parallel.log" 2>&1
status=$?
cat "$out/parallel.log"
shard_dirs=()
for ((i = 0; i < shards; i++)); do shard_dirs+=("$out/shard-$i"); done
"$vmbsim" merge "${shard_dirs[@]}" --out "$out/merged" || exit $?
[[ $status -eq 0 ]] || exit 1
