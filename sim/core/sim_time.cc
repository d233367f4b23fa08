#include "sim/core/sim_time.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace vmbsim::sim::time_internal {

std::string FormatNanoseconds(int64_t ns) {
  if (ns == 0) return "0ns";
  // Largest unit in which the value is an exact decimal with at most the
  // digits that the unit's ratio to 1 ns allows.
  struct Unit {
    int64_t ns;
    const char* name;
    int digits;  // Decimal digits between this unit and nanoseconds.
  };
  static constexpr Unit kUnits[] = {{1000000000, "s", 9}, {1000000, "ms", 6}, {1000, "us", 3}};
  const bool negative = ns < 0;
  // Work in unsigned to format INT64_MIN correctly.
  const uint64_t magnitude = negative ? 0 - static_cast<uint64_t>(ns) : static_cast<uint64_t>(ns);
  for (const Unit& unit : kUnits) {
    const uint64_t u = static_cast<uint64_t>(unit.ns);
    if (magnitude < u) continue;
    const uint64_t whole = magnitude / u;
    uint64_t frac = magnitude % u;
    std::string out = absl::StrCat(negative ? "-" : "", whole);
    if (frac != 0) {
      std::string digits = absl::StrCat(frac);
      digits.insert(0, static_cast<size_t>(unit.digits) - digits.size(), '0');
      while (!digits.empty() && digits.back() == '0') digits.pop_back();
      absl::StrAppend(&out, ".", digits);
    }
    absl::StrAppend(&out, unit.name);
    return out;
  }
  return absl::StrCat(negative ? "-" : "", magnitude, "ns");
}

}  // namespace vmbsim::sim::time_internal
