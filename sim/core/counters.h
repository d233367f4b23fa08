// counters.h
//
// Named event counters for run reports ("packets_sent", "ring_full",
// "interrupts_coalesced"). A `Counter` is a uint64 that only goes up; a
// `CounterSet` maps names to counters in an ordered map, so iterating it
// (and therefore every report built from it) is in name order and identical
// in every process (DESIGN.md: no hash-map iteration order may leak).
//
// Overflow of a counter is a simulator bug (2^64 events cannot happen in a
// run) and aborts through VMBSIM_CHECK.
//
// Not provided: gauges, rates, labels; decrementing.

#ifndef VMBSIM_SIM_CORE_COUNTERS_H_
#define VMBSIM_SIM_CORE_COUNTERS_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "sim/check.h"

namespace vmbsim::sim {

class Counter {
 public:
  // Adds `delta` to the value.
  // REQUIRES: the sum does not overflow uint64.
  void Add(uint64_t delta) {
    VMBSIM_CHECK_MSG(!__builtin_add_overflow(value_, delta, &value_),
                     "counter overflow");
  }
  void Increment() { Add(1); }
  uint64_t value() const { return value_; }

 private:
  uint64_t value_ = 0;
};

class CounterSet {
 public:
  using Map = std::map<std::string, Counter, std::less<>>;

  // Returns the counter named `name`, creating it at zero if absent. The
  // reference stays valid for the lifetime of the set (map nodes never
  // move), so a component may look its counters up once and keep pointers.
  Counter& Get(std::string_view name) {
    auto it = counters_.find(name);
    if (it == counters_.end())
      it = counters_.emplace(std::string(name), Counter()).first;
    return it->second;
  }

  // Adds `delta` to / increments the counter named `name`, creating it first
  // if absent. REQUIRES: no overflow (see Counter::Add).
  void Add(std::string_view name, uint64_t delta) { Get(name).Add(delta); }
  void Increment(std::string_view name) { Get(name).Increment(); }

  // Returns the value of `name`, or 0 if it was never created. Does not
  // create it.
  uint64_t Value(std::string_view name) const {
    const auto it = counters_.find(name);
    return it == counters_.end() ? 0 : it->second.value();
  }

  // Adds every counter of `other` into this set, by name.
  void Merge(const CounterSet& other) {
    for (const auto& [name, counter] : other.counters_)
      Add(name, counter.value());
  }

  // All counters, in ascending byte-wise name order.
  const Map& counters() const { return counters_; }
  size_t size() const { return counters_.size(); }

 private:
  Map counters_;
};

}  // namespace vmbsim::sim

#endif  // VMBSIM_SIM_CORE_COUNTERS_H_
