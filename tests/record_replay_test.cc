// record_replay_test.cc
//
// Goal: a recording is a faithful, compact account of a run. For every
// library scenario, recording then replaying gives every event again and
// the same report; a trace whose scenario differs in one field from the
// run it holds is caught at the first event that field changes, named in
// domain terms; and what-if replay keeps the recorded arrivals while the
// world changes: a bursty run replayed at 0, 25, 100 and 500 us of monitor
// latency gives, on the replayed channel, exactly the figures that the
// library's monitor_latency_batching measures on its channel at that
// latency, and exactly the run of the scenario with the same change.
// Method: record through the Recorder (what `run --record` uses), replay
// through the library calls behind `vmbsim replay`; independent oracles are
// in-memory record streams of two runs and direct runs of the scenario.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "sim/core/trace.h"
#include "tests/scenario_testing.h"
#include "tools/recording/event_text.h"
#include "tools/recording/recorder.h"
#include "tools/recording/replay.h"
#include "tools/recording/trace_file.h"
#include "tools/scenario/loader.h"
#include "tools/scenario/report.h"
#include "tools/scenario/runner.h"

namespace vmbsim::recording {
namespace {

using scenario::DriverRegistry;
using scenario::RunReport;
using scenario::ScenarioSpec;

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

ScenarioSpec LoadFile(const std::string& file, const std::vector<std::string>& overrides = {}) {
  const DriverRegistry registry = DriverRegistry::WithBuiltins();
  absl::StatusOr<ScenarioSpec> spec = scenario::LoadScenarioFile(file, registry.descriptors(), overrides);
  EXPECT_TRUE(spec.ok()) << spec.status();
  return spec.ok() ? *spec : ScenarioSpec{};
}

// Runs `spec` recording it to `path`; returns the report and the file's size.
RunReport Record(const ScenarioSpec& spec, const std::string& path, uint64_t* bytes = nullptr) {
  const DriverRegistry registry = DriverRegistry::WithBuiltins();
  scenario::RunOptions options;
  absl::StatusOr<std::unique_ptr<Recorder>> recorder = Recorder::Start(path, spec, options, {"test"}, {});
  EXPECT_TRUE(recorder.ok()) << recorder.status();
  if (!recorder.ok()) return {};
  options.sinks.push_back((*recorder)->sink());
  absl::StatusOr<RunReport> report = scenario::RunScenario(spec, registry, options);
  EXPECT_TRUE(report.ok()) << report.status();
  if (!report.ok()) return {};
  EXPECT_TRUE((*recorder)->Finish(*report).ok());
  if (bytes != nullptr) *bytes = (*recorder)->bytes_written();
  return *report;
}

TEST(RecordReplayTest, EveryLibraryScenarioReplaysIdentically) {
  const DriverRegistry registry = DriverRegistry::WithBuiltins();
  uint64_t total_bytes = 0;
  uint64_t total_events = 0;
  for (const std::string& file : scenario::testing::LibraryFiles()) {
    SCOPED_TRACE(file);
    const ScenarioSpec spec = LoadFile(file);
    const std::string path = TempPath(spec.name + ".trace");
    uint64_t bytes = 0;
    const RunReport recorded = Record(spec, path, &bytes);
    total_bytes += bytes;
    total_events += recorded.trace_records;
    std::printf("%-28s %9llu events %10llu bytes %5.2f bytes/event\n", spec.name.c_str(),
                static_cast<unsigned long long>(recorded.trace_records), static_cast<unsigned long long>(bytes),
                static_cast<double>(bytes) / static_cast<double>(recorded.trace_records));
    absl::StatusOr<ReplayResult> replay = Replay(path, registry, {});
    ASSERT_TRUE(replay.ok()) << replay.status();
    EXPECT_FALSE(replay->divergence.has_value())
        << FormatDivergence(*replay->divergence, "recorded", "replayed");
    EXPECT_EQ(replay->recorded.event_count, recorded.trace_records);
    EXPECT_EQ(replay->recorded.fingerprint, recorded.fingerprint);
    EXPECT_EQ(replay->report.fingerprint, recorded.fingerprint);
    RunReport again = replay->report;
    RunReport first = recorded;
    again.wall_seconds = first.wall_seconds = 0;  // The one figure of the host machine.
    EXPECT_EQ(scenario::ReportJson(again), scenario::ReportJson(first));
    EXPECT_EQ(replay->recorded.exit_code, scenario::ExitCodeFor(recorded));
  }
  const double average = static_cast<double>(total_bytes) / static_cast<double>(total_events);
  std::printf("library: %llu events, %llu bytes, %.2f bytes per event\n",
              static_cast<unsigned long long>(total_events), static_cast<unsigned long long>(total_bytes), average);
  EXPECT_LE(average, 24.0);
}

// A trace at `out` with the events (and footer) of `in` under another header.
void Rewrite(const std::string& in, const std::string& out, const std::string& scenario_json) {
  absl::StatusOr<std::unique_ptr<TraceReader>> reader = TraceReader::Open(in);
  ASSERT_TRUE(reader.ok()) << reader.status();
  TraceHeaderInfo header = (*reader)->header();
  header.scenario_json = scenario_json;
  absl::StatusOr<std::unique_ptr<TraceWriter>> writer = TraceWriter::Create(out, header);
  ASSERT_TRUE(writer.ok()) << writer.status();
  sim::TraceRecord r;
  for (;;) {
    absl::StatusOr<bool> more = (*reader)->Next(&r);
    ASSERT_TRUE(more.ok()) << more.status();
    if (!*more) break;
    (*writer)->OnRecord(r);
  }
  ASSERT_TRUE((*writer)->Finish((*reader)->footer()).ok());
}

// The index of the first record where two in-memory runs differ.
size_t FirstDifference(const std::vector<sim::TraceRecord>& a, const std::vector<sim::TraceRecord>& b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && sim::SameEvent(a[i], b[i])) ++i;
  return i;
}

// One field of the scenario changed (SynIC message delivery takes 3.1 us
// instead of 3 us): replay of the recording under the changed scenario stops
// at the first event the change moves, the guest's first message delivery.
TEST(RecordReplayTest, AOneFieldChangeDivergesAtTheRightEvent) {
  const std::string original = TempPath("hello_original.trace");
  const std::string changed = TempPath("hello_changed.trace");
  const ScenarioSpec spec = LoadFile("scenarios/hello.json");
  Record(spec, original);
  const ScenarioSpec slower = LoadFile("scenarios/hello.json", {"fabric.cost_overrides.simp_delivery_ns=3100"});
  Rewrite(original, changed, slower.document_json);

  // The oracle: both runs in memory.
  sim::RecordingTraceSink a;
  sim::RecordingTraceSink b;
  const DriverRegistry registry = DriverRegistry::WithBuiltins();
  ASSERT_TRUE(scenario::RunScenario(spec, registry, {.sinks = {&a}}).ok());
  ASSERT_TRUE(scenario::RunScenario(slower, registry, {.sinks = {&b}}).ok());
  const size_t first = FirstDifference(a.records(), b.records());
  ASSERT_LT(first, a.records().size());

  absl::StatusOr<ReplayResult> replay = Replay(changed, registry, {.context = 3});
  ASSERT_TRUE(replay.ok()) << replay.status();
  ASSERT_TRUE(replay->divergence.has_value());
  const Divergence& d = *replay->divergence;
  EXPECT_EQ(d.index, first);
  ASSERT_TRUE(d.a.has_value() && d.b.has_value());
  EXPECT_EQ(d.a->sequence, first);
  EXPECT_EQ(KindName(d.a->kind), KindName(a.records()[first].kind));
  EXPECT_EQ(d.before.size(), 3u);
  // What a person reads: the delivery to the guest came 100 ns later.
  EXPECT_EQ(KindName(d.a->kind), "message_deliver");
  EXPECT_EQ(d.a->partition, 1);
  ASSERT_EQ(d.fields.size(), 1u) << FormatDivergence(d, "recorded", "replayed");
  EXPECT_EQ(d.fields[0], absl::StrCat("time_ns: ", d.a->time.nanoseconds(), " vs ", d.a->time.nanoseconds() + 100));
}

// What-if: the recorded bursts of monitor_latency_batching's lat25 channel
// replayed with the settings of each of the library's four channels.
TEST(RecordReplayTest, WhatIfKeepsArrivalsAndGivesTheBatchingFigures) {
  const std::string path = TempPath("batching.trace");
  const ScenarioSpec spec = LoadFile("scenarios/monitor_latency_batching.json");
  Record(spec, path);
  const DriverRegistry registry = DriverRegistry::WithBuiltins();
  std::vector<ChannelFigures> recorded;  // The library's four channels, as recorded.
  struct Setting {
    std::string channel;  // The library's channel at this latency.
    std::vector<std::string> overrides;
  };
  const std::vector<Setting> settings = {
      {"lat0", {"channels.1.monitored=false", "channels.1.guest_target_vp=1"}},
      {"lat25", {"channels.1.interrupt_latency_100ns=250"}},
      {"lat100", {"channels.1.interrupt_latency_100ns=1000"}},
      {"lat500", {"channels.1.interrupt_latency_100ns=5000"}},
  };
  const auto figures = [](const std::vector<ChannelFigures>& all, const std::string& name) {
    for (const ChannelFigures& c : all) {
      if (c.name == name) return c;
    }
    ADD_FAILURE() << "no channel " << name;
    return ChannelFigures{};
  };
  for (const Setting& s : settings) {
    SCOPED_TRACE(s.channel);
    absl::StatusOr<ReplayResult> what_if = Replay(path, registry, {.overrides = s.overrides});
    ASSERT_TRUE(what_if.ok()) << what_if.status();
    EXPECT_EQ(what_if->arrivals, 16000u);
    EXPECT_TRUE(what_if->arrivals_identical) << what_if->arrivals_detail;
    const ChannelFigures replayed = figures(what_if->replayed_figures, "lat25");
    recorded = what_if->recorded_figures;
    const ChannelFigures library = figures(recorded, s.channel);
    EXPECT_EQ(replayed.guest_to_host.sent, 4000u);
    EXPECT_EQ(replayed.guest_to_host.batches, library.guest_to_host.batches);
    EXPECT_EQ(replayed.guest_to_host.packets_read, library.guest_to_host.packets_read);
    EXPECT_EQ(replayed.guest_to_host.latency_ns.Percentiles().p50, library.guest_to_host.latency_ns.Percentiles().p50);
    EXPECT_EQ(replayed.guest_to_host.latency_ns.Percentiles().p99, library.guest_to_host.latency_ns.Percentiles().p99);
    // And it is the scenario's own run with the same change: open-loop
    // arrivals replayed are the arrivals drawn, event for event.
    const ScenarioSpec direct_spec = LoadFile("scenarios/monitor_latency_batching.json", s.overrides);
    absl::StatusOr<RunReport> direct = scenario::RunScenario(direct_spec, registry);
    ASSERT_TRUE(direct.ok());
    EXPECT_EQ(what_if->report.fingerprint, direct->fingerprint);
  }
  // Latency buys batching: packets per host batch grow with the latency.
  double previous = 0;
  for (const std::string name : {"lat0", "lat25", "lat100", "lat500"}) {
    const double per_batch = figures(recorded, name).guest_to_host.packets_per_batch();
    EXPECT_GT(per_batch, previous) << name;
    previous = per_batch;
  }
}

TEST(RecordReplayTest, WhatIfRefusesToChangeTheWorkloads) {
  const std::string path = TempPath("hello_workloads.trace");
  Record(LoadFile("scenarios/hello.json"), path);
  absl::StatusOr<ReplayResult> replay =
      Replay(path, DriverRegistry::WithBuiltins(), {.overrides = {"workloads.0.requests=5"}});
  ASSERT_FALSE(replay.ok());
  EXPECT_EQ(replay.status().message(),
            "--set workloads.0.requests=5: what-if replay keeps the recorded arrivals; the workloads cannot be "
            "changed");
}

}  // namespace
}  // namespace vmbsim::recording
