// swarm.h
//
// Swarm testing (Groce et al., "Swarm Testing", ISSTA 2012; FoundationDB's
// simulation): each seed runs the scenario with a random subset of the
// fault catalogue, random parameters and triggers, and a random tie-break
// seed, all drawn from the seed alone, so `(scenario, seed)` names one run
// exactly. Runs are judged on invariants, not on the scenario's
// performance bounds or a negative scenario's loss counts: the variant
// drops latency, interrupt-rate, lost_packets_min and
// failed_transactions_min expectations and turns liveness on. A failure's signature is what makes
// two failures the same: exit code, failed expectations, verifier finding
// rules, and for a stuck run the shape of the stuck state.
//
// Shrinking (`Shrink`): repeatedly tries smaller variants of a failing
// scenario (fewer injections, earlier driver stops, likelier probability
// triggers, fewer requests and driver counts, faster open-loop arrivals, a
// shallower closed loop, fewer guest partitions, fewer channels, a shorter
// liveness threshold, then a bisected time limit) and keeps each that still
// fails with the same signature in no more events.

#ifndef VMBSIM_TOOLS_FAULTS_SWARM_H_
#define VMBSIM_TOOLS_FAULTS_SWARM_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tools/scenario/runner.h"
#include "tools/scenario/spec.h"

namespace vmbsim::faults {

// Liveness threshold of swarm variants whose scenario sets none.
inline constexpr int64_t kSwarmStuckNsDefault = 20'000'000;

// The scenario seed `seed` runs: `base` with its seed set to `seed`, a
// tie-break seed, liveness on, performance bounds dropped, and one to three
// random injections added to its own, of the kinds the catalogue marks
// `swarm`. Pure function of (base, seed).
scenario::ScenarioSpec SwarmVariant(const scenario::ScenarioSpec& base, uint64_t seed);

// "" when the run passed (exit 0); otherwise its failure signature.
std::string FailureSignature(const scenario::RunReport& report);

struct ShrinkStep {
  std::string what;     // "drop injection 2", "requests 400 -> 200", ...
  uint64_t events = 0;  // Events of the run that still failed.
};

struct ShrinkResult {
  scenario::ScenarioSpec spec;  // The smallest failing scenario found (seeds pinned).
  std::string signature;
  uint64_t events_before = 0;
  uint64_t events_after = 0;
  std::vector<ShrinkStep> steps;
  int runs = 0;
};

// `spec` without guest partition `guest` (1-based): its channels go, with
// the workloads, latency bounds and injections that name them, and the
// injections that target the partition; guests above it move down one, and
// the channels and partition targets that name them follow. nullopt when it
// is the only guest, or when no channel would be left.
std::optional<scenario::ScenarioSpec> WithoutGuest(const scenario::ScenarioSpec& spec, uint16_t guest);

// Runs a candidate; returns its report (or an error).
using RunFn = std::function<absl::StatusOr<scenario::RunReport>(const scenario::ScenarioSpec&)>;

// Shrinks `failing` (which must fail: FailedPrecondition otherwise) while
// keeping its signature, trying at most `runs_max` candidates.
absl::StatusOr<ShrinkResult> Shrink(const scenario::ScenarioSpec& failing, const RunFn& run, int runs_max = 400);

}  // namespace vmbsim::faults

#endif  // VMBSIM_TOOLS_FAULTS_SWARM_H_
