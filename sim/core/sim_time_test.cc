// Goal: SimTime/SimDuration arithmetic is exact, overflow aborts, unit
// conversions are exact one way and truncating the other, and formatting is
// lossless.
#include "sim/core/sim_time.h"

#include "gtest/gtest.h"

namespace vmbsim::sim {
namespace {

TEST(SimTimeTest, UnitConversions) {
  EXPECT_EQ(SimDuration::Microseconds(25).nanoseconds(), 25000);
  EXPECT_EQ(SimDuration::Units100ns(1000).nanoseconds(), 100000);
  EXPECT_EQ(SimDuration::Milliseconds(2).nanoseconds(), 2000000);
  EXPECT_EQ(SimDuration::Seconds(3).nanoseconds(), 3000000000);
  EXPECT_EQ(SimDuration::Nanoseconds(1999).TruncateToMicroseconds(), 1);
  EXPECT_EQ(SimDuration::Nanoseconds(250).TruncateTo100nsUnits(), 2);
  EXPECT_EQ(SimDuration::Nanoseconds(-250).TruncateTo100nsUnits(), -2);
}

TEST(SimTimeTest, Arithmetic) {
  const SimTime t = SimTime::FromNanoseconds(100);
  const SimTime u = t + SimDuration::Nanoseconds(50);
  EXPECT_EQ(u.nanoseconds(), 150);
  EXPECT_EQ((u - t).nanoseconds(), 50);
  EXPECT_EQ((u - SimDuration::Nanoseconds(150)), SimTime::Zero());
  EXPECT_LT(t, u);
  EXPECT_EQ((SimDuration::Nanoseconds(7) * 3).nanoseconds(), 21);
  SimDuration d;
  d += SimDuration::Microseconds(1);
  d -= SimDuration::Nanoseconds(1);
  EXPECT_EQ(d.nanoseconds(), 999);
}

TEST(SimTimeTest, FormattingIsLossless) {
  EXPECT_EQ(SimDuration::Nanoseconds(0).ToString(), "0ns");
  EXPECT_EQ(SimDuration::Nanoseconds(250).ToString(), "250ns");
  EXPECT_EQ(SimDuration::Nanoseconds(1500).ToString(), "1.5us");
  EXPECT_EQ(SimDuration::Nanoseconds(2000001).ToString(), "2.000001ms");
  EXPECT_EQ(SimDuration::Seconds(3).ToString(), "3s");
  EXPECT_EQ(SimDuration::Nanoseconds(-1500).ToString(), "-1.5us");
  EXPECT_EQ(SimTime::Max().ToString(), "9223372036.854775807s");
  EXPECT_EQ(SimDuration::Nanoseconds(INT64_MIN).ToString(), "-9223372036.854775808s");
}

TEST(SimTimeDeathTest, OverflowAborts) {
  EXPECT_DEATH(SimTime::Max() + SimDuration::Nanoseconds(1), "time overflow");
  EXPECT_DEATH(SimDuration::Seconds(INT64_MAX / 1000), "time overflow");
}

}  // namespace
}  // namespace vmbsim::sim
