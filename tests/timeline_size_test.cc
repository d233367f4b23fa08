// Goal: a whole run's timeline stays small enough to keep and send around:
// at most 100 bytes an event on a library scenario, and its gzip form
// (`run --timeline t.json.gz`) holds exactly the same text.
// Method: run library scenarios with a TimelineWriter as an extra sink, as
// `vmbsim run --timeline` does, and measure the file, not the time: bytes
// per event, and the decompressed gzip against the plain text. The JSON must
// still parse and name every event's phase.
// Goal 2: what Perfetto and chrome://tracing import is the Trace Event
// Format's JSON object form; every event of a library timeline keeps that
// format's rules for its phase (the fields each phase needs, flows that
// begin once, before their steps and end), so the compact form dropped only
// optional fields; and the slices of one VP nest.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tools/scenario/drivers.h"
#include "tools/scenario/gzip.h"
#include "tools/scenario/loader.h"
#include "tools/scenario/runner.h"
#include "tools/scenario/timeline.h"

namespace vmbsim::scenario {
namespace {

constexpr double kBytesPerEventMax = 100;

struct Measured {
  std::string json;
  std::string gz;
  uint64_t events = 0;
};

Measured RunWithTimeline(const std::string& name) {
  const DriverRegistry registry = DriverRegistry::WithBuiltins();
  absl::StatusOr<ScenarioSpec> spec = LoadScenarioFile("scenarios/" + name + ".json", registry.descriptors());
  EXPECT_TRUE(spec.ok()) << spec.status();
  if (!spec.ok()) return {};
  TimelineWriter timeline;
  timeline.set_scenario(spec->name);
  RunOptions options;
  options.sinks.push_back(&timeline);
  absl::StatusOr<RunReport> report = RunScenario(*spec, registry, options);
  EXPECT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(timeline.truncated());
  return {.json = timeline.ToJson(), .gz = timeline.ToFileContents("t.json.gz"), .events = timeline.event_count()};
}

class TimelineSizeTest : public testing::TestWithParam<const char*> {};

TEST_P(TimelineSizeTest, AtMost100BytesAnEventAndTheGzipHoldsTheSameText) {
  const Measured m = RunWithTimeline(GetParam());
  ASSERT_GT(m.events, 1000u);
  const double bytes_per_event = static_cast<double>(m.json.size()) / static_cast<double>(m.events);
  const double gz_bytes_per_event = static_cast<double>(m.gz.size()) / static_cast<double>(m.events);
  std::printf("%s: %llu events, %zu bytes (%.1f per event), gzip %zu bytes (%.1f per event)\n", GetParam(),
              static_cast<unsigned long long>(m.events), m.json.size(), bytes_per_event, m.gz.size(),
              gz_bytes_per_event);
  EXPECT_LE(bytes_per_event, kBytesPerEventMax);

  absl::StatusOr<std::string> text = GzipDecompress(m.gz);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_TRUE(*text == m.json);  // Not EXPECT_EQ: a mismatch would print megabytes.
  EXPECT_LT(m.gz.size() * 5, m.json.size());

  const nlohmann::json doc = nlohmann::json::parse(m.json, /*cb=*/nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(doc.is_discarded());
  ASSERT_TRUE(doc["traceEvents"].is_array());
  EXPECT_EQ(doc["otherData"]["events"], m.events);
  for (const nlohmann::json& event : doc["traceEvents"]) {
    ASSERT_TRUE(event["ph"].is_string()) << event.dump();
    ASSERT_TRUE(event["pid"].is_number_integer()) << event.dump();
    if (event["ph"] != "M") {
      ASSERT_TRUE(event["ts"].is_number()) << event.dump();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Library, TimelineSizeTest, testing::Values("hello", "monitor_latency_batching"));

// The Trace Event Format's rules for the phases a timeline uses.
// `e` by value: a missing field reads as null instead of asserting.
void ExpectTraceEventFormat(nlohmann::json e, std::map<std::string, int>& flow_state) {
  static const std::set<std::string> kPhases = {"X", "C", "s", "t", "f", "i", "M"};
  ASSERT_TRUE(e.is_object());
  ASSERT_TRUE(e["ph"].is_string()) << e.dump();
  const std::string ph = e["ph"];
  ASSERT_TRUE(kPhases.count(ph)) << "phase " << ph << ": " << e.dump();
  ASSERT_TRUE(e["pid"].is_number_integer()) << e.dump();
  ASSERT_TRUE(e["name"].is_string()) << e.dump();
  if (e.contains("args")) {
    ASSERT_TRUE(e["args"].is_object()) << e.dump();
  }
  if (ph == "M") {
    static const std::set<std::string> kMetadata = {"process_name", "process_sort_index", "thread_name",
                                                    "thread_sort_index"};
    EXPECT_TRUE(kMetadata.count(e["name"].get<std::string>())) << e.dump();
    EXPECT_TRUE(e["args"].is_object()) << e.dump();
    if (e["name"] == "thread_name") {
      EXPECT_TRUE(e["tid"].is_number_integer()) << e.dump();
    }
    return;
  }
  // A counter belongs to its process; every other phase to a thread too.
  if (ph != "C") {
    ASSERT_TRUE(e["tid"].is_number_integer()) << e.dump();
  }
  ASSERT_TRUE(e["ts"].is_number()) << e.dump();
  EXPECT_GE(e["ts"].get<double>(), 0) << e.dump();
  if (ph == "X") {
    ASSERT_TRUE(e["dur"].is_number()) << e.dump();
    EXPECT_GE(e["dur"].get<double>(), 0) << e.dump();
  } else if (ph == "C") {
    ASSERT_TRUE(e["args"].is_object()) << e.dump();
    for (const auto& [series, value] : e["args"].items()) EXPECT_TRUE(value.is_number()) << series << ": " << e.dump();
  } else if (ph == "i") {
    if (e.contains("s")) {
      EXPECT_TRUE(e["s"] == "t" || e["s"] == "p" || e["s"] == "g") << e.dump();
    }
  } else {
    // A flow: one "s", then its steps, then at most one "f" (binding to the
    // enclosing slice's end, "bp":"e"), all with one id.
    ASSERT_TRUE(e["id"].is_number_integer() || e["id"].is_string()) << e.dump();
    int& state = flow_state[e["id"].dump()];  // 0 unseen, 1 begun, 2 ended.
    if (ph == "s") {
      EXPECT_EQ(state, 0) << "a flow begun twice: " << e.dump();
      state = 1;
    } else if (ph == "t") {
      EXPECT_EQ(state, 1) << "a step outside its flow: " << e.dump();
    } else {
      EXPECT_EQ(state, 1) << "an end outside its flow: " << e.dump();
      if (e.contains("bp")) {
        EXPECT_EQ(e["bp"], "e") << e.dump();
      }
      state = 2;
    }
  }
}

class TimelineFormatTest : public testing::TestWithParam<const char*> {};

TEST_P(TimelineFormatTest, EveryEventKeepsTheTraceEventFormatForItsPhase) {
  const Measured m = RunWithTimeline(GetParam());
  const nlohmann::json doc = nlohmann::json::parse(m.json, /*cb=*/nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(doc.is_discarded());
  ASSERT_TRUE(doc["traceEvents"].is_array());
  EXPECT_TRUE(doc["displayTimeUnit"] == "ns" || doc["displayTimeUnit"] == "ms");
  std::map<std::string, int> flows;
  std::map<std::string, uint64_t> phases;
  for (const nlohmann::json& event : doc["traceEvents"]) {
    ExpectTraceEventFormat(event, flows);
    if (testing::Test::HasFatalFailure()) return;
    ++phases[event["ph"].get<std::string>()];
  }
  // The run drew slices, counters, flows and marks, not only metadata.
  for (const char* ph : {"M", "X", "C", "s", "f", "i"}) EXPECT_GT(phases[ph], 0u) << "phase " << ph;

  // The slices of one VP nest: one that starts inside another ends inside
  // it (a preempted item's slice is stretched over what preempted it), so a
  // viewer stacks them instead of drawing an overlap.
  std::map<std::pair<int64_t, int64_t>, std::vector<std::pair<int64_t, int64_t>>> slices;  // (pid, tid) -> [begin, end) ns.
  for (const nlohmann::json& e : doc["traceEvents"]) {
    if (e["ph"] != "X") continue;
    const int64_t begin = std::llround(e["ts"].get<double>() * 1000);
    slices[{e["pid"].get<int64_t>(), e["tid"].get<int64_t>()}].push_back(
        {begin, begin + std::llround(e["dur"].get<double>() * 1000)});
  }
  uint64_t nested = 0;
  for (auto& [thread, list] : slices) {
    std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first < b.first : a.second > b.second;  // Outer first.
    });
    std::vector<int64_t> open;  // Ends of the enclosing slices.
    for (const auto& [begin, end] : list) {
      while (!open.empty() && open.back() <= begin) open.pop_back();
      if (!open.empty()) {
        ASSERT_LE(end, open.back()) << "partition " << thread.first << " VP " << thread.second << ": the slice ["
                                    << begin << ", " << end << ") ns overlaps one that ends at " << open.back();
        ++nested;
      }
      open.push_back(end);
    }
  }
  if (std::string(GetParam()) == "preemption_tail") {
    EXPECT_GT(nested, 0u);  // It preempts: slices nest.
  }
}

INSTANTIATE_TEST_SUITE_P(Library, TimelineFormatTest,
                         testing::Values("hello", "shared_signal", "rescind_during_io", "preemption_tail"));

}  // namespace
}  // namespace vmbsim::scenario
