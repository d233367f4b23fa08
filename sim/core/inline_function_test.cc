// Goal: InlineFunction runs its callable, moves it (running the callable's
// own move constructor, or copying a trivially copyable callable's bytes),
// and destroys it exactly once.
#include "sim/core/inline_function.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace vmbsim::sim {
namespace {

struct Counted {
  explicit Counted(int* live) : live(live) { ++*live; }
  Counted(const Counted& o) : live(o.live) { ++*live; }
  Counted(Counted&& o) noexcept : live(o.live) { ++*live; }
  ~Counted() { --*live; }
  int* live;
};

TEST(InlineFunctionTest, RunsMovesAndDestroys) {
  int live = 0;
  int runs = 0;
  {
    Counted counted(&live);
    InlineFunction f([counted, &runs] { ++runs; });
    EXPECT_EQ(live, 2);
    f();
    EXPECT_EQ(runs, 1);
    InlineFunction g(std::move(f));
    EXPECT_FALSE(static_cast<bool>(f));
    EXPECT_EQ(live, 2);  // Moved, not copied.
    g();
    EXPECT_EQ(runs, 2);
    std::vector<InlineFunction> queue;
    queue.push_back(std::move(g));
    queue.emplace_back([&runs] { runs += 10; });
    for (InlineFunction& item : queue) item();
    EXPECT_EQ(runs, 13);
    queue.clear();
    EXPECT_EQ(live, 1);
  }
  EXPECT_EQ(live, 0);
}

TEST(InlineFunctionTest, AssignmentReplacesAndResetEmpties) {
  int a = 0;
  int b = 0;
  InlineFunction f([&a] { ++a; });
  f = InlineFunction([&b] { ++b; });
  f();
  EXPECT_EQ(a, 0);
  EXPECT_EQ(b, 1);
  f.Reset();
  EXPECT_FALSE(static_cast<bool>(f));
}

TEST(InlineFunctionTest, TriviallyCopyableCallablesKeepTheirStateThroughMoves) {
  // Three captured words (the whole 24 bytes), one of them changed by each
  // run: moves copy the bytes, so each move carries the state so far.
  int64_t total = 0;
  int64_t base = 1000;
  InlineFunction f([&total, base, step = int64_t{0}]() mutable { total += base + step++; });
  std::vector<InlineFunction> queue;
  for (int i = 0; i < 50; ++i) {  // Vector growth moves every element again.
    f();
    queue.push_back(std::move(f));
    EXPECT_FALSE(static_cast<bool>(f));
    f = std::move(queue.back());
    queue.pop_back();
    queue.emplace_back([&total] { total += 1; });
  }
  for (InlineFunction& item : queue) item();
  EXPECT_EQ(total, 50 * 1000 + 49 * 50 / 2 + 50);
  InlineFunction g;
  g = std::move(f);  // Into an empty one.
  g();
  EXPECT_EQ(total, 50 * 1000 + 49 * 50 / 2 + 50 + 1050);
}

}  // namespace
}  // namespace vmbsim::sim
