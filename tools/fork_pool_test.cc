// fork_pool_test.cc
//
// Goal: RunForked and RunPooled run every task once in a child, at most
// `jobs` at once, return each task's text, report a crash as an abnormal end,
// and let the parent stop scheduling midway; RunPooled reuses its workers
// and replaces one that died. Method: small tasks that print their id (or
// abort, or exit), collected in the parent.

#include "tools/fork_pool.h"

#include <unistd.h>

#include <cstdlib>
#include <csignal>
#include <map>
#include <set>
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

TEST(ForkPoolTest, PooledRunsEveryTaskInAtMostJobsWorkers) {
  size_t next = 0;
  std::map<size_t, std::string> outputs;
  std::set<std::string> pids;
  const absl::Status status = RunPooled(
      2, [&]() -> std::optional<size_t> { return next < 200 ? std::optional<size_t>(next++) : std::nullopt; },
      [](size_t id) { return std::to_string(getpid()) + ":" + std::string(id * 500, 'x') + std::to_string(id); },
      [&](ForkResult r) {
        EXPECT_EQ(r.abnormal, "");
        EXPECT_EQ(r.wait_status, 0);
        const size_t colon = r.output.find(':');
        pids.insert(r.output.substr(0, colon));
        outputs[r.task] = r.output.substr(colon + 1);
      });
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(outputs.size(), 200u);
  for (size_t id = 0; id < 200; ++id) EXPECT_EQ(outputs[id], std::string(id * 500, 'x') + std::to_string(id));
  EXPECT_LE(pids.size(), 2u);
  EXPECT_EQ(pids.count(std::to_string(getpid())), 0u);
}

TEST(ForkPoolTest, PooledReportsACrashAsForkedDoesAndReplacesTheWorker) {
  // Crashes in the middle of many tasks: an abort, an _exit, a kill.
  const auto task = [](size_t id) -> std::string {
    if (id == 17) std::abort();
    if (id == 40) _exit(3);
    if (id == 41) _exit(0);
    // A signal no handler can take (a sanitizer build turns SIGSEGV into
    // an exit of its own).
    if (id == 63) raise(SIGKILL);
    return std::to_string(getpid()) + ":" + std::to_string(id);
  };
  for (unsigned jobs : {1u, 2u, 3u}) {
    size_t next = 0;
    std::map<size_t, ForkResult> results;
    std::set<std::string> pids;
    const absl::Status status = RunPooled(
        jobs, [&]() -> std::optional<size_t> { return next < 100 ? std::optional<size_t>(next++) : std::nullopt; },
        task,
        [&](ForkResult r) {
          EXPECT_EQ(results.count(r.task), 0u) << r.task;
          if (r.abnormal.empty() && !r.output.empty()) pids.insert(r.output.substr(0, r.output.find(':')));
          results[r.task] = std::move(r);
        });
    ASSERT_TRUE(status.ok()) << status;
    ASSERT_EQ(results.size(), 100u) << jobs;
    EXPECT_EQ(results[17].abnormal, "killed by signal 6");
    EXPECT_EQ(results[40].abnormal, "ended with status 3");
    EXPECT_EQ(results[41].abnormal, "");  // As RunForked: a clean exit, no text.
    EXPECT_EQ(results[41].output, "");
    EXPECT_EQ(results[63].abnormal, "killed by signal 9");
    for (size_t id : {17u, 40u, 63u}) EXPECT_EQ(results[id].output, "") << id;
    for (size_t id = 0; id < 100; ++id) {
      if (id == 17 || id == 40 || id == 41 || id == 63) continue;
      EXPECT_EQ(results[id].abnormal, "") << id;
      EXPECT_EQ(results[id].output.substr(results[id].output.find(':') + 1), std::to_string(id));
    }
    // Each of the four ends cost one worker, replaced by a fresh one. At
    // one job: the workers of tasks 0-16, 18-39, 42-62 and 64-99 returned
    // something (those of 40 and 41 did not).
    EXPECT_LE(pids.size(), jobs + 4);
    if (jobs == 1) {
      EXPECT_EQ(pids.size(), 4u);
    }
  }
}

TEST(ForkPoolTest, PooledTheParentMayStopSchedulingAfterAResult) {
  size_t next = 0;
  size_t results = 0;
  size_t scheduled_at_stop = 0;
  bool stop = false;
  const absl::Status status = RunPooled(
      2,
      [&]() -> std::optional<size_t> {
        if (stop || next >= 100) return std::nullopt;
        return next++;
      },
      [](size_t id) { return std::to_string(id); },
      [&](ForkResult r) {
        ++results;
        if (r.task == 4) {
          stop = true;
          scheduled_at_stop = next;
        }
      });
  ASSERT_TRUE(status.ok());
  // Nothing started after the stop; what was in flight was delivered.
  EXPECT_EQ(next, scheduled_at_stop);
  EXPECT_EQ(results, next);
  EXPECT_GE(results, 5u);
}

}  // namespace
}  // namespace vmbsim::tools
