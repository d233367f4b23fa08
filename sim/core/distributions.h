// distributions.h
//
// Random variates for the model (latencies, sizes, jitter), drawn from a
// `Prng` and bit-identical across compilers, standard libraries and
// optimisation levels (DESIGN.md, determinism contract).
//
// How determinism is kept:
//  - No <random> distributions: their algorithms are unspecified and differ
//    between libstdc++, libc++ and MSVC.
//  - No libm transcendental functions (std::log, std::exp, ...): their last
//    bits differ between C libraries. `DeterministicLog` / `DeterministicExp`
//    below are written here with fixed range reductions and fixed
//    polynomials, using only IEEE-754 double +, -, *, / and sqrt, which are
//    correctly rounded on every conforming platform.
//  - distributions.cc is compiled with -ffp-contract=off so that no compiler
//    fuses a*b+c into an FMA (which rounds once instead of twice). All
//    floating-point code is in the .cc for that reason; this header has none
//    except the EmpiricalTable template, which is integer-only.
//  - Every double result that becomes a SimDuration goes through
//    `RoundToNonNegativeDuration`: round half to even to integer nanoseconds,
//    clamped to [0, SimDuration::Max()].
//
// Why a separate file from prng.h: Prng is integer-only and used by every
// component; keeping the floating-point code in its own translation unit
// confines the FP flags to it and keeps Prng's users from depending on it.
//
// Not provided: distributions the model does not use yet (gamma, Pareto,
// ...), and caching of the second Marsaglia polar variate (one normal per
// call keeps the draw count a function of the call sequence only).

#ifndef VMBSIM_SIM_CORE_DISTRIBUTIONS_H_
#define VMBSIM_SIM_CORE_DISTRIBUTIONS_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "sim/check.h"
#include "sim/core/prng.h"
#include "sim/core/sim_time.h"

namespace vmbsim::sim {

// Natural logarithm, within 2 ulp of glibc's correctly rounded-in-practice
// log over the test sweeps (relative error < 1e-15, which the test checks
// against std::log). Method: split x into
// 2^e * m with m in [sqrt(1/2), sqrt(2)) by bit manipulation, then
// log(m) = 2 atanh(s) with s = (m - 1) / (m + 1), summed as a fixed odd
// series to s^23, plus e * ln 2 with ln 2 split in two parts.
// REQUIRES: x > 0 and finite (subnormals are fine).
double DeterministicLog(double x);

// e^x, within 1 ulp of glibc's exp over the test sweeps (relative error
// < 1e-15 for normal results, which the test checks). Method:
// x = k ln 2 + r with integer k and |r| <= ln(2)/2, e^r by a fixed Taylor
// polynomial of degree 13, then scaling by 2^k built from the exponent bits.
// Returns +infinity for x > 709.79 (overflow) and 0 for x < -745.14.
// REQUIRES: x is not NaN.
double DeterministicExp(double x);

// Converts a nanosecond count to a duration: rounds half to even to an
// integer and clamps to [0, SimDuration::Max()] (so +infinity becomes Max()
// and negative values become 0).
// REQUIRES: `ns` is not NaN.
SimDuration RoundToNonNegativeDuration(double ns);

// Returns a double uniformly distributed in [0, 1): the top 53 bits of one
// Next64() times 2^-53. Every returned value is a multiple of 2^-53.
double UniformUnit(Prng& prng);

// Returns a duration uniform over [lo, hi], both inclusive, by integer
// arithmetic only (one Prng::UniformRange draw).
// REQUIRES: lo <= hi.
SimDuration UniformDuration(Prng& prng, SimDuration lo, SimDuration hi);

// Returns an exponentially distributed duration with the given mean:
// -mean * log(1 - u) with u = UniformUnit(prng), rounded by
// RoundToNonNegativeDuration. The largest possible sample is about
// 36.7 * mean (u = 1 - 2^-53). A zero mean always returns zero (and still
// draws).
// REQUIRES: mean >= 0.
SimDuration Exponential(Prng& prng, SimDuration mean);

// Returns a standard normal variate (mean 0, standard deviation 1) by the
// Marsaglia polar method: draw (u, v) uniform in the square [-1, 1)^2 until
// 0 < s = u^2 + v^2 < 1, then return u * sqrt(-2 log(s) / s). Uses two
// UniformUnit draws per attempt; the expected number of attempts is 4/pi.
double StandardNormal(Prng& prng);

// Returns mean + stddev * StandardNormal(prng).
// REQUIRES: mean and stddev finite, stddev >= 0.
double Normal(Prng& prng, double mean, double stddev);

// Returns a normally distributed duration, truncated at zero: the mass below
// zero is returned as zero (a latency cannot be negative), then rounded by
// RoundToNonNegativeDuration.
// REQUIRES: mean >= 0, stddev >= 0.
SimDuration NormalDuration(Prng& prng, SimDuration mean, SimDuration stddev);

// Returns exp(mu + sigma * StandardNormal(prng)): a log-normal variate whose
// logarithm has mean `mu` and standard deviation `sigma`. Its median is
// exp(mu). May return +infinity for extreme parameters.
// REQUIRES: mu and sigma finite, sigma >= 0.
double LogNormal(Prng& prng, double mu, double sigma);

// Returns a log-normal duration with the given median:
// median * exp(sigma * StandardNormal(prng)), rounded by
// RoundToNonNegativeDuration (so an overflow saturates at Max()).
// Latency tails are usually described this way: "median 20us, sigma 0.5".
// REQUIRES: median >= 0; sigma finite and >= 0.
SimDuration LogNormalDuration(Prng& prng, SimDuration median, double sigma);

// A discrete distribution over arbitrary values given by integer weights,
// e.g. a measured latency table or a packet-size mix. Sampling is exact:
// row i is chosen with probability weight_i / total_weight, by one
// Prng::Below(total_weight) draw and a binary search over the cumulative
// weights. Rows with weight zero are allowed and never chosen.
//
// `T` must be copyable. The table is immutable after Create().
template <typename T>
class EmpiricalTable {
 public:
  struct Row {
    T value;
    uint64_t weight;
  };

  // Validates `rows` and builds the table. Returns InvalidArgumentError if
  // `rows` is empty, if every weight is zero, or if the total weight exceeds
  // 2^64 - 1. These come from scenario input, so they are errors, not checks.
  static absl::StatusOr<EmpiricalTable> Create(std::vector<Row> rows) {
    if (rows.empty()) {
      return absl::InvalidArgumentError("empirical table: no rows");
    }
    std::vector<uint64_t> cumulative_weights;
    cumulative_weights.reserve(rows.size());
    uint64_t total_weight = 0;
    for (size_t row_index = 0; row_index < rows.size(); ++row_index) {
      if (__builtin_add_overflow(total_weight, rows[row_index].weight,
                                 &total_weight)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "empirical table: total weight overflows 2^64 - 1 at row ",
            row_index));
      }
      cumulative_weights.push_back(total_weight);
    }
    if (total_weight == 0) {
      return absl::InvalidArgumentError(
          "empirical table: total weight is zero");
    }
    return EmpiricalTable(std::move(rows), std::move(cumulative_weights));
  }

  // Returns the value of a row chosen with probability weight / total_weight.
  // Draws exactly one Prng::Below(total_weight()).
  const T& Sample(Prng& prng) const {
    const uint64_t ticket = prng.Below(total_weight());
    // The chosen row is the first whose cumulative weight exceeds the ticket:
    // row i owns tickets [cumulative[i-1], cumulative[i]), an empty range
    // for a zero-weight row, so such a row is never chosen.
    const auto it = std::upper_bound(cumulative_weights_.begin(),
                                     cumulative_weights_.end(), ticket);
    VMBSIM_CHECK(it != cumulative_weights_.end());  // ticket < total.
    const size_t row_index =
        static_cast<size_t>(it - cumulative_weights_.begin());
    VMBSIM_CHECK_GT(rows_[row_index].weight, 0u);
    return rows_[row_index].value;
  }

  uint64_t total_weight() const { return cumulative_weights_.back(); }
  const std::vector<Row>& rows() const { return rows_; }

 private:
  EmpiricalTable(std::vector<Row> rows,
                 std::vector<uint64_t> cumulative_weights)
      : rows_(std::move(rows)),
        cumulative_weights_(std::move(cumulative_weights)) {
    VMBSIM_CHECK_EQ(rows_.size(), cumulative_weights_.size());
    VMBSIM_CHECK_GT(cumulative_weights_.back(), 0u);
  }

  std::vector<Row> rows_;
  std::vector<uint64_t>
      cumulative_weights_;  // Non-decreasing; back() == total.
};

}  // namespace vmbsim::sim

#endif  // VMBSIM_SIM_CORE_DISTRIBUTIONS_H_
