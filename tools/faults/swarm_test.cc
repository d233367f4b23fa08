// swarm_test.cc
//
// Goal: a swarm variant is a pure function of (scenario, seed) and loads as
// a scenario; signatures separate passing from failing runs and name a
// stuck run's cause; shrinking a failing run keeps its signature, cuts its
// events at least tenfold and writes a scenario that fails on its own, for
// every deliberately buggy library scenario.
// Method: the library's lost wake-up pair and buggy samples, through the
// runner as a library.

#include "tools/faults/swarm.h"

#include <set>
#include <string>

#include "gtest/gtest.h"
#include "tools/faults/catalogue.h"
#include "tools/faults/scenario_json.h"
#include "tools/scenario/drivers.h"
#include "tools/scenario/loader.h"
#include "tools/scenario/runner.h"

namespace vmbsim::faults {
namespace {

scenario::ScenarioSpec Library(const std::string& name) {
  const scenario::DriverRegistry registry = scenario::DriverRegistry::WithBuiltins();
  absl::StatusOr<scenario::ScenarioSpec> spec =
      scenario::LoadScenarioFile("scenarios/" + name + ".json", registry.descriptors(), {});
  EXPECT_TRUE(spec.ok()) << spec.status();
  return spec.ok() ? *spec : scenario::ScenarioSpec{};
}

absl::StatusOr<scenario::RunReport> RunSpec(const scenario::ScenarioSpec& spec) {
  static const scenario::DriverRegistry* const registry =
      new scenario::DriverRegistry(scenario::DriverRegistry::WithBuiltins());
  return scenario::RunScenario(spec, *registry, {});
}

TEST(SwarmTest, VariantIsAFunctionOfTheSeedAndLoads) {
  const scenario::ScenarioSpec base = Library("hello");
  const scenario::DriverRegistry registry = scenario::DriverRegistry::WithBuiltins();
  std::set<std::string> distinct;
  int excluded = 0;  // Injections of kinds the swarm leaves out (save_restore).
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    const scenario::ScenarioSpec v = SwarmVariant(base, seed);
    EXPECT_EQ(ScenarioToJson(v), ScenarioToJson(SwarmVariant(base, seed)));
    EXPECT_EQ(v.seed, seed);
    EXPECT_TRUE(v.exploration.tie_break_seed.has_value());
    EXPECT_EQ(v.faults.stuck_ns, kSwarmStuckNsDefault);
    EXPECT_TRUE(v.expectations.latency.empty());
    EXPECT_GE(v.faults.injections.size(), 1u);
    EXPECT_LE(v.faults.injections.size(), 3u);
    for (const scenario::FaultSpec& f : v.faults.injections) {
      const FaultKindInfo* info = FindKind(f.kind);
      ASSERT_NE(info, nullptr);
      if (!info->swarm) ++excluded;
      if (f.kind == "rescind") {
        EXPECT_NE(f.string_params.at("step"), "save");
      }
    }
    // The variant is a valid scenario: the loader takes its JSON.
    absl::StatusOr<scenario::ScenarioSpec> loaded =
        scenario::LoadScenario(ScenarioToJson(v), "variant", registry.descriptors());
    EXPECT_TRUE(loaded.ok()) << loaded.status() << "\n" << ScenarioToJson(v);
    distinct.insert(ScenarioToJson(v));
  }
  EXPECT_EQ(distinct.size(), 50u);
  EXPECT_EQ(excluded, 0);
}

TEST(SwarmTest, SignaturesSeparatePassAndFail) {
  absl::StatusOr<scenario::RunReport> fixed = RunSpec(Library("lost_wakeup_fixed"));
  ASSERT_TRUE(fixed.ok());
  EXPECT_EQ(FailureSignature(*fixed), "");
  scenario::ScenarioSpec buggy = Library("lost_wakeup_buggy");
  buggy.faults.stuck_ns = 1'000'000;
  absl::StatusOr<scenario::RunReport> stuck = RunSpec(buggy);
  ASSERT_TRUE(stuck.ok());
  EXPECT_EQ(FailureSignature(*stuck),
            "exit 4; failed exactly_once; stuck: host reader idle with unread data, unmasked");
}

TEST(SwarmTest, ShrinkKeepsTheSignatureAndCutsTenfold) {
  const scenario::ScenarioSpec failing = SwarmVariant(Library("lost_wakeup_buggy"), 1);
  absl::StatusOr<ShrinkResult> result = Shrink(failing, RunSpec);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_NE(result->signature, "");
  EXPECT_GE(result->events_before, 10 * result->events_after)
      << result->events_before << " -> " << result->events_after;
  // The written scenario fails alone, the same way.
  const scenario::DriverRegistry registry = scenario::DriverRegistry::WithBuiltins();
  absl::StatusOr<scenario::ScenarioSpec> written =
      scenario::LoadScenario(ScenarioToJson(result->spec), "shrunk", registry.descriptors());
  ASSERT_TRUE(written.ok()) << written.status();
  absl::StatusOr<scenario::RunReport> replay = RunSpec(*written);
  ASSERT_TRUE(replay.ok());
  EXPECT_EQ(FailureSignature(*replay), result->signature);
  EXPECT_EQ(replay->events, result->events_after);
}

// Goal: every deliberately buggy library scenario shrinks at least tenfold
// in events, keeping its signature, to a file that fails alone. Method: the
// swarm variant of a seed known to fail, shrunk in-process, its JSON loaded
// back and run.
struct BuggyCase {
  const char* scenario;
  uint64_t seed;  // A swarm seed at which it fails (README, "Fault injection").
};

class ShrinkBuggyTest : public testing::TestWithParam<BuggyCase> {};

TEST_P(ShrinkBuggyTest, CutsTenfoldAndFailsAlone) {
  const scenario::ScenarioSpec failing = SwarmVariant(Library(GetParam().scenario), GetParam().seed);
  absl::StatusOr<ShrinkResult> result = Shrink(failing, RunSpec);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_NE(result->signature, "");
  EXPECT_GE(result->events_before, 10 * result->events_after)
      << result->events_before << " -> " << result->events_after << "\n" << ScenarioToJson(result->spec);
  const scenario::DriverRegistry registry = scenario::DriverRegistry::WithBuiltins();
  absl::StatusOr<scenario::ScenarioSpec> written =
      scenario::LoadScenario(ScenarioToJson(result->spec), "shrunk", registry.descriptors());
  ASSERT_TRUE(written.ok()) << written.status();
  absl::StatusOr<scenario::RunReport> replay = RunSpec(*written);
  ASSERT_TRUE(replay.ok());
  EXPECT_EQ(FailureSignature(*replay), result->signature);
  EXPECT_EQ(replay->events, result->events_after);
}

INSTANTIATE_TEST_SUITE_P(Library, ShrinkBuggyTest,
                         testing::Values(BuggyCase{"lost_wakeup_buggy", 1}, BuggyCase{"complete_twice_buggy", 58},
                                         BuggyCase{"complete_after_close_buggy", 58},
                                         BuggyCase{"pending_send_buggy", 4}, BuggyCase{"early_signal_buggy", 1},
                                         BuggyCase{"gpadl_in_use_buggy", 7}),
                         [](const testing::TestParamInfo<BuggyCase>& info) { return std::string(info.param.scenario); });

TEST(SwarmTest, ShrinkRefusesAPassingRun) {
  absl::StatusOr<ShrinkResult> result = Shrink(Library("lost_wakeup_fixed"), RunSpec);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace vmbsim::faults
