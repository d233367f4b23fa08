#!/usr/bin/env bash
# Goal: a damaged trace file is reported, never misread: every command that
# reads traces (trace, replay, diff) answers each file of the corrupt-trace
# corpus (tests/traces/corrupt, made by make_corpus.py from valid.trace) with
# the exit code and the message of expected.tsv: the kind of damage, the
# byte offset where it is, and the events read until then.
# Usage: corrupt_traces_test.sh VMBSIM CORPUS_DIR
set -uo pipefail
vmbsim=$1
dir=$2
failures=0
cases=0
check() {  # label, expected exit, fragment, command...
  local label=$1 want=$2 fragment=$3
  shift 3
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [[ $rc -ne $want ]]; then
    echo "FAIL $label: exit $rc, expected $want"; echo "$out" | head -5; failures=$((failures + 1))
  elif ! grep -qF -- "$fragment" <<<"$out"; then
    echo "FAIL $label: message lacks: $fragment"; echo "$out" | head -5; failures=$((failures + 1))
  fi
}
while IFS=$'\t' read -r file code fragment; do
  [[ -z "$file" || "$file" == \#* ]] && continue
  cases=$((cases + 1))
  check "trace $file" "$code" "$fragment" "$vmbsim" trace "$dir/$file" --limit 0
  if [[ "$file" != valid.trace ]]; then
    check "replay $file" "$code" "$fragment" "$vmbsim" replay "$dir/$file"
    check "diff $file" "$code" "$fragment" "$vmbsim" diff "$dir/valid.trace" "$dir/$file"
  fi
done < "$dir/expected.tsv"
[[ $cases -ge 13 ]] || { echo "FAIL: only $cases cases in expected.tsv"; failures=$((failures + 1)); }
[[ -f "$dir/valid.trace" ]] || { echo "FAIL: no valid.trace"; failures=$((failures + 1)); }
if [[ $failures -ne 0 ]]; then echo "$failures failures"; exit 1; fi
echo "PASS: $cases trace files"
