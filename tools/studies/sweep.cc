#include "tools/studies/sweep.h"

#include <algorithm>
#include <chrono>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tools/fork_pool.h"
#include "tools/scenario/runner.h"

namespace vmbsim::studies {
namespace {

constexpr uint64_t kCiSeedsMin = 3;

struct Task {
  size_t point;
  uint64_t seed_index;
};

class Progress {
 public:
  Progress(const SweepOptions& options, uint64_t total)
      : out_(options.progress), bar_(options.progress_bar), total_(total), start_(std::chrono::steady_clock::now()) {}

  void Done(uint64_t done) {
    if (out_ == nullptr || total_ == 0 || done == last_done_) return;
    last_done_ = done;
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double left = done == 0 ? 0.0 : elapsed / static_cast<double>(done) * static_cast<double>(total_ - done);
    if (bar_) {
      constexpr int kWidth = 30;
      const int filled = static_cast<int>(kWidth * done / total_);
      std::fprintf(out_, "\r[%s%s] %llu/%llu runs, %s left ", std::string(filled, '#').c_str(),
                   std::string(kWidth - filled, '.').c_str(), static_cast<unsigned long long>(done),
                   static_cast<unsigned long long>(total_), Duration(left).c_str());
      if (done == total_) std::fprintf(out_, "\r%70s\r", "");
      std::fflush(out_);
      return;
    }
    // Plain lines: at most one per 5 % (and the last).
    const uint64_t step = done * 20 / total_;
    if (step == last_step_ && done != total_) return;
    last_step_ = step;
    std::fprintf(out_, "sweep: %llu/%llu runs done, %s elapsed, %s left\n", static_cast<unsigned long long>(done),
                 static_cast<unsigned long long>(total_), Duration(elapsed).c_str(), Duration(left).c_str());
    std::fflush(out_);
  }

 private:
  static std::string Duration(double seconds) {
    if (seconds < 60) return absl::StrFormat("%.0fs", seconds);
    const long s = static_cast<long>(seconds);
    return absl::StrFormat("%ldm%02lds", s / 60, s % 60);
  }

  std::FILE* out_;
  bool bar_;
  uint64_t total_;
  std::chrono::steady_clock::time_point start_;
  uint64_t last_step_ = ~uint64_t{0};
  uint64_t last_done_ = ~uint64_t{0};
};

}  // namespace

std::optional<uint64_t> CiStopAt(const SweepPlan& plan, const std::vector<RunRow>& rows) {
  if (!plan.ci_target.has_value()) return std::nullopt;
  for (uint64_t k = kCiSeedsMin; k <= rows.size(); ++k) {
    const std::vector<RunRow> prefix(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(k));
    std::vector<std::string> metrics = plan.ci_metrics;
    if (metrics.empty()) metrics = MetricNames(prefix);
    bool all = !metrics.empty();
    for (const std::string& m : metrics) {
      if (!IntervalWithin(SummariseMetric(prefix, rows[0].point, m), *plan.ci_target)) {
        all = false;
        break;
      }
    }
    if (all) return k;
  }
  return std::nullopt;
}

absl::StatusOr<ResultSet> RunSweep(const SweepPlan& plan, const std::vector<scenario::ScenarioSpec>& specs,
                                   const scenario::DriverRegistry& registry, const SweepOptions& options) {
  std::vector<Task> tasks;
  for (size_t p = 0; p < plan.points.size(); ++p) {
    for (uint64_t k = 0; k < plan.seeds; ++k) {
      if (plan.InShard(options.shard, p, k)) tasks.push_back({p, k});
    }
  }
  // Per point: finished rows by seed index, and where it stops.
  std::vector<std::map<uint64_t, RunRow>> finished(plan.points.size());
  std::vector<std::optional<uint64_t>> stop_at(plan.points.size());
  Progress progress(options, tasks.size());
  uint64_t done = 0;
  size_t cursor = 0;
  progress.Done(0);
  // Built-in drivers keep no state between runs, so workers run many runs
  // each; a driver library may, so with one each run gets its own process.
  const auto runner = plan.driver_libs.empty() ? tools::RunPooled : tools::RunForked;
  const absl::Status pool = runner(
      std::max(1u, options.jobs),
      [&]() -> std::optional<size_t> {
        while (cursor < tasks.size() && stop_at[tasks[cursor].point].has_value()) {
          ++cursor;  // Counted as done when its point stopped.
        }
        if (cursor >= tasks.size()) return std::nullopt;
        return cursor++;
      },
      [&](size_t t) {
        const Task& task = tasks[t];
        const auto start = std::chrono::steady_clock::now();
        const auto wall = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
        scenario::RunOptions run_options;
        run_options.seed = plan.SeedFor(task.point, task.seed_index);
        absl::StatusOr<scenario::RunReport> report = scenario::RunScenario(specs[task.point], registry, run_options);
        if (!report.ok()) return EncodeRun(absl::StrCat("invalid input: ", report.status().message()), {}, wall());
        const std::map<std::string, double> metrics = MetricsOf(*report);
        return EncodeRun(absl::StrCat(scenario::ExitCodeFor(*report)), metrics, wall());
      },
      [&](tools::ForkResult result) {
        const Task& task = tasks[result.task];
        RunRow row;
        row.point = task.point;
        row.seed_index = task.seed_index;
        row.seed = plan.SeedFor(task.point, task.seed_index);
        row.command = plan.ReproduceCommand(task.point, row.seed);
        if (!result.abnormal.empty()) {
          row.exit = result.abnormal;
        } else if (const absl::Status decoded = DecodeRun(result.output, &row); !decoded.ok()) {
          row.metrics.clear();
          row.exit = std::string(decoded.message());
        }
        std::map<uint64_t, RunRow>& rows = finished[task.point];
        rows.emplace(task.seed_index, std::move(row));
        ++done;
        progress.Done(std::min<uint64_t>(done, tasks.size()));
        if (plan.ci_target.has_value() && !stop_at[task.point].has_value()) {
          // The contiguous prefix of seeds 0..j-1 decides.
          std::vector<RunRow> prefix;
          for (uint64_t k = 0; rows.count(k) != 0; ++k) prefix.push_back(rows.at(k));
          stop_at[task.point] = CiStopAt(plan, prefix);
          if (stop_at[task.point].has_value()) {
            // Runs not yet started for this point are skipped by `next`.
            uint64_t skipped = 0;
            for (size_t t2 = cursor; t2 < tasks.size(); ++t2) skipped += tasks[t2].point == task.point ? 1 : 0;
            done += skipped;
          }
        }
      });
  if (!pool.ok()) return pool;
  progress.Done(tasks.size());
  ResultSet set;
  set.plan_text = plan.ToText();
  if (!plan.points.empty()) {
    for (const auto& [path, value] : plan.points[0].settings) set.setting_paths.push_back(path);
  }
  for (const Point& point : plan.points) {
    std::vector<std::string> values;
    for (const auto& [path, value] : point.settings) values.push_back(value);
    set.point_settings.push_back(std::move(values));
  }
  for (size_t p = 0; p < plan.points.size(); ++p) {
    for (auto& [k, row] : finished[p]) {
      if (stop_at[p].has_value() && k >= *stop_at[p]) break;
      set.rows.push_back(std::move(row));
    }
  }
  return set;
}

}  // namespace vmbsim::studies
