// distribution_test.cc
//
// Goal: DistributionSampler draws what each kind promises, clamps as
// spec.h says, consumes the stream predictably, and refuses a spec that
// makes no sense. Method: sample 200 000 values per kind from a fixed seed
// and compare the sample mean (and bounds) with the closed form; compare
// stream positions after sampling to count draws.

#include "tools/scenario/distribution.h"

#include <cmath>
#include <cstdint>

#include "gtest/gtest.h"
#include "sim/core/prng.h"
#include "tools/scenario/spec.h"

namespace vmbsim::scenario {
namespace {

constexpr int kSamples = 200000;

struct Moments {
  double mean = 0;
  int64_t min = INT64_MAX;
  int64_t max = INT64_MIN;
};

Moments Draw(const DistributionSpec& spec, uint64_t seed = 7) {
  absl::StatusOr<DistributionSampler> sampler = DistributionSampler::Create(spec);
  EXPECT_TRUE(sampler.ok()) << sampler.status();
  sim::Prng prng = sim::Prng::FromSeed(seed);
  Moments m;
  double sum = 0;
  for (int i = 0; i < kSamples; ++i) {
    const int64_t v = sampler->Sample(prng);
    sum += static_cast<double>(v);
    m.min = std::min(m.min, v);
    m.max = std::max(m.max, v);
  }
  m.mean = sum / kSamples;
  return m;
}

TEST(DistributionTest, FixedIsConstantAndDrawsNothing) {
  const DistributionSpec spec{.kind = "fixed", .value = 42};
  absl::StatusOr<DistributionSampler> sampler = DistributionSampler::Create(spec);
  ASSERT_TRUE(sampler.ok());
  sim::Prng prng = sim::Prng::FromSeed(1);
  sim::Prng untouched = prng;
  for (int i = 0; i < 10; ++i) EXPECT_EQ(sampler->Sample(prng), 42);
  EXPECT_EQ(prng.Next64(), untouched.Next64());
}

TEST(DistributionTest, UniformCoversItsInclusiveRangeWithOneBelowPerSample) {
  const DistributionSpec spec{.kind = "uniform", .min = 10, .max = 20};
  const Moments m = Draw(spec);
  EXPECT_EQ(m.min, 10);
  EXPECT_EQ(m.max, 20);
  EXPECT_NEAR(m.mean, 15.0, 0.05);
  // The same draws as the request sizes of earlier releases: min + Below(n).
  absl::StatusOr<DistributionSampler> sampler = DistributionSampler::Create(spec);
  sim::Prng a = sim::Prng::FromSeed(3);
  sim::Prng b = sim::Prng::FromSeed(3);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(sampler->Sample(a), 10 + static_cast<int64_t>(b.Below(11)));
}

TEST(DistributionTest, ExponentialHasItsMean) {
  const Moments m = Draw({.kind = "exponential", .mean = 10000});
  EXPECT_NEAR(m.mean / 10000, 1.0, 0.01);
  EXPECT_GE(m.min, 0);
}

TEST(DistributionTest, LogNormalHasItsMean) {
  // E[X] = median * exp(sigma^2 / 2).
  const Moments m = Draw({.kind = "lognormal", .median = 20000, .sigma = 0.5});
  EXPECT_NEAR(m.mean / (20000 * std::exp(0.125)), 1.0, 0.01);
}

TEST(DistributionTest, EmpiricalFollowsTheWeights) {
  const Moments m = Draw({.kind = "empirical", .table = {{.value = 100, .weight = 3}, {.value = 1000, .weight = 1}}});
  EXPECT_NEAR(m.mean, (3 * 100 + 1000) / 4.0, 5.0);
  EXPECT_EQ(m.min, 100);
  EXPECT_EQ(m.max, 1000);
}

// Clamping moves the mass outside [min, max] onto the bounds: for an
// exponential with mean m clamped at c above, E = m (1 - e^{-c/m}).
TEST(DistributionTest, TruncationClampsWithoutExtraDraws) {
  const Moments m = Draw({.kind = "exponential", .max = 10000, .mean = 10000});
  EXPECT_EQ(m.max, 10000);
  EXPECT_NEAR(m.mean / (10000 * (1 - std::exp(-1.0))), 1.0, 0.01);
  const Moments floor = Draw({.kind = "lognormal", .min = 20000, .median = 20000, .sigma = 1});
  EXPECT_EQ(floor.min, 20000);
  // Same stream position with and without bounds: one draw per sample either way.
  absl::StatusOr<DistributionSampler> bounded =
      DistributionSampler::Create({.kind = "exponential", .min = 5, .max = 6, .mean = 1000});
  absl::StatusOr<DistributionSampler> free = DistributionSampler::Create({.kind = "exponential", .mean = 1000});
  sim::Prng a = sim::Prng::FromSeed(9);
  sim::Prng b = sim::Prng::FromSeed(9);
  for (int i = 0; i < 1000; ++i) {
    bounded->Sample(a);
    free->Sample(b);
  }
  EXPECT_EQ(a.Next64(), b.Next64());
}

TEST(DistributionTest, SameSeedSameValues) {
  const DistributionSpec spec{.kind = "lognormal", .median = 5000, .sigma = 0.8};
  absl::StatusOr<DistributionSampler> sampler = DistributionSampler::Create(spec);
  sim::Prng a = sim::Prng::FromSeed(11);
  sim::Prng b = sim::Prng::FromSeed(11);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(sampler->Sample(a), sampler->Sample(b));
}

TEST(DistributionTest, CreateRefusesNonsense) {
  EXPECT_EQ(DistributionSampler::Create({.kind = "gamma"}).status().message(), "unknown distribution kind \"gamma\"");
  EXPECT_EQ(DistributionSampler::Create({.kind = "uniform", .min = 5, .max = 4}).status().message(), "min 5 > max 4");
  EXPECT_EQ(DistributionSampler::Create({.kind = "exponential", .mean = -1}).status().message(), "mean is negative: -1");
  EXPECT_EQ(DistributionSampler::Create({.kind = "empirical"}).status().message(), "empirical table: no rows");
  EXPECT_EQ(DistributionSampler::Create({.kind = "lognormal", .median = 1, .sigma = -1}).status().message(),
            "sigma is not a finite number >= 0: -1");
}

}  // namespace
}  // namespace vmbsim::scenario
