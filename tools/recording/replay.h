// replay.h
//
// Replaying and comparing runs, as a library (the `replay` and `diff`
// commands print what these return).
//
// Replay re-runs a trace's scenario with its seeds and compares the new
// run's records with the recorded ones as they are produced, event by event
// (one record of each side in memory, plus `context` records of history),
// then the exit code. The first difference is reported in domain terms
// (event_text.h): its index, the record on each side, the fields that differ,
// and the events before it, which both sides share.
//
// What-if replay keeps the recorded arrival process and changes the world:
// every workload becomes a "trace" arrival (spec.h) of what it issued in the
// recording: an open-loop workload's arrival records (tools/scenario/
// trace_kinds.h), a closed-loop workload's requests (the guest's KMCL sends
// on its channel's relids, from the footer), each at its recorded time and
// size. `overrides` (`--set`, as for `vmbsim run`) then change anything but
// the workloads. The run's arrivals are checked against the recorded ones,
// and the figures of both (trace_metrics.h) are returned side by side. A
// closed loop replayed this way is open: requests leave when they did in the
// recording, whatever the new latency; that is the point of keeping the
// arrivals, and the README says so.
//
// Diff compares two trace files the same way, streaming both, then measures
// both to the end.

#ifndef VMBSIM_TOOLS_RECORDING_REPLAY_H_
#define VMBSIM_TOOLS_RECORDING_REPLAY_H_

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sim/core/trace.h"
#include "tools/recording/trace_file.h"
#include "tools/recording/trace_metrics.h"
#include "tools/scenario/drivers.h"
#include "tools/scenario/runner.h"

namespace vmbsim::recording {

// Exit code of `replay` and `diff` when the runs differ (README).
inline constexpr int kExitDiverged = 5;

struct Divergence {
  uint64_t index = 0;                 // Of the first differing event.
  std::optional<sim::TraceRecord> a;  // Absent: side A had ended.
  std::optional<sim::TraceRecord> b;
  std::vector<std::string> fields;    // DifferingFields(a, b), when both exist.
  std::vector<sim::TraceRecord> before;  // Up to `context` shared events before it.
  // Runs that agree event for event may still end differently.
  std::optional<std::pair<int, int>> exit_codes;
};

// Compares two record streams fed in step.
class StreamComparer {
 public:
  explicit StreamComparer(size_t context) : context_(context) {}
  // Compares the next record of each side (nullptr: that side has ended).
  // Returns false once the streams have differed (further calls are no-ops).
  bool Step(const sim::TraceRecord* a, const sim::TraceRecord* b);
  const std::optional<Divergence>& divergence() const { return divergence_; }
  uint64_t compared() const { return compared_; }

 private:
  size_t context_;
  std::deque<sim::TraceRecord> history_;
  std::optional<Divergence> divergence_;
  uint64_t compared_ = 0;
};

struct ReplayOptions {
  std::vector<std::string> overrides;  // Non-empty: what-if replay.
  size_t context = 5;
};

struct ReplayResult {
  TraceHeaderInfo header;
  TraceFooterInfo recorded;            // The recording's footer.
  scenario::RunReport report;          // Of the new run.
  // Exact replay: the first difference, if any.
  std::optional<Divergence> divergence;
  // What-if: the arrivals kept, whether the run issued exactly them, and
  // both runs' figures.
  uint64_t arrivals = 0;
  bool arrivals_identical = true;
  std::string arrivals_detail;         // The first mismatch, when not identical.
  std::vector<ChannelFigures> recorded_figures;
  std::vector<ChannelFigures> replayed_figures;
};

// Replays the trace at `path` (see the file comment). `drivers` must hold
// the drivers the scenario names (the header lists the libraries the
// recording loaded). Errors: the reader's for a damaged trace (naming the
// byte offset), InvalidArgumentError for a scenario that no longer loads or
// an override that does not apply.
absl::StatusOr<ReplayResult> Replay(const std::string& path, const scenario::DriverRegistry& drivers,
                                    const ReplayOptions& options);

struct DiffResult {
  TraceHeaderInfo header_a, header_b;
  TraceFooterInfo footer_a, footer_b;
  std::optional<Divergence> divergence;
  uint64_t compared = 0;
  std::vector<ChannelFigures> figures_a, figures_b;
};

absl::StatusOr<DiffResult> Diff(const std::string& path_a, const std::string& path_b, size_t context);

// Text for a person: the divergence with its context, labelled by side.
std::string FormatDivergence(const Divergence& d, const std::string& label_a, const std::string& label_b);

}  // namespace vmbsim::recording

#endif  // VMBSIM_TOOLS_RECORDING_REPLAY_H_
