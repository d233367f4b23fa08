// Races hide in orderings: every library scenario runs under tie-break
// seeds 0..63 (0..15 for one of more than 250,000 events; each a different
// order of same-time events) and must end as
// it does in insertion order: the scenario's own exit code (all library
// scenarios pass), its expectations met, no causality violation, and, in the
// ASan/UBSan configuration, no sanitizer report. A scenario whose outcome may
// legitimately differ between orders says so in its expectations (bounds
// such as lost_packets_min rather than exact counts).
// Method: one parameterised test per scenario, so Bazel's shards spread the
// 64 runs of each across processes.

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tools/scenario/loader.h"
#include "tools/scenario/runner.h"
#include "tests/scenario_testing.h"

namespace vmbsim::scenario {
namespace {

constexpr uint64_t kTieBreakSeeds = 64;
// A scenario of more events than this (scaling_96vp: half a million) runs
// kTieBreakSeedsLarge seeds here, so that the suite stays within its time
// under ASan; `vmbsim explore NAME --tie-break-seeds 0..63` runs the rest.
constexpr uint64_t kLargeScenarioEvents = 250'000;
constexpr uint64_t kTieBreakSeedsLarge = 16;


class TieBreakExplorationTest : public ::testing::TestWithParam<std::string> {};

TEST_P(TieBreakExplorationTest, EveryOrderEndsAsTheScenarioSays) {
  const DriverRegistry registry = DriverRegistry::WithBuiltins();
  absl::StatusOr<ScenarioSpec> spec = LoadScenarioFile(GetParam(), registry.descriptors());
  ASSERT_TRUE(spec.ok()) << spec.status();
  absl::StatusOr<RunReport> plain = RunScenario(*spec, registry, {});
  ASSERT_TRUE(plain.ok()) << plain.status();
  const int expected_exit = ExitCodeFor(*plain);
  EXPECT_EQ(expected_exit, kExitOk) << "library scenarios pass in insertion order";
  const uint64_t seeds = plain->events > kLargeScenarioEvents ? kTieBreakSeedsLarge : kTieBreakSeeds;
  for (uint64_t seed = 0; seed < seeds; ++seed) {
    SCOPED_TRACE(absl::StrCat(GetParam(), " --tie-break-seed ", seed));
    absl::StatusOr<RunReport> report = RunScenario(*spec, registry, {.tie_break_seed = seed});
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_EQ(ExitCodeFor(*report), expected_exit);
    EXPECT_TRUE(report->expectations_met);
    EXPECT_EQ(report->causality_violations_total, 0u);
    for (const ExpectationResult& r : report->expectations) EXPECT_TRUE(r.passed) << r.name << ": " << r.detail;
  }
}

INSTANTIATE_TEST_SUITE_P(Library, TieBreakExplorationTest, ::testing::ValuesIn(testing::LibraryFiles()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return std::filesystem::path(info.param).stem().string();
                         });

}  // namespace
}  // namespace vmbsim::scenario
