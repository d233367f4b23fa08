#!/usr/bin/env bash
# Goal: runs that once went wrong stay right. Every scenario in
# tests/regressions/ was found failing (by swarm, explore or a user), fixed,
# and kept: each must run to exit 0 with no causality violation, under the
# seeds and tie-break seed it pins.
# Usage: regressions_test.sh VMBSIM DIR
set -uo pipefail
vmbsim=$(realpath "$1")
dir=$2
source "$(dirname "$0")/cli_testing.sh"
count=0
for file in "$dir"/*.json; do
  count=$((count + 1))
  expect_code 0 "$(basename "$file")" -- "$vmbsim" run "$file" --quiet
  grep -q "causality" "$work/out" "$work/err" && fail "$(basename "$file"): causality violation reported"
done
[[ $count -ge 1 ]] || fail "no regression scenarios in $dir"
finish "regressions_test ($count scenarios)"
