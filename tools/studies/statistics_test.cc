// statistics_test.cc
//
// Goal: the Student t quantile and the per-point summary are right. Method:
// the quantile against published table values (to 1e-6) and its symmetry;
// a summary against values worked by hand.

#include "tools/studies/statistics.h"

#include <cmath>

#include "gtest/gtest.h"

namespace vmbsim::studies {
namespace {

TEST(StatisticsTest, StudentTQuantileMatchesTables) {
  struct Row {
    double p, df, t;
  };
  // Two-sided 95 % and 99 % points and one-sided 90 % points from standard
  // tables (Abramowitz and Stegun 26.10; NIST/SEMATECH e-Handbook 1.3.6.7.2).
  const Row rows[] = {
      {0.975, 1, 12.706204736}, {0.975, 2, 4.302652730},  {0.975, 3, 3.182446305},  {0.975, 4, 2.776445105},
      {0.975, 5, 2.570581836},  {0.975, 9, 2.262157163},  {0.975, 10, 2.228138852}, {0.975, 19, 2.093024054},
      {0.975, 29, 2.045229642}, {0.975, 30, 2.042272456}, {0.975, 100, 1.983971519}, {0.995, 1, 63.656741163},
      {0.995, 10, 3.169272673}, {0.9, 5, 1.475884049},    {0.9, 20, 1.325340707},   {0.975, 1e7, 1.959964},
  };
  for (const Row& r : rows) {
    EXPECT_NEAR(StudentTQuantile(r.p, r.df), r.t, 1e-6) << "p=" << r.p << " df=" << r.df;
  }
  EXPECT_EQ(StudentTQuantile(0.5, 7), 0.0);
  EXPECT_NEAR(StudentTQuantile(0.025, 4), -2.776445105, 1e-6);
  // The CDF inverts the quantile.
  EXPECT_NEAR(StudentTCdf(StudentTQuantile(0.975, 3.5), 3.5), 0.975, 1e-12);
}

TEST(StatisticsTest, SummaryOfValuesWorkedByHand) {
  const Summary s = Summarise({2, 4, 4, 4, 5, 5, 7, 9});
  EXPECT_EQ(s.count, 8u);
  EXPECT_DOUBLE_EQ(s.mean, 5.0);
  ASSERT_TRUE(s.sd.has_value());
  EXPECT_NEAR(*s.sd, std::sqrt(32.0 / 7.0), 1e-12);
  EXPECT_NEAR(*s.ci95_half, 2.364624252 * std::sqrt(32.0 / 7.0) / std::sqrt(8.0), 1e-8);
  EXPECT_NEAR(*s.ci95_low(), 5.0 - *s.ci95_half, 1e-12);
}

TEST(StatisticsTest, OneValueHasNoInterval) {
  const Summary s = Summarise({3});
  EXPECT_EQ(s.count, 1u);
  EXPECT_EQ(s.mean, 3.0);
  EXPECT_FALSE(s.sd.has_value());
  EXPECT_FALSE(IntervalWithin(s, 0.5));
  EXPECT_EQ(Summarise({}).count, 0u);
}

TEST(StatisticsTest, IntervalWithinARelativeTarget) {
  EXPECT_TRUE(IntervalWithin(Summarise({5, 5, 5}), 0.01));       // Zero width.
  EXPECT_TRUE(IntervalWithin(Summarise({100, 101, 99, 100}), 0.02));
  EXPECT_FALSE(IntervalWithin(Summarise({100, 150, 50}), 0.02));
  EXPECT_FALSE(IntervalWithin(Summarise({-1, 1, 0}), 0.5));      // Around a zero mean.
}

}  // namespace
}  // namespace vmbsim::studies
