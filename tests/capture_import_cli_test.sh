#!/usr/bin/env bash
# `vmbsim import` end to end: the sample captures import and the scenarios
# they give run (exit 0, every request answered); every file of the broken
# capture corpus (tests/captures/broken) is refused with its documented exit
# code and a message naming the place; command-line mistakes likewise.
#
# Usage: capture_import_cli_test.sh VMBSIM
set -uo pipefail
vmbsim=$1
captures=tests/captures
source "$(dirname "$0")/cli_testing.sh"

# The samples: import, then run what was written.
expect 0 'wrote '"$work"'/csv.json: scenario "storage_and_net", 2 channel(s), 10 request(s) to replay' -- \
  "$vmbsim" import "$captures/storage_and_net.csv" -o "$work/csv.json"
expect 0 'channel net0: 6 request(s) to replay (7636 bytes, 66..1514 each' -- \
  "$vmbsim" import "$captures/storage_and_net.csv" -o "$work/csv.json"
expect 0 'PASS no_lost_packets' -- "$vmbsim" run "$work/csv.json"
expect 0 'channel eth0-q0 (relid 0xe): 6 request(s) to replay' -- \
  "$vmbsim" import "$captures/netvsc_trace_cmd.txt" -o "$work/trace.json" --name netvsc
expect 0 'scenario netvsc:' -- "$vmbsim" run "$work/trace.json"
expect 0 'eth0-q1 (relid 0x10): 1 request(s) to replay' -- \
  "$vmbsim" import "$captures/netvsc_perf_script.txt" -o "$work/perf.json" --format trace-cmd
expect 0 'eth0-q1      g->h 1 sent, 1 processed' -- "$vmbsim" run "$work/perf.json"
# -o - writes the scenario to stdout, the summary to stderr.
expect 0 '"kind": "trace"' -- "$vmbsim" import "$captures/storage_and_net.csv" -o -
grep -q '^wrote <stdout>' "$work/err" || fail "import -o -: the summary is not on stderr"
# A larger max_packet_bytes admits the oversize request, and reaches the scenario.
expect 0 'wrote' -- "$vmbsim" import "$captures/broken/csv_request_too_large.csv" -o "$work/big.json" \
  --max-packet-bytes 9000 --start-ns 0
grep -q '"max_packet_bytes": 9000' "$work/big.json" || fail "--max-packet-bytes: not in the scenario"
grep -q '"start_ns": 0,' "$work/big.json" || fail "--start-ns: not in the scenario"

# The broken corpus: file | exit code | what the user must see.
corpus=(
  "csv_no_header.csv|2|csv_no_header.csv:1: expected the header \"time_ns,channel,direction,size,flags\", found \"time,chan,dir,size,flags\""
  "csv_field_count.csv|2|csv_field_count.csv:3: expected 5 fields (time_ns,channel,direction,size,flags), found 4"
  "csv_time_not_integer.csv|2|csv_time_not_integer.csv:3: time_ns: expected an integer number of nanoseconds"
  "csv_time_backwards.csv|2|csv_time_backwards.csv:3: time_ns: expected records in time order, found 100 after 200"
  "csv_direction.csv|2|csv_direction.csv:2: direction: expected \"g2h\" or \"h2g\", found \"up\""
  "csv_request_too_large.csv|2|csv_request_too_large.csv:3: size: expected a request of 1..4096 bytes (max_packet_bytes; raise it with --max-packet-bytes"
  "csv_size_zero.csv|2|csv_size_zero.csv:2: size: expected a request of 1..4096 bytes"
  "csv_channel_name.csv|2|csv_channel_name.csv:2: channel: expected a name of 1..64 characters from [a-z0-9_-], found \"Net0\""
  "csv_unknown_flag.csv|2|csv_unknown_flag.csv:2: flags: expected \"completion\" or \"signal\", separated by '|', found \"urgent\""
  "csv_header_only.csv|2|csv_header_only.csv: no channel traffic in the capture; nothing to replay"
  "csv_only_comments.csv|2|csv_only_comments.csv: expected the header \"time_ns,channel,direction,size,flags\", found no line but blanks and comments"
  "csv_crlf_negative_size.csv|2|csv_crlf_negative_size.csv:3: size: expected 1..16777216 bytes, found \"-1\""
  "trace_setevent_relid.txt|2|trace_setevent_relid.txt:2: vmbus_setevent: expected \"relid 0x<hex>\", found \"relid 0xzz\""
  "trace_timestamp_digits.txt|2|trace_timestamp_digits.txt:1: nvsp_send_pkt: expected a timestamp \"<seconds>.<fraction>:\" (1 to 9 fraction digits) before the event name, found \"10.0000001234:\""
  "trace_time_backwards.txt|2|trace_time_backwards.txt:2: nvsp_send_pkt: expected events in time order, found 10.000100000 after 10.000200000"
  "trace_request_too_large.txt|2|trace_request_too_large.txt:1: nvsp_send_pkt: expected a request of 1..4096 bytes"
  "trace_no_netvsc_traffic.txt|2|trace_no_netvsc_traffic.txt: expected nvsp_send_pkt or nvsp_recv events (the netvsc events that name a channel's traffic), found none in 3 line(s) (2 other known event(s), 1 unrecognised line(s))"
  "trace_onoffer_guid.txt|2|trace_onoffer_guid.txt:1: vmbus_onoffer: expected \"child_relid 0x<hex>, monitorid 0x<hex>, is_dedicated <int>, connection_id 0x<hex>, if_type <guid>, if_instance <guid>, chn_flags 0x<hex>, mmio_megabytes <int>, sub_channel_index <int>\", found \"...x1000e, if_type f8615163-df3e-46c5, if_instan...\""
  "trace_nvsp_type.txt|2|trace_nvsp_type.txt:1: nvsp_send_pkt: expected \"dev=<word> qid=<uint> type=<word> section=<uint> size=<int>\" (type: DATA or CONTROL), found \"dev=eth0 qid=0 type=BULK section=1 size=64\""
  "trace_rndis_missing_field.txt|2|trace_rndis_missing_field.txt:1: rndis_send: expected \"dev=<word> q=<uint> req=<hex> type=<word> msg_len=<uint>\", found \"dev=eth0 q=0 req=0x2 type=QUERY\""
  "trace_garbage.bin|2|trace_garbage.bin: expected nvsp_send_pkt or nvsp_recv events"
)
corpus_files=0
for row in "${corpus[@]}"; do
  IFS='|' read -r file code fragment <<<"$row"
  # The fragment may itself hold '|' (the flags message): take the rest.
  fragment=${row#"$file|$code|"}
  corpus_files=$((corpus_files + 1))
  expect "$code" "vmbsim: import: $captures/broken/$fragment" -- \
    "$vmbsim" import "$captures/broken/$file" -o "$work/broken.json"
  [[ ! -s "$work/broken.json" ]] || fail "$file: a scenario was written"
done
# Every corpus file is in the table.
on_disk=$(find -L "$captures/broken" -type f | wc -l)
[[ $on_disk == "$corpus_files" ]] || fail "the corpus has $on_disk files, the table $corpus_files"

# The command line.
expect 2 'vmbsim: import: expected a capture file' -- "$vmbsim" import -o "$work/x.json"
expect 2 'vmbsim: import: expected -o FILE' -- "$vmbsim" import "$captures/storage_and_net.csv"
expect 2 "vmbsim: import: $work/missing.csv: cannot read: No such file or directory" -- \
  "$vmbsim" import "$work/missing.csv" -o "$work/x.json"
expect 2 "vmbsim: import: $captures: is a directory, not a capture" -- "$vmbsim" import "$captures" -o "$work/x.json"
expect 2 'vmbsim: import: --format: expected "csv" or "trace-cmd", found "pcap"' -- \
  "$vmbsim" import "$captures/storage_and_net.csv" -o "$work/x.json" --format pcap
expect 2 'vmbsim: import: --max-packet-bytes: expected an integer in 1..16777216, found "0"' -- \
  "$vmbsim" import "$captures/storage_and_net.csv" -o "$work/x.json" --max-packet-bytes 0
expect 2 'vmbsim: import: --name: expected a name of 1..64 characters from [a-z0-9_-], found "My Capture"' -- \
  "$vmbsim" import "$captures/storage_and_net.csv" -o "$work/x.json" --name "My Capture"
expect 2 "vmbsim: import: -o: cannot write $work/no/dir/x.json: No such file or directory" -- \
  "$vmbsim" import "$captures/storage_and_net.csv" -o "$work/no/dir/x.json"
expect 2 "vmbsim: import: unknown flag '--bogus'" -- "$vmbsim" import "$captures/storage_and_net.csv" --bogus
expect 0 'import CAPTURE -o FILE' -- "$vmbsim" import --help

echo "$checked checks, $corpus_files broken captures, $failures failure(s)"
exit $((failures != 0))
