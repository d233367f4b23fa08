// fork_pool_test.cc
//
// Goal: RunForked runs every task once in a child, at most `jobs` at once,
// returns each child's text, reports a crash as an abnormal end, and lets
// the parent stop scheduling midway. Method: small tasks that print their id
// (or abort), collected in the parent.

#include "tools/fork_pool.h"

#include <cstdlib>
#include <map>
#include <optional>
#include <string>

#include "gtest/gtest.h"

namespace vmbsim::tools {
namespace {

TEST(ForkPoolTest, RunsEveryTaskAndReturnsItsText) {
  size_t next = 0;
  std::map<size_t, std::string> outputs;
  const absl::Status status = RunForked(
      3, [&]() -> std::optional<size_t> { return next < 20 ? std::optional<size_t>(next++) : std::nullopt; },
      [](size_t id) { return std::string(id * 1000, 'x') + std::to_string(id); },
      [&](ForkResult r) {
        EXPECT_EQ(r.abnormal, "");
        outputs[r.task] = r.output;
      });
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(outputs.size(), 20u);
  for (size_t id = 0; id < 20; ++id) EXPECT_EQ(outputs[id], std::string(id * 1000, 'x') + std::to_string(id));
}

TEST(ForkPoolTest, ACrashIsAnAbnormalEndNotTheEndOfTheBatch) {
  size_t next = 0;
  std::map<size_t, std::string> abnormal;
  const absl::Status status = RunForked(
      2, [&]() -> std::optional<size_t> { return next < 4 ? std::optional<size_t>(next++) : std::nullopt; },
      [](size_t id) -> std::string {
        if (id == 1) std::abort();
        return "ok";
      },
      [&](ForkResult r) { abnormal[r.task] = r.abnormal; });
  ASSERT_TRUE(status.ok());
  ASSERT_EQ(abnormal.size(), 4u);
  EXPECT_EQ(abnormal[1], "killed by signal 6");
  EXPECT_EQ(abnormal[0], "");
  EXPECT_EQ(abnormal[3], "");
}

TEST(ForkPoolTest, TheParentMayStopSchedulingAfterAResult) {
  size_t next = 0;
  size_t results = 0;
  bool stop = false;
  const absl::Status status = RunForked(
      1,
      [&]() -> std::optional<size_t> {
        if (stop || next >= 100) return std::nullopt;
        return next++;
      },
      [](size_t id) { return std::to_string(id); },
      [&](ForkResult r) {
        ++results;
        if (r.task == 4) stop = true;
      });
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(results, 5u);
}

}  // namespace
}  // namespace vmbsim::tools
