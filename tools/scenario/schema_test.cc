// schema_test.cc
//
// Goal: scenarios/scenario.schema.json (for editors) and the loader (for
// vmbsim) describe the same format, so that a change to one without the
// other fails here. Method: walk the schema, resolving local "$ref"s, and
// collect for every object its property names, for every string field its
// "enum" and for every number its "maximum"; compare them with the loader's
// own tables (KnownKeysForSchemaTest, EnumValuesForSchemaTest,
// CostOverrideNames) and with the limits spec.h names. The test reads the schema
// with nlohmann/json, which is otherwise used only by the loader.

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tools/scenario/loader.h"
#include "tools/scenario/spec.h"

namespace vmbsim::scenario {
namespace {

using Json = nlohmann::json;

// Bazel runs tests in the runfiles tree, at the workspace root.
constexpr char kSchemaPath[] = "scenarios/scenario.schema.json";

Json ReadSchema() {
  std::ifstream in(kSchemaPath);
  EXPECT_TRUE(in.is_open()) << kSchemaPath;
  std::stringstream text;
  text << in.rdbuf();
  Json schema = Json::parse(text.str(), /*cb=*/nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(schema.is_discarded()) << kSchemaPath << " is not valid JSON";
  return schema;
}

// What the schema says about each object and each enum, by schema path
// ("", "fabric", "channels[]", "channels[].host_driver", ...).
struct SchemaFacts {
  std::map<std::string, std::vector<std::string>> object_keys;  // Sorted.
  std::map<std::string, std::vector<std::string>> enum_values;  // In schema order.
  std::map<std::string, Json> maximums;                         // "maximum" by path.
  std::vector<std::string> problems;                            // Style rules broken.
};

// `node`, or the definition its "$ref" names ("#/definitions/<name>").
const Json& Resolve(const Json& root, const Json& node) {
  const auto ref = node.find("$ref");
  if (ref == node.end()) return node;
  const std::string prefix = "#/definitions/";
  const std::string& target = ref->get_ref<const std::string&>();
  EXPECT_EQ(target.rfind(prefix, 0), 0u) << target;
  return root.at("definitions").at(target.substr(prefix.size()));
}

void Walk(const Json& root, const Json& raw_node, const std::string& path, SchemaFacts* facts) {
  const Json& node = Resolve(root, raw_node);
  if (const auto values = node.find("enum"); values != node.end()) {
    std::vector<std::string>& out = facts->enum_values[path];
    for (const Json& value : *values) out.push_back(value.get<std::string>());
  }
  if (const auto maximum = node.find("maximum"); maximum != node.end()) {
    facts->maximums[path] = *maximum;
  }
  const auto properties = node.find("properties");
  const auto additional = node.find("additionalProperties");
  const bool closed = additional != node.end() && *additional == false;
  if (properties != node.end()) {
    if (!closed) facts->problems.push_back(path + ": additionalProperties is not false");
    std::vector<std::string>& keys = facts->object_keys[path];
    for (auto it = properties->begin(); it != properties->end(); ++it) {
      keys.push_back(it.key());
      const std::string child = path.empty() ? it.key() : path + "." + it.key();
      if (!it.value().contains("description")) {
        facts->problems.push_back(child + ": no description");
      }
      Walk(root, it.value(), child, facts);
    }
    std::sort(keys.begin(), keys.end());
  } else if (closed) {
    facts->object_keys[path];  // An object that takes no keys ("faults").
  }
  if (const auto items = node.find("items"); items != node.end()) {
    Walk(root, *items, path + "[]", facts);
  }
}

SchemaFacts Facts() {
  const Json schema = ReadSchema();
  SchemaFacts facts;
  if (!schema.is_discarded()) Walk(schema, schema, "", &facts);
  return facts;
}

std::vector<std::string> Sorted(std::vector<std::string> values) {
  std::sort(values.begin(), values.end());
  return values;
}

TEST(SchemaTest, IsDraft07) {
  const Json schema = ReadSchema();
  EXPECT_EQ(schema.value("$schema", ""), "http://json-schema.org/draft-07/schema#");
}

TEST(SchemaTest, ObjectKeysMatchTheLoader) {
  const SchemaFacts facts = Facts();
  std::map<std::string, std::vector<std::string>> loader_keys;
  for (const auto& [path, keys] : KnownKeysForSchemaTest()) loader_keys[path] = Sorted(keys);
  // Same objects, and the same keys in each.
  for (const auto& [path, keys] : loader_keys) {
    const auto it = facts.object_keys.find(path);
    if (it == facts.object_keys.end()) {
      ADD_FAILURE() << "the schema has no object at \"" << path << "\"";
      continue;
    }
    EXPECT_EQ(it->second, keys) << "keys of \"" << path << "\"";
  }
  for (const auto& [path, keys] : facts.object_keys) {
    EXPECT_TRUE(loader_keys.contains(path))
        << "the schema has an object at \"" << path << "\" that the loader does not read";
  }
}

TEST(SchemaTest, CostOverridesMatchTheLoader) {
  const SchemaFacts facts = Facts();
  const auto it = facts.object_keys.find("fabric.cost_overrides");
  ASSERT_NE(it, facts.object_keys.end());
  EXPECT_EQ(it->second, Sorted(CostOverrideNames()));
}

TEST(SchemaTest, EnumsMatchTheLoader) {
  const SchemaFacts facts = Facts();
  EXPECT_EQ(facts.enum_values, EnumValuesForSchemaTest());
}

// The limits spec.h names for code outside the loader (drivers, runner) are
// the schema's too.
TEST(SchemaTest, MaximumsMatchTheSpecLimits) {
  const SchemaFacts facts = Facts();
  // null when the schema gives no maximum.
  const auto maximum = [&facts](const std::string& path) {
    const auto it = facts.maximums.find(path);
    return it == facts.maximums.end() ? Json() : it->second;
  };
  EXPECT_EQ(maximum("channels[].sub_channels"), Json(kSubChannelsMax));
  EXPECT_EQ(maximum("channels[].interrupt_latency_100ns"), Json(kInterruptLatency100nsMax));
  EXPECT_EQ(maximum("fabric.cost_overrides.monitor_latency_default_ns"),
            Json(kInterruptLatency100nsMax * 100));
}

TEST(SchemaTest, EveryObjectIsClosedAndEveryPropertyDescribed) {
  const SchemaFacts facts = Facts();
  EXPECT_TRUE(facts.problems.empty()) << ::testing::PrintToString(facts.problems);
}

}  // namespace
}  // namespace vmbsim::scenario
