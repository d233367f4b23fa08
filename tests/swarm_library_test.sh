#!/usr/bin/env bash
# A bounded swarm over the scenario library, as CI runs it on every
# submission: the correct scenarios survive every seed with random faults
# (no run fails), and the deliberately buggy ones are found.
#
# Usage: swarm_library_test.sh VMBSIM SEEDS BUGGY_SEEDS
# (BUGGY_SEEDS: the range for buggy samples that need a rarer fault to show.)
# Each buggy sample is also run with its bug turned off, over the same seeds:
# the correct driver must not fail.
set -uo pipefail
vmbsim=$1
seeds=$2
buggy_seeds=$3
export VMBSIM_SCENARIO_DIR=scenarios
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

correct=()
for f in scenarios/*.json; do
  name=$(basename "$f" .json)
  case $name in
    # Negative scenarios, stuck on purpose: the lost wake-up's buggy drain,
    # and the Linux-like guest whose channel without an unstick timer never
    # sees its early packets.
    scenario.schema | *_buggy | linux_early_signal) ;;
    *) correct+=("$name") ;;
  esac
done
[[ ${#correct[@]} -ge 10 ]] || fail "only ${#correct[@]} correct scenarios found"

"$vmbsim" swarm "${correct[@]}" --seeds "$seeds" --jobs 2 --out "$work" >"$work/out" 2>/dev/null
code=$?
[[ $code == 0 ]] || { fail "the correct scenarios failed (exit $code)"; sed 's/^/  | /' "$work/out"; }

"$vmbsim" swarm lost_wakeup_buggy --seeds "$seeds" --jobs 2 >"$work/buggy" 2>/dev/null
code=$?
[[ $code == 1 ]] || fail "the buggy scenario was not found (exit $code)"
grep -q 'stuck: host reader idle with unread data, unmasked' "$work/buggy" || fail "the lost wake-up's signature"

# Completing twice shows only when a fault slows the I/O enough that the
# guest's close at 13.5 ms overlaps requests in the host's back-end (first at
# seed 58); without the bug the same seeds pass.
"$vmbsim" swarm complete_twice_buggy --seeds "$buggy_seeds" --jobs 2 >"$work/twice" 2>/dev/null
code=$?
[[ $code == 1 ]] || fail "complete_twice_buggy was not found (exit $code)"
grep -q 'findings double_completion' "$work/twice" || fail "the double completion's signature"
"$vmbsim" swarm complete_twice_buggy --seeds "$buggy_seeds" --jobs 2 \
  --set channels.0.host_driver.params.bug_complete_twice=false >"$work/twice_fixed" 2>/dev/null
code=$?
[[ $code == 0 ]] || { fail "complete_twice_buggy without its bug failed (exit $code)"; sed 's/^/  | /' "$work/twice_fixed"; }

# found NAME SEEDS SIGNATURE FIX: swarm finds NAME in SEEDS with a failure
# whose signature contains SIGNATURE, and the same seeds pass with the
# override FIX (the correct driver).
found() {
  local name=$1 range=$2 signature=$3 fix=$4
  "$vmbsim" swarm "$name" --seeds "$range" --jobs 2 >"$work/$name" 2>/dev/null
  code=$?
  [[ $code == 1 ]] || fail "$name was not found in seeds $range (exit $code)"
  grep -qF -- "$signature" "$work/$name" || { fail "$name: no failure with '$signature'"; sed 's/^/  | /' "$work/$name"; }
  "$vmbsim" swarm "$name" --seeds "$range" --jobs 2 --set "$fix" >"$work/$name.fixed" 2>/dev/null
  code=$?
  [[ $code == 0 ]] || { fail "$name with $fix failed (exit $code)"; sed 's/^/  | /' "$work/$name.fixed"; }
}
# A close bounded to 10 us that overlaps back-end requests (first at seed 58).
found complete_after_close_buggy "$buggy_seeds" 'findings completion_after_close' \
  channels.0.host_driver.params.bug_complete_after_close=false
# A rescind (or host crash) during the I/O, whose unload completes the
# back-end's requests after the bounded teardown retired them (first at seed 5).
found complete_after_rescind_buggy "$seeds" 'findings completion_after_close,packet_not_completed_at_close' \
  channels.0.host_driver.params.bug_complete_after_rescind=false
# A fault that holds the host back fills the ring (first at seed 4).
found pending_send_buggy "$seeds" 'exit 4; failed no_lost_packets,exactly_once; stuck: no channel holds unread data' \
  channels.0.pending_send_bug=none
# The greetings' doorbell is dropped at every seed.
found early_signal_buggy "$seeds" 'stuck: guest reader idle with unread data, unmasked' \
  channels.0.unstick_timer_ns=1000000
# A revoke of the shared buffer that overlaps back-end requests, when a
# fault slows the I/O (first at seed 7).
found gpadl_in_use_buggy "$seeds" 'findings gpadl_use_after_unmap' \
  channels.0.host_driver.params.bug_unmap_in_use=false

if [[ $failures != 0 ]]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "all passed"
