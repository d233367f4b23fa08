#!/usr/bin/env bash
# sweep_cli_test.sh — `vmbsim sweep`, `merge` and `report` end to end.
#
# Goal: shards merged give byte for byte the single-machine result (also
# with a CI target), bad input of every kind exits 2 with a message naming
# it, failed runs are listed with a command that repeats them, and the
# report is written. Method: run the command on library scenarios and
# compare files with cmp.
#
# Usage: sweep_cli_test.sh VMBSIM (from the runfiles root, where scenarios/ is).
set -uo pipefail
vmbsim=$(realpath "$1")
export VMBSIM_SCENARIO_DIR=$PWD/scenarios
work=$(mktemp -d "${TEST_TMPDIR:-/tmp}/sweep.XXXXXX")
cd "$work"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
expect_exit() {  # expect_exit CODE PATTERN -- ARGS...: exit code and a stderr+stdout pattern.
  local code=$1 pattern=$2
  shift 3
  local out
  out=$("$vmbsim" "$@" 2>&1)
  local got=$?
  [[ $got -eq $code ]] || fail "vmbsim $*: exit $got, expected $code; output: $out"
  [[ "$out" == *"$pattern"* ]] || fail "vmbsim $*: output lacks '$pattern': $out"
}
same() {  # same DIR1 DIR2: the five result files are identical.
  for f in plan.txt runs.csv runs.json points.csv points.json; do
    cmp -s "$1/$f" "$2/$f" || fail "$1/$f and $2/$f differ"
  done
}

grid=(dispatch_vs_passive --grid channels.0.interrupt_latency_100ns=0,1000 --grid workloads.0.requests=500,1000 --seeds 3)

# One machine, and three shards merged.
"$vmbsim" sweep "${grid[@]}" --jobs 2 --out single >single.out 2>single.err || fail "single sweep: exit $?"
grep -q "runs done" single.err || fail "no progress lines on a non-terminal: $(cat single.err)"
grep -q "4 point(s) x 3 seed(s) = 12 runs" single.out || fail "sweep summary: $(cat single.out)"
for i in 0 1 2; do
  "$vmbsim" sweep "${grid[@]}" --jobs 1 --shard $i/3 --out shard$i >/dev/null 2>&1 || fail "shard $i: exit $?"
done
"$vmbsim" merge shard2 shard0 shard1 --out merged >/dev/null || fail "merge: exit $?"
same single merged
[[ $(wc -l <single/runs.csv) -eq 13 ]] || fail "runs.csv: expected 12 runs and a header"
[[ $(wc -l <single/points.csv) -eq 5 ]] || fail "points.csv: expected 4 points and a header"
# A second single run is byte-identical (nothing from the wall clock).
"$vmbsim" sweep "${grid[@]}" --jobs 1 --out again >/dev/null 2>&1
same single again

# With a CI target the shards split by point; the merge is still exact.
ci=(dispatch_vs_passive --grid channels.0.interrupt_latency_100ns=0,500,1000 --seeds 8 --ci-target 3% --ci-metric dispatch.rtt_mean_ns)
"$vmbsim" sweep "${ci[@]}" --jobs 2 --out ci_single >/dev/null 2>&1 || fail "ci sweep: exit $?"
"$vmbsim" sweep "${ci[@]}" --jobs 1 --shard 0/2 --out ci0 >/dev/null 2>&1
"$vmbsim" sweep "${ci[@]}" --jobs 2 --shard 1/2 --out ci1 >/dev/null 2>&1
"$vmbsim" merge ci0 ci1 --out ci_merged >/dev/null || fail "ci merge: exit $?"
same ci_single ci_merged
[[ $(wc -l <ci_single/runs.csv) -lt 25 ]] || fail "the CI target stopped no point early"

# Merge refuses incomplete, foreign or damaged shards.
expect_exit 2 "missing shard(s) 1 of 3" -- merge shard0 shard2 --out m1
expect_exit 2 "given twice" -- merge shard0 shard0 shard1 shard2 --out m2
expect_exit 2 "another sweep's plan" -- merge shard0 ci1 --out m3
cp -r shard1 broken && sed -i '2s/,[^,]*$/,1,2/' broken/runs.csv
expect_exit 2 "broken/runs.csv:2: expected" -- merge shard0 broken shard2 --out m4
expect_exit 2 "plan.txt: cannot read" -- merge nowhere --out m5
expect_exit 2 "missing --out" -- merge shard0

# Bad input on the command line.
expect_exit 2 "--grid: expected PATH=v1,v2" -- sweep hello --grid novalue
expect_exit 2 "point 1 (channels.0.max_packet_bytes=big)" -- sweep hello --grid channels.0.max_packet_bytes=64,big
expect_exit 2 "unknown key" -- sweep hello --grid channels.0.no_such_key=1,2
expect_exit 2 "--seeds: expected an integer" -- sweep hello --grid workloads.0.requests=1 --seeds 0
expect_exit 2 "--shard: expected i/n" -- sweep hello --grid workloads.0.requests=1 --shard 3/3
expect_exit 2 "--jobs: expected an integer" -- sweep hello --grid workloads.0.requests=1 --jobs x
expect_exit 2 "--ci-target: expected" -- sweep hello --grid workloads.0.requests=1 --ci-target lots
expect_exit 2 "zipped settings need as many" -- sweep hello --zip workloads.0.requests=1,2 --zip channels.0.interrupt_latency_100ns=0
expect_exit 2 "nothing to sweep" -- sweep hello
expect_exit 2 "--grid seed: the seed is not a setting to sweep" -- sweep hello --grid seed=1,2
expect_exit 2 "already zips" -- sweep --study ring_size_backpressure --zip workloads.0.requests=1,2
printf '{"name": "s", "scenario": "hello", "grid": [{"path": "/seed", "values": [1, 2]}]}' > seed_study.json
expect_exit 2 "seed_study.json: /grid/0/path: the seed is not a setting to sweep" -- sweep --study seed_study.json
expect_exit 2 "unknown flag '--bogus'" -- sweep hello --bogus
expect_exit 2 "cannot read the study file" -- sweep --study no_such_study

# A run that fails is listed with its command, which repeats the failure.
expect_exit 1 "FAILED point 0 seed 1: exit 1: vmbsim run hello --seed 1 --set expectations.latency.0.max_ns=1" -- \
  sweep hello --grid expectations.latency.0.max_ns=1,2000000 --seeds 1 --out failing
grep -q '"runs_failed": 1' failing/points.json || fail "points.json does not count the failure"
command=$(grep -o '"command": "vmbsim run hello[^"]*max_ns=1"' failing/points.json | head -1 | sed 's/"command": "vmbsim //; s/"$//')
# shellcheck disable=SC2086
"$vmbsim" $command >/dev/null 2>&1
[[ $? -eq 1 ]] || fail "the failure's command did not fail again: $command"

# Reports.
"$vmbsim" report single -o report.html >/dev/null || fail "report: exit $?"
# A chart per metric and axis, each of 2 series of 2 points.
charts=$(grep -c '<svg class="chart"' report.html)
[[ $charts -ge 4 && $((charts % 2)) -eq 0 ]] || fail "report.html: $charts charts, expected 2 per metric"
[[ $(grep -c 'data-x="channels.0.interrupt_latency_100ns" data-series="2" data-points="4"' report.html) -eq $((charts / 2)) ]] ||
  fail "report.html: expected a chart against the latency of 2 series of 2 points per metric"
[[ $(grep -c 'data-x="workloads.0.requests" data-series="2" data-points="4"' report.html) -eq $((charts / 2)) ]] ||
  fail "report.html: expected a chart against the request count of 2 series of 2 points per metric"
"$vmbsim" report single -o one.svg --format svg --chart dispatch.rtt_p99_ns >/dev/null || fail "svg report: exit $?"
head -c 5 one.svg | grep -q '<?xml' || fail "one.svg is not an SVG document"
grep -q 'data-x="channels.0.interrupt_latency_100ns"' one.svg || fail "one.svg: x is not the first axis"
"$vmbsim" report single -o two.svg --format svg --chart dispatch.rtt_p99_ns --x workloads.0.requests >/dev/null ||
  fail "svg report --x: exit $?"
grep -q 'data-x="workloads.0.requests"' two.svg || fail "two.svg: x is not the request count"
expect_exit 2 "no swept setting 'fabric.nope' to put on x" -- report single -o x.svg --format svg --chart dispatch.rtt_p99_ns --x fabric.nope
expect_exit 2 "--x chooses the x axis of --format svg" -- report single -o x.html --x workloads.0.requests
expect_exit 2 "no metric 'nope'" -- report single -o x.html --chart nope
expect_exit 2 "--format svg draws one chart" -- report single -o x.svg --format svg
expect_exit 2 "plan.txt: cannot read" -- report nowhere -o x.html

# Every built-in study is valid: all its points load (the last of 10^6
# shards holds none of their runs, so nothing runs).
for study in "$VMBSIM_SCENARIO_DIR"/studies/*.json; do
  name=$(basename "$study" .json)
  out=$("$vmbsim" sweep --study "$name" --shard 999999/1000000 --out "study-$name" 2>&1) ||
    fail "study $name: exit $?: $out"
  [[ "$out" == *"sweep "*" point(s) x "* ]] || fail "study $name: $out"
done
[[ $(ls "$VMBSIM_SCENARIO_DIR"/studies/*.json | wc -l) -ge 3 ]] || fail "fewer than 3 built-in studies"
printf '{"name": "s", "scenario": "hello", "grid": [{"path": "a", "values": []}]}' >bad_study.json
expect_exit 2 "bad_study.json: /grid/0/values: expected a non-empty array" -- sweep --study bad_study.json
printf '{"name": "s", "scenario": "hello", "grid": [], "sedds": 3}' >bad_study2.json
expect_exit 2 "bad_study2.json: /sedds: unknown key" -- sweep --study bad_study2.json
printf '{"name": "s", "scenario": "hello", "grid": [{"path": "a", "values": [1]}], "spread": "b"}' >bad_study3.json
expect_exit 2 "bad_study3.json: /spread: 'b' is not a \"grid\" path" -- sweep --study bad_study3.json
# A study's report uses its charts and marks its knees.
"$vmbsim" sweep --study monitor_latency_knee --seeds 2 --out knee >/dev/null 2>&1 || fail "knee study: exit $?"
"$vmbsim" report knee -o knee.html >/dev/null || fail "knee report: exit $?"
[[ $(grep -c '<svg class="chart"' knee.html) -eq 10 ]] || fail "knee.html: expected the study's 5 charts x 2 axes"
grep -q '<circle class="knee"' knee.html || fail "knee.html marks no knee"
# ... and spans the monitor scan models with a band on every chart against
# the latency (none on the charts with the scan model on x).
[[ $(grep -c '<path class="spread" data-over="fabric.monitor_mode"' knee.html) -eq 5 ]] ||
  fail "knee.html: expected a monitor-mode spread on each of the 5 charts against the latency"
# ... and the histograms of its chosen points (0, and 100 us under each model).
[[ $(grep -c '<section class="distribution">' knee.html) -eq 4 ]] || fail "knee.html: expected 4 distributions"
[[ $(grep -c '<svg class="histogram" .*data-metric="echo.round_trip_ns"' knee.html) -eq 4 ]] ||
  fail "knee.html: expected a round-trip histogram per chosen point"
"$vmbsim" report knee -o knee2.html --distributions 1,26 >/dev/null || fail "report --distributions: exit $?"
[[ $(grep -c '<section class="distribution">' knee2.html) -eq 2 ]] || fail "--distributions 1,26: expected 2"
expect_exit 2 "--distributions: point 27 is not in the results (points 0..26)" -- report knee -o k.html --distributions 27
expect_exit 2 "--distributions: expected point numbers" -- report knee -o k.html --distributions x

# The writer-policy study, one seed: the writer that publishes nothing is
# stuck (exit 4) on every ring the stream back-pressures (2 to 28 pages),
# each run listed with its command and never averaged in (its points have
# no means); the other policies never fail; at 32 pages no send meets a full
# ring under any policy, at 28 pages every policy's does.
"$vmbsim" sweep --study ring_size_writer_policy --seeds 1 --out policy >policy.out 2>policy.err
[[ $? -eq 1 ]] || fail "writer-policy study: expected exit 1 (stuck runs): $(tail -3 policy.out)"
[[ $(grep -c 'FAILED point .*: exit 4: vmbsim run pending_send_buggy .*guest_writer_policy="none"' policy.out) -eq 8 ]] ||
  fail "writer-policy study: expected 8 stuck runs of the none writer: $(grep FAILED policy.out)"
[[ $(grep -c 'FAILED' policy.out) -eq 8 ]] || fail "writer-policy study: a policy other than none failed"
column() {  # column FILE NAME: the index of column NAME in FILE's header.
  head -1 "$1" | tr ',' '\n' | grep -nx "$2" | cut -d: -f1
}
rf=$(column policy/points.csv stream.ring_full.mean)
ok=$(column policy/points.csv runs_ok)
[[ -n "$rf" && -n "$ok" ]] || fail "policy/points.csv: no stream.ring_full.mean or runs_ok column"
# Points 28..35 are 28 and 32 pages x (windows, openvmm, fixed:4120, none).
awk -F, -v rf="$rf" -v ok="$ok" 'NR > 1 && $1 >= 28 && $1 <= 30 && !($rf > 0) { bad = 1 }
  NR > 1 && $1 == 31 && $ok != 0 { bad = 1 }
  NR > 1 && $1 >= 32 && ($ok != 1 || $rf != 0) { bad = 1 } END { exit bad }' policy/points.csv ||
  fail "policy/points.csv: back-pressure does not stop at 32 pages for every policy: $(cut -d, -f1-5 policy/points.csv)"
"$vmbsim" report policy -o policy.html >/dev/null || fail "policy report: exit $?"
[[ $(grep -c '<svg class="chart"' policy.html) -eq 10 ]] || fail "policy.html: expected the study's 5 charts x 2 axes"

if [[ $failures -ne 0 ]]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "PASS"
