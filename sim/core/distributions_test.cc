// Goal: the hand-written log/exp are accurate, every distribution has the
// right shape, and every variate is pinned bit for bit. Method: compare
// DeterministicLog/Exp with the C library over sweeps (test-only use of
// std::log/std::exp), check moments over 10^6 samples from fixed seeds with
// tolerances of about five standard errors (the seeds make them
// deterministic; the margin is for future algorithm changes), and pin the
// first variates as golden values, which were also checked to be identical
// under gcc and clang at -O0 and -O2.
#include "sim/core/distributions.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "sim/core/prng.h"
#include "sim/core/sim_time.h"

namespace vmbsim::sim {
namespace {

constexpr int kSampleCount = 1000000;

double RelativeError(double got, double want) {
  if (want == 0) return std::abs(got);
  return std::abs(got - want) / std::abs(want);
}

// Mean and variance of a sample, in one pass (Welford).
struct Moments {
  double mean = 0;
  double variance = 0;
};

template <typename Sampler>
Moments SampleMoments(int count, Sampler sample) {
  double mean = 0;
  double m2 = 0;
  for (int i = 1; i <= count; ++i) {
    const double x = sample();
    const double delta = x - mean;
    mean += delta / i;
    m2 += delta * (x - mean);
  }
  return Moments{mean, m2 / (count - 1)};
}

TEST(DeterministicLogTest, MatchesLibmOverSweep) {
  double worst = 0;
  // Geometric sweep over the whole normal range and into the subnormals
  // (starting well above the smallest subnormal, where x * 1.0137 == x).
  for (double x = 1e-315; x < 1e308; x *= 1.0137) {
    worst = std::max(worst, RelativeError(DeterministicLog(x), std::log(x)));
  }
  for (int k = 1; k <= 64; ++k) {
    const double x = k * 0x1p-1074;
    worst = std::max(worst, RelativeError(DeterministicLog(x), std::log(x)));
  }
  // Dense near 1, where log is small and cancellation would show.
  for (int k = -20000; k <= 20000; ++k) {
    const double x = 1.0 + k * 0x1p-40;
    if (x == 1.0) continue;
    worst = std::max(worst, RelativeError(DeterministicLog(x), std::log(x)));
  }
  for (int k = -1000; k <= 1000; ++k) {
    const double x = 1.0 + k * 0x1p-52;
    if (x == 1.0) continue;
    worst = std::max(worst, RelativeError(DeterministicLog(x), std::log(x)));
  }
  // Around the sqrt(2) reduction boundary, and the uniform-draw grid.
  for (int k = -1000; k <= 1000; ++k) {
    const double x = std::sqrt(2.0) + k * 0x1p-50;
    worst = std::max(worst, RelativeError(DeterministicLog(x), std::log(x)));
  }
  for (int k = 1; k <= 100000; ++k) {
    const double x = k * 0x1p-17;
    worst = std::max(worst, RelativeError(DeterministicLog(x), std::log(x)));
  }
  EXPECT_LT(worst, 1e-15);
  EXPECT_EQ(DeterministicLog(1.0), 0.0);
  EXPECT_EQ(DeterministicLog(2.0), 0x1.62e42fefa39efp-1);  // ln 2 rounded.
  EXPECT_NEAR(DeterministicLog(std::numeric_limits<double>::max()),
              709.782712893384, 1e-12);
  EXPECT_NEAR(DeterministicLog(0x1p-1074), -744.4400719213812, 1e-12);
}

TEST(DeterministicExpTest, MatchesLibmOverSweep) {
  double worst = 0;
  for (double x = -708.0; x <= 709.7; x += 0.0123) {
    worst = std::max(worst, RelativeError(DeterministicExp(x), std::exp(x)));
  }
  for (int k = -10000; k <= 10000; ++k) {
    const double x = k * 0x1p-30;
    worst = std::max(worst, RelativeError(DeterministicExp(x), std::exp(x)));
  }
  EXPECT_LT(worst, 1e-15);
  // Subnormal results: compare in units of the smallest subnormal.
  for (double x = -745.0; x < -708.5; x += 0.01) {
    EXPECT_LE(std::abs(DeterministicExp(x) - std::exp(x)), 0x1p-1074) << x;
  }
  EXPECT_EQ(DeterministicExp(0.0), 1.0);
  EXPECT_EQ(DeterministicExp(710.0), std::numeric_limits<double>::infinity());
  EXPECT_EQ(DeterministicExp(-746.0), 0.0);
  EXPECT_LT(RelativeError(DeterministicExp(709.78), std::exp(709.78)), 1e-15);
}

TEST(DistributionsTest, RoundToNonNegativeDurationRoundsHalfToEven) {
  auto round = [](double ns) {
    return RoundToNonNegativeDuration(ns).nanoseconds();
  };
  EXPECT_EQ(round(0.0), 0);
  EXPECT_EQ(round(-0.0), 0);
  EXPECT_EQ(round(0.5), 0);
  EXPECT_EQ(round(1.5), 2);
  EXPECT_EQ(round(2.5), 2);
  EXPECT_EQ(round(2.4999999), 2);
  EXPECT_EQ(round(2.5000001), 3);
  EXPECT_EQ(round(7.0), 7);
  EXPECT_EQ(round(-3.7), 0);
  EXPECT_EQ(round(0x1p52 + 1), (int64_t{1} << 52) + 1);
  EXPECT_EQ(round(0x1p62), int64_t{1} << 62);
  EXPECT_EQ(round(0x1p63), SimDuration::Max().nanoseconds());
  EXPECT_EQ(round(1e300), SimDuration::Max().nanoseconds());
  EXPECT_EQ(round(std::numeric_limits<double>::infinity()),
            SimDuration::Max().nanoseconds());
  EXPECT_EQ(round(-std::numeric_limits<double>::infinity()), 0);
}

TEST(DistributionsTest, UniformUnitIsOnTheGridAndInRange) {
  Prng prng = Prng::FromSeed(1);
  const Moments moments = SampleMoments(kSampleCount, [&] {
    const double u = UniformUnit(prng);
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
    const double scaled = u * 0x1p53;
    EXPECT_EQ(scaled, static_cast<double>(static_cast<uint64_t>(scaled)));
    return u;
  });
  // Mean 1/2 (SE 0.00029), variance 1/12.
  EXPECT_NEAR(moments.mean, 0.5, 0.0015);
  EXPECT_NEAR(moments.variance, 1.0 / 12, 0.0005);
}

TEST(DistributionsTest, UniformDurationIsInclusiveWithTheRightMean) {
  Prng prng = Prng::FromSeed(2);
  std::set<int64_t> seen;
  for (int i = 0; i < 1000; ++i) {
    seen.insert(UniformDuration(prng, SimDuration::Nanoseconds(-2),
                                SimDuration::Nanoseconds(2))
                    .nanoseconds());
  }
  EXPECT_EQ(seen, (std::set<int64_t>{-2, -1, 0, 1, 2}));
  const Moments moments = SampleMoments(kSampleCount, [&] {
    const SimDuration d = UniformDuration(prng, SimDuration::Microseconds(10),
                                          SimDuration::Microseconds(30));
    EXPECT_GE(d, SimDuration::Microseconds(10));
    EXPECT_LE(d, SimDuration::Microseconds(30));
    return static_cast<double>(d.nanoseconds());
  });
  // Mean 20000 ns; SE = 20000 / sqrt(12 n) = 5.8 ns.
  EXPECT_NEAR(moments.mean, 20000.0, 30.0);
  const SimDuration only = UniformDuration(prng, SimDuration::Nanoseconds(5),
                                           SimDuration::Nanoseconds(5));
  EXPECT_EQ(only, SimDuration::Nanoseconds(5));
  // The whole int64 range does not overflow.
  (void)UniformDuration(prng, SimDuration::Nanoseconds(INT64_MIN),
                        SimDuration::Max());
}

TEST(DistributionsTest, ExponentialMoments) {
  Prng prng = Prng::FromSeed(3);
  const Moments moments = SampleMoments(kSampleCount, [&] {
    const SimDuration d = Exponential(prng, SimDuration::Milliseconds(1));
    EXPECT_GE(d, SimDuration::Zero());
    return static_cast<double>(d.nanoseconds());
  });
  // Mean = 1e6 ns with SE 1e3; variance = 1e12 with SE sqrt(8/n) * 1e12.
  EXPECT_NEAR(moments.mean, 1e6, 5e3);
  EXPECT_NEAR(moments.variance, 1e12, 0.015e12);
  EXPECT_EQ(Exponential(prng, SimDuration::Zero()), SimDuration::Zero());
}

TEST(DistributionsTest, StandardNormalMoments) {
  Prng prng = Prng::FromSeed(4);
  int within_one_sigma = 0;
  const Moments moments = SampleMoments(kSampleCount, [&] {
    const double z = StandardNormal(prng);
    if (std::abs(z) < 1.0) ++within_one_sigma;
    return z;
  });
  // SE of the mean 0.001, of the standard deviation 0.0007.
  EXPECT_NEAR(moments.mean, 0.0, 0.005);
  EXPECT_NEAR(std::sqrt(moments.variance), 1.0, 0.0035);
  // P(|Z| < 1) = 0.682689; SE 0.00047.
  EXPECT_NEAR(static_cast<double>(within_one_sigma) / kSampleCount, 0.682689,
              0.0024);
}

TEST(DistributionsTest, NormalScalesAndShifts) {
  Prng prng = Prng::FromSeed(5);
  const Moments moments =
      SampleMoments(kSampleCount, [&] { return Normal(prng, 5.0, 2.0); });
  EXPECT_NEAR(moments.mean, 5.0, 0.01);
  EXPECT_NEAR(std::sqrt(moments.variance), 2.0, 0.007);
  EXPECT_EQ(Normal(prng, 3.0, 0.0), 3.0);
}

TEST(DistributionsTest, NormalDurationIsTruncatedAtZero) {
  Prng prng = Prng::FromSeed(6);
  int zeros = 0;
  for (int i = 0; i < 100000; ++i) {
    const SimDuration d =
        NormalDuration(prng, SimDuration::Zero(), SimDuration::Microseconds(1));
    ASSERT_GE(d, SimDuration::Zero());
    if (d == SimDuration::Zero()) ++zeros;
  }
  // Half the mass is below zero (SE 0.0016).
  EXPECT_NEAR(zeros / 100000.0, 0.5, 0.008);
  const Moments moments = SampleMoments(kSampleCount, [&] {
    return static_cast<double>(NormalDuration(prng,
                                              SimDuration::Microseconds(100),
                                              SimDuration::Microseconds(10))
                                   .nanoseconds());
  });
  EXPECT_NEAR(moments.mean, 100000.0, 50.0);
  EXPECT_NEAR(std::sqrt(moments.variance), 10000.0, 35.0);
}

TEST(DistributionsTest, LogNormalMedianAndLogMoments) {
  Prng prng = Prng::FromSeed(7);
  const double mu = 1.0;
  const double sigma = 0.5;
  int below_median = 0;
  const Moments log_moments = SampleMoments(kSampleCount, [&] {
    const double x = LogNormal(prng, mu, sigma);
    EXPECT_GT(x, 0.0);
    if (x < std::exp(mu)) ++below_median;
    return std::log(x);
  });
  EXPECT_NEAR(static_cast<double>(below_median) / kSampleCount, 0.5, 0.0025);
  EXPECT_NEAR(log_moments.mean, mu, 0.0025);
  EXPECT_NEAR(std::sqrt(log_moments.variance), sigma, 0.002);
}

TEST(DistributionsTest, LogNormalDurationMedian) {
  Prng prng = Prng::FromSeed(8);
  const SimDuration median = SimDuration::Microseconds(20);
  int below = 0;
  for (int i = 0; i < kSampleCount; ++i) {
    if (LogNormalDuration(prng, median, 0.5) < median) ++below;
  }
  // P(X < median) = 1/2, less the mass rounded onto the median itself
  // (about 2e-5); SE 0.0005.
  EXPECT_NEAR(static_cast<double>(below) / kSampleCount, 0.5, 0.0025);
  EXPECT_EQ(LogNormalDuration(prng, SimDuration::Zero(), 3.0),
            SimDuration::Zero());
  EXPECT_EQ(LogNormalDuration(prng, median, 0.0), median);
  // A huge sigma saturates instead of overflowing.
  bool saw_max = false;
  for (int i = 0; i < 100; ++i) {
    if (LogNormalDuration(prng, median, 1000.0) == SimDuration::Max())
      saw_max = true;
  }
  EXPECT_TRUE(saw_max);
}

// Pinned variates for seed 7. Doubles are compared exactly (hex literals).
TEST(DistributionsTest, GoldenVariates) {
  {
    Prng prng = Prng::FromSeed(7);
    std::vector<int64_t> got;
    for (int i = 0; i < 8; ++i) {
      got.push_back(
          Exponential(prng, SimDuration::Milliseconds(1)).nanoseconds());
    }
    EXPECT_EQ(got, (std::vector<int64_t>{1205896, 326771, 1830256, 3968473,
                                         4695125, 2061790, 62676, 110301}));
  }
  {
    Prng prng = Prng::FromSeed(7);
    std::vector<double> got;
    for (int i = 0; i < 8; ++i) got.push_back(StandardNormal(prng));
    EXPECT_EQ(
        got, (std::vector<double>{0x1.edc0d635eea0bp-1, -0x1.3739755916c21p-2,
                                  0x1.381c0324118c3p-2, -0x1.b375fc61f0764p+0,
                                  -0x1.ab9043786fd34p+0, -0x1.088cef0d25c93p+0,
                                  0x1.e01d8eac9abc1p-1, 0x1.7d2e3647ab026p-2}));
  }
  {
    Prng prng = Prng::FromSeed(7);
    std::vector<double> got;
    for (int i = 0; i < 8; ++i) got.push_back(LogNormal(prng, 0.0, 1.0));
    EXPECT_EQ(
        got, (std::vector<double>{0x1.4fc22c49c727cp+1, 0x1.79cfa85b8f2bep-1,
                                  0x1.5b397eb3ebd8dp+0, 0x1.75c13947c2e36p-3,
                                  0x1.8176e5a488ecbp-3, 0x1.6c55881ef1c34p-2,
                                  0x1.46eee40bd4512p+1, 0x1.7374213054b24p+0}));
  }
  {
    Prng prng = Prng::FromSeed(7);
    std::vector<int64_t> got;
    for (int i = 0; i < 8; ++i) {
      got.push_back(LogNormalDuration(prng, SimDuration::Microseconds(20), 0.5)
                        .nanoseconds());
    }
    EXPECT_EQ(got, (std::vector<int64_t>{32392, 17180, 23292, 8544, 8677, 11930,
                                         31964, 24091}));
  }
  {
    Prng prng = Prng::FromSeed(7);
    std::vector<int64_t> got;
    for (int i = 0; i < 8; ++i) {
      got.push_back(NormalDuration(prng, SimDuration::Microseconds(10),
                                   SimDuration::Microseconds(3))
                        .nanoseconds());
    }
    EXPECT_EQ(got, (std::vector<int64_t>{12893, 9088, 10914, 4897, 4989, 6900,
                                         12813, 11117}));
  }
  {
    Prng prng = Prng::FromSeed(7);
    EXPECT_EQ(UniformUnit(prng), 0x1.66b1f5ee9df2ep-1);
    EXPECT_EQ(UniformUnit(prng), 0x1.1d70f6593d20ap-2);
  }
}

TEST(EmpiricalTableTest, RejectsBadTables) {
  using Table = EmpiricalTable<int>;
  EXPECT_EQ(Table::Create({}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Table::Create({{1, 0}, {2, 0}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Table::Create({{1, UINT64_MAX}, {2, 1}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(Table::Create({{1, UINT64_MAX}, {2, 0}}).ok());
}

TEST(EmpiricalTableTest, FrequenciesFollowWeights) {
  absl::StatusOr<EmpiricalTable<SimDuration>> table =
      EmpiricalTable<SimDuration>::Create({
          {SimDuration::Microseconds(10), 1},
          {SimDuration::Microseconds(20), 2},
          {SimDuration::Microseconds(30), 0},  // Never chosen.
          {SimDuration::Microseconds(40), 7},
      });
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->total_weight(), 10u);
  Prng prng = Prng::FromSeed(9);
  std::map<int64_t, int> counts;
  for (int i = 0; i < kSampleCount; ++i) {
    ++counts[table->Sample(prng).nanoseconds()];
  }
  EXPECT_EQ(counts.count(30000), 0u);
  // SE of each frequency <= 0.0005.
  EXPECT_NEAR(counts[10000] / static_cast<double>(kSampleCount), 0.1, 0.0025);
  EXPECT_NEAR(counts[20000] / static_cast<double>(kSampleCount), 0.2, 0.0025);
  EXPECT_NEAR(counts[40000] / static_cast<double>(kSampleCount), 0.7, 0.0025);
}

TEST(EmpiricalTableTest, SampleIsOneBelowDrawAndGolden) {
  absl::StatusOr<EmpiricalTable<int>> table =
      EmpiricalTable<int>::Create({{64, 5}, {512, 3}, {4096, 2}});
  ASSERT_TRUE(table.ok());
  Prng a = Prng::FromSeed(7);
  Prng b = Prng::FromSeed(7);
  for (int i = 0; i < 100; ++i) {
    const uint64_t ticket = b.Below(10);
    const int expected = ticket < 5 ? 64 : ticket < 8 ? 512 : 4096;
    ASSERT_EQ(table->Sample(a), expected);
  }
  absl::StatusOr<EmpiricalTable<int>> single =
      EmpiricalTable<int>::Create({{3, 1}});
  ASSERT_TRUE(single.ok());
  EXPECT_EQ(single->Sample(a), 3);
}

TEST(DistributionsDeathTest, PreconditionsAbort) {
  Prng prng = Prng::FromSeed(1);
  EXPECT_DEATH(DeterministicLog(0.0), "x > 0.0");
  EXPECT_DEATH(DeterministicLog(-1.0), "x > 0.0");
  EXPECT_DEATH(DeterministicLog(std::nan("")), "x > 0.0");
  EXPECT_DEATH(DeterministicLog(std::numeric_limits<double>::infinity()),
               "kInfinity");
  EXPECT_DEATH(DeterministicExp(std::nan("")), "NaN");
  EXPECT_DEATH(RoundToNonNegativeDuration(std::nan("")), "NaN");
  EXPECT_DEATH(Exponential(prng, SimDuration::Nanoseconds(-1)), "mean");
  EXPECT_DEATH(Normal(prng, 0.0, -1.0), "stddev >= 0.0");
  EXPECT_DEATH(LogNormal(prng, 0.0, -1.0), "sigma >= 0.0");
  EXPECT_DEATH(UniformDuration(prng, SimDuration::Nanoseconds(2),
                               SimDuration::Nanoseconds(1)),
               "lo.nanoseconds\\(\\) <= hi.nanoseconds\\(\\)");
}

}  // namespace
}  // namespace vmbsim::sim
