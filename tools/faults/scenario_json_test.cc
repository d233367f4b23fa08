// scenario_json_test.cc
//
// Goal: a spec written by ScenarioToJson loads back to the same spec, for
// every library scenario and for one with every fault form. Method: load,
// write, load the text, write again; the two texts must be equal (the
// writer is a function of the spec alone).

#include "tools/faults/scenario_json.h"

#include <filesystem>
#include <map>
#include <set>
#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
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

// The keys a written document holds, by the key table's object paths
// ("channels[]", "faults.injections[].trigger", ...).
void CollectKeys(const nlohmann::json& value, const std::string& path, std::map<std::string, std::set<std::string>>* out) {
  if (value.is_object()) {
    for (const auto& [key, child] : value.items()) {
      (*out)[path].insert(key);
      CollectKeys(child, path.empty() ? key : path + "." + key, out);
    }
  } else if (value.is_array()) {
    for (const auto& child : value) CollectKeys(child, path + "[]", out);
  }
}

// Goal: the writer drops no key. Every key the loader knows (its key table,
// the one the schema test also checks) must come out of the writer for at
// least one document of a corpus that sets each: the library, the soak, and
// a fixture for the keys no scenario sets (testdata/every_key.json). A key
// added to the loader and not to the writer fails here, not in a shrunk
// scenario that silently lost it. (It found two: a "trace" workload's
// events, and send_vps.) Each document also loads back to the same text.
TEST(ScenarioJsonTest, TheWriterWritesEveryKeyTheLoaderKnows) {
  const scenario::DriverRegistry registry = scenario::DriverRegistry::WithBuiltins();
  std::map<std::string, std::set<std::string>> written;
  std::vector<std::string> files;
  for (const char* dir : {"scenarios", "scenarios/soak", "tools/faults/testdata"}) {
    if (!std::filesystem::exists(dir)) continue;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      if (entry.path().extension() != ".json" || entry.path().filename() == "scenario.schema.json") continue;
      files.push_back(entry.path().string());
    }
  }
  ASSERT_GT(files.size(), 10u);
  for (const std::string& file : files) {
    absl::StatusOr<scenario::ScenarioSpec> spec = scenario::LoadScenarioFile(file, registry.descriptors());
    ASSERT_TRUE(spec.ok()) << spec.status();
    const std::string text = ScenarioToJson(*spec);
    const nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(doc.is_discarded()) << file;
    absl::StatusOr<scenario::ScenarioSpec> again = scenario::LoadScenario(text, "written", registry.descriptors());
    ASSERT_TRUE(again.ok()) << file << ": " << again.status();
    EXPECT_EQ(ScenarioToJson(*again), text) << file;
    CollectKeys(doc, "", &written);
  }
  std::vector<std::string> missing;
  for (const auto& [path, keys] : scenario::KnownKeysForSchemaTest()) {
    const std::string object = path == "" ? "" : path;
    for (const std::string& key : keys) {
      const auto it = written.find(object);
      if (it == written.end() || it->second.count(key) == 0) missing.push_back(object + (object.empty() ? "" : ".") + key);
    }
  }
  std::string list;
  for (const std::string& m : missing) list += "\n  " + m;
  EXPECT_TRUE(missing.empty()) << "never written:" << list;
}

}  // namespace
}  // namespace vmbsim::faults
