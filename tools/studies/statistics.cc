#include "tools/studies/statistics.h"

#include <cmath>
#include <limits>

namespace vmbsim::studies {
namespace {

// The continued fraction of the incomplete beta function I_x(a, b)
// (Abramowitz and Stegun 26.5.8), by the modified Lentz method.
double BetaContinuedFraction(double a, double b, double x) {
  constexpr double kTiny = 1e-300;
  constexpr double kEpsilon = 1e-16;
  constexpr int kIterationsMax = 10000;
  double c = 1.0;
  double d = 1.0 - (a + b) * x / (a + 1.0);
  if (std::fabs(d) < kTiny) d = kTiny;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m <= kIterationsMax; ++m) {
    const double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
    d = 1.0 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    h *= d * c;
    aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
    d = 1.0 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    const double step = d * c;
    h *= step;
    if (std::fabs(step - 1.0) < kEpsilon) break;
  }
  return h;
}

// The regularised incomplete beta function I_x(a, b).
double RegularisedBeta(double a, double b, double x) {
  if (x <= 0.0) return 0.0;
  if (x >= 1.0) return 1.0;
  const double log_front =
      std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
  const double front = std::exp(log_front);
  // The fraction converges fast for x < (a + 1) / (a + b + 2); otherwise use
  // the symmetry I_x(a, b) = 1 - I_{1-x}(b, a).
  if (x < (a + 1.0) / (a + b + 2.0)) return front * BetaContinuedFraction(a, b, x) / a;
  return 1.0 - front * BetaContinuedFraction(b, a, 1.0 - x) / b;
}

}  // namespace

double StudentTCdf(double t, double df) {
  // P(|T| > |t|) = I_{df / (df + t^2)}(df / 2, 1 / 2).
  const double tail = 0.5 * RegularisedBeta(df / 2.0, 0.5, df / (df + t * t));
  return t >= 0 ? 1.0 - tail : tail;
}

double StudentTQuantile(double p, double df) {
  if (p == 0.5) return 0.0;
  if (p < 0.5) return -StudentTQuantile(1.0 - p, df);
  // Bracket: the quantile is positive; double `high` until the CDF passes p.
  double low = 0.0;
  double high = 1.0;
  for (int i = 0; i < 2000 && StudentTCdf(high, df) < p; ++i) {
    low = high;
    high *= 2.0;
  }
  // Bisection to adjacent doubles (at most a few hundred halvings).
  for (int i = 0; i < 2000; ++i) {
    const double mid = low + (high - low) / 2.0;
    if (mid <= low || mid >= high) break;
    if (StudentTCdf(mid, df) < p) {
      low = mid;
    } else {
      high = mid;
    }
  }
  return low + (high - low) / 2.0;
}

Summary Summarise(const std::vector<double>& values) {
  Summary s;
  s.count = values.size();
  if (values.empty()) return s;
  double sum = 0;
  for (double v : values) sum += v;
  s.mean = sum / static_cast<double>(values.size());
  if (values.size() < 2) return s;
  double squares = 0;
  for (double v : values) squares += (v - s.mean) * (v - s.mean);
  const double n = static_cast<double>(values.size());
  s.sd = std::sqrt(squares / (n - 1.0));
  s.ci95_half = StudentTQuantile(0.975, n - 1.0) * *s.sd / std::sqrt(n);
  return s;
}

bool IntervalWithin(const Summary& summary, double relative) {
  if (!summary.ci95_half.has_value()) return false;
  if (*summary.ci95_half == 0.0) return true;
  return *summary.ci95_half <= relative * std::fabs(summary.mean);
}

}  // namespace vmbsim::studies
