// scenario_json_test.cc
//
// Goal: a spec written by ScenarioToJson loads back to the same spec, for
// every library scenario and for one with every fault form. Method: load,
// write, load the text, write again; the two texts must be equal (the
// writer is a function of the spec alone).

#include "tools/faults/scenario_json.h"

#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "tools/scenario/drivers.h"
#include "tools/scenario/loader.h"

namespace vmbsim::faults {
namespace {

TEST(ScenarioJsonTest, RoundTripsTheLibrary) {
  const scenario::DriverRegistry registry = scenario::DriverRegistry::WithBuiltins();
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator("scenarios")) {
    if (entry.path().extension() != ".json" || entry.path().filename() == "scenario.schema.json") continue;
    ++files;
    const std::vector<std::string> overrides = {
        R"(faults={"stuck_ns": 7, "injections": [
            {"kind": "signal_drop", "target": {"partition": 1}, "trigger": {"probability": {"numerator": 1, "denominator": 9}},
             "params": {"direction": "to_host"}, "max_firings": 4},
            {"kind": "vp_stall", "target": {"all": true}, "trigger": {"at_ns": 5}, "params": {"duration_ns": 9}},
            {"kind": "completion_late", "trigger": {"after": {"event": "ring_read", "count": 3}}},
            {"kind": "signal_throttle", "target": {"class": "5ca1ab1e-0000-4000-8000-000000000001"},
             "trigger": {"while": "reader_masked"}}]})"};
    absl::StatusOr<scenario::ScenarioSpec> spec =
        scenario::LoadScenarioFile(entry.path().string(), registry.descriptors(), overrides);
    ASSERT_TRUE(spec.ok()) << spec.status();
    const std::string text = ScenarioToJson(*spec);
    absl::StatusOr<scenario::ScenarioSpec> again = scenario::LoadScenario(text, "written", registry.descriptors());
    ASSERT_TRUE(again.ok()) << again.status() << "\n" << text;
    EXPECT_EQ(ScenarioToJson(*again), text) << entry.path();
    EXPECT_EQ(again->faults.injections.size(), 4u);
  }
  EXPECT_GT(files, 10);
}

}  // namespace
}  // namespace vmbsim::faults
