// Goal: a failed check aborts and names the condition, the operands, the seed
// and the virtual time; the status macros propagate errors and values.
#include "sim/check.h"

#include "gtest/gtest.h"

namespace vmbsim {
namespace {

TEST(CheckTest, PassingChecksDoNothing) {
  VMBSIM_CHECK(1 + 1 == 2);
  VMBSIM_CHECK_EQ(3, 3);
  VMBSIM_CHECK_LT(1u, 2u);
  VMBSIM_CHECK_MSG(true, "never printed");
}

TEST(CheckDeathTest, FailureNamesOperandsSeedAndTime) {
  const int64_t now_ns = 1500;
  const CheckContext context{/*seed=*/42, &now_ns};
  ScopedCheckContext scope(&context);
  const int a = 4;
  EXPECT_DEATH(VMBSIM_CHECK_LE(a, 3), "a <= 3 \\(4 vs 3\\).*seed=42 t=1500ns");
}

TEST(CheckDeathTest, FailureOutsideARunSaysSo) {
  EXPECT_DEATH(VMBSIM_CHECK(false), "false \\(seed=\\? t=\\?\\)");
}

absl::StatusOr<int> Half(int x) {
  if (x % 2 != 0) return absl::InvalidArgumentError("odd");
  return x / 2;
}

absl::Status Quarter(int x, int* out) {
  VMBSIM_ASSIGN_OR_RETURN(const int half, Half(x));
  VMBSIM_ASSIGN_OR_RETURN(*out, Half(half));
  VMBSIM_RETURN_IF_ERROR(absl::OkStatus());
  return absl::OkStatus();
}

TEST(CheckTest, StatusMacrosPropagate) {
  int out = 0;
  EXPECT_TRUE(Quarter(8, &out).ok());
  EXPECT_EQ(out, 2);
  EXPECT_EQ(Quarter(6, &out).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vmbsim
