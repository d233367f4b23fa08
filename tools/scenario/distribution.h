// distribution.h
//
// Samples a DistributionSpec (spec.h): request sizes, arrival gaps and
// service times all go through this one class, so every quantity a scenario
// draws has the same kinds, the same truncation rule and the same
// determinism. It is a thin layer over sim/core/distributions.h, which keeps
// the draws bit-identical across compilers and libraries (DESIGN.md); the
// caller passes the Prng stream, so each use keeps its own stream
// ("workload.<i>.size", "workload.<i>", ...).
//
// Draws per sample: fixed none; uniform one Prng::Below; exponential one
// UniformUnit; lognormal what StandardNormal takes (rejection, about 2.5
// Next64 calls on average); empirical one Prng::Below. Clamping never
// draws again.
//
// Not provided: redrawing truncation (see spec.h for why clamping), and
// distributions over doubles (every quantity of the format is an integer).

#ifndef VMBSIM_TOOLS_SCENARIO_DISTRIBUTION_H_
#define VMBSIM_TOOLS_SCENARIO_DISTRIBUTION_H_

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "sim/core/distributions.h"
#include "sim/core/prng.h"
#include "tools/scenario/spec.h"

namespace vmbsim::scenario {

class DistributionSampler {
 public:
  // Checks what the loader checks for a spec built in code (a known kind,
  // non-negative parameters, min <= max, a non-empty table with a positive
  // total weight) and builds the sampler. Returns InvalidArgumentError
  // naming the problem ("empirical table: no rows", ...); the caller adds
  // where the spec came from.
  static absl::StatusOr<DistributionSampler> Create(const DistributionSpec& spec);

  // One value, in the spec's unit: non-negative, and within [min, max] when
  // those are set.
  int64_t Sample(sim::Prng& prng) const;

  const DistributionSpec& spec() const { return spec_; }

 private:
  enum class Kind { kFixed, kUniform, kExponential, kLogNormal, kEmpirical };
  DistributionSampler(DistributionSpec spec, Kind kind,
                      std::optional<sim::EmpiricalTable<int64_t>> table)
      : spec_(std::move(spec)), kind_(kind), table_(std::move(table)) {}

  int64_t Clamp(int64_t value) const;

  DistributionSpec spec_;
  Kind kind_;
  std::optional<sim::EmpiricalTable<int64_t>> table_;  // kEmpirical only.
};

}  // namespace vmbsim::scenario

#endif  // VMBSIM_TOOLS_SCENARIO_DISTRIBUTION_H_
