// scenario_testing.h
//
// What the cross-package scenario tests share: the library's scenario files
// and running a scenario written inline through the runner as a library.
// Test-only.

#ifndef VMBSIM_TESTS_SCENARIO_TESTING_H_
#define VMBSIM_TESTS_SCENARIO_TESTING_H_

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sim/core/trace.h"
#include "tools/scenario/loader.h"
#include "tools/scenario/runner.h"

namespace vmbsim::scenario::testing {

// The library's scenarios (scenarios/*.json but the schema), sorted; paths
// relative to the test's runfiles root.
inline std::vector<std::string> LibraryFiles() {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator("scenarios")) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() == ".json" && name != "scenario.schema.json") files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Loads `json` with the built-in drivers and runs it with `sinks` attached.
// A load or run error is a test failure; the report is then empty.
inline RunReport RunInline(const std::string& json, std::vector<sim::TraceSink*> sinks = {}) {
  const DriverRegistry registry = DriverRegistry::WithBuiltins();
  absl::StatusOr<ScenarioSpec> spec = LoadScenario(json, "inline", registry.descriptors());
  if (!spec.ok()) {
    ADD_FAILURE() << spec.status();
    return {};
  }
  absl::StatusOr<RunReport> report = RunScenario(*spec, registry, {.sinks = std::move(sinks)});
  if (!report.ok()) {
    ADD_FAILURE() << report.status();
    return {};
  }
  return *report;
}

// Loads the library scenario `name` (scenarios/<name>.json) with
// `overrides` applied and runs it. A load or run error is a test failure;
// the report is then empty.
inline RunReport RunLibrary(const std::string& name, const std::vector<std::string>& overrides = {}) {
  const DriverRegistry registry = DriverRegistry::WithBuiltins();
  absl::StatusOr<ScenarioSpec> spec =
      LoadScenarioFile("scenarios/" + name + ".json", registry.descriptors(), overrides);
  if (!spec.ok()) {
    ADD_FAILURE() << spec.status();
    return {};
  }
  absl::StatusOr<RunReport> report = RunScenario(*spec, registry, {});
  if (!report.ok()) {
    ADD_FAILURE() << report.status();
    return {};
  }
  return *report;
}

}  // namespace vmbsim::scenario::testing

#endif  // VMBSIM_TESTS_SCENARIO_TESTING_H_
