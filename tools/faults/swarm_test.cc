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

#include "absl/strings/str_cat.h"
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
                                         BuggyCase{"complete_after_rescind_buggy", 5},
                                         BuggyCase{"pending_send_buggy", 4}, BuggyCase{"early_signal_buggy", 1},
                                         BuggyCase{"gpadl_in_use_buggy", 7}),
                         [](const testing::TestParamInfo<BuggyCase>& info) { return std::string(info.param.scenario); });

// Goal: a guest partition goes with everything that names it, and the
// guests behind it move down one with their references. Method: a
// three-guest scenario built in code, guest 2 dropped.
TEST(SwarmTest, WithoutGuestRenumbersWhatNamesTheGuestsBehind) {
  scenario::ScenarioSpec spec = Library("hello");
  spec.fabric.guests = {scenario::GuestSpec{.vps = 1}, scenario::GuestSpec{.vps = 2}, scenario::GuestSpec{.vps = 3}};
  for (uint16_t g : {2, 3}) {
    scenario::ChannelSpec ch = spec.channels[0];
    ch.name = absl::StrCat("echo", g);
    ch.interface_instance = absl::StrCat("00000000-0000-4000-8000-00000000000", g);
    ch.guest = g;
    spec.channels.push_back(ch);
    scenario::WorkloadSpec w = spec.workloads[0];
    w.channel = ch.name;
    spec.workloads.push_back(w);
  }
  spec.expectations.latency.push_back({.channel = "echo2", .max_ns = 1});
  auto injection = [](const std::string& kind, uint16_t partition, const std::string& channel) {
    scenario::FaultSpec f;
    f.kind = "signal_drop";
    f.target.kind = kind;
    f.target.partition = partition;
    f.target.channel = channel;
    return f;
  };
  spec.faults.injections = {injection("partition", 0, ""), injection("partition", 2, ""),
                            injection("partition", 3, ""), injection("channel", 0, "echo2"),
                            injection("channel", 0, "echo3"), injection("all", 0, "")};
  const std::optional<scenario::ScenarioSpec> c = WithoutGuest(spec, 2);
  ASSERT_TRUE(c.has_value());
  ASSERT_EQ(c->fabric.guests.size(), 2u);
  EXPECT_EQ(c->fabric.guests[0].vps, 1u);
  EXPECT_EQ(c->fabric.guests[1].vps, 3u);
  ASSERT_EQ(c->channels.size(), 2u);
  EXPECT_EQ(c->channels[0].name, "echo");
  EXPECT_EQ(c->channels[0].guest, 1);
  EXPECT_EQ(c->channels[1].name, "echo3");
  EXPECT_EQ(c->channels[1].guest, 2);
  ASSERT_EQ(c->workloads.size(), 2u);
  EXPECT_EQ(c->workloads[1].channel, "echo3");
  ASSERT_EQ(c->expectations.latency.size(), 1u);  // hello's own bound on "echo".
  EXPECT_EQ(c->expectations.latency[0].channel, "echo");
  ASSERT_EQ(c->faults.injections.size(), 4u);
  EXPECT_EQ(c->faults.injections[0].target.partition, 0);  // The root stays.
  EXPECT_EQ(c->faults.injections[1].target.partition, 2);  // Guest 3, now 2.
  EXPECT_EQ(c->faults.injections[2].target.channel, "echo3");
  EXPECT_EQ(c->faults.injections[3].target.kind, "all");
  // The result loads as a scenario.
  const scenario::DriverRegistry registry = scenario::DriverRegistry::WithBuiltins();
  absl::StatusOr<scenario::ScenarioSpec> loaded =
      scenario::LoadScenario(ScenarioToJson(*c), "without", registry.descriptors());
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  // Not the last guest, and not when no channel would be left.
  EXPECT_FALSE(WithoutGuest(Library("hello"), 1).has_value());
  scenario::ScenarioSpec empty_guest = Library("hello");
  empty_guest.fabric.guests.push_back({});
  EXPECT_FALSE(WithoutGuest(empty_guest, 1).has_value());
  EXPECT_TRUE(WithoutGuest(empty_guest, 2).has_value());
  EXPECT_FALSE(WithoutGuest(spec, 4).has_value());
}

// Runs a scenario of several guests as independent single-guest runs, one
// per guest with channels (RunScenario runs one guest partition for now:
// the root's SynIC has one message-port namespace). The report is the
// first failing guest's (else the first guest's), with every guest's
// events: a failure that lives on one guest, in a run the other guests
// make longer.
absl::StatusOr<scenario::RunReport> RunPerGuest(const scenario::ScenarioSpec& spec) {
  if (spec.fabric.guests.size() == 1) return RunSpec(spec);
  std::optional<scenario::RunReport> combined;
  uint64_t events = 0;
  for (uint16_t g = 1; g <= spec.fabric.guests.size(); ++g) {
    std::optional<scenario::ScenarioSpec> alone = spec;
    for (uint16_t other = static_cast<uint16_t>(spec.fabric.guests.size()); other >= 1 && alone.has_value(); --other) {
      if (other != g) alone = WithoutGuest(*alone, other);
    }
    if (!alone.has_value()) continue;  // A guest without channels.
    absl::StatusOr<scenario::RunReport> report = RunSpec(*alone);
    if (!report.ok()) return report.status();
    events += report->events;
    if (!combined.has_value() || (FailureSignature(*combined).empty() && !FailureSignature(*report).empty())) {
      combined = *report;
    }
  }
  if (!combined.has_value()) return absl::InvalidArgumentError("no guest has a channel");
  combined->events = events;
  return *combined;
}

// Goal: shrinking drops a guest partition the failure does not need, and
// the scenario it writes fails alone. Method: the lost wake-up's buggy
// channel on guest 2, beside a correct channel on guest 1, run guest by
// guest (RunPerGuest); the shrunk scenario has one guest (the buggy one,
// renumbered 1) and the real runner replays it with the signature.
TEST(SwarmTest, ShrinkDropsAPartitionTheFailureDoesNotNeed) {
  scenario::ScenarioSpec spec = Library("lost_wakeup_buggy");
  spec.faults.stuck_ns = 1'000'000;
  spec.expectations.lost_packets_min.reset();  // Not the correct guest's expectation.
  spec.fabric.guests = {scenario::GuestSpec{.vps = 2}, scenario::GuestSpec{.vps = 1}};
  spec.channels[0].guest = 2;
  const scenario::ScenarioSpec hello = Library("hello");
  scenario::ChannelSpec calm = hello.channels[0];
  calm.guest = 1;
  spec.channels.insert(spec.channels.begin(), calm);
  spec.workloads.push_back(hello.workloads[0]);
  absl::StatusOr<scenario::RunReport> before = RunPerGuest(spec);
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_EQ(FailureSignature(*before),
            "exit 4; failed exactly_once; stuck: host reader idle with unread data, unmasked");
  absl::StatusOr<ShrinkResult> result = Shrink(spec, RunPerGuest);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->signature, FailureSignature(*before));
  bool dropped = false;
  for (const ShrinkStep& step : result->steps) dropped |= step.what == "drop partition 1";
  EXPECT_TRUE(dropped) << ScenarioToJson(result->spec);
  ASSERT_EQ(result->spec.fabric.guests.size(), 1u);
  EXPECT_EQ(result->spec.fabric.guests[0].vps, 1u);  // Guest 2's.
  ASSERT_EQ(result->spec.channels.size(), 1u);
  EXPECT_EQ(result->spec.channels[0].name, "racy");
  EXPECT_EQ(result->spec.channels[0].guest, 1);
  for (const scenario::WorkloadSpec& w : result->spec.workloads) EXPECT_EQ(w.channel, "racy");
  EXPECT_LT(result->events_after, before->events);
  // The written scenario fails alone, through the real runner.
  const scenario::DriverRegistry registry = scenario::DriverRegistry::WithBuiltins();
  absl::StatusOr<scenario::ScenarioSpec> written =
      scenario::LoadScenario(ScenarioToJson(result->spec), "shrunk", registry.descriptors());
  ASSERT_TRUE(written.ok()) << written.status();
  absl::StatusOr<scenario::RunReport> replay = RunSpec(*written);
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_EQ(FailureSignature(*replay), result->signature);
  EXPECT_EQ(replay->events, result->events_after);
}

TEST(SwarmTest, ShrinkRefusesAPassingRun) {
  absl::StatusOr<ShrinkResult> result = Shrink(Library("lost_wakeup_fixed"), RunSpec);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace vmbsim::faults
