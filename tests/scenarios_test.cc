// Runs every scenario of the library (scenarios/*.json) through the
// simulator library and checks that (1) it loads, (2) its expectations hold,
// (3) its trace fingerprint equals the golden value pinned in
// tests/scenario_goldens.txt, and (4) a second run gives the same
// fingerprint.
//
// Update mode, after an intended change of behaviour:
//   bazel run //tests:scenarios_test -- --update
// rewrites tests/scenario_goldens.txt in the workspace with the values this
// build produces (review the diff before committing it).

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "tools/scenario/loader.h"
#include "tools/scenario/report.h"
#include "tools/scenario/runner.h"
#include "tests/scenario_testing.h"

namespace vmbsim::scenario {
namespace {

bool g_update = false;


std::map<std::string, std::string> ReadGoldens(const std::string& path) {
  std::map<std::string, std::string> goldens;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string name;
    std::string fingerprint;
    if (fields >> name >> fingerprint) goldens[name] = fingerprint;
  }
  return goldens;
}

TEST(ScenarioLibraryTest, EveryScenarioMeetsItsExpectationsWithItsGoldenFingerprint) {
  const DriverRegistry registry = DriverRegistry::WithBuiltins();
  const std::vector<std::string> files = testing::LibraryFiles();
  ASSERT_GE(files.size(), 7u);
  const std::map<std::string, std::string> goldens = ReadGoldens("tests/scenario_goldens.txt");
  std::string updated = "# Trace fingerprints of the scenario library (tests/scenarios_test.cc).\n";
  for (const std::string& file : files) {
    SCOPED_TRACE(file);
    absl::StatusOr<ScenarioSpec> spec = LoadScenarioFile(file, registry.descriptors());
    ASSERT_TRUE(spec.ok()) << spec.status();
    absl::StatusOr<RunReport> report = RunScenario(*spec, registry);
    ASSERT_TRUE(report.ok()) << report.status();
    for (const ExpectationResult& e : report->expectations) {
      EXPECT_TRUE(e.passed) << spec->name << ": " << e.name << ": " << e.detail;
    }
    std::printf("%s", ReportSummary(*report).c_str());
    const std::string fingerprint = absl::StrFormat("%016x", report->fingerprint);
    absl::StrAppendFormat(&updated, "%s %s\n", spec->name, fingerprint);
    if (!g_update) {
      auto golden = goldens.find(spec->name);
      ASSERT_NE(golden, goldens.end()) << "no golden fingerprint for " << spec->name
                                       << " (bazel run //tests:scenarios_test -- --update)";
      EXPECT_EQ(fingerprint, golden->second) << spec->name << " changed its trace";
      // Same scenario and seed, same run.
      absl::StatusOr<RunReport> again = RunScenario(*spec, registry);
      ASSERT_TRUE(again.ok());
      EXPECT_EQ(again->fingerprint, report->fingerprint);
      EXPECT_EQ(again->events, report->events);
    }
  }
  if (g_update) {
    const char* workspace = std::getenv("BUILD_WORKSPACE_DIRECTORY");
    ASSERT_NE(workspace, nullptr) << "--update needs `bazel run`";
    std::ofstream out(std::string(workspace) + "/tests/scenario_goldens.txt");
    out << updated;
    std::printf("updated tests/scenario_goldens.txt:\n%s", updated.c_str());
  }
}

}  // namespace
}  // namespace vmbsim::scenario

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--update") vmbsim::scenario::g_update = true;
  }
  return RUN_ALL_TESTS();
}
