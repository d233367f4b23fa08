// sweep_plan.h
//
// What a sweep runs: a scenario, overrides common to every run, axes of
// swept settings, and seeds. A grid axis (`--grid PATH=v1,v2`) varies one
// setting; zipped settings (`--zip PATH=v1,v2 --zip PATH2=w1,w2`) vary
// together, value by value, as one axis. The points are the cross product of
// the axes, the first axis varying slowest; each point runs under `seeds`
// seeds. A run is (point, seed index); run r = point * seeds + seed index.
//
// Seeds. Seed index k runs with seed `seed_base + k` at every point, so a
// workload's arrivals are the same at every point for the same k (common
// random numbers; the runner keeps arrival and size draws in streams of their
// own). `independent_streams` instead derives a seed per (point, k): the
// control that shows what common random numbers save.
//
// Sharding. `--shard i/n` takes the runs with r % n == i (or, when a point
// may stop early on its confidence interval, the points with
// point % n == i, because that decision needs all of a point's runs in one
// place). `vmbsim merge` puts the shards back together.
//
// The plan has a canonical text form (plan.txt in every result directory):
// merge refuses shards whose plans differ.

#ifndef VMBSIM_TOOLS_STUDIES_SWEEP_PLAN_H_
#define VMBSIM_TOOLS_STUDIES_SWEEP_PLAN_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace vmbsim::studies {

struct Axis {
  std::vector<std::string> paths;                // One for a grid; one per zipped setting.
  std::vector<std::vector<std::string>> values;  // values[k][j]: the k-th value of paths[j].
  bool zipped = false;
};

struct Point {
  size_t index = 0;
  std::vector<std::pair<std::string, std::string>> settings;  // (path, value), in axis order.
  // The overrides for the loader: "path=value" each.
  std::vector<std::string> Overrides() const;
  // "path=value, path2=value2".
  std::string Label() const;
};

struct Shard {
  uint64_t index = 0;
  uint64_t count = 1;
};

struct SweepPlan {
  std::string scenario;                 // As given (a library name or a path); for commands.
  std::string scenario_name;            // The scenario's "name".
  std::string study;                    // The study file's name, if any.
  std::vector<std::string> overrides;   // --set and the study's "set", before each point's own.
  std::vector<std::string> driver_libs;
  std::vector<Axis> axes;
  uint64_t seeds = 1;                   // Per point (the most, with a CI target).
  uint64_t seed_base = 1;
  bool independent_streams = false;
  std::optional<double> ci_target;      // Relative half-width, 0.02 for 2 %.
  std::vector<std::string> ci_metrics;  // Empty: every metric.

  std::vector<Point> points;            // Filled by Expand().

  // Fills `points` from `axes`. Returns InvalidArgument when zipped settings
  // have different numbers of values, a path is swept twice, or there would
  // be more than 10^6 runs.
  absl::Status Expand();
  uint64_t runs() const { return points.size() * seeds; }
  uint64_t SeedFor(size_t point, uint64_t seed_index) const;
  // Whether run (point, seed index) belongs to `shard`.
  bool InShard(const Shard& shard, size_t point, uint64_t seed_index) const;
  // `vmbsim run ...` that repeats one run exactly (shell-quoted).
  std::string ReproduceCommand(size_t point, uint64_t seed) const;
  // The canonical text (plan.txt).
  std::string ToText() const;
};

// "PATH=v1,v2,..." into (path, values). Values are split at commas outside
// brackets, braces and double quotes, so JSON values may hold commas:
// `channels.0.host_driver.params={"service_us":10},{"service_us":20}`.
// Returns InvalidArgument naming `flag` for a missing '=', an empty path or
// an empty value.
absl::StatusOr<std::pair<std::string, std::vector<std::string>>> ParseAxisArg(absl::string_view flag,
                                                                             absl::string_view arg);

// Refuses an axis over the scenario's seed ("seed" or "/seed"): a sweep
// overrides every run's seed (--seed, --seeds), so such an axis would have no
// effect. OK for any other path; otherwise InvalidArgument naming `where`.
absl::Status CheckAxisPath(absl::string_view where, absl::string_view path);

// "i/n" with 0 <= i < n <= 10^6.
absl::StatusOr<Shard> ParseShard(absl::string_view text);

// "2%", "0.02" or "2 %" as 0.02; a value in (0, 1].
absl::StatusOr<double> ParseRelative(absl::string_view flag, absl::string_view text);

}  // namespace vmbsim::studies

#endif  // VMBSIM_TOOLS_STUDIES_SWEEP_PLAN_H_
