#!/usr/bin/env bash
# Goal: every broken scenario of the corpus (tests/malformed/scenarios, made
# by make_corpus.py: syntax errors, wrong types, out-of-range values, unknown
# keys, inconsistent topology, impossible ring sizes, dangling references,
# oversize workloads, trailing bytes, bad encodings, deep nesting, huge
# numbers) is refused by `vmbsim check` and by `vmbsim run` with the exit
# code and the message of expected.tsv, which names the file and the place,
# and never crashes.
# Usage: malformed_scenarios_test.sh VMBSIM CORPUS_DIR
set -uo pipefail
vmbsim=$(realpath "$1")
dir=$2
source "$(dirname "$0")/cli_testing.sh"
cases=0
while IFS=$'\t' read -r file code fragment; do
  [[ -z "$file" || "$file" == \#* ]] && continue
  cases=$((cases + 1))
  expect "$code" "$fragment" -- "$vmbsim" check "$dir/$file"
  expect "$code" "$fragment" -- "$vmbsim" run "$dir/$file" --quiet
done < "$dir/expected.tsv"
[[ $cases -ge 60 ]] || fail "only $cases cases in expected.tsv"
on_disk=$(find "$dir" -name '*.json' | wc -l)
[[ $on_disk -eq $cases ]] || fail "$on_disk files on disk, $cases in expected.tsv"
finish "malformed_scenarios_test ($cases scenarios)"
