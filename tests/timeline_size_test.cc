// Goal: a whole run's timeline stays small enough to keep and send around:
// at most 100 bytes an event on a library scenario, and its gzip form
// (`run --timeline t.json.gz`) holds exactly the same text.
// Method: run library scenarios with a TimelineWriter as an extra sink, as
// `vmbsim run --timeline` does, and measure the file, not the time: bytes
// per event, and the decompressed gzip against the plain text. The JSON must
// still parse and name every event's phase.

#include <cstdint>
#include <string>

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

}  // namespace
}  // namespace vmbsim::scenario
