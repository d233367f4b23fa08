#include "sim/core/histogram.h"

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "sim/check.h"

namespace vmbsim::sim {

namespace {

constexpr int kSubBucketCount = Histogram::kSubBucketCount;
constexpr int kSubBucketBits = Histogram::kSubBucketBits;

// The top block holds values with their highest set bit at 62.
static_assert(Histogram::kBlockCount == 62 - (kSubBucketBits - 1) + 1);
static_assert(Histogram::kExactValueMax == 127);

using histogram_internal::BucketIndex;
using histogram_internal::IndexOf;

}  // namespace

namespace histogram_internal {

void IndexOfFailed(int64_t value) {
  VMBSIM_CHECK_GE(value, 0);
  const int block = (63 - std::countl_zero(static_cast<uint64_t>(value))) - (kSubBucketBits - 1);
  const int sub_bucket = static_cast<int>(value >> (block - 1)) - kSubBucketCount;
  VMBSIM_CHECK_GE(sub_bucket, 0);
  VMBSIM_CHECK_LT(sub_bucket, kSubBucketCount);
  VMBSIM_CHECK_LT(block, kBlockCount);
  VMBSIM_CHECK_MSG(false, absl::StrCat("IndexOf failed without a failed check for ", value));
}

}  // namespace histogram_internal

namespace {

int64_t WidthOf(int block) {
  return block == 0 ? 1 : int64_t{1} << (block - 1);
}

int64_t LowerBoundOf(BucketIndex index) {
  if (index.block == 0) return index.sub_bucket;
  return int64_t{kSubBucketCount + index.sub_bucket} << (index.block - 1);
}

// The top bucket ends at 2^63 - 1, so lower + width - 1 never overflows.
int64_t UpperBoundOf(BucketIndex index) {
  return LowerBoundOf(index) + (WidthOf(index.block) - 1);
}

int64_t RepresentativeOfIndex(BucketIndex index) {
  return LowerBoundOf(index) + WidthOf(index.block) / 2;
}

}  // namespace

Histogram::Histogram(const Histogram& other)
    : count_(other.count_),
      min_(other.min_),
      max_(other.max_),
      sum_(other.sum_) {
  blocks_.resize(other.blocks_.size());
  for (size_t block = 0; block < other.blocks_.size(); ++block) {
    if (other.blocks_[block] != nullptr) {
      blocks_[block] = std::make_unique<Block>(*other.blocks_[block]);
    }
  }
}

Histogram& Histogram::operator=(const Histogram& other) {
  if (this != &other) *this = Histogram(other);
  return *this;
}

int64_t Histogram::RepresentativeOf(int64_t value) {
  return RepresentativeOfIndex(IndexOf(value));
}

int64_t Histogram::ErrorBoundAt(int64_t reported) {
  // The bucket holds [lower, lower + width - 1] and reports lower + width / 2,
  // so no value in it is further than width / 2 from what it reports.
  return WidthOf(IndexOf(reported).block) / 2;
}

void Histogram::RecordFailed(int64_t value) const {
  VMBSIM_CHECK_GE(value, 0);
  VMBSIM_CHECK_LT(count_, std::numeric_limits<uint64_t>::max());
  VMBSIM_CHECK_LE(min_, max_);
  VMBSIM_CHECK_MSG(false, absl::StrCat("Record failed without a failed check for ", value));
}

Histogram::Block* Histogram::AllocateBlock(int block) {
  VMBSIM_CHECK_GE(block, 0);
  VMBSIM_CHECK_LT(block, kBlockCount);
  if (static_cast<size_t>(block) >= blocks_.size()) blocks_.resize(block + 1);
  std::unique_ptr<Block>& slot = blocks_[block];
  if (slot == nullptr) slot = std::make_unique<Block>();  // Zero-filled.
  return slot.get();
}

void Histogram::Merge(const Histogram& other) {
  if (other.count_ == 0) return;
  VMBSIM_CHECK_LE(other.count_, std::numeric_limits<uint64_t>::max() - count_);
  if (blocks_.size() < other.blocks_.size())
    blocks_.resize(other.blocks_.size());
  // Indexing (not iterators) keeps this correct when &other == this.
  for (size_t block = 0; block < other.blocks_.size(); ++block) {
    if (other.blocks_[block] == nullptr) continue;
    if (blocks_[block] == nullptr) blocks_[block] = std::make_unique<Block>();
    for (int sub_bucket = 0; sub_bucket < kSubBucketCount; ++sub_bucket) {
      (*blocks_[block])[sub_bucket] += (*other.blocks_[block])[sub_bucket];
    }
  }
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  VMBSIM_CHECK_LE(min_, max_);
}

void Histogram::Clear() { *this = Histogram(); }

int64_t Histogram::sum() const {
  constexpr int64_t kSumMax = std::numeric_limits<int64_t>::max();
  if (sum_ > static_cast<unsigned __int128>(kSumMax)) return kSumMax;
  return static_cast<int64_t>(sum_);
}

double Histogram::mean() const {
  if (count_ == 0) return 0.0;
  return static_cast<double>(sum_) / static_cast<double>(count_);
}

int64_t Histogram::ValueAtQuantile(double q) const {
  VMBSIM_CHECK_GE(q, 0.0);  // Also rejects NaN.
  VMBSIM_CHECK_LE(q, 1.0);
  if (count_ == 0) return 0;
  // rank = ceil(q * count), computed without libm: truncate, then bump if
  // the product had a fraction. The product is below 2^64 in the else
  // branch, so the conversion is defined.
  const double product = q * static_cast<double>(count_);
  uint64_t rank = count_;
  if (product < static_cast<double>(count_)) {
    rank = static_cast<uint64_t>(product);
    if (static_cast<double>(rank) < product) ++rank;
  }
  rank = std::clamp<uint64_t>(rank, 1, count_);
  if (rank == 1) return min_;
  if (rank == count_) return max_;
  uint64_t seen = 0;
  for (size_t block = 0; block < blocks_.size(); ++block) {
    if (blocks_[block] == nullptr) continue;
    for (int sub_bucket = 0; sub_bucket < kSubBucketCount; ++sub_bucket) {
      seen += (*blocks_[block])[sub_bucket];
      if (seen >= rank) {
        const int64_t representative =
            RepresentativeOfIndex({static_cast<int>(block), sub_bucket});
        return std::clamp(representative, min_, max_);
      }
    }
  }
  // The bucket counts sum to count_, and rank <= count_.
  VMBSIM_CHECK_MSG(false, "histogram bucket counts do not add up to count()");
  return max_;  // Unreachable.
}

Histogram::PercentileSummary Histogram::Percentiles() const {
  return PercentileSummary{
      .p50 = ValueAtQuantile(0.5),
      .p90 = ValueAtQuantile(0.9),
      .p99 = ValueAtQuantile(0.99),
      .p999 = ValueAtQuantile(0.999),
      .max = max(),
  };
}

std::vector<Histogram::Bucket> Histogram::NonEmptyBuckets() const {
  std::vector<Bucket> buckets;
  uint64_t total = 0;
  for (size_t block = 0; block < blocks_.size(); ++block) {
    if (blocks_[block] == nullptr) continue;
    for (int sub_bucket = 0; sub_bucket < kSubBucketCount; ++sub_bucket) {
      const uint64_t bucket_count = (*blocks_[block])[sub_bucket];
      if (bucket_count == 0) continue;
      const BucketIndex index{static_cast<int>(block), sub_bucket};
      buckets.push_back(
          Bucket{LowerBoundOf(index), UpperBoundOf(index), bucket_count});
      total += bucket_count;
    }
  }
  VMBSIM_CHECK_EQ(total, count_);
  return buckets;
}

size_t Histogram::MemoryBytes() const {
  size_t bytes = sizeof(*this) + blocks_.capacity() * sizeof(blocks_[0]);
  for (const std::unique_ptr<Block>& block : blocks_) {
    if (block != nullptr) bytes += sizeof(Block);
  }
  return bytes;
}

}  // namespace vmbsim::sim
