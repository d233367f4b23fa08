// statistics.h
//
// The statistics of a sweep: a metric's mean, sample standard deviation and
// 95 % confidence interval over a point's seeds (Student t with n - 1
// degrees of freedom), and the same for the per-seed difference between two
// points. Plain double arithmetic in a fixed order (seed order), so one set
// of values always gives the same bits.
//
// The t quantile is computed here, not taken from a library: Student's t
// distribution function through the regularised incomplete beta function
// (its continued fraction, evaluated by the modified Lentz method), inverted
// by bisection to full double precision. Tests pin it against published
// table values.

#ifndef VMBSIM_TOOLS_STUDIES_STATISTICS_H_
#define VMBSIM_TOOLS_STUDIES_STATISTICS_H_

#include <cstddef>
#include <optional>
#include <vector>

namespace vmbsim::studies {

// P(T <= t) for Student's t with `df` degrees of freedom.
// REQUIRES: df > 0.
double StudentTCdf(double t, double df);

// The p-quantile of Student's t with `df` degrees of freedom: the t with
// StudentTCdf(t, df) == p, to within a few ulps. For df = 1e6 and above the
// normal quantile differs from it by less than 1e-6.
// REQUIRES: 0 < p < 1, df > 0.
double StudentTQuantile(double p, double df);

struct Summary {
  size_t count = 0;
  double mean = 0;
  // With fewer than two values there is no spread: these stay unset.
  std::optional<double> sd;             // Sample standard deviation (n - 1).
  std::optional<double> ci95_half;      // t(0.975, n - 1) * sd / sqrt(n).
  std::optional<double> ci95_low() const {
    return ci95_half.has_value() ? std::optional<double>(mean - *ci95_half) : std::nullopt;
  }
  std::optional<double> ci95_high() const {
    return ci95_half.has_value() ? std::optional<double>(mean + *ci95_half) : std::nullopt;
  }
};

// Mean, standard deviation and 95 % interval of `values`, summed in order.
// An empty input gives count 0 and mean 0.
Summary Summarise(const std::vector<double>& values);

// Whether the interval is at most `relative` (0.02 for 2 %) of |mean|
// either side. An interval of width zero always is; a nonzero one around a
// zero mean never is; no interval (fewer than two values) never is.
bool IntervalWithin(const Summary& summary, double relative);

}  // namespace vmbsim::studies

#endif  // VMBSIM_TOOLS_STUDIES_STATISTICS_H_
