// Captures from real systems, end to end: each sample capture under
// tests/captures is imported, the scenario is loaded, and its run's
// arrivals are compared with the capture. The expected arrivals are written
// out by hand from the capture files (times relative to the first record,
// plus the replay's start), so the test checks the importer against the
// files, not against itself; the run's workload-arrival trace records must
// then show the same channels, times and sizes, every request answered.

#include <cstdint>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "sim/core/trace.h"
#include "tools/recording/capture_csv.h"
#include "tools/recording/capture_scenario.h"
#include "tools/recording/capture_trace_cmd.h"
#include "tools/scenario/drivers.h"
#include "tools/scenario/loader.h"
#include "tools/scenario/runner.h"
#include "tools/scenario/trace_kinds.h"

namespace vmbsim::recording {
namespace {

using Arrivals = std::map<std::string, std::vector<std::pair<int64_t, uint32_t>>>;  // Channel -> (ns, bytes).

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.is_open()) << path;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Collects the runner's workload-arrival records.
class ArrivalSink : public sim::TraceSink {
 public:
  void OnRecord(const sim::TraceRecord& record) override {
    arrivals.push_back({static_cast<size_t>(record.id0), record.time.nanoseconds(), static_cast<uint32_t>(record.size0)});
  }
  std::vector<uint16_t> Kinds() const override { return {scenario::kWorkloadArrivalTraceKind}; }

  struct Arrival {
    size_t workload;
    int64_t time_ns;
    uint32_t bytes;
  };
  std::vector<Arrival> arrivals;
};

struct Sample {
  std::string file;
  std::string format;
  Arrivals expected;  // Relative to the capture's first record.
};

std::vector<Sample> Samples() {
  return {
      {"tests/captures/storage_and_net.csv",
       "csv",
       {{"net0", {{0, 1514}, {4000, 1514}, {8000, 66}, {100000, 1514}, {100000, 1514}, {101000, 1514}}},
        {"disk", {{9000, 512}, {200000, 4096}, {200500, 4096}, {201000, 4096}}}}},
      // The CONTROL packet carries its rndis_send's msg_len (28); DATA
      // packets their section size.
      {"tests/captures/netvsc_trace_cmd.txt",
       "trace-cmd",
       {{"eth0-q0",
         {{995000, 28}, {7693000, 98}, {1007693000, 98}, {1097693000, 1514}, {1097697000, 1514}, {1097700000, 1514}}}}},
      {"tests/captures/netvsc_perf_script.txt",
       "trace-cmd",
       {{"eth0-q0", {{400000, 1514}, {405000, 1514}, {600000, 66}}}, {"eth0-q1", {{410000, 1514}}}}},
  };
}

TEST(CaptureImport, SamplesReplayTheirArrivals) {
  const scenario::DriverRegistry registry = scenario::DriverRegistry::WithBuiltins();
  for (const Sample& sample : Samples()) {
    SCOPED_TRACE(sample.file);
    const std::string text = ReadFile(sample.file);
    const absl::StatusOr<Capture> capture = sample.format == "csv" ? ParseCsvCapture(text, sample.file, 4096)
                                                                   : ParseTraceCmdCapture(text, sample.file, 4096);
    ASSERT_TRUE(capture.ok()) << capture.status();
    const absl::StatusOr<std::string> json = ScenarioJsonFor(*capture, {.name = "sample"});
    ASSERT_TRUE(json.ok()) << json.status();
    const absl::StatusOr<scenario::ScenarioSpec> spec = scenario::LoadScenario(*json, sample.file, registry.descriptors());
    ASSERT_TRUE(spec.ok()) << spec.status();

    // The spec: one channel per capture channel, one trace workload per
    // channel with requests, the capture's times and sizes.
    ASSERT_EQ(spec->channels.size(), sample.expected.size());
    Arrivals in_spec;
    for (const scenario::WorkloadSpec& workload : spec->workloads) {
      EXPECT_EQ(workload.arrival.kind, "trace");
      EXPECT_EQ(workload.start_ns, kReplayStartNsDefault);
      EXPECT_EQ(workload.requests, workload.arrival.events.size());
      for (const scenario::ArrivalSpec::Event& e : workload.arrival.events) {
        in_spec[workload.channel].push_back({e.time_ns, e.bytes});
      }
    }
    EXPECT_EQ(in_spec, sample.expected);

    // The run: the arrivals happen at start_ns + time, at their sizes, and
    // every request is answered.
    ArrivalSink sink;
    const absl::StatusOr<scenario::RunReport> report = scenario::RunScenario(*spec, registry, {.sinks = {&sink}});
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_EQ(scenario::ExitCodeFor(*report), scenario::kExitOk);
    EXPECT_TRUE(report->expectations_met);
    Arrivals in_run;
    for (const ArrivalSink::Arrival& a : sink.arrivals) {
      ASSERT_LT(a.workload, spec->workloads.size());
      in_run[spec->workloads[a.workload].channel].push_back({a.time_ns - kReplayStartNsDefault, a.bytes});
    }
    EXPECT_EQ(in_run, sample.expected);
    for (const scenario::ChannelReport& channel : report->channels) {
      const size_t requests = sample.expected.at(channel.name).size();
      EXPECT_EQ(channel.arrivals, requests) << channel.name;
      EXPECT_EQ(channel.arrivals_refused, 0u) << channel.name;
      EXPECT_EQ(channel.metrics.guest_to_host.packets_processed, requests) << channel.name;
    }
  }
}

// What the trace-cmd importer learns from the hyperv events: the netvsc
// queue's relid, its target VP (vmbus_open) and its signals (vmbus_setevent).
TEST(CaptureImport, TraceCmdLinksQueuesToTheirOffers) {
  const std::string file = "tests/captures/netvsc_trace_cmd.txt";
  const absl::StatusOr<Capture> capture = ParseTraceCmdCapture(ReadFile(file), file, 4096);
  ASSERT_TRUE(capture.ok()) << capture.status();
  ASSERT_EQ(capture->channels.size(), 1u);
  EXPECT_EQ(capture->channels[0].relid, 0xeu);
  EXPECT_EQ(capture->channels[0].guest_target_vp, 1u);
  EXPECT_EQ(capture->channels[0].signals, 5u);
  EXPECT_EQ(capture->channels[0].host_packets, 3u);
  EXPECT_EQ(capture->channels[0].host_bytes, 190u);
  EXPECT_EQ(capture->unknown_lines, 2u);  // "cpus=2", "CPU 0 is empty".
  EXPECT_EQ(capture->unknown_events.at("sched_switch"), 1u);
  const absl::StatusOr<std::string> json = ScenarioJsonFor(*capture, {.name = "linked"});
  ASSERT_TRUE(json.ok()) << json.status();
  const scenario::DriverRegistry registry = scenario::DriverRegistry::WithBuiltins();
  const absl::StatusOr<scenario::ScenarioSpec> spec = scenario::LoadScenario(*json, file, registry.descriptors());
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->channels[0].guest_target_vp, 1u);
}

}  // namespace
}  // namespace vmbsim::recording
