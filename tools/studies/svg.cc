#include "tools/studies/svg.h"

#include <cmath>

#include "absl/strings/str_format.h"

namespace vmbsim::studies::svg {

std::string Escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string Num(double v) {
  if (v != 0 && (std::fabs(v) >= 1e9 || std::fabs(v) < 1e-4)) return absl::StrFormat("%.4g", v);
  return absl::StrFormat("%.6g", v);
}
std::string Coord(double v) { return absl::StrFormat("%.2f", v); }

std::vector<double> Ticks(double low, double high) {
  if (!(high > low)) return {low};
  const double raw = (high - low) / 5;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * magnitude >= raw) {
      step = m * magnitude;
      break;
    }
  }
  std::vector<double> ticks;
  for (double t = std::ceil(low / step) * step; t <= high + step * 1e-9 && ticks.size() < 20; t += step) {
    ticks.push_back(std::fabs(t) < step * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

}  // namespace vmbsim::studies::svg
