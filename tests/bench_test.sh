#!/usr/bin/env bash
# tools/bench's own logic, without timing anything worth reading: --smoke
# prints the table (a header, the hello row, the kernel-only and KMCL-only
# rows) and its JSON; a comparison against a second binary (the same one:
# the ratios are whatever the noise makes them) prints the ratio columns;
# bad arguments, a revision that cannot be resolved and a row that does not
# exist fail with a message. No assertion is made on a rate.
#
# Usage: bench_test.sh TOOLS_BENCH BENCH_TABLE
set -uo pipefail
bench=$1
table=$2
source "$(dirname "$0")/cli_testing.sh"

expect_code 0 "--smoke" -- "$bench" --smoke --binary "$table" --scenarios scenarios --json "$work/smoke.json"
head -1 "$work/out" | grep -q '^row .*events .*wall s .*events/s .*round trips/s' || fail "--smoke: no table header"
grep -q '^hello  *6052 ' "$work/out" || fail "--smoke: no hello row with its 6052 events"
grep -q '^kernel only (hold model)  *100000 ' "$work/out" || fail "--smoke: no kernel row of 100000 events"
grep -q '^KMCL only (round-trip loop) ' "$work/out" || fail "--smoke: no KMCL row"
grep -q 'medians of 1 round' "$work/out" || fail "--smoke: the rounds are not named"
python3 - "$work/smoke.json" <<'PY' || fail "--smoke --json"
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["rounds"] == 1 and doc["smoke"] is True, doc
rows = {r["name"]: r for r in doc["rows"]}
assert list(rows) == ["hello", "kernel", "kmcl"], list(rows)
assert rows["hello"]["kind"] == "scenario" and rows["hello"]["events"] == 6052, rows["hello"]
assert rows["hello"]["round_trips"] == 1000, rows["hello"]
assert rows["kmcl"]["round_trips"] == 1000, rows["kmcl"]
for r in doc["rows"]:
    assert r["wall_s"] > 0 and r["events_per_s"] > 0 and r["cpu_s"] > 0, r
PY

# Two rounds of a comparison: interleaved, medians, ratio columns.
expect_code 0 "--base-binary" -- "$bench" --smoke --rounds 2 --binary "$table" --base-binary "$table" \
  --scenarios scenarios --json "$work/compare.json"
grep -q '^HEAD against BASE = .*, medians of 2 interleaved round(s)' "$work/out" || fail "compare: no heading"
grep -Eq '^hello .* [0-9]+\.[0-9]{2} ' "$work/out" || fail "compare: no hello ratio"
[[ $(grep -c 'round [12] of 2' "$work/err") == 2 ]] || fail "compare: not two rounds"
python3 - "$work/compare.json" <<'PY' || fail "compare --json"
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["rounds"] == 2 and "base" in doc, doc
for r in doc["rows"]:
    assert r["rounds"] == 2, r
    assert r["base"]["events"] == r["events"], r
    assert r["events_per_s_ratio"] > 0 and r["events_per_cpu_s_ratio"] > 0, r
PY

# Errors.
expect 2 "--rounds: expected a positive count" -- "$bench" --rounds 0 --binary "$table"
expect 2 "unknown argument '--frobnicate'" -- "$bench" --frobnicate
expect 2 "--compare" -- "$bench" --compare no-such-revision --binary "$table" --scenarios scenarios
expect 2 "--base-scenarios goes with --base-binary" -- "$bench" --base-scenarios scenarios --binary "$table"
expect 1 "no row was measured" -- "$bench" --smoke --only no_such_row --binary "$table" --scenarios scenarios

finish bench_test
