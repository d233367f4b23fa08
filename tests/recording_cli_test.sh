#!/usr/bin/env bash
# Record, trace, replay and diff end to end through the vmbsim command:
# `run --record`, `trace` with each filter (text and JSON lines, a window,
# a channel, a VP, kinds, a limit, a timeline of the window), `run
# --timeline` with a window, `replay` (identical, and what-if with --set),
# `diff` of two runs (exit 5, the first difference, the figures) and of a
# trace with itself (exit 0), `version`, and bad flags (exit 2).
#
# Usage: recording_cli_test.sh VMBSIM
set -uo pipefail
vmbsim=$1
export VMBSIM_SCENARIO_DIR=scenarios
source "$(dirname "$0")/cli_testing.sh"

expect_code 0 "run --record" -- "$vmbsim" run hello --record "$work/a.trace" --quiet
[[ -s "$work/a.trace" ]] || fail "run --record wrote nothing"
expect_code 0 "run --record, a slower callback" -- \
  "$vmbsim" run hello --set fabric.cost_overrides.kmcl_callback_ns=2000 --record "$work/b.trace" --quiet
expect_code 2 "run --record to a directory that does not exist" -- \
  "$vmbsim" run hello --record "$work/no/such/dir/x.trace"
grep -q "run: --record: .*cannot write" "$work/err" || fail "run --record: no message naming the path"

# trace: text, then the footer line with the count and fingerprint.
expect_code 0 "trace" -- "$vmbsim" trace "$work/a.trace"
total=$(tail -1 "$work/out" | sed -n 's/^# \([0-9]*\) of \([0-9]*\) events shown.*/\2/p')
shown=$(grep -c '^#[0-9]' "$work/out")
[[ -n "$total" && "$shown" == "$total" ]] || fail "trace: shows $shown of '$total' events"
expect_code 0 "trace --kind --limit" -- "$vmbsim" trace "$work/a.trace" --kind kmcl_send,ring_write --limit 10
[[ $(grep -c '^#[0-9]' "$work/out") == 10 ]] || fail "trace --limit 10 did not show 10 events"
grep '^#[0-9]' "$work/out" | grep -vq ' kmcl_send \| ring_write ' && fail "trace --kind let other kinds through"
expect_code 0 "trace --json" -- "$vmbsim" trace "$work/a.trace" --json --kind kmcl_finish --limit 3
[[ $(wc -l <"$work/out") == 3 ]] || fail "trace --json: not 3 lines"
python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$work/out" || fail "trace --json: not JSON lines"
grep -q '"kind":"kmcl_finish"' "$work/out" || fail "trace --json: kinds are not named"
expect_code 0 "trace window" -- "$vmbsim" trace "$work/a.trace" --from 100us --to 200us --vp 0 --partition 1
awk '/^#[0-9]/ { t = substr($2, 3); sub(/us$/, "", t); if (t + 0 < 100 || t + 0 > 200) bad = 1 } END { exit bad }' \
  "$work/out" || fail "trace --from/--to let events outside the window through"
grep '^#[0-9]' "$work/out" | grep -vq ' p1 vp0 ' && fail "trace --vp/--partition let other VPs through"
expect_code 0 "trace --channel" -- "$vmbsim" trace "$work/a.trace" --channel 1 --limit 50
grep '^#[0-9]' "$work/out" | grep -vq ' ch1 ' && fail "trace --channel let other channels through"

# Timelines of a window: fewer events than the whole run's, all inside it.
expect_code 0 "trace --timeline" -- "$vmbsim" trace "$work/a.trace" --timeline "$work/all.json"
expect_code 0 "trace --timeline window" -- \
  "$vmbsim" trace "$work/a.trace" --from 1ms --to 2ms --timeline "$work/window.json"
expect_code 0 "run --timeline window" -- \
  "$vmbsim" run hello --timeline "$work/run_window.json" --timeline-from 1ms --timeline-to 2ms --quiet
python3 - "$work/all.json" "$work/window.json" "$work/run_window.json" <<'PY' || fail "timeline windows"
import json, sys
whole, window, run_window = (json.load(open(p))["traceEvents"] for p in sys.argv[1:])
timed = [e for e in window if "ts" in e and e.get("ph") != "M"]
assert timed, "the window is empty"
assert all(1000 <= e["ts"] <= 2000 for e in timed), "an event outside the window"
assert len(window) < len(whole), "the window is not smaller than the run"
assert window == run_window, "trace --timeline and run --timeline differ on the same window"
PY
expect_code 2 "run --timeline-from without --timeline" -- "$vmbsim" run hello --timeline-from 1ms

# Replay: identical; what-if keeps the arrivals.
expect_code 0 "replay" -- "$vmbsim" replay "$work/a.trace"
grep -q "^replay .*: identical: $total events" "$work/out" || fail "replay: no 'identical' line"
expect_code 0 "replay --set (what-if)" -- \
  "$vmbsim" replay "$work/a.trace" --set fabric.cost_overrides.kmcl_callback_ns=5000
grep -q "^arrivals: identical to the recording" "$work/out" || fail "what-if: arrivals not checked"
grep -q "guest->host latency p50" "$work/out" || fail "what-if: no figures"
expect_code 2 "replay --set workloads" -- "$vmbsim" replay "$work/a.trace" --set workloads.0.requests=1

# Diff: a trace with itself, then two runs of different callback costs.
expect_code 0 "diff same" -- "$vmbsim" diff "$work/a.trace" "$work/a.trace"
grep -q "^identical: $total events" "$work/out" || fail "diff same: not identical"
expect_code 5 "diff two runs" -- "$vmbsim" diff "$work/a.trace" "$work/b.trace"
grep -q "^first difference at event #" "$work/out" || fail "diff: no first difference"
grep -q "^  differs: " "$work/out" || fail "diff: the differing fields are not named"
grep -q "packets per batch" "$work/out" || fail "diff: no figures"

expect_code 0 "version" -- "$vmbsim" version
grep -q "^vmbsim [0-9.]* (trace format 1)$" "$work/out" || fail "version"
expect_code 2 "trace bad --from" -- "$vmbsim" trace "$work/a.trace" --from soon
expect_code 2 "trace bad --kind" -- "$vmbsim" trace "$work/a.trace" --kind nonsense
grep -q "unknown kind 'nonsense'" "$work/err" || fail "trace --kind: no message"
expect_code 2 "trace missing file" -- "$vmbsim" trace "$work/none.trace"
expect_code 2 "diff one file" -- "$vmbsim" diff "$work/a.trace"

finish recording_cli_test
