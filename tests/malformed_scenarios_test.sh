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
check() {  # label, expected exit, fragment, command...
  local label=$1 want=$2 fragment=$3
  shift 3
  local out rc
  out=$(cd "$dir" && "$@" 2>&1)
  rc=$?
  if [[ $rc -ne $want ]]; then
    fail "$label: exit $rc, expected $want"; echo "$out" | head -5
  elif ! grep -qF -- "$fragment" <<<"$out"; then
    fail "$label: the message lacks: $fragment"; echo "$out" | head -5
  fi
}
while IFS=$'\t' read -r file code fragment; do
  [[ -z "$file" || "$file" == \#* ]] && continue
  cases=$((cases + 1))
  check "check $file" "$code" "$fragment" "$vmbsim" check "$file"
  check "run $file" "$code" "$fragment" "$vmbsim" run "./$file" --quiet
done < "$dir/expected.tsv"
[[ $cases -ge 60 ]] || fail "only $cases cases in expected.tsv"
on_disk=$(find "$dir" -name '*.json' | wc -l)
[[ $on_disk -eq $cases ]] || fail "$on_disk files on disk, $cases in expected.tsv"
finish "malformed_scenarios_test ($cases scenarios)"
