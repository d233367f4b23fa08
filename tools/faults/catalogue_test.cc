// catalogue_test.cc
//
// Goal: the catalogue is a well-formed table: enough implemented kinds,
// unique names, defaults inside their ranges, action kinds that accept only
// time and event triggers, and JSON output that parses and lists every kind
// with its parameters. Method: walk the table; parse CatalogueJson().

#include "tools/faults/catalogue.h"

#include <set>
#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace vmbsim::faults {
namespace {

TEST(CatalogueTest, TableIsWellFormed) {
  std::set<std::string> names;
  int implemented = 0;
  for (const FaultKindInfo& info : Catalogue()) {
    EXPECT_TRUE(names.insert(info.name).second) << info.name;
    EXPECT_NE(std::string(info.semantics), "") << info.name;
    EXPECT_NE(info.targets, 0) << info.name;
    EXPECT_NE(info.triggers, 0) << info.name;
    if (info.mechanism == Mechanism::kAction) {
      EXPECT_EQ(info.triggers & (kTriggerProbability | kTriggerWhile), 0) << info.name;
    }
    if (info.implemented) {
      ++implemented;
    } else {
      EXPECT_NE(std::string(info.not_modelled), "") << info.name;
    }
    for (const FaultParamInfo& p : info.params) {
      if (p.choices.empty()) {
        EXPECT_LE(p.min, p.default_value) << info.name << "." << p.name;
        EXPECT_LE(p.default_value, p.max) << info.name << "." << p.name;
      }
    }
  }
  EXPECT_GE(implemented, 25);
  EXPECT_EQ(FindKind("signal_drop"), &InfoOf(FaultKind::kSignalDrop));
  EXPECT_EQ(FindKind("no_such_fault"), nullptr);
}

TEST(CatalogueTest, JsonListsEveryKind) {
  const nlohmann::json doc = nlohmann::json::parse(CatalogueJson(), nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(doc.is_discarded()) << CatalogueJson();
  ASSERT_EQ(doc["kinds"].size(), Catalogue().size());
  for (size_t i = 0; i < Catalogue().size(); ++i) {
    const nlohmann::json& kind = doc["kinds"][i];
    EXPECT_EQ(kind["name"], Catalogue()[i].name);
    EXPECT_EQ(kind["params"].size(), Catalogue()[i].params.size());
    EXPECT_TRUE(kind["semantics"].is_string());
  }
  EXPECT_EQ(doc["while_predicates"].size(), WhilePredicates().size());
}

}  // namespace
}  // namespace vmbsim::faults
