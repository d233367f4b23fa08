// A run may end anywhere: every library scenario is cut by an event budget
// at many points (during the drivers' start, mid-traffic, in a teardown)
// and must end cleanly each time: a report, cut where it was told, no
// causality violation, and in the ASan/UBSan configuration no sanitizer
// report, leaks included. What a cut leaves (a driver blocked in a KMCL
// call, a Destroy the bounded teardown never reached) is ended by the
// runner through kmcl::Runtime::ReleaseWorkers; before it, such a run
// leaked the driver's memory (tests/fuzz/scenario/leak-1d9611f1291a84b3).
// Method: one parameterised test per scenario; the cuts are 1, 3, 10, 30,
// ... events below the scenario's full length, and a quarter, a half and
// three quarters of it for a scenario of at most kEvenCutsEventsMax events.

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

// Beyond this a scenario's cuts stop at the log-spaced ones, so that the
// suite stays within its time under ASan.
constexpr uint64_t kEvenCutsEventsMax = 250'000;

std::vector<uint64_t> CutsBelow(uint64_t events) {
  std::vector<uint64_t> cuts;
  for (uint64_t cut = 1; cut < events; cut *= 10) {
    cuts.push_back(cut);
    if (3 * cut < events) cuts.push_back(3 * cut);
  }
  if (events <= kEvenCutsEventsMax) {
    for (uint64_t quarter = 1; quarter <= 3; ++quarter) {
      if (events * quarter / 4 > 0) cuts.push_back(events * quarter / 4);
    }
  }
  return cuts;
}

class RunCutTest : public ::testing::TestWithParam<std::string> {};

TEST_P(RunCutTest, ARunCutAnywhereEndsCleanly) {
  const DriverRegistry registry = DriverRegistry::WithBuiltins();
  absl::StatusOr<ScenarioSpec> spec = LoadScenarioFile(GetParam(), registry.descriptors());
  ASSERT_TRUE(spec.ok()) << spec.status();
  absl::StatusOr<RunReport> full = RunScenario(*spec, registry, {});
  ASSERT_TRUE(full.ok()) << full.status();
  const std::vector<uint64_t> cuts = CutsBelow(full->events);
  ASSERT_GE(cuts.size(), 4u) << "a library scenario runs more than 1,000 events";
  for (const uint64_t cut : cuts) {
    SCOPED_TRACE(absl::StrCat(GetParam(), " cut after ", cut, " of ", full->events, " events"));
    ScenarioSpec cut_spec = *spec;
    cut_spec.stop.events_max = cut;
    absl::StatusOr<RunReport> report = RunScenario(cut_spec, registry, {});
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_EQ(report->events, cut);
    EXPECT_EQ(report->stop_reason, sim::RunResult::kEventBudgetExhausted);
    EXPECT_EQ(report->causality_violations_total, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Library, RunCutTest, ::testing::ValuesIn(testing::LibraryFiles()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return std::filesystem::path(info.param).stem().string();
                         });

}  // namespace
}  // namespace vmbsim::scenario
