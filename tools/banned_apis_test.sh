#!/usr/bin/env bash
# Lint: sim/ and kmcl/ must not touch wall clocks, OS entropy, <random>
# distributions, rand() or absl::BitGen (DESIGN.md, determinism contract).
#
# Usage: banned_apis_test.sh --expect-clean FILE... -- --expect-banned FILE...
# Every file after --expect-clean must be free of banned APIs; every file
# after --expect-banned must contain at least one (that is the lint's own
# test: a lint that cannot fail proves nothing).
set -uo pipefail

# One extended regular expression per banned API family.
BANNED=(
  'std::chrono::(system_clock|steady_clock|high_resolution_clock|utc_clock|file_clock)'
  '(^|[^A-Za-z_])(system_clock|steady_clock|high_resolution_clock)::'
  '(^|[^A-Za-z_:.>])(gettimeofday|clock_gettime|timespec_get|ftime)[[:space:]]*\('
  '(^|[^A-Za-z_:.>])time[[:space:]]*\([[:space:]]*(nullptr|NULL|0)[[:space:]]*\)'
  'absl::(Now|GetCurrentTimeNanos|Clock)'
  'absl::(BitGen|InsecureBitGen|Uniform|Bernoulli|Exponential|Gaussian|Poisson|LogUniform|Zipf)'
  'absl/random/'
  '#[[:space:]]*include[[:space:]]*<random>'
  'std::random_device'
  'std::(uniform_int|uniform_real|normal|exponential|poisson|bernoulli|binomial|geometric|gamma|lognormal|discrete|piecewise_constant|piecewise_linear|weibull|extreme_value|chi_squared|cauchy|fisher_f|student_t|negative_binomial)_distribution'
  'std::(mt19937|mt19937_64|minstd_rand|minstd_rand0|ranlux24|ranlux48|knuth_b|default_random_engine)'
  '(^|[^A-Za-z_:.>])(rand|srand|random|srandom|drand48|lrand48|mrand48|rand_r)[[:space:]]*\('
  '(^|[^A-Za-z_:.>])(getrandom|getentropy|arc4random)[[:space:]]*\('
  '/dev/u?random'
)

scan() {  # Prints "file:line: text" for each banned use; comments are not exempt.
  local file=$1 pattern
  for pattern in "${BANNED[@]}"; do
    grep -nE "$pattern" "$file" | sed "s|^|$file:|"
  done
}

mode=""
clean_count=0
banned_count=0
failures=0
for arg in "$@"; do
  case "$arg" in
    --expect-clean) mode=clean; continue ;;
    --expect-banned) mode=banned; continue ;;
    --) continue ;;
  esac
  hits=$(scan "$arg")
  if [[ $mode == clean ]]; then
    clean_count=$((clean_count + 1))
    if [[ -n "$hits" ]]; then
      echo "banned API in a deterministic package:"
      echo "$hits"
      failures=$((failures + 1))
    fi
  elif [[ $mode == banned ]]; then
    banned_count=$((banned_count + 1))
    # Every line marked BANNED must be reported, and nothing else.
    expected=$(grep -n 'BANNED:' "$arg" | cut -d: -f1 | sort -n | uniq)
    found=$(echo -n "$hits" | cut -d: -f2 | sort -n | uniq)
    if [[ "$expected" != "$found" ]]; then
      echo "lint self-test: $arg: lines marked BANNED: $(echo $expected); lines caught: $(echo $found)"
      failures=$((failures + 1))
    fi
  fi
done

if [[ $clean_count -lt 10 || $banned_count -lt 1 ]]; then
  echo "lint saw $clean_count source files and $banned_count fixtures: the file lists are wrong"
  exit 1
fi
echo "banned_apis: $clean_count files clean, $banned_count fixture(s) caught"
exit $((failures > 0))
