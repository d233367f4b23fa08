#!/usr/bin/env bash
# The vmbsim command end to end: run (default scenario, --seed, --set,
# --out, --timeline plain and .gz, --driver-lib), check, list, help, and the documented
# exit codes for bad input and failed expectations.
#
# Usage: cli_test.sh VMBSIM LIBMY_VSP.so MY_VSP_SCENARIO.json LIBFAILING_VSP.so
set -uo pipefail
vmbsim=$1
plugin=$2
plugin_scenario=$3
failing_plugin=$4
crashing_plugin=$5
wrong_abi_plugin=$6
missing_symbol_plugin=$7
export VMBSIM_SCENARIO_DIR=scenarios
source "$(dirname "$0")/cli_testing.sh"

# The default scenario, with a report.
expect_code 0 "run (default scenario)" -- "$vmbsim" run --out "$work/hello"
[[ $(head -1 "$work/out") == "seed=1" ]] || fail "run: the seed is not the first line"
grep -q '^scenario hello:' "$work/out" || fail "run: no summary"
grep -q '"fingerprint": "[0-9a-f]\{16\}"' "$work/hello/report.json" || fail "run: report.json has no fingerprint"
grep -q '"send_to_completion"' "$work/hello/report.json" || fail "run: report.json has no latency histogram"
fp1=$(grep '^fingerprint' "$work/out")
[[ $(head -c 25 "$work/hello/report.csv") == "channel,direction,packets" ]] || fail "run: no report.csv header"
[[ $(grep -c '^echo,' "$work/hello/report.csv") == 2 ]] || fail "run: report.csv lacks a row per direction"

# Warm-up and percentiles.
expect_code 0 "run --percentiles with a warm-up" -- \
  "$vmbsim" run hello --set stop.warmup_ns=1000000 --percentiles 50,99.99 --out "$work/warm"
grep -q '"warmup_ns": 1000000,' "$work/warm/report.json" || fail "warm-up: not in report.json"
grep -q '"p9999_ns"' "$work/warm/report.json" || fail "--percentiles: no p9999_ns"
grep -q '"p90_ns"' "$work/warm/report.json" && fail "--percentiles: p90_ns printed though not asked for"
grep -q '^echo,guest_to_host,968,' "$work/warm/report.csv" || fail "warm-up: report.csv does not leave out the first 32 sends"
expect_code 2 "run --percentiles bad" -- "$vmbsim" run hello --percentiles 50,abc
grep -q "percentiles: 'abc' is not a percentile in (0, 100]" "$work/err" || fail "--percentiles bad: message"
expect_code 2 "run bad warm-up" -- "$vmbsim" run hello --set stop.warmup_ns=-5
grep -q '/stop/warmup_ns: expected an integer' "$work/err" || fail "bad warm-up: message"

# Same scenario and seed, same run; another seed is accepted and printed first.
expect_code 0 "run hello again" -- "$vmbsim" run hello
[[ $(grep '^fingerprint' "$work/out") == "$fp1" ]] || fail "run: the same seed gave another fingerprint"
expect_code 0 "run --seed" -- "$vmbsim" run hello --seed 5
[[ $(head -1 "$work/out") == "seed=5" ]] || fail "run --seed: seed not printed first"

# --set overrides are applied (and validated).
expect_code 0 "run --set" -- "$vmbsim" run hello --set workloads.0.requests=10 --out "$work/set"
grep -q '"requests_issued": 10,' "$work/set/report.json" || fail "run --set: requests not overridden"
expect_code 2 "run --set bad value" -- "$vmbsim" run hello --set workloads.0.requests=lots
grep -q '/workloads/0/requests' "$work/err" || fail "run --set bad value: the error does not name the field"

# A timeline.
expect_code 0 "run --timeline" -- "$vmbsim" run hello --timeline "$work/timeline.json"
grep -q '"traceEvents"' "$work/timeline.json" || fail "run --timeline: no trace events"
# The same timeline gzip-compressed: gzip reads back exactly the plain file.
expect_code 0 "run --timeline .gz" -- "$vmbsim" run hello --timeline "$work/timeline.json.gz"
gzip -dc "$work/timeline.json.gz" | cmp -s - "$work/timeline.json" ||
  fail "run --timeline .gz: the file does not decompress to the plain timeline"

# Destinations that cannot be written are refused before the run (no
# summary printed), naming the path.
expect_code 2 "run --out into a file" -- "$vmbsim" run hello --out "$work/timeline.json"
grep -q "run: --out: cannot create the directory $work/timeline.json" "$work/err" ||
  fail "run --out into a file: the error does not name the path"
! grep -q '^scenario hello:' "$work/out" || fail "run --out into a file: checked only after the run"
expect_code 2 "run --timeline into a missing directory" -- "$vmbsim" run hello --timeline "$work/no/such/dir/t.json"
grep -q "run: --timeline: cannot write $work/no/such/dir/t.json: No such file or directory" "$work/err" ||
  fail "run --timeline into a missing directory: the error does not name the path"
! grep -q '^scenario hello:' "$work/out" || fail "run --timeline into a missing directory: checked only after the run"

# A failed expectation exits 1.
expect_code 1 "run with an impossible latency bound" -- \
  "$vmbsim" run hello --set expectations.latency.0.max_ns=1

# check and list.
expect_code 0 "check the library" -- "$vmbsim" check scenarios/hello.json scenarios/quota_stall.json
printf '{"name": "typo", "chanels": []}' >"$work/typo.json"
expect_code 2 "check a typo" -- "$vmbsim" check "$work/typo.json"
grep -q 'did you mean "channels"' "$work/err" || fail "check: no suggestion for a misspelt key"
printf '{"name": "broken", ' >"$work/broken.json"
expect_code 2 "check broken JSON" -- "$vmbsim" check "$work/broken.json"
printf '{"name": "nul"}\0{"seed": "ignored?"}' >"$work/nul.json"
expect_code 2 "check bytes after a NUL" -- "$vmbsim" check "$work/nul.json"
grep -q 'nul.json:1:16: invalid JSON: unexpected NUL byte' "$work/err" ||
  fail "check: a NUL byte is not reported with its line and column"
expect_code 0 "list" -- "$vmbsim" list
grep -q '^hello ' "$work/out" || fail "list: hello missing"
expect_code 0 "help" -- "$vmbsim" help
grep -q 'driver-lib' "$work/out" || fail "help: run flags missing"

# Limits the drivers have are the loader's: exit 2 naming the field, not 70.
expect_code 2 "128 sub-channels" -- "$vmbsim" run subchannel_scaling --set channels.0.sub_channels=128
grep -q '/channels/0/sub_channels: expected an integer in 0..127, found 128' "$work/err" ||
  fail "sub_channels 128: the error does not name the field and the limit"

# Requests larger than the channel carries are refused, not cut or dropped.
expect_code 2 "requests above max_packet_bytes" -- "$vmbsim" run hello \
  --set 'workloads.0={"channel": "echo", "arrival": {"kind": "poisson", "interval_ns": 20000},
                      "size": {"kind": "uniform", "min_bytes": 64, "max_bytes": 8192}, "requests": 200}'
grep -q '/workloads/0/size/max_bytes: expected a request of at most 4096 bytes (/channels/0/max_packet_bytes), found 8192' \
  "$work/err" || fail "requests above max_packet_bytes: the error does not name both fields"

# Bad command lines exit 2.
expect_code 2 "unknown flag" -- "$vmbsim" run hello --no-such-flag
expect_code 2 "missing scenario" -- "$vmbsim" run no_such_scenario

# A driver library.
expect_code 0 "run --driver-lib" -- "$vmbsim" run "$plugin_scenario" --driver-lib "$plugin" --out "$work/plugin"
grep -q '"packets_processed": 100,' "$work/plugin/report.json" || fail "driver-lib: the library's driver did not serve"
expect_code 2 "the scenario without its library" -- "$vmbsim" run "$plugin_scenario"
grep -q 'my_vsp' "$work/err" || fail "driver-lib missing: the error does not name the driver"
expect_code 2 "a library that does not load" -- "$vmbsim" run hello --driver-lib "$work/none.so"
grep -q 'cannot load' "$work/err" || fail "driver-lib: no clear error for a missing library"
# A library driver whose Create fails is the library's error, not vmbsim's.
expect_code 2 "a library driver whose Create fails" -- \
  "$vmbsim" run "$plugin_scenario" --driver-lib "$failing_plugin" --set 'channels.0.host_driver={"name": "failing_vsp"}'
grep -q '/channels/0/host_driver: driver "failing_vsp" on channel "mine" failed to start: Create returned STATUS_INSUFFICIENT_RESOURCES' \
  "$work/err" || fail "driver Create failing: the error does not name the driver and the status"

# Bad driver libraries: each gets its exit code and a message naming it.
expect_code 2 "a library built for another plugin version" -- "$vmbsim" run hello --driver-lib "$wrong_abi_plugin"
grep -q 'libwrong_abi.so: built for another plugin version' "$work/err" || fail "wrong ABI: unclear error"
expect_code 2 "a library with an unresolved symbol" -- "$vmbsim" run hello --driver-lib "$missing_symbol_plugin"
grep -q 'libmissing_symbol.so: cannot load: .*VmbChannelNoSuchFunction' "$work/err" || fail "missing symbol: unclear error"
# A driver that faults is reported with the callback it faulted in (exit 5).
crash() {  # crash N: run the crashing driver with crash=N
  "$vmbsim" run "$plugin_scenario" --driver-lib "$crashing_plugin" \
    --set "channels.0.host_driver={\"name\": \"crashing_vsp\", \"params\": {\"crash\": $1}}" >"$work/out" 2>"$work/err"
}
crash 1
[[ $? -eq 5 ]] || fail "a driver faulting in ProcessPacket: exit is not 5: $(cat "$work/err")"
grep -q '^vmbsim: the driver crashed: SIGSEGV .* inside EvtVmbChannelProcessPacket (partition 0, relid 1) at [0-9]* ns of simulated time' \
  "$work/err" || fail "a driver faulting in ProcessPacket: $(cat "$work/err")"
crash 2
[[ $? -eq 5 ]] || fail "a driver overflowing its stack: exit is not 5: $(cat "$work/err")"
grep -q 'SIGSEGV .* inside EvtVmbChannelProcessPacket' "$work/err" || fail "stack overflow: $(cat "$work/err")"
crash 3
[[ $? -eq 5 ]] || fail "a driver faulting in Create: exit is not 5: $(cat "$work/err")"
grep -q "inside the library driver's Create" "$work/err" || fail "fault in Create: $(cat "$work/err")"
crash 0
[[ $? -eq 0 ]] || fail "crashing_vsp with crash=0 should serve: $(cat "$work/err")"

# Start-up settings (README "Performance"): a simulating command starts itself
# again with glibc.malloc.hugetlb=1 added to GLIBC_TUNABLES. A run is the same
# with the setting, without it (VMBSIM_HUGEPAGES=0) and beside a user's own
# tunables, which are kept.
expect_code 0 "run without huge pages" -- env VMBSIM_HUGEPAGES=0 "$vmbsim" run hello
[[ $(grep '^fingerprint' "$work/out") == "$fp1" ]] || fail "VMBSIM_HUGEPAGES=0: another fingerprint"
expect_code 0 "run beside the user's tunables" -- env GLIBC_TUNABLES=glibc.malloc.tcache_count=0 "$vmbsim" run hello
[[ $(grep '^fingerprint' "$work/out") == "$fp1" ]] || fail "GLIBC_TUNABLES of the user's: another fingerprint"
GLIBC_TUNABLES=glibc.malloc.tcache_count=0 "$vmbsim" run hello --set workloads.0.requests=1000000 --quiet \
  >/dev/null 2>&1 &
long_run=$!
# The process's environment as it started (glibc may split the tunables'
# string in place, so the NULs between variables read as ':' here too).
wanted="GLIBC_TUNABLES=glibc.malloc.tcache_count=0:glibc.malloc.hugetlb=1:"
seen=""
for _ in $(seq 500); do
  seen=$(tr '\0' ':' <"/proc/$long_run/environ" 2>/dev/null || true)
  [[ $seen == *"$wanted"* ]] && break
  sleep 0.01
done
kill "$long_run" 2>/dev/null
wait "$long_run" 2>/dev/null
[[ $seen == *"$wanted"* ]] ||
  fail "a run's environment: no '$wanted' in '$seen'"

# explore: one scenario under many tie-break seeds, outcomes grouped.
expect_code 0 "explore" -- "$vmbsim" explore rescind_during_io --tie-break-seeds 0..15 --jobs 2
grep -q '^scenario rescind_during_io: tie-break seeds 0..15, 16 runs, 1 distinct outcome(s)$' "$work/out" \
  || fail "explore: no outcome summary"
grep -q '^  tie-break seeds: 0-15$' "$work/out" || fail "explore: seeds not listed as a range"
grep -q '^insertion order: exit 0' "$work/out" || fail "explore: no insertion-order baseline"
expect_code 2 "explore without a range" -- "$vmbsim" explore hello
expect_code 2 "explore with a reversed range" -- "$vmbsim" explore hello --tie-break-seeds 5..1
grep -q 'tie-break-seeds' "$work/err" || fail "explore: bad range not named"

finish cli_test
