#include "tools/scenario/distribution.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "sim/check.h"
#include "sim/core/sim_time.h"

namespace vmbsim::scenario {

absl::StatusOr<DistributionSampler> DistributionSampler::Create(const DistributionSpec& spec) {
  const auto negative = [](const char* what, int64_t value) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is negative: ", value));
  };
  if (spec.min.has_value() && *spec.min < 0) return negative("min", *spec.min);
  if (spec.max.has_value() && *spec.max < 0) return negative("max", *spec.max);
  if (spec.min.has_value() && spec.max.has_value() && *spec.min > *spec.max) {
    return absl::InvalidArgumentError(absl::StrCat("min ", *spec.min, " > max ", *spec.max));
  }
  if (spec.kind == "fixed") {
    if (spec.value < 0) return negative("value", spec.value);
    return DistributionSampler(spec, Kind::kFixed, std::nullopt);
  }
  if (spec.kind == "uniform") return DistributionSampler(spec, Kind::kUniform, std::nullopt);
  if (spec.kind == "exponential") {
    if (spec.mean < 0) return negative("mean", spec.mean);
    return DistributionSampler(spec, Kind::kExponential, std::nullopt);
  }
  if (spec.kind == "lognormal") {
    if (spec.median < 0) return negative("median", spec.median);
    if (!std::isfinite(spec.sigma) || spec.sigma < 0) {
      return absl::InvalidArgumentError(absl::StrCat("sigma is not a finite number >= 0: ", spec.sigma));
    }
    return DistributionSampler(spec, Kind::kLogNormal, std::nullopt);
  }
  if (spec.kind == "empirical") {
    std::vector<sim::EmpiricalTable<int64_t>::Row> rows;
    rows.reserve(spec.table.size());
    for (const DistributionSpec::Row& row : spec.table) {
      if (row.value < 0) return negative("a table value", row.value);
      rows.push_back({row.value, row.weight});
    }
    absl::StatusOr<sim::EmpiricalTable<int64_t>> table = sim::EmpiricalTable<int64_t>::Create(std::move(rows));
    if (!table.ok()) return table.status();
    return DistributionSampler(spec, Kind::kEmpirical, std::move(*table));
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown distribution kind \"", spec.kind, "\""));
}

int64_t DistributionSampler::Clamp(int64_t value) const {
  if (spec_.min.has_value()) value = std::max(value, *spec_.min);
  if (spec_.max.has_value()) value = std::min(value, *spec_.max);
  return value;
}

int64_t DistributionSampler::Sample(sim::Prng& prng) const {
  int64_t value = 0;
  switch (kind_) {
    case Kind::kFixed:
      return spec_.value;
    case Kind::kUniform: {
      // One Below draw over the inclusive range: the request sizes of
      // scenarios written before the other kinds existed draw exactly so.
      const int64_t lo = spec_.min.value_or(0);
      const int64_t hi = spec_.max.value_or(0);
      VMBSIM_CHECK_LE(lo, hi);  // Create.
      return lo + static_cast<int64_t>(prng.Below(static_cast<uint64_t>(hi - lo) + 1));
    }
    case Kind::kExponential:
      // The duration functions are integer-in, integer-out; a byte count is
      // drawn with the same arithmetic as a nanosecond count.
      value = sim::Exponential(prng, sim::SimDuration::Nanoseconds(spec_.mean)).nanoseconds();
      break;
    case Kind::kLogNormal:
      value = sim::LogNormalDuration(prng, sim::SimDuration::Nanoseconds(spec_.median), spec_.sigma).nanoseconds();
      break;
    case Kind::kEmpirical:
      VMBSIM_CHECK(table_.has_value());
      return table_->Sample(prng);
  }
  VMBSIM_CHECK_GE(value, 0);  // RoundToNonNegativeDuration.
  return Clamp(value);
}

}  // namespace vmbsim::scenario
