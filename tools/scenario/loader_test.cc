// loader_test.cc
//
// Goal: the loader turns good scenario JSON into the right ScenarioSpec
// (defaults included), and every kind of bad input into one
// InvalidArgumentError whose message names the place and the problem in the
// documented shape. Method: load small documents with a fixed set of test
// drivers and compare specs field by field and messages exactly. Most error
// cases start from one good document and break it with a `--set` override,
// which keeps each case to one line and exercises overrides as a side effect.

#include "tools/scenario/loader.h"

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "tools/scenario/spec.h"

namespace vmbsim::scenario {
namespace {

std::vector<DriverDescriptor> TestDrivers() {
  return {
      {.name = "echo_vsp",
       .description = "Echoes every request.",
       .host_side = true,
       .params = {{.name = "delay_ns", .type = ParamType::kInt},
                  {.name = "verbose", .type = ParamType::kBool},
                  {.name = "mode", .type = ParamType::kString},
                  {.name = "depth", .type = ParamType::kInt, .int_min = 1, .int_max = 8},
                  {.name = "service", .type = ParamType::kDistribution}},
       .uses_backend = true},
      {.name = "rr_vsc", .description = "Request/response client.", .guest_side = true},
      {.name = "sync_client",
       .description = "Synchronous requests.",
       .guest_side = true,
       .params = {{.name = "timeout_ns", .type = ParamType::kInt}}},
      {.name = "loopback", .description = "Either end.", .host_side = true, .guest_side = true},
  };
}

// One guest, one channel, one workload: the base of most error cases.
constexpr absl::string_view kOneChannel = R"json({
  "name": "hello",
  "fabric": {"guests": [{"vps": 2}]},
  "channels": [{
    "name": "net",
    "interface_type": "f8615163-df3e-46c5-913f-f2d2f965ed0e",
    "interface_instance": "00000000-0000-0000-0000-000000000001",
    "host_driver": {"name": "echo_vsp"},
    "guest_driver": {"name": "rr_vsc"}
  }],
  "workloads": [{"channel": "net"}]
})json";

absl::StatusOr<ScenarioSpec> Load(absl::string_view json,
                                  const std::vector<std::string>& overrides = {}) {
  return LoadScenario(json, "hello.json", TestDrivers(), overrides);
}

// The message of the InvalidArgumentError that loading `json` must give.
std::string LoadError(absl::string_view json, const std::vector<std::string>& overrides = {}) {
  const absl::StatusOr<ScenarioSpec> spec = Load(json, overrides);
  EXPECT_FALSE(spec.ok()) << "loaded without error";
  if (spec.ok()) return "";
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument) << spec.status();
  return std::string(spec.status().message());
}

// The error of kOneChannel with one override applied.
std::string OverrideError(const std::string& override_text) {
  return LoadError(kOneChannel, {override_text});
}

// ---------------------------------------------------------------------------
// Good documents.

TEST(LoaderTest, MinimalDocumentGetsEveryDefault) {
  const absl::StatusOr<ScenarioSpec> spec = Load(R"({"name": "hello"})");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name, "hello");
  EXPECT_EQ(spec->description, "");
  EXPECT_EQ(spec->seed, 1u);
  EXPECT_FALSE(spec->stop.time_ns.has_value());
  EXPECT_FALSE(spec->stop.events_max.has_value());
  EXPECT_TRUE(spec->stop.quiescence);
  EXPECT_EQ(spec->fabric.root_vps, 2u);
  ASSERT_EQ(spec->fabric.guests.size(), 1u);
  EXPECT_EQ(spec->fabric.guests[0].vps, 2u);
  EXPECT_EQ(spec->fabric.guests[0].memory_mib, 4096u);
  EXPECT_EQ(spec->fabric.cost_profile, "default");
  EXPECT_TRUE(spec->fabric.cost_overrides.empty());
  EXPECT_EQ(spec->fabric.monitor_mode, "timer_per_id");
  EXPECT_EQ(spec->fabric.preemption, "packet");
  EXPECT_TRUE(spec->channels.empty());
  EXPECT_TRUE(spec->workloads.empty());
  EXPECT_FALSE(spec->exploration.tie_break_seed.has_value());
  EXPECT_TRUE(spec->expectations.no_lost_packets);
  EXPECT_TRUE(spec->expectations.no_verifier_findings);
  EXPECT_TRUE(spec->expectations.latency.empty());
  EXPECT_FALSE(spec->expectations.interrupts_per_packet_max.has_value());
  EXPECT_FALSE(spec->expectations.interrupts_per_packet_min.has_value());
  EXPECT_TRUE(spec->expectations.findings.empty());
  EXPECT_FALSE(spec->expectations.lost_packets_min.has_value());
  EXPECT_FALSE(spec->expectations.failed_transactions_min.has_value());
}

TEST(LoaderTest, ChannelAndWorkloadDefaults) {
  const absl::StatusOr<ScenarioSpec> spec = Load(kOneChannel);
  ASSERT_TRUE(spec.ok()) << spec.status();
  ASSERT_EQ(spec->channels.size(), 1u);
  const ChannelSpec& channel = spec->channels[0];
  EXPECT_EQ(channel.name, "net");
  EXPECT_EQ(channel.interface_type, "f8615163-df3e-46c5-913f-f2d2f965ed0e");
  EXPECT_EQ(channel.interface_instance, "00000000-0000-0000-0000-000000000001");
  EXPECT_EQ(channel.guest, 1);
  EXPECT_EQ(channel.host_driver.name, "echo_vsp");
  EXPECT_TRUE(channel.host_driver.int_params.empty());
  EXPECT_EQ(channel.guest_driver.name, "rr_vsc");
  EXPECT_EQ(channel.incoming_ring_pages, 16u);
  EXPECT_EQ(channel.outgoing_ring_pages, 16u);
  EXPECT_EQ(channel.max_packet_bytes, 4096u);
  EXPECT_TRUE(channel.monitored);
  EXPECT_FALSE(channel.interrupt_latency_100ns.has_value());
  EXPECT_FALSE(channel.guest_target_vp.has_value());
  EXPECT_FALSE(channel.host_passive_processing);
  EXPECT_FALSE(channel.guest_passive_processing);
  EXPECT_FALSE(channel.host_transaction_quota.has_value());
  EXPECT_FALSE(channel.guest_transaction_quota.has_value());
  EXPECT_EQ(channel.sub_channels, 0u);
  EXPECT_EQ(channel.lost_wakeup_bug, "none");
  EXPECT_FALSE(channel.host_stop_ns.has_value());
  EXPECT_FALSE(channel.guest_stop_ns.has_value());

  ASSERT_EQ(spec->workloads.size(), 1u);
  const WorkloadSpec& workload = spec->workloads[0];
  EXPECT_EQ(workload.channel, "net");
  EXPECT_EQ(workload.arrival.kind, "closed_loop");
  EXPECT_EQ(workload.arrival.outstanding, 1u);
  EXPECT_EQ(workload.arrival.interval_ns, 10000);
  EXPECT_EQ(workload.arrival.burst, 1u);
  EXPECT_EQ(workload.arrival.on_ns, 0);
  EXPECT_EQ(workload.arrival.off_ns, 0);
  EXPECT_EQ(workload.size.kind, "fixed");
  EXPECT_EQ(workload.size.value, 64);
  EXPECT_TRUE(workload.size.table.empty());
  EXPECT_EQ(workload.requests, 1000u);
  EXPECT_EQ(workload.start_ns, 0);
}

// Every key of the format set to a non-default value.
constexpr absl::string_view kFull = R"json({
  "name": "full-example_1",
  "description": "Every knob.",
  "seed": 18446744073709551615,
  "stop": {"time_ns": 5000000000, "events_max": 1e9, "quiescence": false},
  "fabric": {
    "root_vps": 8,
    "guests": [{"vps": 4, "memory_mib": 1024}, {"vps": 1, "memory_mib": 512}],
    "cost_profile": "zero",
    "cost_overrides": {"hypercall_signal_event_ns": 700, "ring_copy_per_byte_ps": 0},
    "monitor_mode": "periodic_poll"
  },
  "channels": [
    {
      "name": "net",
      "interface_type": "F8615163-DF3E-46C5-913F-F2D2F965ED0E",
      "interface_instance": "00000000-0000-0000-0000-000000000001",
      "guest": 2,
      "host_driver": {"name": "echo_vsp",
                      "params": {"delay_ns": -5, "verbose": true, "mode": "fast"}},
      "guest_driver": {"name": "sync_client", "params": {"timeout_ns": 100}},
      "incoming_ring_pages": 1,
      "outgoing_ring_pages": 65535,
      "max_packet_bytes": 16777216,
      "monitored": false,
      "interrupt_latency_100ns": 65535,
      "guest_target_vp": 0,
      "host_passive_processing": true,
      "guest_passive_processing": true,
      "host_transaction_quota": 8,
      "guest_transaction_quota": 16,
      "sub_channels": 3,
      "lost_wakeup_bug": "guest",
      "host_stop_ns": 0,
      "guest_stop_ns": 1e18,
      "host_writer_policy": "fixed:4088",
      "guest_writer_policy": "none",
      "host_reader": {"kind": "napi", "budget_packets": 32},
      "guest_reader": {"kind": "polled", "poll_period_ns": 50000, "dpc_budget_ns": 7}
    },
    {
      "name": "storage",
      "interface_type": "ba6163d9-04a1-4d29-b605-72e2ffb1dc7f",
      "interface_instance": "00000000-0000-0000-0000-000000000001",
      "host_driver": {"name": "loopback"},
      "guest_driver": {"name": "loopback"},
      "guest_target_vp": null,
      "host_stop_ns": null
    }
  ],
  "workloads": [
    {"channel": "net",
     "arrival": {"kind": "on_off", "outstanding": 4, "interval_ns": 2500, "burst": 8,
                 "on_ns": 1000000, "off_ns": 3000000},
     "size": {"kind": "empirical", "table": [{"bytes": 64, "weight": 9}, {"bytes": 1500}]},
     "requests": 50000,
     "start_ns": 100},
    {"channel": "storage", "arrival": {"kind": "poisson"},
     "size": {"kind": "uniform", "min_bytes": 512, "max_bytes": 512}}
  ],
  "exploration": {"tie_break_seed": 42},
  "expectations": {
    "no_lost_packets": false,
    "no_verifier_findings": false,
    "latency": [
      {"channel": "net", "metric": "send_to_process", "percentile": 99.9, "max_ns": 20000},
      {"max_ns": 1e6}
    ],
    "interrupts_per_packet_max": 1.5,
    "interrupts_per_packet_min": 0,
    "findings": [
      {"rule": "double_completion", "min_count": 2, "max_count": 2},
      {"rule": "send_after_suspend"}
    ],
    "lost_packets_min": 1,
    "failed_transactions_min": 1000000000
  },
  "faults": {}
})json";

TEST(LoaderTest, FullDocumentLoadsEveryField) {
  const absl::StatusOr<ScenarioSpec> spec = Load(kFull);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->name, "full-example_1");
  EXPECT_EQ(spec->description, "Every knob.");
  EXPECT_EQ(spec->seed, UINT64_MAX);
  EXPECT_EQ(spec->stop.time_ns, 5000000000);
  EXPECT_EQ(spec->stop.events_max, 1000000000u);  // 1e9: an integral float.
  EXPECT_FALSE(spec->stop.quiescence);

  EXPECT_EQ(spec->fabric.root_vps, 8u);
  ASSERT_EQ(spec->fabric.guests.size(), 2u);
  EXPECT_EQ(spec->fabric.guests[0].vps, 4u);
  EXPECT_EQ(spec->fabric.guests[0].memory_mib, 1024u);
  EXPECT_EQ(spec->fabric.guests[1].vps, 1u);
  EXPECT_EQ(spec->fabric.guests[1].memory_mib, 512u);
  EXPECT_EQ(spec->fabric.cost_profile, "zero");
  EXPECT_EQ(spec->fabric.cost_overrides,
            (std::map<std::string, int64_t>{{"hypercall_signal_event_ns", 700},
                                            {"ring_copy_per_byte_ps", 0}}));
  EXPECT_EQ(spec->fabric.monitor_mode, "periodic_poll");

  ASSERT_EQ(spec->channels.size(), 2u);
  const ChannelSpec& net = spec->channels[0];
  EXPECT_EQ(net.name, "net");
  EXPECT_EQ(net.interface_type, "F8615163-DF3E-46C5-913F-F2D2F965ED0E");  // As written.
  EXPECT_EQ(net.guest, 2);
  EXPECT_EQ(net.host_driver.name, "echo_vsp");
  EXPECT_EQ(net.host_driver.int_params, (std::map<std::string, int64_t>{{"delay_ns", -5}}));
  EXPECT_EQ(net.host_driver.bool_params, (std::map<std::string, bool>{{"verbose", true}}));
  EXPECT_EQ(net.host_driver.string_params, (std::map<std::string, std::string>{{"mode", "fast"}}));
  EXPECT_EQ(net.guest_driver.name, "sync_client");
  EXPECT_EQ(net.guest_driver.int_params, (std::map<std::string, int64_t>{{"timeout_ns", 100}}));
  EXPECT_EQ(net.incoming_ring_pages, 1u);
  EXPECT_EQ(net.outgoing_ring_pages, 65535u);
  EXPECT_EQ(net.max_packet_bytes, 16777216u);
  EXPECT_FALSE(net.monitored);
  EXPECT_EQ(net.interrupt_latency_100ns, 65535);
  EXPECT_EQ(net.guest_target_vp, 0u);
  EXPECT_TRUE(net.host_passive_processing);
  EXPECT_TRUE(net.guest_passive_processing);
  EXPECT_EQ(net.host_transaction_quota, 8u);
  EXPECT_EQ(net.guest_transaction_quota, 16u);
  EXPECT_EQ(net.sub_channels, 3u);
  EXPECT_EQ(net.lost_wakeup_bug, "guest");
  EXPECT_EQ(net.host_stop_ns, 0);
  EXPECT_EQ(net.guest_stop_ns, 1000000000000000000);
  EXPECT_EQ(net.host_writer_policy.kind, "fixed");
  EXPECT_EQ(net.host_writer_policy.fixed_bytes, 4088u);  // The 1-data-page ring's largest.
  EXPECT_EQ(net.guest_writer_policy.kind, "none");
  EXPECT_EQ(net.host_reader.kind, "napi");
  EXPECT_EQ(net.host_reader.budget_packets, 32u);
  EXPECT_EQ(net.guest_reader.kind, "polled");
  EXPECT_EQ(net.guest_reader.poll_period_ns, 50000);
  EXPECT_EQ(net.guest_reader.dpc_budget_ns, 7);  // Another kind's key: kept, unused.
  const ChannelSpec& storage = spec->channels[1];
  EXPECT_EQ(storage.guest, 1);
  EXPECT_EQ(storage.host_driver.name, "loopback");
  EXPECT_EQ(storage.guest_driver.name, "loopback");
  EXPECT_FALSE(storage.guest_target_vp.has_value());  // null: unset.
  EXPECT_FALSE(storage.host_stop_ns.has_value());
  EXPECT_EQ(storage.host_writer_policy.kind, "windows");  // KMCL's default.
  EXPECT_EQ(storage.guest_writer_policy.kind, "windows");
  EXPECT_EQ(storage.host_reader.kind, "dpc_drain");
  EXPECT_FALSE(storage.host_reader.dpc_budget_ns.has_value());
  EXPECT_EQ(storage.guest_reader.budget_packets, 64u);

  ASSERT_EQ(spec->workloads.size(), 2u);
  const WorkloadSpec& first = spec->workloads[0];
  EXPECT_EQ(first.channel, "net");
  EXPECT_EQ(first.arrival.kind, "on_off");
  EXPECT_EQ(first.arrival.outstanding, 4u);
  EXPECT_EQ(first.arrival.interval_ns, 2500);
  EXPECT_EQ(first.arrival.burst, 8u);
  EXPECT_EQ(first.arrival.on_ns, 1000000);
  EXPECT_EQ(first.arrival.off_ns, 3000000);
  EXPECT_EQ(first.size.kind, "empirical");
  ASSERT_EQ(first.size.table.size(), 2u);
  EXPECT_EQ(first.size.table[0].value, 64);
  EXPECT_EQ(first.size.table[0].weight, 9u);
  EXPECT_EQ(first.size.table[1].value, 1500);
  EXPECT_EQ(first.size.table[1].weight, 1u);
  EXPECT_EQ(first.requests, 50000u);
  EXPECT_EQ(first.start_ns, 100);
  const WorkloadSpec& second = spec->workloads[1];
  EXPECT_EQ(second.arrival.kind, "poisson");
  EXPECT_EQ(second.size.kind, "uniform");
  EXPECT_EQ(second.size.min, 512);
  EXPECT_EQ(second.size.max, 512);

  EXPECT_EQ(spec->exploration.tie_break_seed, 42u);

  const ExpectationSpec& expectations = spec->expectations;
  EXPECT_FALSE(expectations.no_lost_packets);
  EXPECT_FALSE(expectations.no_verifier_findings);
  ASSERT_EQ(expectations.latency.size(), 2u);
  EXPECT_EQ(expectations.latency[0].channel, "net");
  EXPECT_EQ(expectations.latency[0].metric, "send_to_process");
  EXPECT_DOUBLE_EQ(expectations.latency[0].percentile, 99.9);
  EXPECT_EQ(expectations.latency[0].max_ns, 20000);
  EXPECT_EQ(expectations.latency[1].channel, "");  // Every channel.
  EXPECT_EQ(expectations.latency[1].metric, "send_to_completion");
  EXPECT_DOUBLE_EQ(expectations.latency[1].percentile, 99.0);
  EXPECT_EQ(expectations.latency[1].max_ns, 1000000);
  EXPECT_EQ(expectations.interrupts_per_packet_max, 1.5);
  EXPECT_EQ(expectations.interrupts_per_packet_min, 0.0);
  ASSERT_EQ(expectations.findings.size(), 2u);
  EXPECT_EQ(expectations.findings[0].rule, "double_completion");
  EXPECT_EQ(expectations.findings[0].min_count, 2u);
  EXPECT_EQ(expectations.findings[0].max_count, 2u);
  EXPECT_EQ(expectations.findings[1].rule, "send_after_suspend");
  EXPECT_EQ(expectations.findings[1].min_count, 1u);
  EXPECT_FALSE(expectations.findings[1].max_count.has_value());
  EXPECT_EQ(expectations.lost_packets_min, 1u);
  EXPECT_EQ(expectations.failed_transactions_min, 1000000000u);
}

// Sending VPs of an open-loop workload: read in order; the default is none
// (the runner then uses the channel's VP).
TEST(LoaderTest, SendVps) {
  absl::StatusOr<ScenarioSpec> spec = Load(kOneChannel);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_TRUE(spec->workloads[0].send_vps.empty());
  spec = Load(kOneChannel, {"workloads.0.arrival.kind=poisson", "workloads.0.send_vps=[1,0,1]"});
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->workloads[0].send_vps, (std::vector<uint32_t>{1, 0, 1}));
}

TEST(LoaderErrorTest, SendVpsMalformed) {
  const std::string poisson = "workloads.0.arrival.kind=poisson";
  EXPECT_EQ(LoadError(kOneChannel, {poisson, "workloads.0.send_vps=[0,2]"}),
            "hello.json: /workloads/0/send_vps/1: expected an integer in 0..1 (guest 1 has 2 VPs), found 2");
  EXPECT_EQ(LoadError(kOneChannel, {poisson, "workloads.0.send_vps=[0,\"1\"]"}),
            "hello.json: /workloads/0/send_vps/1: expected an integer in 0..1023, found \"1\"");
  EXPECT_EQ(LoadError(kOneChannel, {poisson, "workloads.0.send_vps=[]"}),
            "hello.json: /workloads/0/send_vps: expected an array of 1..1024 guest VP indices, found []");
  EXPECT_EQ(LoadError(kOneChannel, {"workloads.0.send_vps=[0]"}),
            "hello.json: /workloads/0/send_vps: unexpected for arrival kind \"closed_loop\" (the guest driver "
            "sends its requests from its completions, on the channel's VP)");
}

// Lost-wake-up bugs, teardown during traffic and the negative-scenario
// counts, one setting at a time on the one-channel document.
TEST(LoaderTest, BugsTeardownAndFailureCounts) {
  absl::StatusOr<ScenarioSpec> spec = Load(kOneChannel, {"channels.0.lost_wakeup_bug=host"});
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->channels[0].lost_wakeup_bug, "host");

  spec = Load(kOneChannel, {"channels.0.host_stop_ns=2500000"});
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->channels[0].host_stop_ns, 2500000);
  EXPECT_FALSE(spec->channels[0].guest_stop_ns.has_value());

  spec = Load(kOneChannel, {"channels.0.guest_stop_ns=1e6"});
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->channels[0].guest_stop_ns, 1000000);
  EXPECT_FALSE(spec->channels[0].host_stop_ns.has_value());

  // Without "no_lost_packets", expecting losses turns its default off.
  spec = Load(kOneChannel, {"expectations.lost_packets_min=3"});
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->expectations.lost_packets_min, 3u);
  EXPECT_FALSE(spec->expectations.no_lost_packets);
  spec = Load(kOneChannel,
              {"expectations.no_lost_packets=false", "expectations.lost_packets_min=1e9"});
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->expectations.lost_packets_min, 1000000000u);
  // null: unset, so an explicit true stands.
  spec = Load(kOneChannel,
              {"expectations.no_lost_packets=true", "expectations.lost_packets_min=null"});
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_FALSE(spec->expectations.lost_packets_min.has_value());
  EXPECT_TRUE(spec->expectations.no_lost_packets);

  spec = Load(kOneChannel, {"expectations.failed_transactions_min=2"});
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->expectations.failed_transactions_min, 2u);
  EXPECT_TRUE(spec->expectations.no_lost_packets);  // Failures are not losses.
}

TEST(LoaderTest, FileLoadsWithPathAsSource) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(tmp != nullptr ? tmp : "/tmp") + "/loader_test.json";
  {
    std::ofstream out(path);
    out << R"({"name": "from-file", "seed": "x"})";
  }
  const absl::StatusOr<ScenarioSpec> spec = LoadScenarioFile(path, TestDrivers());
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().message(),
            path + ": /seed: expected an integer in 0..18446744073709551615, found \"x\"");

  const absl::StatusOr<ScenarioSpec> fixed = LoadScenarioFile(path, TestDrivers(), {"seed=7"});
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  EXPECT_EQ(fixed->name, "from-file");
  EXPECT_EQ(fixed->seed, 7u);

  const absl::StatusOr<ScenarioSpec> missing = LoadScenarioFile(path + ".missing", TestDrivers());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

// An oversize file is refused by its size, before it is read: the message
// gives the size, which only the file system knows, and says so. The file is
// sparse, so making it costs nothing.
TEST(LoaderTest, OversizeFileIsRefusedBeforeReading) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(tmp != nullptr ? tmp : "/tmp") + "/loader_test_big.json";
  constexpr off_t kBytes = (off_t{64} << 20) + 1;
  {
    std::ofstream out(path);
    out << R"({"name": "big"})";
  }
  ASSERT_EQ(truncate(path.c_str(), kBytes), 0) << std::strerror(errno);
  const absl::StatusOr<ScenarioSpec> spec = LoadScenarioFile(path, TestDrivers());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(spec.status().message(),
            path + ": 67108865 bytes, more than a scenario file may have (67108864); not read");
  // At the limit it is read (and then fails as JSON: NUL bytes follow).
  ASSERT_EQ(truncate(path.c_str(), kBytes - 1), 0) << std::strerror(errno);
  EXPECT_EQ(LoadScenarioFile(path, TestDrivers()).status().message(),
            path + ":1:16: invalid JSON: unexpected NUL byte (JSON text holds U+0000 only as "
                   "\"\\u0000\" inside a string)");
  std::remove(path.c_str());
}

TEST(LoaderTest, DirectoryIsNotAScenario) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = tmp != nullptr ? tmp : "/tmp";
  const absl::StatusOr<ScenarioSpec> spec = LoadScenarioFile(dir, TestDrivers());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(spec.status().message(), dir + ": is a directory");
}

// ---------------------------------------------------------------------------
// Errors: "<source>: <pointer>: expected <what>, found <what>".

TEST(LoaderErrorTest, WriterPoliciesAndReaders) {
  const std::string policies =
      "\"windows\", \"openvmm\", \"none\" or \"fixed:N\" (N in 1..65528 bytes: the ";
  EXPECT_EQ(OverrideError("channels.0.host_writer_policy=fixed:0"),
            "hello.json: /channels/0/host_writer_policy: expected " + policies +
                "incoming_ring_pages ring's data size - 8), found \"fixed:0\"");
  EXPECT_EQ(OverrideError("channels.0.guest_writer_policy=fixed:65529"),
            "hello.json: /channels/0/guest_writer_policy: expected " + policies +
                "outgoing_ring_pages ring's data size - 8), found \"fixed:65529\"");
  EXPECT_TRUE(Load(kOneChannel, {"channels.0.guest_writer_policy=fixed:65528"}).ok());
  // The bound follows the ring's size.
  EXPECT_EQ(LoadError(kOneChannel, {"channels.0.outgoing_ring_pages=1", "channels.0.guest_writer_policy=fixed:4089"}),
            "hello.json: /channels/0/guest_writer_policy: expected \"windows\", \"openvmm\", \"none\" or "
            "\"fixed:N\" (N in 1..4088 bytes: the outgoing_ring_pages ring's data size - 8), found \"fixed:4089\"");
  EXPECT_EQ(OverrideError("channels.0.host_writer_policy=window"),
            "hello.json: /channels/0/host_writer_policy: expected " + policies +
                "incoming_ring_pages ring's data size - 8), found \"window\"; did you mean \"windows\"?");
  EXPECT_EQ(OverrideError("channels.0.host_writer_policy=3"),
            "hello.json: /channels/0/host_writer_policy: expected " + policies +
                "incoming_ring_pages ring's data size - 8), found 3");
  EXPECT_EQ(OverrideError(R"(channels.0.host_reader={"kind":"napy"})"),
            "hello.json: /channels/0/host_reader/kind: expected one of \"dpc_drain\", \"napi\", \"batched\", "
            "\"polled\", found \"napy\"; did you mean \"napi\"?");
  EXPECT_EQ(OverrideError(R"(channels.0.guest_reader={"kind":"polled"})"),
            "hello.json: /channels/0/guest_reader: missing required key \"poll_period_ns\" (a \"polled\" reader "
            "has no default period)");
  EXPECT_EQ(OverrideError(R"(channels.0.host_reader={"kind":"napi","budget_packets":0})"),
            "hello.json: /channels/0/host_reader/budget_packets: expected an integer in 1..65536, found 0");
  EXPECT_EQ(OverrideError(R"(channels.0.host_reader={"dpc_budget_ns":-1})"),
            "hello.json: /channels/0/host_reader/dpc_budget_ns: expected an integer in 1..1000000000000000, "
            "found -1");
  EXPECT_EQ(OverrideError(R"(channels.0.host_reader={"poll_period":5})"),
            "hello.json: /channels/0/host_reader/poll_period: unknown key; did you mean \"poll_period_ns\"?");
}

TEST(LoaderErrorTest, TypeAndRange) {
  EXPECT_EQ(OverrideError("/channels/0/max_packet_bytes=\"big\""),
            "hello.json: /channels/0/max_packet_bytes: expected an integer in 1..16777216, "
            "found \"big\"");
  EXPECT_EQ(OverrideError("channels.0.max_packet_bytes=16777217"),
            "hello.json: /channels/0/max_packet_bytes: expected an integer in 1..16777216, "
            "found 16777217");
  EXPECT_EQ(OverrideError("channels.0.incoming_ring_pages=0"),
            "hello.json: /channels/0/incoming_ring_pages: expected an integer in 1..65535, "
            "found 0");
  EXPECT_TRUE(Load(kOneChannel, {"channels.0.incoming_ring_pages=1"}).ok());  // Data pages.
  EXPECT_EQ(OverrideError("channels.0.interrupt_latency_100ns=65536"),
            "hello.json: /channels/0/interrupt_latency_100ns: expected an integer in 0..65535, "
            "found 65536");
  // One limit with the built-in drivers (spec.h kSubChannelsMax).
  EXPECT_TRUE(Load(kOneChannel, {"channels.0.sub_channels=127"}).ok());
  EXPECT_EQ(OverrideError("channels.0.sub_channels=128"),
            "hello.json: /channels/0/sub_channels: expected an integer in 0..127, found 128");
  EXPECT_EQ(OverrideError("fabric.guests.0.vps=0"),
            "hello.json: /fabric/guests/0/vps: expected an integer in 1..1024, found 0");
  // Up to 1024 VPs per partition (Hyper-V guests go well beyond 64).
  EXPECT_TRUE(Load(kOneChannel, {"fabric.guests.0.vps=1024", "fabric.root_vps=1024"}).ok());
  EXPECT_EQ(OverrideError("fabric.guests.0.vps=1025"),
            "hello.json: /fabric/guests/0/vps: expected an integer in 1..1024, found 1025");
  EXPECT_EQ(OverrideError("fabric.root_vps=1025"),
            "hello.json: /fabric/root_vps: expected an integer in 1..1024, found 1025");
  EXPECT_EQ(OverrideError("workloads.0.requests=1.5"),
            "hello.json: /workloads/0/requests: expected an integer in 1..1000000000, "
            "found 1.5");
  EXPECT_EQ(OverrideError("seed=-1"),
            "hello.json: /seed: expected an integer in 0..18446744073709551615, found -1");
  EXPECT_EQ(OverrideError("channels.0.monitored=1"),
            "hello.json: /channels/0/monitored: expected true or false, found 1");
  EXPECT_EQ(OverrideError("description=[1]"),
            "hello.json: /description: expected a string, found an array");
  EXPECT_EQ(OverrideError("stop=[]"), "hello.json: /stop: expected an object, found []");
  EXPECT_EQ(OverrideError("channels={}"),
            "hello.json: /channels: expected an array of 0..4096 channels, found {}");
  EXPECT_EQ(OverrideError("fabric.guests=[]"),
            "hello.json: /fabric/guests: expected an array of 1..16 guests, found []");
  EXPECT_EQ(LoadError("[1, 2]"), "hello.json: expected an object, found an array");
}

// A monitor latency of 0 is a value, not "unset": only absent or null is.
TEST(LoaderTest, ZeroInterruptLatencyIsKept) {
  const absl::StatusOr<ScenarioSpec> zero =
      Load(kOneChannel, {"channels.0.interrupt_latency_100ns=0"});
  ASSERT_TRUE(zero.ok()) << zero.status();
  EXPECT_EQ(zero->channels[0].interrupt_latency_100ns, std::optional<uint16_t>(0));
  const absl::StatusOr<ScenarioSpec> null =
      Load(kOneChannel, {"channels.0.interrupt_latency_100ns=7",
                         "channels.0.interrupt_latency_100ns=null"});
  ASSERT_TRUE(null.ok()) << null.status();
  EXPECT_FALSE(null->channels[0].interrupt_latency_100ns.has_value());
}

TEST(LoaderErrorTest, NullOnlyForOptionalFields) {
  EXPECT_TRUE(
      Load(kOneChannel, {"stop.time_ns=null", "channels.0.host_transaction_quota=null"}).ok());
  EXPECT_EQ(OverrideError("channels.0.sub_channels=null"),
            "hello.json: /channels/0/sub_channels: expected an integer in 0..127, found null");
}

TEST(LoaderErrorTest, LongStringsAreCut) {
  EXPECT_EQ(OverrideError("channels.0.monitored=" + std::string(100, 'x')),
            "hello.json: /channels/0/monitored: expected true or false, found \"" +
                std::string(48, 'x') + "...\"");
}

TEST(LoaderErrorTest, NumbersWithFractions) {
  EXPECT_EQ(OverrideError("expectations.latency=[{\"percentile\": 0, \"max_ns\": 1}]"),
            "hello.json: /expectations/latency/0/percentile: expected a number in (0, 100], "
            "found 0");
  EXPECT_EQ(OverrideError("expectations.latency=[{\"percentile\": 100.5, \"max_ns\": 1}]"),
            "hello.json: /expectations/latency/0/percentile: expected a number in (0, 100], "
            "found 100.5");
  EXPECT_TRUE(
      Load(kOneChannel, {"expectations.latency=[{\"percentile\": 100, \"max_ns\": 1}]"}).ok());
  EXPECT_EQ(OverrideError("expectations.interrupts_per_packet_max=-0.5"),
            "hello.json: /expectations/interrupts_per_packet_max: expected a number in "
            "[0, 1000000], found -0.5");
  EXPECT_EQ(LoadError(kOneChannel, {"expectations.interrupts_per_packet_max=1",
                                    "expectations.interrupts_per_packet_min=2.5"}),
            "hello.json: /expectations: expected interrupts_per_packet_min <= "
            "interrupts_per_packet_max, found 2.5 and 1");
}

TEST(LoaderTest, WarmupEndsBeforeTheRun) {
  absl::StatusOr<ScenarioSpec> spec = Load(kOneChannel, {"stop.warmup_ns=2000000", "stop.time_ns=5000000"});
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->stop.warmup_ns, 2000000);
  EXPECT_FALSE(Load(kOneChannel, {}).value().stop.warmup_ns.has_value());
  EXPECT_TRUE(Load(kOneChannel, {"stop.warmup_ns=null"}).ok());
  EXPECT_EQ(OverrideError("stop.warmup_ns=-1"),
            "hello.json: /stop/warmup_ns: expected an integer in 0..1000000000000000000, found -1");
  EXPECT_EQ(OverrideError("stop.warmup_ns=\"1ms\""),
            "hello.json: /stop/warmup_ns: expected an integer in 0..1000000000000000000, found \"1ms\"");
  EXPECT_EQ(LoadError(kOneChannel, {"stop.warmup_ns=5000000", "stop.time_ns=5000000"}),
            "hello.json: /stop/warmup_ns: the warm-up (5000000 ns) must end before stop.time_ns (5000000 ns)");
}

TEST(LoaderErrorTest, UnknownKeysSuggestTheNearest) {
  EXPECT_EQ(OverrideError("channels.0.max_packet_size=5"),
            "hello.json: /channels/0/max_packet_size: unknown key; did you mean "
            "\"max_packet_bytes\"?");
  EXPECT_EQ(OverrideError("stop.time_us=5"),
            "hello.json: /stop/time_us: unknown key; did you mean \"time_ns\"?");
  EXPECT_EQ(OverrideError("Seed=5"), "hello.json: /Seed: unknown key; did you mean \"seed\"?");
  EXPECT_EQ(OverrideError("stop.zzzzzz=5"),
            "hello.json: /stop/zzzzzz: unknown key; expected one of \"time_ns\", "
            "\"events_max\", \"quiescence\", \"warmup_ns\"");
  // Pointer escaping (RFC 6901) in the reported place.
  EXPECT_EQ(OverrideError("/stop/a~1b~0c=5"),
            "hello.json: /stop/a~1b~0c: unknown key; expected one of \"time_ns\", "
            "\"events_max\", \"quiescence\", \"warmup_ns\"");
  EXPECT_EQ(OverrideError("fabric.cost_overrides.hypercall_signal_event=5"),
            "hello.json: /fabric/cost_overrides/hypercall_signal_event: unknown key; did you "
            "mean \"hypercall_signal_event_ns\"?");
}

TEST(LoaderErrorTest, EnumsSuggestTheNearest) {
  EXPECT_EQ(OverrideError("fabric.cost_profile=defualt"),
            "hello.json: /fabric/cost_profile: expected one of \"default\", \"zero\", found "
            "\"defualt\"; did you mean \"default\"?");
  EXPECT_EQ(OverrideError("fabric.monitor_mode=7"),
            "hello.json: /fabric/monitor_mode: expected one of \"timer_per_id\", "
            "\"periodic_poll\", \"rate_limited\", found 7");
  EXPECT_EQ(OverrideError("fabric.preemption=isr"),
            "hello.json: /fabric/preemption: expected one of \"packet\", \"none\", found \"isr\"");
  EXPECT_EQ(OverrideError("workloads.0.arrival.kind=closedloop"),
            "hello.json: /workloads/0/arrival/kind: expected one of \"closed_loop\", "
            "\"fixed_rate\", \"poisson\", \"bursts\", \"on_off\", \"renewal\", \"mmpp2\", \"trace\", found "
            "\"closedloop\"; did you mean \"closed_loop\"?");
  EXPECT_EQ(OverrideError("workloads.0.size.kind=gaussian"),
            "hello.json: /workloads/0/size/kind: expected one of \"fixed\", \"uniform\", "
            "\"exponential\", \"lognormal\", \"empirical\", found \"gaussian\"");
  EXPECT_EQ(OverrideError("expectations.latency=[{\"metric\": \"send_to_complete\", "
                          "\"max_ns\": 1}]"),
            "hello.json: /expectations/latency/0/metric: expected one of "
            "\"send_to_completion\", \"send_to_process\", found \"send_to_complete\"; did you "
            "mean \"send_to_completion\"?");
}

TEST(LoaderErrorTest, NamesAndGuids) {
  EXPECT_EQ(LoadError(R"({"seed": 1})"), "hello.json: missing required key \"name\"");
  EXPECT_EQ(OverrideError("name=Hello World"),
            "hello.json: /name: expected a name of 1..64 characters [a-z0-9_-], found "
            "\"Hello World\"");
  EXPECT_EQ(OverrideError("name=\"\""),
            "hello.json: /name: expected a name of 1..64 characters [a-z0-9_-], found \"\"");
  EXPECT_EQ(OverrideError("channels.0.interface_type=f8615163-df3e-46c5-913f-f2d2f965ed0"),
            "hello.json: /channels/0/interface_type: expected a GUID "
            "\"xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx\", found "
            "\"f8615163-df3e-46c5-913f-f2d2f965ed0\"");
  EXPECT_EQ(OverrideError("channels.0.interface_instance={00000000-0000-0000-0000-000000000001}"),
            "hello.json: /channels/0/interface_instance: expected a GUID "
            "\"xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx\", found "
            "\"{00000000-0000-0000-0000-000000000001}\"");
  EXPECT_EQ(LoadError(R"({"name": "x", "channels": [{"name": "a"}]})"),
            "hello.json: /channels/0: missing required key \"interface_type\"");
}

TEST(LoaderErrorTest, CrossReferences) {
  EXPECT_EQ(OverrideError("channels.0.guest=2"),
            "hello.json: /channels/0/guest: expected an integer in 1..1 (fabric.guests has 1), "
            "found 2");
  EXPECT_EQ(OverrideError("channels.0.guest_target_vp=2"),
            "hello.json: /channels/0/guest_target_vp: expected an integer in 0..1 (guest 1 has "
            "2 VPs), found 2");
  EXPECT_EQ(OverrideError("workloads.0.channel=nte"),
            "hello.json: /workloads/0/channel: expected the name of a channel (one of \"net\"), "
            "found \"nte\"; did you mean \"net\"?");
  EXPECT_EQ(LoadError(R"({"name": "x", "workloads": [{"channel": "net"}]})"),
            "hello.json: /workloads/0/channel: expected the name of a channel (the scenario "
            "declares none), found \"net\"");
  EXPECT_EQ(OverrideError("workloads.0={}"),
            "hello.json: /workloads/0: missing required key \"channel\"");
  EXPECT_EQ(OverrideError("expectations.latency=[{\"channel\": \"disk\", \"max_ns\": 1}]"),
            "hello.json: /expectations/latency/0/channel: expected the name of a channel (one "
            "of \"net\"), found \"disk\"");
  EXPECT_EQ(OverrideError("expectations.latency=[{\"channel\": \"net\"}]"),
            "hello.json: /expectations/latency/0: missing required key \"max_ns\"");
}

// Two channels on the echo/rr pair, named `first` and `second`, with the
// given interface types and instances.
std::string TwoChannels(absl::string_view first, absl::string_view second,
                        absl::string_view second_type, absl::string_view second_instance) {
  return absl::StrCat(
      R"({"name": "two", "channels": [)", R"({"name": ")", first, R"(", )",
      R"("interface_type": "f8615163-df3e-46c5-913f-f2d2f965ed0e", )",
      R"("interface_instance": "00000000-0000-0000-0000-000000000001", )",
      R"("host_driver": {"name": "echo_vsp"}, "guest_driver": {"name": "rr_vsc"}}, )",
      R"({"name": ")", second, R"(", )", R"("interface_type": ")", second_type, R"(", )",
      R"("interface_instance": ")", second_instance, R"(", )",
      R"("host_driver": {"name": "echo_vsp"}, "guest_driver": {"name": "rr_vsc"}}]})");
}

TEST(LoaderErrorTest, DuplicateChannels) {
  EXPECT_TRUE(Load(TwoChannels("net", "disk", "f8615163-df3e-46c5-913f-f2d2f965ed0e",
                               "00000000-0000-0000-0000-000000000002"))
                  .ok());
  EXPECT_EQ(LoadError(TwoChannels("net", "net", "f8615163-df3e-46c5-913f-f2d2f965ed0e",
                                  "00000000-0000-0000-0000-000000000002")),
            "hello.json: /channels/1/name: expected a channel name not used by an earlier "
            "channel, found \"net\" (/channels/0 has it)");
  // GUIDs compare without regard to case.
  EXPECT_EQ(LoadError(TwoChannels("net", "disk", "F8615163-DF3E-46C5-913F-F2D2F965ED0E",
                                  "00000000-0000-0000-0000-000000000001")),
            "hello.json: /channels/1/interface_instance: expected an interface_instance not "
            "used by an earlier channel of the same interface_type, found "
            "\"00000000-0000-0000-0000-000000000001\" (/channels/0 has it)");
}

TEST(LoaderErrorTest, Drivers) {
  EXPECT_EQ(OverrideError("channels.0.host_driver.name=echo_vps"),
            "hello.json: /channels/0/host_driver/name: expected the name of a host-side driver "
            "(one of \"echo_vsp\", \"loopback\"), found \"echo_vps\"; did you mean "
            "\"echo_vsp\"?");
  EXPECT_EQ(OverrideError("channels.0.host_driver.name=rr_vsc"),
            "hello.json: /channels/0/host_driver/name: expected the name of a host-side driver "
            "(one of \"echo_vsp\", \"loopback\"), found \"rr_vsc\" (a guest-side driver)");
  EXPECT_EQ(OverrideError("channels.0.guest_driver={}"),
            "hello.json: /channels/0/guest_driver: missing required key \"name\"");
  EXPECT_EQ(OverrideError("channels.0.guest_driver.nmae=x"),
            "hello.json: /channels/0/guest_driver/nmae: unknown key; did you mean \"name\"?");
  EXPECT_EQ(OverrideError("channels.0.host_driver.params.delay=5"),
            "hello.json: /channels/0/host_driver/params/delay: unknown parameter of driver "
            "\"echo_vsp\"; did you mean \"delay_ns\"?");
  EXPECT_EQ(OverrideError("channels.0.guest_driver.params.x=5"),
            "hello.json: /channels/0/guest_driver/params/x: unknown parameter of driver "
            "\"rr_vsc\"; driver \"rr_vsc\" takes no parameters");
  EXPECT_EQ(OverrideError("channels.0.host_driver.params.delay_ns=\"5\""),
            "hello.json: /channels/0/host_driver/params/delay_ns: expected an integer, found "
            "\"5\"");
  // A parameter that declares a range is held to it.
  EXPECT_EQ(OverrideError("channels.0.host_driver.params.depth=9"),
            "hello.json: /channels/0/host_driver/params/depth: expected an integer in 1..8, found 9");
  EXPECT_EQ(OverrideError("channels.0.host_driver.params.depth=0"),
            "hello.json: /channels/0/host_driver/params/depth: expected an integer in 1..8, found 0");
  EXPECT_EQ(OverrideError("channels.0.host_driver.params.verbose=yes"),
            "hello.json: /channels/0/host_driver/params/verbose: expected true or false, found "
            "\"yes\"");
  EXPECT_EQ(OverrideError("channels.0.host_driver.params.mode=3"),
            "hello.json: /channels/0/host_driver/params/mode: expected a string, found 3");
  EXPECT_EQ(OverrideError("channels.0.host_driver.params=[]"),
            "hello.json: /channels/0/host_driver/params: expected an object of parameters, "
            "found []");
  EXPECT_EQ(LoadScenario(kOneChannel, "hello.json", {}).status().message(),
            "hello.json: /channels/0/host_driver/name: expected the name of a host-side driver "
            "(none is registered), found \"echo_vsp\"");
}

TEST(LoaderErrorTest, WorkloadShapes) {
  EXPECT_EQ(OverrideError("workloads.0.size={\"kind\": \"uniform\", \"min_bytes\": 100, "
                          "\"max_bytes\": 50}"),
            "hello.json: /workloads/0/size: expected min_bytes <= max_bytes for kind "
            "\"uniform\", found min_bytes 100 and max_bytes 50");
  EXPECT_EQ(OverrideError("workloads.0.size.kind=empirical"),
            "hello.json: /workloads/0/size: missing required key \"table\" (kind \"empirical\" "
            "draws from it)");
  EXPECT_EQ(OverrideError("workloads.0.size={\"kind\": \"empirical\", \"table\": []}"),
            "hello.json: /workloads/0/size/table: expected a non-empty array for kind "
            "\"empirical\", found []");
  EXPECT_EQ(OverrideError("workloads.0.size.table=[{\"bytes\": 64, \"weight\": 0}]"),
            "hello.json: /workloads/0/size/table/0/weight: expected an integer in "
            "1..1000000000, found 0");
  EXPECT_EQ(OverrideError("workloads.0.arrival.kind=on_off"),
            "hello.json: /workloads/0/arrival: missing required key \"on_ns\" (kind \"on_off\" "
            "needs an on phase)");
  EXPECT_EQ(
      LoadError(kOneChannel, {"workloads.0.arrival.kind=on_off", "workloads.0.arrival.on_ns=0"}),
      "hello.json: /workloads/0/arrival/on_ns: expected an integer in "
      "1..1000000000000000 for kind \"on_off\", found 0");
}

// Sizes, gaps and service times share one distribution shape; each kind
// reads its own keys, in the quantity's unit.
TEST(LoaderTest, DistributionsLoadEveryKind) {
  const absl::StatusOr<ScenarioSpec> spec = Load(
      kOneChannel,
      {"workloads.0.size={\"kind\": \"exponential\", \"mean_bytes\": 300, \"min_bytes\": 8, \"max_bytes\": 4096}",
       "workloads.0.arrival={\"kind\": \"renewal\", \"gap\": {\"kind\": \"lognormal\", \"median_ns\": 5000, "
       "\"sigma\": 0.5, \"max_ns\": 90000}}",
       "channels.0.host_driver.params.service={\"kind\": \"empirical\", \"table\": [{\"ns\": 1000, \"weight\": 3}, "
       "{\"ns\": 9000}]}",
       "channels.0.host_target_vp=1"});
  ASSERT_TRUE(spec.ok()) << spec.status();
  const DistributionSpec& size = spec->workloads[0].size;
  EXPECT_EQ(size.kind, "exponential");
  EXPECT_EQ(size.mean, 300);
  EXPECT_EQ(size.min, 8);
  EXPECT_EQ(size.max, 4096);
  EXPECT_EQ(SizeBytesMax(size), 4096u);
  const ArrivalSpec& arrival = spec->workloads[0].arrival;
  EXPECT_EQ(arrival.kind, "renewal");
  EXPECT_EQ(arrival.gap.kind, "lognormal");
  EXPECT_EQ(arrival.gap.median, 5000);
  EXPECT_EQ(arrival.gap.sigma, 0.5);
  EXPECT_EQ(arrival.gap.max, 90000);
  EXPECT_EQ(arrival.gap.min, std::nullopt);
  const DistributionSpec& service = spec->channels[0].host_driver.distribution_params.at("service");
  EXPECT_EQ(service.kind, "empirical");
  ASSERT_EQ(service.table.size(), 2u);
  EXPECT_EQ(service.table[0].value, 1000);
  EXPECT_EQ(service.table[0].weight, 3u);
  EXPECT_EQ(service.table[1].value, 9000);
  EXPECT_EQ(service.table[1].weight, 1u);
  EXPECT_EQ(spec->channels[0].host_target_vp, 1u);

  const absl::StatusOr<ScenarioSpec> mmpp = Load(
      kOneChannel, {"workloads.0.arrival={\"kind\": \"mmpp2\", \"interval_ns\": 1000, \"off_interval_ns\": 50000, "
                    "\"on_ns\": 200000, \"off_ns\": 800000}"});
  ASSERT_TRUE(mmpp.ok()) << mmpp.status();
  EXPECT_EQ(mmpp->workloads[0].arrival.kind, "mmpp2");
  EXPECT_EQ(mmpp->workloads[0].arrival.off_interval_ns, 50000);
  EXPECT_EQ(mmpp->workloads[0].arrival.on_ns, 200000);
  EXPECT_EQ(mmpp->workloads[0].arrival.off_ns, 800000);
  // Keys of another kind are ignored, so a sweep can switch kinds with --set.
  const absl::StatusOr<ScenarioSpec> switched =
      Load(kOneChannel, {"workloads.0.size={\"kind\": \"fixed\", \"bytes\": 100, \"mean_bytes\": 7}"});
  ASSERT_TRUE(switched.ok()) << switched.status();
  EXPECT_EQ(switched->workloads[0].size.value, 100);
}

TEST(LoaderErrorTest, Distributions) {
  EXPECT_EQ(OverrideError("workloads.0.size={\"kind\": \"exponential\", \"mean_bytes\": 300}"),
            "hello.json: /workloads/0/size: missing required key \"max_bytes\" (kind \"exponential\" needs a "
            "bound: requests must fit max_packet_bytes)");
  EXPECT_EQ(OverrideError("workloads.0.size={\"kind\": \"exponential\", \"max_bytes\": 300}"),
            "hello.json: /workloads/0/size: missing required key \"mean_bytes\" (kind \"exponential\" draws from "
            "it)");
  EXPECT_EQ(OverrideError("workloads.0.size={\"kind\": \"exponential\", \"mean_bytes\": \"300\"}"),
            "hello.json: /workloads/0/size/mean_bytes: expected an integer in 0..16777216, found \"300\"");
  EXPECT_EQ(OverrideError("workloads.0.size={\"kind\": \"lognormal\", \"median_bytes\": -1}"),
            "hello.json: /workloads/0/size/median_bytes: expected an integer in 0..16777216, found -1");
  EXPECT_EQ(OverrideError("workloads.0.size={\"kind\": \"lognormal\", \"median_bytes\": 100, \"max_bytes\": 900}"),
            "hello.json: /workloads/0/size: missing required key \"sigma\" (kind \"lognormal\" draws from it)");
  EXPECT_EQ(OverrideError("workloads.0.size={\"kind\": \"lognormal\", \"median_bytes\": 100, \"sigma\": 11, "
                          "\"max_bytes\": 900}"),
            "hello.json: /workloads/0/size/sigma: expected a number in [0, 10], found 11");
  EXPECT_EQ(OverrideError("workloads.0.size={\"kind\": \"exponential\", \"mean_bytes\": 100, \"min_bytes\": 901, "
                          "\"max_bytes\": 900}"),
            "hello.json: /workloads/0/size: expected min_bytes <= max_bytes for kind \"exponential\", found "
            "min_bytes 901 and max_bytes 900");
  EXPECT_EQ(OverrideError("workloads.0.size={\"kind\": \"fixed\", \"mean_ns\": 100}"),
            "hello.json: /workloads/0/size/mean_ns: unknown key; expected one of \"kind\", \"bytes\", "
            "\"min_bytes\", \"max_bytes\", \"mean_bytes\", \"median_bytes\", \"sigma\", \"table\"");
  EXPECT_EQ(OverrideError("workloads.0.size={\"kind\": \"empirical\", \"table\": [{\"ns\": 5}]}"),
            "hello.json: /workloads/0/size/table/0/ns: unknown key; expected one of \"bytes\", \"weight\"");
  EXPECT_EQ(OverrideError("workloads.0.size={\"kind\": \"exponential\", \"mean_bytes\": 4000, \"max_bytes\": "
                          "5000}"),
            "hello.json: /workloads/0/size/max_bytes: expected a request of at most 4096 bytes "
            "(/channels/0/max_packet_bytes), found 5000");
}

TEST(LoaderErrorTest, ArrivalGapsAndMmpp) {
  EXPECT_EQ(OverrideError("workloads.0.arrival.kind=renewal"),
            "hello.json: /workloads/0/arrival: missing required key \"gap\" (kind \"renewal\" draws its gaps from "
            "it)");
  EXPECT_EQ(OverrideError("workloads.0.arrival.gap=5000"),
            "hello.json: /workloads/0/arrival/gap: expected an object, found 5000");
  EXPECT_EQ(OverrideError("workloads.0.arrival.gap={\"ns\": 5000}"),
            "hello.json: /workloads/0/arrival/gap: missing required key \"kind\"");
  EXPECT_EQ(OverrideError("workloads.0.arrival.gap={\"kind\": \"fixed\"}"),
            "hello.json: /workloads/0/arrival/gap: missing required key \"ns\" (kind \"fixed\" draws from it)");
  EXPECT_EQ(OverrideError("workloads.0.arrival.gap={\"kind\": \"uniform\", \"max_ns\": 9}"),
            "hello.json: /workloads/0/arrival/gap: missing required key \"min_ns\" (kind \"uniform\" draws from "
            "it)");
  EXPECT_EQ(OverrideError("workloads.0.arrival.gap={\"kind\": \"uniform\", \"min_ns\": 1}"),
            "hello.json: /workloads/0/arrival/gap: missing required key \"max_ns\" (kind \"uniform\" draws from "
            "it)");
  EXPECT_EQ(OverrideError("workloads.0.arrival.gap={\"kind\": \"exponential\", \"mean\": 9}"),
            "hello.json: /workloads/0/arrival/gap/mean: unknown key; did you mean \"mean_ns\"?");
  EXPECT_EQ(OverrideError("workloads.0.arrival.gap={\"kind\": \"fixed\", \"ns\": -5}"),
            "hello.json: /workloads/0/arrival/gap/ns: expected an integer in 0..1000000000000000, found -5");
  EXPECT_EQ(OverrideError("workloads.0.arrival.gap={\"kind\": \"lognormal\", \"median_ns\": 5, \"sigma\": -1}"),
            "hello.json: /workloads/0/arrival/gap/sigma: expected a number in [0, 10], found -1");
  EXPECT_EQ(OverrideError("workloads.0.arrival.gap={\"kind\": \"exponential\", \"mean_ns\": 5, \"max_ns\": \"x\"}"),
            "hello.json: /workloads/0/arrival/gap/max_ns: expected an integer in 0..1000000000000000, found \"x\"");
  EXPECT_EQ(OverrideError("workloads.0.arrival.gap={\"kind\": \"exponential\", \"mean_ns\": 5, \"min_ns\": 1.5}"),
            "hello.json: /workloads/0/arrival/gap/min_ns: expected an integer in 0..1000000000000000, found 1.5");
  EXPECT_EQ(OverrideError("workloads.0.arrival.gap={\"kind\": \"empirical\", \"table\": [{\"ns\": 5, \"weight\": "
                          "0}]}"),
            "hello.json: /workloads/0/arrival/gap/table/0/weight: expected an integer in 1..1000000000, found 0");
  EXPECT_EQ(OverrideError("workloads.0.arrival.off_interval_ns=-1"),
            "hello.json: /workloads/0/arrival/off_interval_ns: expected an integer in 0..1000000000000000, found -1");
  EXPECT_EQ(OverrideError("workloads.0.arrival.kind=mmpp2"),
            "hello.json: /workloads/0/arrival: missing required key \"on_ns\" (kind \"mmpp2\" needs an on phase)");
  EXPECT_EQ(LoadError(kOneChannel, {"workloads.0.arrival.kind=mmpp2", "workloads.0.arrival.on_ns=1000"}),
            "hello.json: /workloads/0/arrival: missing required key \"off_ns\" (kind \"mmpp2\" needs an off "
            "state)");
  EXPECT_EQ(LoadError(kOneChannel, {"workloads.0.arrival={\"kind\": \"mmpp2\", \"on_ns\": 1000, \"off_ns\": 0}"}),
            "hello.json: /workloads/0/arrival/off_ns: expected an integer in 1..1000000000000000 for kind "
            "\"mmpp2\", found 0");
}

TEST(LoaderErrorTest, PlacementAndServiceParameters) {
  EXPECT_EQ(OverrideError("channels.0.host_target_vp=2"),
            "hello.json: /channels/0/host_target_vp: expected an integer in 0..1 (fabric.root_vps is 2), found 2");
  EXPECT_EQ(OverrideError("channels.0.host_target_vp=\"0\""),
            "hello.json: /channels/0/host_target_vp: expected an integer in 0..1 (fabric.root_vps is 2), found "
            "\"0\"");
  EXPECT_EQ(LoadError(kOneChannel, {"fabric.root_vps=4", "channels.0.host_target_vp=4"}),
            "hello.json: /channels/0/host_target_vp: expected an integer in 0..3 (fabric.root_vps is 4), found 4");
  EXPECT_EQ(OverrideError("channels.0.host_driver.params.service=5"),
            "hello.json: /channels/0/host_driver/params/service: expected an object, found 5");
  EXPECT_EQ(OverrideError("channels.0.host_driver.params.service={\"kind\": \"exponential\"}"),
            "hello.json: /channels/0/host_driver/params/service: missing required key \"mean_ns\" (kind "
            "\"exponential\" draws from it)");
  EXPECT_EQ(OverrideError("channels.0.host_driver.params.service={\"kind\": \"exponential\", \"mean_us\": 5}"),
            "hello.json: /channels/0/host_driver/params/service/mean_us: unknown key; did you mean \"mean_ns\"?");
}

// A back-end is declared once and named by the channels it serves; VP
// speeds are one number for a partition or one per VP.
TEST(LoaderTest, BackendsAndVpSpeeds) {
  const absl::StatusOr<ScenarioSpec> spec =
      Load(kOneChannel, {"backends=[{\"name\": \"disk\", \"servers\": 4, \"service\": {\"kind\": "
                         "\"exponential\", \"mean_ns\": 20000}}]",
                         "channels.0.backend=disk", "fabric.root_vp_speed=0.5",
                         "fabric.guests.0.vp_speed=[1, 1.25]"});
  ASSERT_TRUE(spec.ok()) << spec.status();
  ASSERT_EQ(spec->backends.size(), 1u);
  EXPECT_EQ(spec->backends[0].name, "disk");
  EXPECT_EQ(spec->backends[0].servers, 4u);
  EXPECT_EQ(spec->backends[0].service.kind, "exponential");
  EXPECT_EQ(spec->backends[0].service.mean, 20000);
  EXPECT_EQ(spec->channels[0].backend, "disk");
  EXPECT_EQ(spec->fabric.root_vp_speed, (std::vector<double>{0.5, 0.5}));
  EXPECT_EQ(spec->fabric.guests[0].vp_speed, (std::vector<double>{1, 1.25}));
  const absl::StatusOr<ScenarioSpec> plain = Load(kOneChannel);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_TRUE(plain->backends.empty());
  EXPECT_TRUE(plain->channels[0].backend.empty());
  EXPECT_TRUE(plain->fabric.root_vp_speed.empty());
}

TEST(LoaderErrorTest, BackendsAndVpSpeeds) {
  const std::string disk =
      "backends=[{\"name\": \"disk\", \"service\": {\"kind\": \"fixed\", \"ns\": 1000}}]";
  EXPECT_EQ(OverrideError("channels.0.backend=disk"),
            "hello.json: /channels/0/backend: expected the name of a back-end (the scenario declares none in "
            "\"backends\"), found \"disk\"");
  EXPECT_EQ(LoadError(kOneChannel, {disk, "channels.0.backend=dsk"}),
            "hello.json: /channels/0/backend: expected the name of a back-end (one of \"disk\"), found \"dsk\"; "
            "did you mean \"disk\"?");
  EXPECT_EQ(LoadError(kOneChannel, {disk, "channels.0.backend=7"}),
            "hello.json: /channels/0/backend: expected a name of 1..64 characters [a-z0-9_-], found 7");
  EXPECT_EQ(LoadError(kOneChannel, {disk, "channels.0.host_driver.name=loopback", "channels.0.backend=disk"}),
            "hello.json: /channels/0/backend: host driver \"loopback\" does not use a back-end (echo_vsp does)");
  EXPECT_EQ(OverrideError("backends={}"),
            "hello.json: /backends: expected an array of 0..256 back-ends, found {}");
  EXPECT_EQ(OverrideError("backends=[{\"name\": \"disk\"}]"),
            "hello.json: /backends/0: missing required key \"service\"");
  EXPECT_EQ(OverrideError("backends=[{\"service\": {\"kind\": \"fixed\", \"ns\": 1}}]"),
            "hello.json: /backends/0: missing required key \"name\"");
  EXPECT_EQ(OverrideError("backends=[{\"name\": \"disk\", \"servers\": 0, \"service\": {\"kind\": \"fixed\", "
                          "\"ns\": 1}}]"),
            "hello.json: /backends/0/servers: expected an integer in 1..65536, found 0");
  EXPECT_EQ(OverrideError("backends=[{\"name\": \"disk\", \"service\": {\"kind\": \"exponential\"}}]"),
            "hello.json: /backends/0/service: missing required key \"mean_ns\" (kind \"exponential\" draws from it)");
  EXPECT_EQ(OverrideError("backends=[{\"name\": \"disk\", \"queue\": 4, \"service\": {\"kind\": \"fixed\", "
                          "\"ns\": 1}}]"),
            "hello.json: /backends/0/queue: unknown key; expected one of \"name\", \"servers\", \"service\"");
  EXPECT_EQ(OverrideError("backends=[{\"name\": \"disk\", \"service\": {\"kind\": \"fixed\", \"ns\": 1}}, "
                          "{\"name\": \"disk\", \"service\": {\"kind\": \"fixed\", \"ns\": 2}}]"),
            "hello.json: /backends/1/name: expected a back-end name not used by an earlier back-end, found \"disk\" "
            "(/backends/0 has it)");
  EXPECT_EQ(OverrideError("fabric.root_vp_speed=0"),
            "hello.json: /fabric/root_vp_speed: expected a number in [0.01, 100], found 0");
  EXPECT_EQ(OverrideError("fabric.root_vp_speed=[1]"),
            "hello.json: /fabric/root_vp_speed: expected a number, or an array of 2 numbers (one per VP), found "
            "an array");
  EXPECT_EQ(OverrideError("fabric.guests.0.vp_speed=[1, \"fast\"]"),
            "hello.json: /fabric/guests/0/vp_speed/1: expected a number in [0.01, 100], found \"fast\"");
}

// A "trace" arrival carries its own times and sizes: the events are kept in
// order, the request count is theirs, and each event is checked in place.
TEST(LoaderTest, TraceArrivalsKeepTheirEvents) {
  const absl::StatusOr<ScenarioSpec> spec =
      Load(kOneChannel, {"workloads.0={\"channel\": \"net\", \"start_ns\": 100, \"arrival\": "
                         "{\"kind\": \"trace\", \"events\": [[0, 64], [2500, 1500], [2500, 8]]}}"});
  ASSERT_TRUE(spec.ok()) << spec.status();
  const WorkloadSpec& w = spec->workloads[0];
  EXPECT_EQ(w.arrival.kind, "trace");
  EXPECT_EQ(w.arrival.events, (std::vector<ArrivalSpec::Event>{{0, 64}, {2500, 1500}, {2500, 8}}));
  EXPECT_EQ(w.requests, 3u);
  EXPECT_EQ(w.start_ns, 100);
  EXPECT_EQ(WorkloadBytesMax(w), 1500u);
}

TEST(LoaderErrorTest, TraceArrivals) {
  const auto trace = [](absl::string_view events, absl::string_view extra = "") {
    return absl::StrCat("workloads.0={\"channel\": \"net\", ", extra,
                        "\"arrival\": {\"kind\": \"trace\", \"events\": ", events, "}}");
  };
  EXPECT_EQ(OverrideError("workloads.0.arrival.kind=trace"),
            "hello.json: /workloads/0/arrival: missing required key \"events\" (kind \"trace\" "
            "replays them)");
  EXPECT_EQ(OverrideError("workloads.0.arrival.events=[[0, 64]]"),
            "hello.json: /workloads/0/arrival/events: unexpected for kind \"closed_loop\" (only "
            "kind \"trace\" replays events)");
  EXPECT_EQ(OverrideError(trace("[]")),
            "hello.json: /workloads/0/arrival/events: expected an array of 1..8000000 [time_ns, "
            "bytes] pairs, found []");
  EXPECT_EQ(OverrideError(trace("[[0, 64], [10]]")),
            "hello.json: /workloads/0/arrival/events/1: expected a [time_ns, bytes] pair, found "
            "an array");
  EXPECT_EQ(OverrideError(trace("[[500, 64], [400, 64]]")),
            "hello.json: /workloads/0/arrival/events/1/0: expected an integer in "
            "500..1000000000000000000 (times do not decrease), found 400");
  EXPECT_EQ(OverrideError(trace("[[0, -1]]")),
            "hello.json: /workloads/0/arrival/events/0/1: expected an integer in 0..16777216, "
            "found -1");
  EXPECT_EQ(OverrideError(trace("[[0, 64]]", "\"size\": {\"bytes\": 64}, ")),
            "hello.json: /workloads/0/size: unexpected for arrival kind \"trace\" (its events "
            "carry the sizes)");
  EXPECT_EQ(OverrideError(trace("[[0, 64]]", "\"requests\": 2, ")),
            "hello.json: /workloads/0/requests: expected 1 (the number of arrival events) or no "
            "key, found 2");
  EXPECT_TRUE(Load(kOneChannel, {trace("[[0, 64]]", "\"requests\": 1, ")}).ok());
  EXPECT_EQ(OverrideError(trace("[[0, 64], [1, 4096], [2, 4097]]")),
            "hello.json: /workloads/0/arrival/events/2/1: expected a request of at most 4096 "
            "bytes (/channels/0/max_packet_bytes), found 4097");
}

// A request the guest driver cannot send whole is refused here, naming the
// size field and the limit's field, rather than cut or dropped in the run.
TEST(LoaderErrorTest, RequestsFitTheChannel) {
  EXPECT_TRUE(Load(kOneChannel, {"workloads.0.size.bytes=4096"}).ok());  // The limit itself.
  EXPECT_EQ(OverrideError("workloads.0.size.bytes=8192"),
            "hello.json: /workloads/0/size/bytes: expected a request of at most 4096 bytes "
            "(/channels/0/max_packet_bytes), found 8192");
  EXPECT_EQ(LoadError(kOneChannel,
                      {"workloads.0.arrival.kind=poisson",
                       "workloads.0.size={\"kind\": \"uniform\", \"min_bytes\": 64, "
                       "\"max_bytes\": 8192}"}),
            "hello.json: /workloads/0/size/max_bytes: expected a request of at most 4096 bytes "
            "(/channels/0/max_packet_bytes), found 8192");
  EXPECT_EQ(LoadError(kOneChannel,
                      {"workloads.0.arrival.kind=fixed_rate", "channels.0.max_packet_bytes=1024",
                       "workloads.0.size={\"kind\": \"empirical\", \"table\": [{\"bytes\": 64}, "
                       "{\"bytes\": 1500}, {\"bytes\": 1500}, {\"bytes\": 512}]}"}),
            "hello.json: /workloads/0/size/table/1/bytes: expected a request of at most 1024 "
            "bytes (/channels/0/max_packet_bytes), found 1500");
  // The default size (64 bytes) counts too.
  EXPECT_EQ(OverrideError("channels.0.max_packet_bytes=32"),
            "hello.json: /workloads/0/size/bytes: expected a request of at most 32 bytes "
            "(/channels/0/max_packet_bytes), found 64");
}

// The guest driver gets one request size and one closed loop per channel
// (DriverContext), so a workload that would be resized or ignored is refused.
TEST(LoaderErrorTest, ClosedLoopsHaveOneSize) {
  EXPECT_EQ(OverrideError("workloads.0.size={\"kind\": \"uniform\", \"min_bytes\": 64, "
                          "\"max_bytes\": 128}"),
            "hello.json: /workloads/0/size/kind: expected \"fixed\" for a closed_loop workload "
            "(the guest driver keeps `outstanding` requests of one size in flight), found "
            "\"uniform\"");
  EXPECT_EQ(OverrideError("workloads=[{\"channel\": \"net\"}, {\"channel\": \"net\"}]"),
            "hello.json: /workloads/1/arrival/kind: expected one closed_loop workload per channel, "
            "found a second on channel \"net\" (/workloads/0 is the first)");
  // Open-loop requests beside a closed loop use its request buffer.
  EXPECT_TRUE(Load(kOneChannel, {"workloads=[{\"channel\": \"net\"}, {\"channel\": \"net\", "
                                 "\"arrival\": {\"kind\": \"poisson\"}}]"})
                  .ok());
  EXPECT_EQ(OverrideError("workloads=[{\"channel\": \"net\", \"arrival\": {\"kind\": \"poisson\"}, "
                          "\"size\": {\"bytes\": 128}}, {\"channel\": \"net\"}]"),
            "hello.json: /workloads/0/size/bytes: expected a request of at most 64 bytes "
            "(/workloads/1/size/bytes: the closed loop on this channel sets the guest driver's "
            "request buffer), found 128");
}

TEST(LoaderErrorTest, CostOverrides) {
  EXPECT_EQ(OverrideError("fabric.cost_overrides.isr_dispatch_ns=-1"),
            "hello.json: /fabric/cost_overrides/isr_dispatch_ns: expected an integer in "
            "0..1000000000000, found -1");
  // The default monitor latency goes into offers, in 100 ns units of 16 bits.
  EXPECT_TRUE(Load(kOneChannel, {"fabric.cost_overrides.monitor_latency_default_ns=6553500"}).ok());
  EXPECT_TRUE(Load(kOneChannel, {"fabric.cost_overrides.monitor_latency_default_ns=0"}).ok());
  EXPECT_EQ(OverrideError("fabric.cost_overrides.monitor_latency_default_ns=6553600"),
            "hello.json: /fabric/cost_overrides/monitor_latency_default_ns: expected a multiple "
            "of 100 in 0..6553500 (offers carry it in 100 ns units, 16 bits), found 6553600");
  EXPECT_EQ(OverrideError("fabric.cost_overrides.monitor_latency_default_ns=150"),
            "hello.json: /fabric/cost_overrides/monitor_latency_default_ns: expected a multiple "
            "of 100 in 0..6553500 (offers carry it in 100 ns units, 16 bits), found 150");
  const absl::StatusOr<ScenarioSpec> spec =
      Load(kOneChannel, {"fabric.cost_overrides.kmcl_call_ns=0"});
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->fabric.cost_overrides.at("kmcl_call_ns"), 0);
}

TEST(LoaderErrorTest, Findings) {
  EXPECT_EQ(OverrideError("expectations.findings=[{\"rule\": \"double_complete\"}]"),
            "hello.json: /expectations/findings/0/rule: expected one of "
            "\"stale_or_foreign_handle\", \"init_setter_wrong_state\", \"cleanup_not_disabled\", "
            "\"lifecycle_call_in_state_callback\", \"double_completion\", "
            "\"packet_not_completed_at_close\", \"packet_call_outside_process_packet\", "
            "\"send_on_disabled_channel\", \"send_after_suspend\", \"oversize_packet\", "
            "\"send_without_completion_routine\", \"packet_free_invalid\", "
            "\"blocking_call_at_dispatch\", \"irql_violation\", \"sync_request_in_started\", "
            "\"sync_request_wait_on_server\", \"gpadl_not_deleted_at_close\", "
            "\"interrupt_latency_outside_open\", \"call_in_wrong_state\", \"completion_after_close\", "
            "\"gpadl_use_after_unmap\", found "
            "\"double_complete\"; did you mean \"double_completion\"?");
  EXPECT_EQ(OverrideError("expectations.findings=[{\"rule\": \"oversize_packet\"}, "
                          "{\"rule\": \"oversize_packet\"}]"),
            "hello.json: /expectations/findings/1/rule: expected a rule not listed by an "
            "earlier entry, found \"oversize_packet\" (/expectations/findings/0 lists it)");
  EXPECT_EQ(OverrideError("expectations.findings=[{\"rule\": \"oversize_packet\", "
                          "\"min_count\": 3, \"max_count\": 2}]"),
            "hello.json: /expectations/findings/0: expected min_count <= max_count, found "
            "min_count 3 and max_count 2");
  EXPECT_EQ(OverrideError("expectations.findings=[{\"min_count\": 3}]"),
            "hello.json: /expectations/findings/0: missing required key \"rule\"");
}

TEST(LoaderErrorTest, BugsTeardownAndFailureCounts) {
  EXPECT_EQ(OverrideError("channels.0.lost_wakeup_bug=gust"),
            "hello.json: /channels/0/lost_wakeup_bug: expected one of \"none\", \"host\", "
            "\"guest\", found \"gust\"; did you mean \"guest\"?");
  EXPECT_EQ(OverrideError("channels.0.lost_wakeup_bug=true"),
            "hello.json: /channels/0/lost_wakeup_bug: expected one of \"none\", \"host\", "
            "\"guest\", found true");
  EXPECT_EQ(OverrideError("channels.0.host_stop_ns=-1"),
            "hello.json: /channels/0/host_stop_ns: expected an integer in "
            "0..1000000000000000000, found -1");
  EXPECT_EQ(OverrideError("channels.0.guest_stop_ns=1000000000000000001"),
            "hello.json: /channels/0/guest_stop_ns: expected an integer in "
            "0..1000000000000000000, found 1000000000000000001");
  EXPECT_EQ(OverrideError("channels.0.host_stop=5"),
            "hello.json: /channels/0/host_stop: unknown key; did you mean \"host_stop_ns\"?");
  EXPECT_EQ(OverrideError("expectations.lost_packets_min=0"),
            "hello.json: /expectations/lost_packets_min: expected an integer in 1..1000000000, "
            "found 0");
  EXPECT_EQ(OverrideError("expectations.failed_transactions_min=1000000001"),
            "hello.json: /expectations/failed_transactions_min: expected an integer in "
            "1..1000000000, found 1000000001");
  EXPECT_EQ(LoadError(kOneChannel,
                      {"expectations.no_lost_packets=true", "expectations.lost_packets_min=5"}),
            "hello.json: /expectations/lost_packets_min: expected no lost_packets_min while "
            "\"no_lost_packets\" is true, found 5 (set \"no_lost_packets\" to false or leave it "
            "out)");
}

TEST(LoaderTest, Faults) {
  absl::StatusOr<ScenarioSpec> spec = Load(
      kOneChannel,
      {R"(faults={"stuck_ns": 5000000, "injections": [
          {"kind": "signal_drop", "target": {"channel": "net"},
           "trigger": {"probability": {"numerator": 1, "denominator": 50}}, "params": {"direction": "to_host"}},
          {"kind": "vp_stall", "target": {"partition": 0}, "trigger": {"at_ns": 1000},
           "params": {"duration_ns": 2000}, "max_firings": 3},
          {"kind": "completion_late", "trigger": {"after": {"event": "kmcl_send", "count": 10}}},
          {"kind": "signal_throttle", "target": {"class": "f8615163-df3e-46c5-913f-f2d2f965ed0e"},
           "trigger": {"while": "ring_nonempty"}}]})"});
  ASSERT_TRUE(spec.ok()) << spec.status();
  const FaultsSpec& f = spec->faults;
  EXPECT_EQ(f.stuck_ns, 5000000);
  ASSERT_EQ(f.injections.size(), 4u);
  EXPECT_EQ(f.injections[0].kind, "signal_drop");
  EXPECT_EQ(f.injections[0].target.kind, "channel");
  EXPECT_EQ(f.injections[0].target.channel, "net");
  EXPECT_EQ(f.injections[0].trigger.kind, "probability");
  EXPECT_EQ(f.injections[0].trigger.numerator, 1u);
  EXPECT_EQ(f.injections[0].trigger.denominator, 50u);
  EXPECT_EQ(f.injections[0].string_params.at("direction"), "to_host");
  EXPECT_EQ(f.injections[1].target.kind, "partition");
  EXPECT_EQ(f.injections[1].target.partition, 0);
  EXPECT_EQ(f.injections[1].trigger.at_ns, 1000);
  EXPECT_EQ(f.injections[1].int_params.at("duration_ns"), 2000);
  EXPECT_EQ(f.injections[1].max_firings, 3u);
  EXPECT_EQ(f.injections[2].target.kind, "all");
  EXPECT_EQ(f.injections[2].trigger.event, "kmcl_send");
  EXPECT_EQ(f.injections[2].trigger.count, 10u);
  EXPECT_EQ(f.injections[3].target.interface_type, "f8615163-df3e-46c5-913f-f2d2f965ed0e");
  EXPECT_EQ(f.injections[3].trigger.predicate, "ring_nonempty");
  EXPECT_TRUE(Load(kOneChannel, {"faults={}"}).ok());
}

TEST(LoaderErrorTest, Faults) {
  EXPECT_EQ(OverrideError("faults.drop=1"), "hello.json: /faults/drop: unknown key; expected one of \"stuck_ns\", \"injections\"");
  EXPECT_EQ(OverrideError("faults=[]"), "hello.json: /faults: expected an object, found []");
  EXPECT_EQ(OverrideError(R"(faults={"injections": [{"kind": "signal_dorp"}]})"),
            "hello.json: /faults/injections/0/kind: expected one of \"signal_drop\", \"signal_delay\", "
            "\"signal_duplicate\", \"spurious_signal\", \"interrupt_drop\", \"interrupt_delay\", "
            "\"interrupt_duplicate\", \"monitor_latency_jitter\", \"monitor_latency_change\", \"vp_stall\", "
            "\"message_delay\", \"message_queue_full\", \"early_signal_drop\", \"ring_bad_write_index\", "
            "\"ring_bad_descriptor_length\", \"ring_bad_data_offset\", \"ring_bad_packet_type\", "
            "\"ring_oversize_packet\", \"ring_zero_length_packet\", \"ring_read_index_backwards\", "
            "\"completion_drop\", \"completion_duplicate\", \"completion_late\", \"completion_reorder\", "
            "\"completion_wrong_trans_id\", \"rescind\", \"open_failure\", \"gpadl_failure\", "
            "\"packet_allocate_failure\", \"host_crash\", \"signal_throttle\", \"guest_reset\", "
            "\"save_restore\", found \"signal_dorp\"; did you mean \"signal_drop\"?");
  EXPECT_EQ(OverrideError(
                R"(faults={"injections": [{"kind": "guest_reset", "target": {"partition": 0}, "trigger": {"at_ns": 1}}]})"),
            "hello.json: /faults/injections/0/target/partition: guest_reset resets a guest partition (1..); 0 is "
            "the root");
  EXPECT_EQ(OverrideError(R"(faults={"injections": [{"kind": "signal_drop", "target": {"channel": "disk"}}]})"),
            "hello.json: /faults/injections/0/target/channel: expected the name of a channel (one of \"net\"), "
            "found \"disk\"");
  EXPECT_EQ(OverrideError(R"(faults={"injections": [{"kind": "signal_drop", "target": {}}]})"),
            "hello.json: /faults/injections/0/target: expected an object with exactly one of \"channel\", "
            "\"partition\", \"class\", \"all\", found {}");
  EXPECT_EQ(OverrideError(R"(faults={"injections": [{"kind": "signal_drop", "target": {"partition": 2}}]})"),
            "hello.json: /faults/injections/0/target/partition: expected an integer in 0..1 (0 is the root, "
            "1.. the guests), found 2");
  EXPECT_EQ(OverrideError(R"(faults={"injections": [{"kind": "vp_stall"}]})"),
            "hello.json: /faults/injections/0: missing required key \"trigger\" (fault kind \"vp_stall\" is an "
            "action: it needs \"at_ns\" or \"after\")");
  EXPECT_EQ(OverrideError(R"(faults={"injections": [{"kind": "vp_stall", "trigger": {"while": "reader_masked"}}]})"),
            "hello.json: /faults/injections/0/trigger: fault kind \"vp_stall\" cannot be triggered by \"while\"");
  EXPECT_EQ(OverrideError(R"(faults={"injections": [{"kind": "signal_drop",
                             "trigger": {"probability": {"numerator": 3, "denominator": 2}}}]})"),
            "hello.json: /faults/injections/0/trigger/probability/numerator: expected an integer in 0..2 (at "
            "most the denominator), found 3");
  EXPECT_EQ(OverrideError(R"(faults={"injections": [{"kind": "signal_drop", "params": {"delay_ns": 5}}]})"),
            "hello.json: /faults/injections/0/params/delay_ns: fault kind \"signal_drop\" has no parameter "
            "\"delay_ns\" (it takes \"direction\")");
  EXPECT_EQ(OverrideError(R"(faults={"injections": [{"kind": "signal_delay", "params": {"delay_ns": "5"}}]})"),
            "hello.json: /faults/injections/0/params/delay_ns: expected an integer in 1..1000000000000, found \"5\"");
  EXPECT_EQ(OverrideError(R"(faults={"injections": [{"kind": "signal_drop", "max_firings": 0}]})"),
            "hello.json: /faults/injections/0/max_firings: expected an integer in 1..1000000000, found 0");
  EXPECT_EQ(OverrideError(R"(faults={"stuck_ns": 0})"),
            "hello.json: /faults/stuck_ns: expected an integer in 1..1000000000000000, found 0");
  EXPECT_EQ(OverrideError(R"(faults={"injections": [{"kind": "rescind", "trigger": {"while": "writer_blocked"}}]})"),
            "hello.json: /faults/injections/0/trigger: a rescind at step \"now\" is an action: it needs an "
            "\"at_ns\" or \"after\" trigger");
}

TEST(LoaderErrorTest, DuplicateKeys) {
  EXPECT_EQ(LoadError(R"({"name": "a", "stop": {"time_ns": 1, "time_ns": 2}})"),
            "hello.json: /stop/time_ns: duplicate key");
  EXPECT_EQ(LoadError(R"({"name": "a", "channels": [{}, {"name": "x", "name": "y"}]})"),
            "hello.json: /channels/1/name: duplicate key");
  EXPECT_EQ(LoadError(R"({"name": "a", "name": "b"})"), "hello.json: /name: duplicate key");
}

// Deep nesting is data from a file, not a reason to overflow the stack:
// parsing, validating and freeing the DOM are all iterative or bounded.
TEST(LoaderErrorTest, DeepNestingIsJustAnError) {
  constexpr int kDepth = 100000;
  const std::string deep = std::string(kDepth, '[') + std::string(kDepth, ']');
  EXPECT_EQ(LoadError(deep), "hello.json: expected an object, found an array");
  EXPECT_EQ(OverrideError("stop=" + deep), "hello.json: /stop: expected an object, found an array");
}

// ---------------------------------------------------------------------------
// Syntax errors: line and column (1-based, columns in bytes).

TEST(LoaderSyntaxTest, NamesLineAndColumn) {
  EXPECT_EQ(LoadError("{\n  \"name\": \"x\",\n  oops\n}"),
            "hello.json:3:3: invalid JSON: syntax error while parsing object key - invalid "
            "literal; last read: '\"x\",<U+000A>  o'; expected string literal");
  EXPECT_EQ(LoadError("{\"name\": \"x\",}"),
            "hello.json:1:14: invalid JSON: syntax error while parsing object key - unexpected "
            "'}'; expected string literal");
  EXPECT_EQ(LoadError("{\"name\": \"x\"\n"),
            "hello.json:2:1: invalid JSON: syntax error while parsing object - unexpected end of "
            "input; expected '}'");
  EXPECT_EQ(LoadError(""),
            "hello.json:1:1: invalid JSON: syntax error while parsing value - unexpected end of "
            "input; expected '[', '{', or a literal");
  // nlohmann rejects a float that overflows a double while parsing.
  EXPECT_EQ(LoadError("{\"name\": \"x\",\n \"seed\": 1e400}"),
            "hello.json:2:14: invalid JSON: number overflow parsing '1e400'");
  EXPECT_EQ(LoadError("{\"name\": \"x\"} {}"),
            "hello.json:1:15: invalid JSON: syntax error while parsing value - unexpected '{'; "
            "expected end of input");
}

// nlohmann reads a NUL byte as the end of the input; JSON text never holds
// one raw, so what follows it must not be dropped unseen.
TEST(LoaderSyntaxTest, NulBytesAreErrorsAtTheirPosition) {
  using std::string_literals::operator""s;
  const std::string nul_reason =
      "invalid JSON: unexpected NUL byte (JSON text holds U+0000 only as \"\\u0000\" inside a "
      "string)";
  // After the value: the rest would have been ignored.
  EXPECT_EQ(LoadError("{\"name\": \"x\"}\0{\"seed\": \"y\"}"s),
            "hello.json:1:14: " + nul_reason);
  EXPECT_EQ(LoadError("{\"name\": \"x\"}\n\n  \0"s), "hello.json:3:3: " + nul_reason);
  // Inside the value, where nlohmann sees the input end early, and inside a
  // string, where it sees an unescaped control character.
  EXPECT_EQ(LoadError("{\"name\": \0\"x\"}"s), "hello.json:1:10: " + nul_reason);
  EXPECT_EQ(LoadError("{\"name\": \"x\0\"}"s), "hello.json:1:12: " + nul_reason);
  // An earlier syntax error is reported first; the escaped form is fine.
  EXPECT_EQ(LoadError("{\"name\": x}\0"s),
            "hello.json:1:10: invalid JSON: syntax error while parsing value - invalid literal; "
            "last read: '\"name\": x'");
  EXPECT_TRUE(Load(R"({"name": "x", "description": "a\u0000b"})").ok());
  // An override's value is checked the same way.
  EXPECT_EQ(OverrideError("seed=1\0{}"s),
            "--set \"seed=1\\u0000{}\": the value holds a NUL byte");
}

// ---------------------------------------------------------------------------
// Overrides.

TEST(LoaderOverrideTest, PointerAndDottedForms) {
  const absl::StatusOr<ScenarioSpec> spec =
      Load(kOneChannel, {"/channels/0/max_packet_bytes=8192", "channels.0.incoming_ring_pages=4",
                         "seed=99", "description=two words", "name=\"quoted\""});
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->channels[0].max_packet_bytes, 8192u);
  EXPECT_EQ(spec->channels[0].incoming_ring_pages, 4u);
  EXPECT_EQ(spec->seed, 99u);
  EXPECT_EQ(spec->description, "two words");  // Not JSON: taken as a string.
  EXPECT_EQ(spec->name, "quoted");
}

TEST(LoaderOverrideTest, CreatesMissingObjectKeys) {
  const absl::StatusOr<ScenarioSpec> spec =
      Load(kOneChannel,
           {"stop.time_ns=1000", "/exploration/tie_break_seed=5",
            "channels.0.host_driver.params.verbose=true", "fabric.guests=[{\"vps\": 4}, {}]"});
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->stop.time_ns, 1000);
  EXPECT_EQ(spec->exploration.tie_break_seed, 5u);
  EXPECT_EQ(spec->channels[0].host_driver.bool_params.at("verbose"), true);
  ASSERT_EQ(spec->fabric.guests.size(), 2u);
  EXPECT_EQ(spec->fabric.guests[0].vps, 4u);
}

TEST(LoaderOverrideTest, LaterOverridesWin) {
  const absl::StatusOr<ScenarioSpec> spec = Load(kOneChannel, {"seed=1", "seed=2"});
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->seed, 2u);
}

TEST(LoaderOverrideTest, BadPathsNameTheOverride) {
  EXPECT_EQ(OverrideError("channels.1.name=x"),
            "--set \"channels.1.name=x\": /channels/1: no such element (the array has 1)");
  EXPECT_EQ(OverrideError("channels.first.name=x"),
            "--set \"channels.first.name=x\": /channels is an array and \"first\" is not an "
            "index");
  EXPECT_EQ(OverrideError("name.low=1"),
            "--set \"name.low=1\": /name is a string, not an object or array");
  EXPECT_EQ(OverrideError("seed"), "--set \"seed\": expected \"path=value\"");
  EXPECT_EQ(OverrideError("=1"), "--set \"=1\": empty path");
  EXPECT_EQ(OverrideError("stop..time_ns=1"),
            "--set \"stop..time_ns=1\": empty component in path \"stop..time_ns\"");
  EXPECT_EQ(OverrideError("/stop/~2=1"),
            "--set \"/stop/~2=1\": bad JSON pointer \"/stop/~2\" (\"~\" must be \"~0\" or "
            "\"~1\")");
  EXPECT_EQ(LoadError("[]", {"name=x"}),
            "--set \"name=x\": the document is an array and \"name\" is not an index");
}

}  // namespace
}  // namespace vmbsim::scenario
