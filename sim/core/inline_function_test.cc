// Goal: InlineFunction runs its callable, moves it (running the callable's
// own move constructor), and destroys it exactly once.
#include "sim/core/inline_function.h"

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

}  // namespace
}  // namespace vmbsim::sim
