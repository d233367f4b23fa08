// sweep.h
//
// Runs a SweepPlan: its runs (point, seed) in `jobs` worker processes, each
// running one run after another (fork_pool.h's RunPooled; with a driver
// library loaded, a child process per run), single-threaded and deterministic;
// collects the runs' metrics into a ResultSet (results.h). The result does
// not depend on `jobs` or on the order in which runs finish.
//
// With a confidence-interval target (plan.ci_target), a point stops at the
// smallest seed count k >= 3 for which the 95 % interval of each target
// metric, over the point's successful runs among seeds 0..k-1, is within the
// target of its mean; runs of seeds beyond k that were already started are
// dropped from the result, so the outcome is again independent of `jobs`.
// A point that never gets there uses all `seeds`.

#ifndef VMBSIM_TOOLS_STUDIES_SWEEP_H_
#define VMBSIM_TOOLS_STUDIES_SWEEP_H_

#include <cstdio>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "tools/scenario/drivers.h"
#include "tools/scenario/spec.h"
#include "tools/studies/results.h"
#include "tools/studies/sweep_plan.h"

namespace vmbsim::studies {

struct SweepOptions {
  unsigned jobs = 1;
  Shard shard;                // 0/1: every run.
  std::FILE* progress = nullptr;  // Progress lines (or a bar) go here; null: none.
  bool progress_bar = false;  // A one-line bar redrawn in place (a terminal).
};

// Runs `plan` (expanded) with `specs[p]` the loaded scenario of point p.
// Returns InternalError when runs cannot be started.
absl::StatusOr<ResultSet> RunSweep(const SweepPlan& plan, const std::vector<scenario::ScenarioSpec>& specs,
                                   const scenario::DriverRegistry& registry, const SweepOptions& options);

// Which seed count a point stops at under `plan.ci_target`, given its rows
// for seeds 0..rows.size()-1 in order: the k (3 <= k <= rows.size()) the
// file comment describes, or nullopt when none qualifies yet.
std::optional<uint64_t> CiStopAt(const SweepPlan& plan, const std::vector<RunRow>& rows);

}  // namespace vmbsim::studies

#endif  // VMBSIM_TOOLS_STUDIES_SWEEP_H_
