// histogram.h
//
// A mergeable log-linear histogram of non-negative int64 values (latencies
// in nanoseconds, queue depths, sizes in bytes), in the style of
// HdrHistogram: exact count, min, max and sum, and quantiles with a bounded
// relative error, in little memory.
//
// Bucket layout (64 sub-buckets per power of two):
//
//   block 0:  values [0, 64)                     64 buckets of width 1
//   block 1:  values [64, 128)                   64 buckets of width 1
//   block b:  values [2^(b+5), 2^(b+6)), b >= 2  64 buckets of width 2^(b-1)
//   block 57: values [2^62, 2^63 - 1]            (the top of int64)
//
// A bucket reports its *representative* value lower + width / 2. Values
// 0..127 are therefore exact, and for every value v >= 1 the representative
// is within v / 128 of v (relative error <= 0.79%, under the 1% target).
// The whole int64 range is covered.
//
// Memory: the 58 blocks of 64 counters (512 bytes each) are allocated
// lazily, and the pointer vector only grows to the highest block used, so an
// empty histogram is about 64 bytes and one holding latencies within one
// power of two about 640 bytes. Thousands of histograms are expected.
//
// Determinism: integer-only, except mean(), which is one correctly rounded
// division of exact integers. Iteration (NonEmptyBuckets) is in ascending
// value order.
//
// Not provided: negative values (recording one is a caller bug and aborts),
// value-weighted recording, and auto-resizing precision.

#ifndef VMBSIM_SIM_CORE_HISTOGRAM_H_
#define VMBSIM_SIM_CORE_HISTOGRAM_H_

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"

namespace vmbsim::sim {

namespace histogram_internal {

inline constexpr int kSubBucketBits = 6;
inline constexpr int kSubBucketCount = 1 << kSubBucketBits;
inline constexpr int kBlockCount = 58;

struct BucketIndex {
  int block;
  int sub_bucket;
};

// Aborts with IndexOf's broken precondition or invariant in the message.
// Out of line and cold: the inline checks below only compare and branch
// here, so their callers build no message strings (and need no stack
// frame for them) on the common path.
[[noreturn]] ABSL_ATTRIBUTE_NOINLINE ABSL_ATTRIBUTE_COLD void IndexOfFailed(int64_t value);

// Block b >= 1 holds values whose highest set bit is b + 5, in buckets of
// width 2^(b-1); block 0 holds 0..63 with width 1:
//
//   value = |1 xxxxxx|yyy...y|   highest bit at b + 5
//            \______/ \_____/
//           64 + sub   b - 1 low bits dropped (the width)
//
// Forced inline because Record() runs per packet in the scenario runner.
// REQUIRES: value >= 0.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline BucketIndex IndexOf(int64_t value) {
  if (ABSL_PREDICT_FALSE(value < 0)) IndexOfFailed(value);
  if (value < kSubBucketCount) return {0, static_cast<int>(value)};
  const int highest_bit = 63 - std::countl_zero(static_cast<uint64_t>(value));
  const int block = highest_bit - (kSubBucketBits - 1);
  const int sub_bucket = static_cast<int>(value >> (block - 1)) - kSubBucketCount;
  if (ABSL_PREDICT_FALSE(sub_bucket < 0 || sub_bucket >= kSubBucketCount || block >= kBlockCount)) {
    IndexOfFailed(value);
  }
  return {block, sub_bucket};
}

}  // namespace histogram_internal

class Histogram {
 public:
  static constexpr int kSubBucketBits = histogram_internal::kSubBucketBits;
  static constexpr int kSubBucketCount = histogram_internal::kSubBucketCount;  // Per block.
  static constexpr int kBlockCount = histogram_internal::kBlockCount;
  // Every value in [0, kExactValueMax] is its own bucket.
  static constexpr int64_t kExactValueMax = 2 * kSubBucketCount - 1;

  // One bucket: all recorded values v with value_min <= v <= value_max
  // (both inclusive).
  struct Bucket {
    int64_t value_min;
    int64_t value_max;
    uint64_t count;
  };

  struct PercentileSummary {
    int64_t p50;
    int64_t p90;
    int64_t p99;
    int64_t p999;
    int64_t max;
  };

  Histogram() = default;
  // Copies are deep (the copy owns its own buckets).
  Histogram(const Histogram& other);
  Histogram& operator=(const Histogram& other);
  Histogram(Histogram&&) = default;
  Histogram& operator=(Histogram&&) = default;

  // Returns the value every recorded `value` is reported as: the
  // representative (lower + width / 2) of its bucket. Exact for
  // value <= kExactValueMax; otherwise |result - value| <= value / 128.
  // REQUIRES: value >= 0.
  static int64_t RepresentativeOf(int64_t value);

  // The error bound of a value this histogram reports (a quantile, say): the
  // largest distance between `reported` and a recorded value that lands in
  // its bucket, which is half the bucket's width: 0 up to kExactValueMax,
  // then at most reported / 128. REQUIRES: reported >= 0.
  static int64_t ErrorBoundAt(int64_t reported);

  // Records one occurrence of `value`. Allocates the value's block (512
  // bytes) on first use. Defined below, inline: callers record per packet.
  // REQUIRES: value >= 0 (a negative value is a caller bug).
  void Record(int64_t value);

  // Adds every count of `other` to this histogram. Afterwards this histogram
  // equals one that recorded the values of both. `other` may be *this (which
  // doubles every count).
  void Merge(const Histogram& other);

  // Forgets every recorded value and releases the buckets.
  void Clear();

  // Number of recorded values (exact).
  uint64_t count() const { return count_; }
  // Smallest and largest recorded values (exact); 0 when empty.
  int64_t min() const { return count_ == 0 ? 0 : min_; }
  int64_t max() const { return max_; }
  // Sum of recorded values, saturating at INT64_MAX (reached only after,
  // e.g., a million values of 2.6 hours in ns). The sum is kept exactly in
  // 128 bits, so mean() stays exact past saturation.
  int64_t sum() const;
  // sum / count as a double (the exact 128-bit sum, correctly rounded
  // division); 0.0 when empty.
  double mean() const;

  // Returns the `rank`-th smallest recorded value (1-based), where
  //   rank = ceil(q * count())   [the product in IEEE double arithmetic],
  // raised to at least 1 and capped at count(). When that value is the
  // minimum or the maximum (rank 1 or rank count()), the exact min()/max() is
  // returned; otherwise its bucket's representative, clamped to
  // [min(), max()]. So q = 0 gives min(), q = 1 gives max(), and q = 0.5 over
  // {1, 2, 3, 4} gives the 2nd smallest. An empty histogram returns 0.
  // REQUIRES: 0 <= q <= 1 (NaN is rejected).
  int64_t ValueAtQuantile(double q) const;

  // p50, p90, p99, p99.9 (by ValueAtQuantile) and max(). All zero when empty.
  PercentileSummary Percentiles() const;

  // The buckets with a non-zero count, in ascending value order.
  std::vector<Bucket> NonEmptyBuckets() const;

  // Bytes owned by this histogram, including sizeof(*this).
  size_t MemoryBytes() const;

 private:
  using Block = std::array<uint64_t, kSubBucketCount>;

  // Creates block `block` (zero-filled), growing `blocks_` to reach it.
  // Out of line: it runs once per block.
  Block* AllocateBlock(int block);
  // Aborts with Record's failed check (`value` is the value being recorded)
  // in the message; out of line and cold, as IndexOfFailed.
  [[noreturn]] ABSL_ATTRIBUTE_NOINLINE ABSL_ATTRIBUTE_COLD void RecordFailed(int64_t value) const;

  std::vector<std::unique_ptr<Block>> blocks_;  // Null until first used.
  uint64_t count_ = 0;
  int64_t min_ = std::numeric_limits<int64_t>::max();
  int64_t max_ = 0;
  unsigned __int128 sum_ = 0;  // < 2^127: count < 2^64, each value < 2^63.
};

// Forced inline, as IndexOf is; the allocation and the checks' failure
// paths stay out of line.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void Histogram::Record(int64_t value) {
  if (ABSL_PREDICT_FALSE(value < 0 || count_ == std::numeric_limits<uint64_t>::max())) RecordFailed(value);
  const histogram_internal::BucketIndex index = histogram_internal::IndexOf(value);
  Block* block = static_cast<size_t>(index.block) < blocks_.size() ? blocks_[index.block].get() : nullptr;
  if (ABSL_PREDICT_FALSE(block == nullptr)) block = AllocateBlock(index.block);
  ++(*block)[index.sub_bucket];
  ++count_;
  sum_ += static_cast<unsigned __int128>(value);
  min_ = value < min_ ? value : min_;
  max_ = value > max_ ? value : max_;
  if (ABSL_PREDICT_FALSE(min_ > max_)) RecordFailed(value);
}

}  // namespace vmbsim::sim

#endif  // VMBSIM_SIM_CORE_HISTOGRAM_H_
