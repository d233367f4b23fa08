// Goal: counters add exactly, abort on overflow, and a CounterSet iterates
// in name order whatever the insertion order, with stable references.
#include "sim/core/counters.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace vmbsim::sim {
namespace {

TEST(CounterTest, AddsAndIncrements) {
  Counter c;
  EXPECT_EQ(c.value(), 0u);
  c.Increment();
  c.Add(41);
  EXPECT_EQ(c.value(), 42u);
  c.Add(0);
  EXPECT_EQ(c.value(), 42u);
}

TEST(CounterSetTest, IteratesInNameOrder) {
  CounterSet set;
  set.Increment("ring_full");
  set.Add("packets_sent", 10);
  set.Increment("interrupts");
  set.Increment("ring_full");
  std::vector<std::string> names;
  for (const auto& [name, counter] : set.counters()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"interrupts", "packets_sent",
                                             "ring_full"}));
  EXPECT_EQ(set.Value("ring_full"), 2u);
  EXPECT_EQ(set.Value("packets_sent"), 10u);
  EXPECT_EQ(set.size(), 3u);
}

TEST(CounterSetTest, ValueDoesNotCreate) {
  CounterSet set;
  EXPECT_EQ(set.Value("absent"), 0u);
  EXPECT_EQ(set.size(), 0u);
  EXPECT_EQ(set.Get("present").value(), 0u);  // Get creates at zero.
  EXPECT_EQ(set.size(), 1u);
}

TEST(CounterSetTest, ReferencesStayValid) {
  CounterSet set;
  Counter& first = set.Get("m");
  for (int i = 0; i < 1000; ++i) set.Increment("n" + std::to_string(i));
  first.Add(3);
  EXPECT_EQ(set.Value("m"), 3u);
  EXPECT_EQ(&set.Get("m"), &first);
}

TEST(CounterSetTest, MergeAddsByName) {
  CounterSet a;
  a.Add("x", 1);
  a.Add("y", 2);
  CounterSet b;
  b.Add("y", 5);
  b.Add("z", 7);
  a.Merge(b);
  EXPECT_EQ(a.Value("x"), 1u);
  EXPECT_EQ(a.Value("y"), 7u);
  EXPECT_EQ(a.Value("z"), 7u);
  a.Merge(a);
  EXPECT_EQ(a.Value("y"), 14u);
}

TEST(CounterDeathTest, OverflowAborts) {
  Counter c;
  c.Add(UINT64_MAX);
  EXPECT_DEATH(c.Increment(), "counter overflow");
}

}  // namespace
}  // namespace vmbsim::sim
