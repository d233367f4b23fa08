#include "tools/recording/replay.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kmcl/trace_kinds.h"
#include "sim/check.h"
#include "tools/recording/event_text.h"
#include "tools/recording/recorder.h"
#include "tools/scenario/loader.h"
#include "tools/scenario/trace_kinds.h"

namespace vmbsim::recording {
namespace {

// Feeds a live run's records, and the recording's in step, to a comparer.
class ReplaySink : public sim::TraceSink {
 public:
  ReplaySink(TraceReader* reader, StreamComparer* comparer) : reader_(reader), comparer_(comparer) {}

  void OnRecord(const sim::TraceRecord& live) override {
    if (comparer_->divergence().has_value() || !error_.ok()) return;
    sim::TraceRecord recorded;
    bool have = false;
    if (!ended_) {
      absl::StatusOr<bool> next = reader_->Next(&recorded);
      if (!next.ok()) {
        error_ = next.status();
        return;
      }
      have = *next;
      ended_ = !have;
    }
    comparer_->Step(have ? &recorded : nullptr, &live);
  }

  // After the run: the recording's events the run did not produce.
  void Drain() {
    if (comparer_->divergence().has_value() || !error_.ok() || ended_) return;
    sim::TraceRecord recorded;
    absl::StatusOr<bool> next = reader_->Next(&recorded);
    if (!next.ok()) {
      error_ = next.status();
      return;
    }
    ended_ = !*next;
    if (*next) comparer_->Step(&recorded, nullptr);
  }

  const absl::Status& error() const { return error_; }

 private:
  TraceReader* reader_;
  StreamComparer* comparer_;
  absl::Status error_;
  bool ended_ = false;
};

// Checks a what-if run's arrivals against the events each workload was
// given, as they happen.
class ArrivalChecker : public sim::TraceSink {
 public:
  explicit ArrivalChecker(const std::vector<std::vector<scenario::ArrivalSpec::Event>>* expected)
      : expected_(expected), next_(expected->size(), 0) {}

  std::vector<uint16_t> Kinds() const override { return {scenario::kWorkloadArrivalTraceKind}; }

  void OnRecord(const sim::TraceRecord& r) override {
    ++seen_;
    if (!detail_.empty()) return;
    if (r.id0 >= expected_->size()) {
      detail_ = absl::StrCat("an arrival of workload ", r.id0, ", which the replay did not have");
      return;
    }
    const std::vector<scenario::ArrivalSpec::Event>& events = (*expected_)[r.id0];
    size_t& next = next_[r.id0];
    if (next >= events.size()) {
      detail_ = absl::StrCat("workload ", r.id0, ": more arrivals than the ", events.size(), " recorded");
      return;
    }
    const scenario::ArrivalSpec::Event& e = events[next++];
    if (e.time_ns != r.time.nanoseconds() || e.bytes != r.size0) {
      detail_ = absl::StrCat("workload ", r.id0, " arrival ", next - 1, ": recorded ", e.bytes, " bytes at ",
                             e.time_ns, " ns, replayed ", r.size0, " bytes at ", r.time.nanoseconds(), " ns");
    }
  }

  // The first mismatch, or "" when every recorded arrival happened as
  // recorded and no other did.
  std::string Finish() {
    if (!detail_.empty()) return detail_;
    for (size_t w = 0; w < next_.size(); ++w) {
      if (next_[w] != (*expected_)[w].size()) {
        return absl::StrCat("workload ", w, ": ", next_[w], " of ", (*expected_)[w].size(), " arrivals replayed");
      }
    }
    return "";
  }
  uint64_t seen() const { return seen_; }

 private:
  const std::vector<std::vector<scenario::ArrivalSpec::Event>>* expected_;
  std::vector<size_t> next_;
  std::string detail_;
  uint64_t seen_ = 0;
};

absl::StatusOr<scenario::ScenarioSpec> LoadRecorded(const TraceReader& reader,
                                                    const scenario::DriverRegistry& drivers,
                                                    const std::string& document,
                                                    const std::vector<std::string>& overrides) {
  absl::StatusOr<scenario::ScenarioSpec> spec =
      scenario::LoadScenario(document, absl::StrCat(reader.path(), " (recorded scenario)"), drivers.descriptors(),
                             overrides);
  if (!spec.ok()) return absl::InvalidArgumentError(spec.status().message());
  return spec;
}

scenario::RunOptions RunOptionsFor(const TraceHeaderInfo& header) {
  scenario::RunOptions options;
  options.seed = header.seed;
  options.tie_break_seed = header.tie_break_seed;
  return options;
}

absl::StatusOr<ReplayResult> ExactReplay(std::unique_ptr<TraceReader> reader, const scenario::DriverRegistry& drivers,
                                         const ReplayOptions& options) {
  ReplayResult result;
  result.header = reader->header();
  VMBSIM_ASSIGN_OR_RETURN(const scenario::ScenarioSpec spec,
                          LoadRecorded(*reader, drivers, result.header.scenario_json, {}));
  StreamComparer comparer(options.context);
  ReplaySink sink(reader.get(), &comparer);
  scenario::RunOptions run_options = RunOptionsFor(result.header);
  run_options.sinks.push_back(&sink);
  VMBSIM_ASSIGN_OR_RETURN(result.report, scenario::RunScenario(spec, drivers, run_options));
  sink.Drain();
  VMBSIM_RETURN_IF_ERROR(sink.error());
  result.divergence = comparer.divergence();
  if (!result.divergence.has_value()) {
    // Every event agreed and the recording has ended: its footer is read.
    result.recorded = reader->footer();
    const int code = scenario::ExitCodeFor(result.report);
    if (code != result.recorded.exit_code) {
      result.divergence = Divergence{.index = comparer.compared(), .exit_codes = {{result.recorded.exit_code, code}}};
    }
  }
  return result;
}

absl::StatusOr<ReplayResult> WhatIf(std::unique_ptr<TraceReader> reader, const scenario::DriverRegistry& drivers,
                                    const ReplayOptions& options) {
  for (const std::string& override_text : options.overrides) {
    const std::string path = override_text.substr(0, override_text.find('='));
    if (absl::StartsWith(path, "workloads") || absl::StartsWith(path, "/workloads")) {
      return absl::InvalidArgumentError(absl::StrCat("--set ", override_text,
                                                     ": what-if replay keeps the recorded arrivals; the "
                                                     "workloads cannot be changed"));
    }
  }
  ReplayResult result;
  result.header = reader->header();
  VMBSIM_ASSIGN_OR_RETURN(const scenario::ScenarioSpec recorded_spec,
                          LoadRecorded(*reader, drivers, result.header.scenario_json, {}));

  // One pass over the recording: its figures, its arrivals, its guests'
  // sends (the requests of closed loops).
  TraceMetrics recorded_metrics;
  std::vector<std::vector<scenario::ArrivalSpec::Event>> arrivals(recorded_spec.workloads.size());
  std::map<uint64_t, std::vector<scenario::ArrivalSpec::Event>> sends;  // By guest channel handle.
  sim::TraceRecord r;
  for (;;) {
    VMBSIM_ASSIGN_OR_RETURN(const bool more, reader->Next(&r));
    if (!more) break;
    recorded_metrics.OnRecord(r);
    const auto bytes = static_cast<uint32_t>(std::min<uint64_t>(r.size0, UINT32_MAX));
    if (r.kind == scenario::kWorkloadArrivalTraceKind && r.id0 < arrivals.size()) {
      arrivals[r.id0].push_back({r.time.nanoseconds(), bytes});
    } else if (r.kind == kmcl::kKmclSendTraceKind && r.partition != 0) {
      sends[r.id0].push_back({r.time.nanoseconds(), bytes});
    }
  }
  result.recorded = reader->footer();
  result.recorded_figures = recorded_metrics.Channels(result.recorded.channels);

  // The workloads, each replaced by what it issued.
  std::vector<std::string> closed_loop_channels;
  for (const scenario::WorkloadSpec& w : recorded_spec.workloads) {
    if (w.arrival.kind == "closed_loop") closed_loop_channels.push_back(w.channel);
  }
  std::vector<scenario::WorkloadSpec> workloads;
  std::vector<std::vector<scenario::ArrivalSpec::Event>> expected;
  for (size_t i = 0; i < recorded_spec.workloads.size(); ++i) {
    const scenario::WorkloadSpec& w = recorded_spec.workloads[i];
    std::vector<scenario::ArrivalSpec::Event> events;
    if (w.arrival.kind == "closed_loop") {
      for (const TraceChannelInfo& c : result.recorded.channels) {
        if (c.name != w.channel) continue;
        for (const auto& [handle, channel_sends] : sends) {
          const auto relid = recorded_metrics.RelidOf(handle);
          if (!relid.has_value() || relid->first != c.guest ||
              std::find(c.relids.begin(), c.relids.end(), relid->second) == c.relids.end()) {
            continue;
          }
          events.insert(events.end(), channel_sends.begin(), channel_sends.end());
        }
      }
      std::stable_sort(events.begin(), events.end(),
                       [](const auto& a, const auto& b) { return a.time_ns < b.time_ns; });
    } else if (std::find(closed_loop_channels.begin(), closed_loop_channels.end(), w.channel) ==
               closed_loop_channels.end()) {
      events = std::move(arrivals[i]);
    }
    // (An open-loop workload beside a closed loop: its requests are among
    // the channel's sends, which the closed loop's replay carries.)
    if (events.empty()) continue;
    scenario::WorkloadSpec replayed{.channel = w.channel, .requests = events.size()};
    replayed.arrival.kind = "trace";
    replayed.arrival.events = events;
    result.arrivals += events.size();
    workloads.push_back(std::move(replayed));
    expected.push_back(std::move(events));
  }
  absl::StatusOr<std::string> document =
      scenario::WithWorkloads(result.header.scenario_json, workloads);
  if (!document.ok()) return absl::DataLossError(absl::StrCat(reader->path(), ": ", document.status().message()));
  VMBSIM_ASSIGN_OR_RETURN(const scenario::ScenarioSpec spec,
                          LoadRecorded(*reader, drivers, *document, options.overrides));

  TraceMetrics replayed_metrics;
  ArrivalChecker checker(&expected);
  scenario::RunOptions run_options = RunOptionsFor(result.header);
  run_options.sinks = {&replayed_metrics, &checker};
  VMBSIM_ASSIGN_OR_RETURN(result.report, scenario::RunScenario(spec, drivers, run_options));
  result.arrivals_detail = checker.Finish();
  result.arrivals_identical = result.arrivals_detail.empty();
  result.replayed_figures = replayed_metrics.Channels(FooterFor(result.report).channels);
  return result;
}

}  // namespace

bool StreamComparer::Step(const sim::TraceRecord* a, const sim::TraceRecord* b) {
  if (divergence_.has_value()) return false;
  if (a != nullptr && b != nullptr && sim::SameEvent(*a, *b)) {
    ++compared_;
    history_.push_back(*a);
    if (history_.size() > context_) history_.pop_front();
    return true;
  }
  if (a == nullptr && b == nullptr) return true;
  Divergence d;
  d.index = compared_;
  if (a != nullptr) d.a = *a;
  if (b != nullptr) d.b = *b;
  if (a != nullptr && b != nullptr) d.fields = DifferingFields(*a, *b);
  d.before.assign(history_.begin(), history_.end());
  divergence_ = std::move(d);
  return false;
}

absl::StatusOr<ReplayResult> Replay(const std::string& path, const scenario::DriverRegistry& drivers,
                                    const ReplayOptions& options) {
  VMBSIM_ASSIGN_OR_RETURN(std::unique_ptr<TraceReader> reader, TraceReader::Open(path));
  if (options.overrides.empty()) return ExactReplay(std::move(reader), drivers, options);
  return WhatIf(std::move(reader), drivers, options);
}

absl::StatusOr<DiffResult> Diff(const std::string& path_a, const std::string& path_b, size_t context) {
  VMBSIM_ASSIGN_OR_RETURN(std::unique_ptr<TraceReader> a, TraceReader::Open(path_a));
  VMBSIM_ASSIGN_OR_RETURN(std::unique_ptr<TraceReader> b, TraceReader::Open(path_b));
  DiffResult result;
  result.header_a = a->header();
  result.header_b = b->header();
  StreamComparer comparer(context);
  TraceMetrics metrics_a;
  TraceMetrics metrics_b;
  const auto measure = [](TraceMetrics& m, const sim::TraceRecord& r) { m.OnRecord(r); };
  bool more_a = true;
  bool more_b = true;
  sim::TraceRecord ra;
  sim::TraceRecord rb;
  while (more_a || more_b) {
    if (more_a) {
      VMBSIM_ASSIGN_OR_RETURN(more_a, a->Next(&ra));
      if (more_a) measure(metrics_a, ra);
    }
    if (more_b) {
      VMBSIM_ASSIGN_OR_RETURN(more_b, b->Next(&rb));
      if (more_b) measure(metrics_b, rb);
    }
    if (!comparer.divergence().has_value()) comparer.Step(more_a ? &ra : nullptr, more_b ? &rb : nullptr);
  }
  result.footer_a = a->footer();
  result.footer_b = b->footer();
  result.divergence = comparer.divergence();
  result.compared = comparer.compared();
  if (!result.divergence.has_value() && result.footer_a.exit_code != result.footer_b.exit_code) {
    result.divergence = Divergence{.index = comparer.compared(),
                                   .exit_codes = {{result.footer_a.exit_code, result.footer_b.exit_code}}};
  }
  result.figures_a = metrics_a.Channels(result.footer_a.channels);
  result.figures_b = metrics_b.Channels(result.footer_b.channels);
  return result;
}

std::string FormatDivergence(const Divergence& d, const std::string& label_a, const std::string& label_b) {
  std::string out;
  if (d.exit_codes.has_value() && !d.a.has_value() && !d.b.has_value()) {
    return absl::StrCat("every one of the ", d.index, " events is identical, but the runs end differently: exit ",
                        d.exit_codes->first, " (", label_a, ") vs ", d.exit_codes->second, " (", label_b, ")\n");
  }
  const sim::TraceRecord& at = d.a.has_value() ? *d.a : *d.b;
  absl::StrAppend(&out, "first difference at event #", d.index, " (t=", at.time.nanoseconds(), " ns, partition ",
                  at.partition, ", vp ", at.vp, ", channel ", at.channel, ", ", KindName(at.kind), ")\n");
  const size_t width = std::max(label_a.size(), label_b.size());
  const auto side = [&out, width](const std::string& label, const std::optional<sim::TraceRecord>& r) {
    absl::StrAppend(&out, "  ", label, ":", std::string(width - label.size() + 1, ' '),
                    r.has_value() ? FormatText(*r) : std::string("(no more events: the run ended here)"), "\n");
  };
  side(label_a, d.a);
  side(label_b, d.b);
  if (!d.fields.empty()) absl::StrAppend(&out, "  differs: ", absl::StrJoin(d.fields, "; "), "\n");
  if (!d.before.empty()) {
    absl::StrAppend(&out, "  the ", d.before.size(), " events before it, identical in both:\n");
    for (const sim::TraceRecord& r : d.before) absl::StrAppend(&out, "    ", FormatText(r), "\n");
  }
  return out;
}

}  // namespace vmbsim::recording
