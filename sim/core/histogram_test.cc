// Goal: Histogram reports every value within 1% (exactly up to 127), keeps
// exact count/min/max/sum, follows its documented quantile definition,
// merges like recording everything into one, and stays small. Method: walk
// every bucket of the int64 range checking contiguity and error bounds,
// record geometric sweeps up to 4e18 and read them back by quantile, and
// compare merged histograms with directly recorded ones field by field.
#include "sim/core/histogram.h"

#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <limits>
#include <vector>

#include "gtest/gtest.h"
#include "sim/core/prng.h"

namespace vmbsim::sim {
namespace {

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

// |representative - value| <= value / 128, without overflow.
bool WithinRelativeBound(int64_t representative, int64_t value) {
  const __int128 diff = static_cast<__int128>(representative) - value;
  const __int128 abs_diff = diff < 0 ? -diff : diff;
  return abs_diff * 128 <= static_cast<__int128>(value);
}

void ExpectSameContents(const Histogram& a, const Histogram& b) {
  EXPECT_EQ(a.count(), b.count());
  EXPECT_EQ(a.min(), b.min());
  EXPECT_EQ(a.max(), b.max());
  EXPECT_EQ(a.sum(), b.sum());
  EXPECT_EQ(a.mean(), b.mean());
  const std::vector<Histogram::Bucket> buckets_a = a.NonEmptyBuckets();
  const std::vector<Histogram::Bucket> buckets_b = b.NonEmptyBuckets();
  ASSERT_EQ(buckets_a.size(), buckets_b.size());
  for (size_t i = 0; i < buckets_a.size(); ++i) {
    EXPECT_EQ(buckets_a[i].value_min, buckets_b[i].value_min);
    EXPECT_EQ(buckets_a[i].value_max, buckets_b[i].value_max);
    EXPECT_EQ(buckets_a[i].count, buckets_b[i].count);
  }
  for (double q : {0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0}) {
    EXPECT_EQ(a.ValueAtQuantile(q), b.ValueAtQuantile(q)) << q;
  }
}

TEST(HistogramTest, EmptyIsZeroAndSmall) {
  const Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.max(), 0);
  EXPECT_EQ(h.sum(), 0);
  EXPECT_EQ(h.mean(), 0.0);
  EXPECT_EQ(h.ValueAtQuantile(0.5), 0);
  const Histogram::PercentileSummary p = h.Percentiles();
  EXPECT_EQ(p.p50, 0);
  EXPECT_EQ(p.max, 0);
  EXPECT_TRUE(h.NonEmptyBuckets().empty());
  EXPECT_LE(h.MemoryBytes(), 128u);
}

TEST(HistogramTest, SmallValuesAreExact) {
  Histogram h;
  for (int64_t v = 0; v <= Histogram::kExactValueMax; ++v) {
    h.Record(v);
    EXPECT_EQ(Histogram::RepresentativeOf(v), v);
  }
  const std::vector<Histogram::Bucket> buckets = h.NonEmptyBuckets();
  ASSERT_EQ(buckets.size(), 128u);
  for (int64_t v = 0; v <= Histogram::kExactValueMax; ++v) {
    EXPECT_EQ(buckets[v].value_min, v);
    EXPECT_EQ(buckets[v].value_max, v);
    EXPECT_EQ(buckets[v].count, 1u);
  }
  EXPECT_NE(Histogram::RepresentativeOf(128), 128);  // First bucket of width 2.
}

// Walks every bucket from 0 to INT64_MAX: buckets are contiguous, each
// value's bucket contains it, and every value in a bucket is within 1/128
// of the representative (checking both bucket ends suffices: the error is
// largest at the low end, relative to the smallest value).
TEST(HistogramTest, EveryBucketIsWithinOnePercent) {
  int64_t value = 0;
  int bucket_count = 0;
  bool saw_1e13 = false;
  while (true) {
    Histogram h;
    h.Record(value);
    const std::vector<Histogram::Bucket> buckets = h.NonEmptyBuckets();
    ASSERT_EQ(buckets.size(), 1u);
    const Histogram::Bucket bucket = buckets[0];
    ASSERT_EQ(bucket.value_min, value) << "gap or overlap before bucket";
    ASSERT_GE(bucket.value_max, bucket.value_min);
    const int64_t representative = Histogram::RepresentativeOf(value);
    EXPECT_EQ(Histogram::RepresentativeOf(bucket.value_max), representative);
    EXPECT_GE(representative, bucket.value_min);
    EXPECT_LE(representative, bucket.value_max);
    if (value > 0) {
      EXPECT_TRUE(WithinRelativeBound(representative, bucket.value_min))
          << value;
      EXPECT_TRUE(WithinRelativeBound(representative, bucket.value_max))
          << value;
    }
    if (bucket.value_min <= 10'000'000'000'000 &&
        10'000'000'000'000 <= bucket.value_max) {
      saw_1e13 = true;
    }
    ++bucket_count;
    if (bucket.value_max == kInt64Max) break;
    value = bucket.value_max + 1;
  }
  EXPECT_EQ(bucket_count, Histogram::kBlockCount * Histogram::kSubBucketCount);
  EXPECT_TRUE(saw_1e13);
}

TEST(HistogramTest, ErrorBoundCoversEveryValueOfTheBucket) {
  EXPECT_EQ(Histogram::ErrorBoundAt(0), 0);
  EXPECT_EQ(Histogram::ErrorBoundAt(Histogram::kExactValueMax), 0);
  EXPECT_EQ(Histogram::ErrorBoundAt(128), 1);  // Buckets of width 2 from 128.
  for (int64_t v = 0; v < 2000000; v += 1 + v / 1000) {
    const int64_t reported = Histogram::RepresentativeOf(v);
    const int64_t bound = Histogram::ErrorBoundAt(reported);
    EXPECT_LE(std::abs(reported - v), bound) << v;
    EXPECT_LE(bound, reported / 128) << v;
  }
}

TEST(HistogramTest, RepresentativeIsWithinOnePercentExhaustivelyToOneMillion) {
  for (int64_t v = 1; v <= 1'000'000; ++v) {
    ASSERT_TRUE(WithinRelativeBound(Histogram::RepresentativeOf(v), v)) << v;
  }
}

// Records a geometric sweep of distinct values 1 .. 4e18 (a bit over 1%
// apart) and reads each back as a quantile: the i-th smallest (1-based) is
// at q = (i - 0.5) / n, since ceil(q * n) = i.
TEST(HistogramTest, ValueAtQuantileIsWithinOnePercentAcrossTheRange) {
  std::vector<int64_t> values;
  for (int64_t v = 1; v < 4'000'000'000'000'000'000;
       v += std::max<int64_t>(1, v / 97)) {
    values.push_back(v);
  }
  ASSERT_GT(values.back(), 10'000'000'000'000);
  Histogram h;
  for (int64_t v : values) h.Record(v);
  const double n = static_cast<double>(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    const double q = (static_cast<double>(i) + 0.5) / n;
    const int64_t got = h.ValueAtQuantile(q);
    ASSERT_TRUE(WithinRelativeBound(got, values[i]))
        << "rank " << i + 1 << ": got " << got << " want " << values[i];
  }
}

TEST(HistogramTest, QuantileDefinitionExamples) {
  Histogram h;
  for (int64_t v : {4, 1, 3, 2}) h.Record(v);
  EXPECT_EQ(h.ValueAtQuantile(0.0), 1);
  EXPECT_EQ(h.ValueAtQuantile(0.25), 1);  // rank ceil(1.0) = 1
  EXPECT_EQ(h.ValueAtQuantile(0.26), 2);  // rank ceil(1.04) = 2
  EXPECT_EQ(h.ValueAtQuantile(0.5), 2);   // rank 2
  EXPECT_EQ(h.ValueAtQuantile(0.75), 3);  // rank 3
  EXPECT_EQ(h.ValueAtQuantile(0.76), 4);  // rank 4 = count: exact max
  EXPECT_EQ(h.ValueAtQuantile(1.0), 4);
}

TEST(HistogramTest, QuantileIsClampedToMinMaxAndExactAtTheEnds) {
  Histogram h;
  // All three share the bucket [9984, 10111] whose representative is 10048.
  for (int64_t v : {10000, 10001, 10002}) h.Record(v);
  EXPECT_EQ(Histogram::RepresentativeOf(10000), 10048);
  EXPECT_EQ(h.ValueAtQuantile(0.0), 10000);  // Exact min.
  EXPECT_EQ(h.ValueAtQuantile(0.5), 10002);  // Representative clamped to max.
  EXPECT_EQ(h.ValueAtQuantile(1.0), 10002);  // Exact max.
}

TEST(HistogramTest, ExactStatistics) {
  Histogram h;
  int64_t sum = 0;
  uint64_t count = 0;
  int64_t max = 0;
  for (int64_t v = 1000; v <= 2000000; v += 997) {
    h.Record(v);
    sum += v;
    ++count;
    max = v;
  }
  h.Record(0);
  ++count;
  EXPECT_EQ(h.count(), count);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.max(), max);
  EXPECT_EQ(h.sum(), sum);
  EXPECT_EQ(h.mean(), static_cast<double>(sum) / static_cast<double>(count));
}

TEST(HistogramTest, SumSaturatesButMeanStaysExact) {
  Histogram h;
  h.Record(kInt64Max);
  EXPECT_EQ(h.sum(), kInt64Max);
  h.Record(kInt64Max);
  h.Record(kInt64Max);
  EXPECT_EQ(h.sum(), kInt64Max);
  EXPECT_EQ(h.count(), 3u);
  EXPECT_EQ(h.mean(), static_cast<double>(kInt64Max));
  EXPECT_EQ(h.max(), kInt64Max);
  EXPECT_EQ(h.ValueAtQuantile(0.5), kInt64Max);
}

TEST(HistogramTest, PercentilesOfOneToThousand) {
  Histogram h;
  for (int64_t v = 1; v <= 1000; ++v) h.Record(v);
  const Histogram::PercentileSummary p = h.Percentiles();
  EXPECT_TRUE(WithinRelativeBound(p.p50, 500)) << p.p50;
  EXPECT_TRUE(WithinRelativeBound(p.p90, 900)) << p.p90;
  EXPECT_TRUE(WithinRelativeBound(p.p99, 990)) << p.p99;
  EXPECT_TRUE(WithinRelativeBound(p.p999, 999)) << p.p999;
  EXPECT_EQ(p.max, 1000);
}

TEST(HistogramTest, NonEmptyBucketsAscendAndSumToCount) {
  Histogram h;
  Prng prng = Prng::FromSeed(12);
  for (int i = 0; i < 10000; ++i) {
    h.Record(
        static_cast<int64_t>(prng.Below(uint64_t{1} << (1 + prng.Below(40)))));
  }
  const std::vector<Histogram::Bucket> buckets = h.NonEmptyBuckets();
  uint64_t total = 0;
  for (size_t i = 0; i < buckets.size(); ++i) {
    EXPECT_GT(buckets[i].count, 0u);
    if (i > 0) {
      EXPECT_GT(buckets[i].value_min, buckets[i - 1].value_max);
    }
    total += buckets[i].count;
  }
  EXPECT_EQ(total, h.count());
  EXPECT_LE(buckets.front().value_min, h.min());
  EXPECT_GE(buckets.back().value_max, h.max());
}

TEST(HistogramTest, MergeEqualsRecordingEverything) {
  Histogram a;
  Histogram b;
  Histogram all;
  Prng prng = Prng::FromSeed(13);
  for (int i = 0; i < 20000; ++i) {
    const int64_t v =
        static_cast<int64_t>(prng.Below(uint64_t{1} << (prng.Below(50))));
    (i % 3 == 0 ? a : b).Record(v);
    all.Record(v);
  }
  Histogram merged = a;
  merged.Merge(b);
  ExpectSameContents(merged, all);

  Histogram into_empty;
  into_empty.Merge(all);
  ExpectSameContents(into_empty, all);
  merged.Merge(Histogram());
  ExpectSameContents(merged, all);

  Histogram doubled = all;
  doubled.Merge(doubled);
  Histogram twice = all;
  twice.Merge(all);
  ExpectSameContents(doubled, twice);
  EXPECT_EQ(doubled.count(), 2 * all.count());
}

TEST(HistogramTest, CopiesAreDeepAndClearResets) {
  Histogram original;
  original.Record(5000);
  Histogram copy = original;
  copy.Record(6000);
  EXPECT_EQ(original.count(), 1u);
  EXPECT_EQ(copy.count(), 2u);
  copy = original;
  EXPECT_EQ(copy.count(), 1u);
  copy.Clear();
  EXPECT_EQ(copy.count(), 0u);
  EXPECT_EQ(copy.max(), 0);
  EXPECT_TRUE(copy.NonEmptyBuckets().empty());
  EXPECT_EQ(original.NonEmptyBuckets().size(), 1u);
}

TEST(HistogramTest, MemoryIsAllocatedPerOctave) {
  Histogram narrow;
  for (int64_t v = 10000; v < 16000; v += 7) narrow.Record(v);  // One octave.
  EXPECT_LE(narrow.MemoryBytes(), 700u);
  Histogram wide;
  for (int64_t v = 1; v < kInt64Max / 2; v *= 2) wide.Record(v);
  EXPECT_GE(wide.MemoryBytes(), 57u * 512u);
  EXPECT_LE(wide.MemoryBytes(), 58u * 512u + 1024u);
}

TEST(HistogramDeathTest, BadInputIsACallerBug) {
  Histogram h;
  EXPECT_DEATH(h.Record(-1), "value >= 0");
  EXPECT_DEATH(h.ValueAtQuantile(-0.1), "q >= 0.0");
  EXPECT_DEATH(h.ValueAtQuantile(1.1), "q <= 1.0");
  EXPECT_DEATH(h.ValueAtQuantile(std::nan("")), "q >= 0.0");
  EXPECT_DEATH(Histogram::RepresentativeOf(-5), "value >= 0");
}

}  // namespace
}  // namespace vmbsim::sim
