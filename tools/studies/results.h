// results.h
//
// A sweep's result files, written the same way whether the runs were made
// on one machine or merged from shards, so that both give byte-identical
// files:
//
//   plan.txt     the plan (SweepPlan::ToText)
//   runs.csv     one row per (point, seed): point, seed_index, seed, exit,
//                the point's settings, every metric, the command that
//                repeats the run
//   runs.json    the same as JSON
//   points.csv   one row per point: its settings, seeds used, runs ok and
//                failed, and per metric mean, sd, ci95_low, ci95_high
//   points.json  the same, with each failed run's exit and command
//
// Metric values are written in their shortest exact decimal form, so
// reading runs.csv back gives the very doubles that were aggregated; the
// aggregates are computed from the rows in (point, seed) order. No wall
// clock reaches these files. A run whose exit is not "0" is listed as
// failed in its point and never averaged in.
//
// Metrics of a run (MetricsOf), per channel as "<channel>.<metric>":
//   rtt_mean_ns, rtt_p50_ns, rtt_p90_ns, rtt_p99_ns     guest->host send to completion
//   s2p_mean_ns, s2p_p99_ns                            guest->host send to process
//   throughput_tps      transactions finished per simulated second
//   packets_per_doorbell, host_batch_mean              the host reader's batching
//   ring_full, sends_queued                            the guest writer's back-pressure
// and for the run: interrupts_per_packet (all interrupts over all packets
// processed), host_vp_utilisation and guest_vp_utilisation (mean over the
// partition's VPs), host_vp_utilisation_max, lost_packets, events,
// simulated_ns.

#ifndef VMBSIM_TOOLS_STUDIES_RESULTS_H_
#define VMBSIM_TOOLS_STUDIES_RESULTS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tools/scenario/runner.h"
#include "tools/studies/statistics.h"

namespace vmbsim::studies {

struct RunRow {
  size_t point = 0;
  uint64_t seed_index = 0;
  uint64_t seed = 0;
  // The run's exit code ("0", "1", "3", "70"), or how it ended otherwise
  // ("killed by signal 11", "invalid input: ...").
  std::string exit;
  std::map<std::string, double> metrics;
  std::string command;  // Repeats the run.
  // The run's own wall time in its process (set-up, run, measuring). Never
  // written to the result files, which stay byte-comparable.
  double wall_seconds = 0;
  bool ok() const { return exit == "0"; }
};

struct ResultSet {
  std::string plan_text;
  std::vector<std::string> setting_paths;                // Column names of the settings.
  std::vector<std::vector<std::string>> point_settings;  // Per point, one value per path.
  std::vector<RunRow> rows;                              // Sorted by (point, seed_index).
};

std::map<std::string, double> MetricsOf(const scenario::RunReport& report);

// A run's outcome as text for the pipe from its child, and back.
std::string EncodeRun(const std::string& exit, const std::map<std::string, double>& metrics, double wall_seconds);
absl::Status DecodeRun(absl::string_view text, RunRow* row);

// Every metric name in `rows`, sorted.
std::vector<std::string> MetricNames(const std::vector<RunRow>& rows);

// Statistics of `metric` over a point's successful rows among `rows`.
Summary SummariseMetric(const std::vector<RunRow>& rows, size_t point, const std::string& metric);

// The five files, as (name, contents) in the order listed above.
std::vector<std::pair<std::string, std::string>> RenderResults(const ResultSet& results);

// Writes RenderResults into `dir` (created if missing). InvalidArgument
// naming the file when one cannot be written.
absl::Status WriteResults(const std::string& dir, const ResultSet& results);

// Reads runs.csv text back, with `setting_count` settings columns (the
// plan's swept paths). Fills setting_paths, the rows in file order, and
// point_settings up to the largest point seen (points without a row stay
// empty). `source` names the file in errors, which give the line:
// "shard0/runs.csv:7: expected 12 fields, found 11".
absl::StatusOr<ResultSet> ParseRunsCsv(absl::string_view text, absl::string_view source, size_t setting_count);

// The value of "key value" lines of plan.txt ("" when absent).
std::string PlanValue(absl::string_view plan_text, absl::string_view key);

// CSV: fields split at commas outside double quotes, "" inside quotes
// standing for one quote. Returns false for an unterminated quote.
bool SplitCsvLine(absl::string_view line, std::vector<std::string>* fields);
std::string CsvField(const std::string& text);

}  // namespace vmbsim::studies

#endif  // VMBSIM_TOOLS_STUDIES_RESULTS_H_
