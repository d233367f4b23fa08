#!/usr/bin/env python3
"""Writes the malformed-scenario corpus: one broken scenario per case, each a
small change to one valid scenario (or a file that is not JSON at all).
expected.tsv beside it says what `vmbsim check FILE` must answer for each:
its exit code and the message the user sees. Run from this directory:
    python3 make_corpus.py
"""
import copy
import json

BASE = {
    "name": "base",
    "seed": 1,
    "fabric": {"root_vps": 2, "guests": [{"vps": 2}]},
    "channels": [{
        "name": "c0",
        "interface_type": "5ca1ab1e-0000-4000-8000-0000000000cc",
        "interface_instance": "00000000-0000-4000-8000-0000000000cc",
        "host_driver": {"name": "echo_vsp"},
        "guest_driver": {"name": "rr_vsc"},
    }],
    "workloads": [{"channel": "c0", "arrival": {"kind": "closed_loop", "outstanding": 1}, "requests": 10}],
}


def edit(change):
    doc = copy.deepcopy(BASE)
    change(doc)
    return json.dumps(doc, indent=1).encode()


def put(path, value):
    def change(doc):
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return change


def drop(path):
    def change(doc):
        node = doc
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return change


def second_channel(doc):
    doc["channels"].append(copy.deepcopy(doc["channels"][0]))


CASES = {
    # Not JSON, or not a scenario document.
    "empty.json": b"",
    "whitespace_only.json": b" \n\t\n",
    "truncated_object.json": json.dumps(BASE).encode()[:40],
    "trailing_comma.json": b'{"name": "x", "channels": [],}',
    "single_quotes.json": b"{'name': 'x'}",
    "comment.json": b'{"name": "x" // a comment\n}',
    "unquoted_key.json": b'{name: "x"}',
    "trailing_bytes.json": json.dumps(BASE).encode() + b" {}",
    "nul_byte.json": json.dumps(BASE).encode()[:20] + b"\x00" + json.dumps(BASE).encode()[20:],
    "invalid_utf8.json": b'{"name": "bad \xff\xfe bytes"}',
    "utf16_bom.json": '{"name": "x"}'.encode("utf-16"),
    "deep_nesting.json": b"[" * 100000 + b"]" * 100000,
    "deep_nesting_inside.json": b'{"name": "x", "channels": ' + b"[" * 100000 + b"]" * 100000 + b"}",
    "duplicate_key.json": b'{"name": "a", "name": "b"}',
    "root_array.json": b"[1, 2, 3]",
    "root_string.json": b'"a scenario"',
    "root_null.json": b"null",
    # Top level.
    "unknown_top_key.json": edit(put(["chanels"], [])),
    "name_number.json": edit(put(["name"], 5)),
    "seed_string.json": edit(put(["seed"], "one")),
    "seed_negative.json": edit(put(["seed"], -1)),
    "seed_fraction.json": edit(put(["seed"], 1.5)),
    "seed_huge.json": b'{"name": "x", "seed": 100000000000000000000000000000}',
    "number_overflows_double.json": b'{"name": "x", "seed": 1e400}',
    # stop.
    "stop_not_object.json": edit(put(["stop"], 5)),
    "stop_time_string.json": edit(put(["stop"], {"time_ns": "1ms"})),
    "stop_time_zero.json": edit(put(["stop"], {"time_ns": 0})),
    "stop_events_negative.json": edit(put(["stop"], {"events_max": -1})),
    "stop_quiescence_string.json": edit(put(["stop"], {"quiescence": "yes"})),
    "stop_warmup_after_end.json": edit(put(["stop"], {"time_ns": 1000, "warmup_ns": 2000})),
    # fabric.
    "root_vps_zero.json": edit(put(["fabric", "root_vps"], 0)),
    "root_vps_too_many.json": edit(put(["fabric", "root_vps"], 5000)),
    "guests_empty.json": edit(put(["fabric", "guests"], [])),
    "guests_too_many.json": edit(put(["fabric", "guests"], [{"vps": 1}] * 17)),
    "guest_vps_zero.json": edit(put(["fabric", "guests"], [{"vps": 0}])),
    "cost_profile_unknown.json": edit(put(["fabric", "cost_profile"], "fast")),
    "cost_override_unknown.json": edit(put(["fabric", "cost_overrides"], {"signal_ns": 5})),
    "cost_override_negative.json": edit(put(["fabric", "cost_overrides"], {"hypercall_signal_event_ns": -5})),
    "monitor_mode_unknown.json": edit(put(["fabric", "monitor_mode"], "sometimes")),
    # channels.
    "channels_not_array.json": edit(put(["channels"], {"c0": {}})),
    "channel_missing_name.json": edit(drop(["channels", 0, "name"])),
    "channel_duplicate_name.json": edit(second_channel),
    "channel_bad_guid.json": edit(put(["channels", 0, "interface_type"], "5ca1ab1e-0000-4000-8000")),
    "channel_missing_interface_type.json": edit(drop(["channels", 0, "interface_type"])),
    "channel_guest_zero.json": edit(put(["channels", 0, "guest"], 0)),
    "channel_guest_dangling.json": edit(put(["channels", 0, "guest"], 5)),
    "channel_unknown_key.json": edit(put(["channels", 0, "ring_pages"], 4)),
    "host_driver_unknown.json": edit(put(["channels", 0, "host_driver"], {"name": "nvme_vsp"})),
    "guest_driver_missing.json": edit(drop(["channels", 0, "guest_driver"])),
    "driver_param_unknown.json": edit(put(["channels", 0, "host_driver"], {"name": "echo_vsp", "params": {"speed": 3}})),
    "driver_param_wrong_type.json": edit(put(["channels", 0, "host_driver"],
                                             {"name": "echo_vsp", "params": {"completion_bytes": "many"}})),
    "ring_pages_zero.json": edit(put(["channels", 0, "incoming_ring_pages"], 0)),
    "ring_pages_huge.json": edit(put(["channels", 0, "outgoing_ring_pages"], 100000000)),
    "max_packet_zero.json": edit(put(["channels", 0, "max_packet_bytes"], 0)),
    "interrupt_latency_too_big.json": edit(put(["channels", 0, "interrupt_latency_100ns"], 70000)),
    "target_vp_beyond_guest.json": edit(put(["channels", 0, "guest_target_vp"], 99)),
    "sub_channels_too_many.json": edit(put(["channels", 0, "sub_channels"], 128)),
    "lost_wakeup_bug_unknown.json": edit(put(["channels", 0, "lost_wakeup_bug"], "both")),
    "pending_send_bug_unknown.json": edit(put(["channels", 0, "pending_send_bug"], "reader")),
    "host_stop_negative.json": edit(put(["channels", 0, "host_stop_ns"], -5)),
    "backend_dangling.json": edit(put(["channels", 0, "backend"], "disk")),
    "backend_servers_zero.json": edit(put(["backends"], [{"name": "disk", "servers": 0,
                                                          "service": {"kind": "fixed", "ns": 1000}}])),
    "vp_speed_zero.json": edit(put(["fabric", "guests", 0, "vp_speed"], 0)),
    "writer_policy_unknown.json": edit(put(["channels", 0, "guest_writer_policy"], "linux")),
    "writer_policy_fixed_too_big.json": edit(put(["channels", 0, "host_writer_policy"], "fixed:65529")),
    "writer_policy_fixed_zero.json": edit(put(["channels", 0, "guest_writer_policy"], "fixed:0")),
    "reader_kind_unknown.json": edit(put(["channels", 0, "host_reader"], {"kind": "interrupt"})),
    "reader_polled_no_period.json": edit(put(["channels", 0, "guest_reader"], {"kind": "polled"})),
    "reader_budget_zero.json": edit(put(["channels", 0, "host_reader"], {"kind": "napi", "budget_packets": 0})),
    "reader_dpc_budget_zero.json": edit(put(["channels", 0, "guest_reader"], {"kind": "dpc_drain", "dpc_budget_ns": 0})),
    "force_retire_after_string.json": edit(put(["channels", 0, "force_retire_after_ns"], "100ms")),
    "unstick_timer_negative.json": edit(put(["channels", 0, "unstick_timer_ns"], -1)),
    "early_signal_unknown.json": edit(put(["fabric", "guests", 0, "early_signal"], "replay")),
    # workloads.
    "workload_channel_dangling.json": edit(put(["workloads", 0, "channel"], "c9")),
    "arrival_kind_unknown.json": edit(put(["workloads", 0, "arrival"], {"kind": "sometimes"})),
    "outstanding_zero.json": edit(put(["workloads", 0, "arrival"], {"kind": "closed_loop", "outstanding": 0})),
    "requests_zero.json": edit(put(["workloads", 0, "requests"], 0)),
    "requests_huge.json": edit(put(["workloads", 0, "requests"], 1e12)),
    "size_kind_unknown.json": edit(put(["workloads", 0, "size"], {"kind": "gaussian"})),
    "oversize_workload.json": edit(put(["workloads", 0, "size"], {"kind": "fixed", "bytes": 65536})),
    "trace_events_backwards.json": edit(put(["workloads", 0, "arrival"],
                                            {"kind": "trace", "events": [[100, 64], [50, 64]]})),
    "two_closed_loops.json": edit(lambda d: d["workloads"].append(copy.deepcopy(d["workloads"][0]))),
    # expectations.
    "latency_percentile_zero.json": edit(put(["expectations"], {"latency": [{"percentile": 0, "max_ns": 1}]})),
    "latency_channel_dangling.json": edit(put(["expectations"],
                                              {"latency": [{"channel": "c9", "percentile": 99, "max_ns": 1}]})),
    "finding_rule_unknown.json": edit(put(["expectations"], {"findings": [{"rule": "too_slow"}]})),
    "interrupts_min_above_max.json": edit(put(["expectations"], {"interrupts_per_packet_min": 2,
                                                                 "interrupts_per_packet_max": 1})),
    # faults.
    "fault_kind_unknown.json": edit(put(["faults"], {"injections": [{"kind": "meteor_strike"}]})),
    "fault_target_dangling.json": edit(put(["faults"], {"injections": [{"kind": "signal_drop",
                                                                        "target": {"channel": "c9"}}]})),
    "fault_probability_zero_denominator.json": edit(put(["faults"], {"injections": [{
        "kind": "signal_drop", "trigger": {"probability": {"numerator": 1, "denominator": 0}}}]})),
    "faults_stuck_negative.json": edit(put(["faults"], {"stuck_ns": -1})),
}

if __name__ == "__main__":
    for name, data in sorted(CASES.items()):
        with open(name, "wb") as f:
            f.write(data)
    print(f"{len(CASES)} files")
