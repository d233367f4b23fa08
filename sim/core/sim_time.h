// sim_time.h
//
// Virtual time. `SimTime` is a point on the simulation clock and
// `SimDuration` a span between two points; both are int64 nanoseconds in
// strong types so that a duration cannot be passed where a time is meant and
// no floating point ever enters the clock (DESIGN.md, determinism contract).
//
// Arithmetic is checked: an overflow of the int64 range is a simulator bug and
// aborts through VMBSIM_CHECK. Conversions to and from the units the model
// speaks are exact where they can be: microseconds and KMCL's 100 ns units
// multiply exactly (overflow checked); converting a duration *to* a coarser
// unit truncates toward zero and says so in its name.
//
// Formatting: `ToString()` prints the largest unit that keeps the value exact
// ("1.5us", "250ns", "3s", "2.000001ms"), so traces stay readable and lossless.

#ifndef VMBSIM_SIM_CORE_SIM_TIME_H_
#define VMBSIM_SIM_CORE_SIM_TIME_H_

#include <compare>
#include <cstdint>
#include <limits>
#include <ostream>
#include <string>

#include "sim/check.h"

namespace vmbsim::sim {

namespace time_internal {

inline int64_t CheckedAdd(int64_t a, int64_t b) {
  int64_t out = 0;
  VMBSIM_CHECK_MSG(!__builtin_add_overflow(a, b, &out), "time overflow");
  return out;
}

inline int64_t CheckedSub(int64_t a, int64_t b) {
  int64_t out = 0;
  VMBSIM_CHECK_MSG(!__builtin_sub_overflow(a, b, &out), "time overflow");
  return out;
}

inline int64_t CheckedMul(int64_t a, int64_t b) {
  int64_t out = 0;
  VMBSIM_CHECK_MSG(!__builtin_mul_overflow(a, b, &out), "time overflow");
  return out;
}

// Formats `ns` with the largest unit that keeps it exact.
std::string FormatNanoseconds(int64_t ns);

}  // namespace time_internal

class SimDuration {
 public:
  constexpr SimDuration() = default;

  static constexpr SimDuration Nanoseconds(int64_t ns) { return SimDuration(ns); }
  static SimDuration Microseconds(int64_t us) {
    return SimDuration(time_internal::CheckedMul(us, 1000));
  }
  static SimDuration Milliseconds(int64_t ms) {
    return SimDuration(time_internal::CheckedMul(ms, 1000 * 1000));
  }
  static SimDuration Seconds(int64_t s) {
    return SimDuration(time_internal::CheckedMul(s, 1000 * 1000 * 1000));
  }
  // KMCL and the monitor page express latency in 100 ns units.
  static SimDuration Units100ns(int64_t units) {
    return SimDuration(time_internal::CheckedMul(units, 100));
  }
  static constexpr SimDuration Zero() { return SimDuration(0); }
  static constexpr SimDuration Max() {
    return SimDuration(std::numeric_limits<int64_t>::max());
  }

  constexpr int64_t nanoseconds() const { return ns_; }
  // Truncating conversions (toward zero).
  constexpr int64_t TruncateToMicroseconds() const { return ns_ / 1000; }
  constexpr int64_t TruncateTo100nsUnits() const { return ns_ / 100; }

  SimDuration operator+(SimDuration o) const {
    return SimDuration(time_internal::CheckedAdd(ns_, o.ns_));
  }
  SimDuration operator-(SimDuration o) const {
    return SimDuration(time_internal::CheckedSub(ns_, o.ns_));
  }
  SimDuration operator*(int64_t k) const {
    return SimDuration(time_internal::CheckedMul(ns_, k));
  }
  SimDuration& operator+=(SimDuration o) { return *this = *this + o; }
  SimDuration& operator-=(SimDuration o) { return *this = *this - o; }

  constexpr auto operator<=>(const SimDuration&) const = default;

  std::string ToString() const { return time_internal::FormatNanoseconds(ns_); }

 private:
  explicit constexpr SimDuration(int64_t ns) : ns_(ns) {}
  int64_t ns_ = 0;
};

class SimTime {
 public:
  constexpr SimTime() = default;

  static constexpr SimTime FromNanoseconds(int64_t ns) { return SimTime(ns); }
  static constexpr SimTime Zero() { return SimTime(0); }
  static constexpr SimTime Max() {
    return SimTime(std::numeric_limits<int64_t>::max());
  }

  constexpr int64_t nanoseconds() const { return ns_; }

  SimTime operator+(SimDuration d) const {
    return SimTime(time_internal::CheckedAdd(ns_, d.nanoseconds()));
  }
  SimTime operator-(SimDuration d) const {
    return SimTime(time_internal::CheckedSub(ns_, d.nanoseconds()));
  }
  SimDuration operator-(SimTime o) const {
    return SimDuration::Nanoseconds(time_internal::CheckedSub(ns_, o.ns_));
  }
  SimTime& operator+=(SimDuration d) { return *this = *this + d; }

  constexpr auto operator<=>(const SimTime&) const = default;

  // "t=1.5us" style, without the "t=".
  std::string ToString() const { return time_internal::FormatNanoseconds(ns_); }

 private:
  explicit constexpr SimTime(int64_t ns) : ns_(ns) {}
  int64_t ns_ = 0;
};

inline std::ostream& operator<<(std::ostream& os, SimDuration d) {
  return os << d.ToString();
}
inline std::ostream& operator<<(std::ostream& os, SimTime t) {
  return os << t.ToString();
}

}  // namespace vmbsim::sim

#endif  // VMBSIM_SIM_CORE_SIM_TIME_H_
