// Compiled with -ffp-contract=off (see BUILD.bazel); see distributions.h for
// why every operation here is an individually rounded IEEE-754 double op.
#include "sim/core/distributions.h"

#include <bit>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>

#include "sim/check.h"
#include "sim/core/prng.h"
#include "sim/core/sim_time.h"

namespace vmbsim::sim {

// Bit-identical results need IEEE doubles evaluated at double precision (no
// x87 80-bit intermediates).
static_assert(std::numeric_limits<double>::is_iec559, "IEEE-754 doubles");
static_assert(FLT_EVAL_METHOD == 0, "no excess floating-point precision");

namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();
constexpr double kMinNormal = 0x1p-1022;
constexpr uint64_t kMantissaMask = (uint64_t{1} << 52) - 1;
constexpr uint64_t kExponentBias = 1023;
constexpr uint64_t kBitsOfOne = kExponentBias << 52;  // 1.0 as bits.
constexpr double kSqrt2 = 0x1.6a09e667f3bcdp+0;       // sqrt(2) rounded.

// ln 2 = 0.693147180559945309417232121458176568..., split so that
// kLn2Hi has 42 significant bits: k * kLn2Hi is then exact for |k| < 2^11,
// which covers every binary exponent of a double. kLn2Lo is the rounded
// remainder ln 2 - kLn2Hi.
constexpr double kLn2Hi = 0x1.62e42fefa3800p-1;
constexpr double kLn2Lo = 0x1.ef35793c76730p-45;
constexpr double kInvLn2 = 0x1.71547652b82fep+0;  // 1 / ln 2 rounded.

// e^x overflows above ln(DBL_MAX) = 709.78271289338399... and is below half
// the smallest subnormal (so rounds to zero) under ln(2^-1075) =
// -745.13321910194110...
constexpr double kExpOverflowThreshold = 709.782712893384;
constexpr double kExpUnderflowThreshold = -745.1332191019412;

// The odd series 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...). With
// |s| <= (sqrt(2) - 1) / (sqrt(2) + 1) < 0.1716, the first omitted term
// s^25/25 is below 1e-19 relative to s.
constexpr int kAtanhTermsCount = 11;  // Coefficients of s^3 .. s^23.
constexpr double kAtanhCoefficients[kAtanhTermsCount] = {
    1.0 / 3,  1.0 / 5,  1.0 / 7,  1.0 / 9,  1.0 / 11, 1.0 / 13,
    1.0 / 15, 1.0 / 17, 1.0 / 19, 1.0 / 21, 1.0 / 23,
};

// Taylor coefficients 1/i! of e^r for i = 0..13. With |r| <= 0.3466 the
// first omitted term r^14/14! is below 5e-18. The factorials are exact in
// double, and the compiler folds each quotient with correct rounding.
constexpr int kExpDegree = 13;
constexpr double kInverseFactorials[kExpDegree + 1] = {
    1.0,
    1.0,
    1.0 / 2,
    1.0 / 6,
    1.0 / 24,
    1.0 / 120,
    1.0 / 720,
    1.0 / 5040,
    1.0 / 40320,
    1.0 / 362880,
    1.0 / 3628800,
    1.0 / 39916800,
    1.0 / 479001600,
    1.0 / 6227020800,
};

// The polar method accepts an attempt with probability pi/4, so 256 failed
// attempts in a row (probability < 1e-170) means a broken generator.
constexpr int kPolarAttemptsMax = 256;

// 2^n for a normal exponent, built from the exponent bits.
double PowerOfTwo(int n) {
  VMBSIM_CHECK_GE(n, -1022);
  VMBSIM_CHECK_LE(n, 1023);
  return std::bit_cast<double>(static_cast<uint64_t>(n + 1023) << 52);
}

// p * 2^k for p in [0.5, 2] and k in the range DeterministicExp produces.
// Each step but the last is exact, so the result is rounded once.
double ScaleByPowerOfTwo(double p, int k) {
  if (k > 1023) return (p * PowerOfTwo(1023)) * PowerOfTwo(k - 1023);
  if (k < -1022) return (p * PowerOfTwo(k + 1022)) * PowerOfTwo(-1022);
  return p * PowerOfTwo(k);
}

}  // namespace

double DeterministicLog(double x) {
  VMBSIM_CHECK_GT(x, 0.0);  // Also rejects NaN.
  VMBSIM_CHECK_LT(x, kInfinity);
  int exponent = 0;
  if (x < kMinNormal) {
    x *= 0x1p54;  // Exact: makes a subnormal normal.
    exponent = -54;
  }
  const uint64_t bits = std::bit_cast<uint64_t>(x);
  // The sign bit is 0, so the top 12 bits are the biased exponent.
  exponent += static_cast<int>(bits >> 52) - static_cast<int>(kExponentBias);
  // x = 2^exponent * m with m in [1, 2); move m into [sqrt(1/2), sqrt(2)) so
  // that |s| below stays small on both sides of 1.
  double m = std::bit_cast<double>((bits & kMantissaMask) | kBitsOfOne);
  if (m >= kSqrt2) {
    m *= 0.5;  // Exact.
    ++exponent;
  }
  VMBSIM_CHECK_LT(m, kSqrt2);
  const double f = m - 1.0;  // Exact (Sterbenz: m in [1/2, 2]).
  const double s = f / (2.0 + f);
  const double s2 = s * s;
  double series = kAtanhCoefficients[kAtanhTermsCount - 1];
  // Unrolled (the same operations in the same order, so the same bits):
  // the loop's own bookkeeping cost as much as its arithmetic.
#pragma GCC unroll 16
  for (int i = kAtanhTermsCount - 2; i >= 0; --i) {
    series = series * s2 + kAtanhCoefficients[i];
  }
  const double two_s = 2.0 * s;
  const double log_m = two_s + two_s * (s2 * series);
  const double e = static_cast<double>(exponent);
  // e * kLn2Hi is exact; adding the small parts first keeps their bits.
  return e * kLn2Hi + (e * kLn2Lo + log_m);
}

double DeterministicExp(double x) {
  VMBSIM_CHECK_MSG(!std::isnan(x), "exp of NaN");
  if (x > kExpOverflowThreshold) return kInfinity;
  if (x < kExpUnderflowThreshold) return 0.0;
  // k = nearest integer to x / ln 2 (ties away from zero; any near choice
  // works, only |r| <= ~ln(2)/2 matters). |k| <= 1076.
  const double t = x * kInvLn2;
  const int k = static_cast<int>(t < 0 ? t - 0.5 : t + 0.5);
  VMBSIM_CHECK_LE(k, 1025);
  VMBSIM_CHECK_GE(k, -1076);
  const double kd = static_cast<double>(k);
  // x - k * kLn2Hi is exact (k * kLn2Hi is exact and within a factor of 2 of
  // x when k != 0); only the tiny k * kLn2Lo correction rounds.
  const double r = (x - kd * kLn2Hi) - kd * kLn2Lo;
  double p = kInverseFactorials[kExpDegree];
  for (int i = kExpDegree - 1; i >= 0; --i) {
    p = p * r + kInverseFactorials[i];
  }
  return ScaleByPowerOfTwo(p, k);
}

SimDuration RoundToNonNegativeDuration(double ns) {
  VMBSIM_CHECK_MSG(!std::isnan(ns), "duration of NaN nanoseconds");
  if (!(ns > 0.0)) return SimDuration::Zero();
  // 2^63 is the first double above INT64_MAX.
  if (ns >= 0x1p63) return SimDuration::Max();
  int64_t whole = static_cast<int64_t>(ns);  // Truncates; exact.
  // Exact: `whole` is representable, and ns - whole is computed without
  // rounding (Sterbenz when whole >= 1, trivially when whole == 0). At and
  // above 2^52 every double is an integer, so the fraction is 0 there.
  const double fraction = ns - static_cast<double>(whole);
  VMBSIM_CHECK_GE(fraction, 0.0);
  VMBSIM_CHECK_LT(fraction, 1.0);
  if (fraction > 0.5 || (fraction == 0.5 && (whole & 1) != 0)) ++whole;
  return SimDuration::Nanoseconds(whole);
}

double UniformUnit(Prng& prng) {
  return static_cast<double>(prng.Next64() >> 11) * 0x1p-53;  // Exact.
}

SimDuration UniformDuration(Prng& prng, SimDuration lo, SimDuration hi) {
  VMBSIM_CHECK_LE(lo.nanoseconds(), hi.nanoseconds());
  // Unsigned arithmetic: hi - lo may exceed INT64_MAX when lo is negative,
  // and the modular sum maps back into [lo, hi].
  const uint64_t lo_bits = static_cast<uint64_t>(lo.nanoseconds());
  const uint64_t span = static_cast<uint64_t>(hi.nanoseconds()) - lo_bits;
  const uint64_t offset = prng.UniformRange(0, span);
  const SimDuration result =
      SimDuration::Nanoseconds(static_cast<int64_t>(lo_bits + offset));
  VMBSIM_CHECK_GE(result.nanoseconds(), lo.nanoseconds());
  VMBSIM_CHECK_LE(result.nanoseconds(), hi.nanoseconds());
  return result;
}

SimDuration Exponential(Prng& prng, SimDuration mean) {
  VMBSIM_CHECK_GE(mean.nanoseconds(), 0);
  // 1 - u is exact and lies in (0, 1], so the log is finite and <= 0.
  const double one_minus_u = 1.0 - UniformUnit(prng);
  const double standard = -DeterministicLog(one_minus_u);
  VMBSIM_CHECK_GE(standard, 0.0);
  return RoundToNonNegativeDuration(static_cast<double>(mean.nanoseconds()) *
                                    standard);
}

double StandardNormal(Prng& prng) {
  for (int attempt = 0; attempt < kPolarAttemptsMax; ++attempt) {
    const double u = 2.0 * UniformUnit(prng) - 1.0;  // Exact, in [-1, 1).
    const double v = 2.0 * UniformUnit(prng) - 1.0;
    const double s = u * u + v * v;
    if (s > 0.0 && s < 1.0) {
      return u * std::sqrt(-2.0 * DeterministicLog(s) / s);
    }
  }
  VMBSIM_CHECK_MSG(false, "polar method: no point inside the unit disc");
  return 0.0;  // Unreachable.
}

double Normal(Prng& prng, double mean, double stddev) {
  VMBSIM_CHECK(std::isfinite(mean));
  VMBSIM_CHECK(std::isfinite(stddev));
  VMBSIM_CHECK_GE(stddev, 0.0);
  return mean + stddev * StandardNormal(prng);
}

SimDuration NormalDuration(Prng& prng, SimDuration mean, SimDuration stddev) {
  VMBSIM_CHECK_GE(mean.nanoseconds(), 0);
  VMBSIM_CHECK_GE(stddev.nanoseconds(), 0);
  const double ns =
      static_cast<double>(mean.nanoseconds()) +
      static_cast<double>(stddev.nanoseconds()) * StandardNormal(prng);
  return RoundToNonNegativeDuration(ns);  // Negative samples become zero.
}

double LogNormal(Prng& prng, double mu, double sigma) {
  VMBSIM_CHECK(std::isfinite(mu));
  VMBSIM_CHECK(std::isfinite(sigma));
  VMBSIM_CHECK_GE(sigma, 0.0);
  return DeterministicExp(mu + sigma * StandardNormal(prng));
}

SimDuration LogNormalDuration(Prng& prng, SimDuration median, double sigma) {
  VMBSIM_CHECK_GE(median.nanoseconds(), 0);
  VMBSIM_CHECK(std::isfinite(sigma));
  VMBSIM_CHECK_GE(sigma, 0.0);
  const double factor = DeterministicExp(sigma * StandardNormal(prng));
  // 0 * infinity would be NaN; a zero median is always zero.
  if (median == SimDuration::Zero()) return SimDuration::Zero();
  return RoundToNonNegativeDuration(static_cast<double>(median.nanoseconds()) *
                                    factor);
}

}  // namespace vmbsim::sim
