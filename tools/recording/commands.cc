#include "tools/recording/commands.h"

#include <cstdio>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "tools/recording/event_text.h"
#include "tools/recording/replay.h"
#include "tools/recording/trace_file.h"
#include "tools/scenario/runner.h"
#include "tools/scenario/timeline.h"
#include "tools/scenario_commands.h"

namespace vmbsim::recording {

const char* const kRecordingCommandsUsage = R"(record and replay commands (`run --record FILE` writes a trace):
  trace FILE       print a trace's events as text (or --json lines), filtered
  replay FILE      re-run a trace's scenario and seeds and compare event by event;
                   with --set, a what-if replay of the recorded arrivals
  diff A B         compare two traces: the first difference, then the figures side by side

trace flags:
  --json                 JSON lines instead of text
  --from T, --to T       only events in this simulated-time window (T: 1500, 12us, 3ms, 1s)
  --channel RELID        only events of this channel (and, in a timeline, the VPs' work)
  --vp N, --partition P  only events on this VP / partition
  --kind K[,K...]        only these kinds (names as printed, e.g. ring_write, or numbers)
  --limit N              at most N events
  --timeline OUT         write a Chrome trace-event / Perfetto timeline of the window instead
                         (gzip if OUT ends in .gz)

replay flags:
  --set PATH=VALUE       what-if: change the world (not the workloads) and keep the arrivals
  --driver-lib LIB.so    a driver library the scenario needs (besides those the trace names)
  --context N            events shown before the first difference (default 5)

exit codes: 0 identical / printed, 2 invalid input or damaged trace, 5 the runs differ,
            70 internal error
)";

namespace {

int Invalid(const std::string& message) {
  std::fprintf(stderr, "vmbsim: %s\n", message.c_str());
  return scenario::kExitInvalidInput;
}

bool ParseCount(const std::string& text, uint64_t* out) { return absl::SimpleAtoi(text, out); }

}  // namespace

int TraceCommand(const std::vector<std::string>& args) {
  std::optional<std::string> file;
  bool json = false;
  int64_t from_ns = 0;
  int64_t to_ns = INT64_MAX;
  std::optional<uint32_t> channel;
  std::optional<uint32_t> vp;
  std::optional<uint32_t> partition;
  std::set<uint16_t> kinds;
  std::optional<uint64_t> limit;
  std::string timeline_path;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string error;
    const auto bad = [](const std::string& flag, const std::string& value, const std::string& expected) {
      return Invalid(absl::StrCat("trace: ", flag, ": expected ", expected, ", got '", value, "'"));
    };
    if (args[i] == "--json") {
      json = true;
    } else if (auto v = tools::FlagValue(args, &i, "from", &error)) {
      if (!error.empty() || !tools::ParseTimeNs(*v, &from_ns)) return bad("--from", *v, "a time such as 1500, 12us or 3ms");
    } else if (auto v = tools::FlagValue(args, &i, "to", &error)) {
      if (!error.empty() || !tools::ParseTimeNs(*v, &to_ns)) return bad("--to", *v, "a time such as 1500, 12us or 3ms");
    } else if (auto v = tools::FlagValue(args, &i, "channel", &error)) {
      uint32_t n = 0;
      if (!error.empty() || !absl::SimpleAtoi(*v, &n)) return bad("--channel", *v, "a relid");
      channel = n;
    } else if (auto v = tools::FlagValue(args, &i, "vp", &error)) {
      uint32_t n = 0;
      if (!error.empty() || !absl::SimpleAtoi(*v, &n)) return bad("--vp", *v, "a VP index");
      vp = n;
    } else if (auto v = tools::FlagValue(args, &i, "partition", &error)) {
      uint32_t n = 0;
      if (!error.empty() || !absl::SimpleAtoi(*v, &n)) return bad("--partition", *v, "a partition (0: root)");
      partition = n;
    } else if (auto v = tools::FlagValue(args, &i, "kind", &error)) {
      if (!error.empty()) return Invalid("trace: " + error);
      for (absl::string_view name : absl::StrSplit(*v, ',')) {
        const std::optional<uint16_t> kind = ParseKind(name);
        if (!kind.has_value()) {
          return Invalid(absl::StrCat("trace: --kind: unknown kind '", name,
                                      "' (names as `vmbsim trace` prints them, e.g. ring_write, or numbers)"));
        }
        kinds.insert(*kind);
      }
    } else if (auto v = tools::FlagValue(args, &i, "limit", &error)) {
      uint64_t n = 0;
      if (!error.empty() || !ParseCount(*v, &n)) return bad("--limit", *v, "a count");
      limit = n;
    } else if (auto v = tools::FlagValue(args, &i, "timeline", &error)) {
      if (!error.empty()) return Invalid("trace: " + error);
      timeline_path = *v;
    } else if (args[i].rfind("--", 0) == 0) {
      return Invalid(absl::StrCat("trace: unknown flag '", args[i], "' (see 'vmbsim help')"));
    } else if (!file.has_value()) {
      file = args[i];
    } else {
      return Invalid(absl::StrCat("trace: one trace at a time; got '", *file, "' and '", args[i], "'"));
    }
  }
  if (!file.has_value()) return Invalid("trace: name a trace file");
  if (from_ns > to_ns) return Invalid("trace: --from is after --to");
  absl::StatusOr<std::unique_ptr<TraceReader>> reader = TraceReader::Open(*file);
  if (!reader.ok()) return Invalid(std::string(reader.status().message()));
  const TraceHeaderInfo& header = (*reader)->header();
  std::unique_ptr<scenario::TimelineWriter> timeline;
  if (!timeline_path.empty()) {
    timeline = std::make_unique<scenario::TimelineWriter>();
    timeline->set_window(from_ns, to_ns);
    if (channel.has_value()) timeline->set_channel(*channel);
  } else if (!json) {
    std::printf("# trace %s: vmbsim %s, seed %llu%s\n", file->c_str(), header.vmbsim_version.c_str(),
                static_cast<unsigned long long>(header.seed),
                header.tie_break_seed.has_value()
                    ? absl::StrCat(", tie-break seed ", *header.tie_break_seed).c_str()
                    : "");
  }
  uint64_t printed = 0;
  sim::TraceRecord r;
  for (;;) {
    absl::StatusOr<bool> more = (*reader)->Next(&r);
    if (!more.ok()) {
      std::fflush(stdout);
      return Invalid(std::string(more.status().message()));
    }
    if (!*more) break;
    if (timeline != nullptr) {
      timeline->OnRecord(r);
      continue;
    }
    if (limit.has_value() && printed >= *limit) continue;  // Read on: the footer is checked.
    const int64_t t = r.time.nanoseconds();
    if (t < from_ns || t > to_ns) continue;
    if (channel.has_value() && r.channel != *channel) continue;
    if (vp.has_value() && r.vp != *vp) continue;
    if (partition.has_value() && r.partition != *partition) continue;
    if (!kinds.empty() && !kinds.contains(r.kind)) continue;
    const std::string line = json ? FormatJson(r) : FormatText(r);
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
    ++printed;
  }
  const TraceFooterInfo& footer = (*reader)->footer();
  if (timeline != nullptr) {
    const absl::Status written = timeline->WriteFile(timeline_path);
    if (!written.ok()) return Invalid(absl::StrCat("trace: --timeline: ", written.message()));
    std::printf("timeline: %s (%llu events%s)\n", timeline_path.c_str(),
                static_cast<unsigned long long>(timeline->event_count()), timeline->truncated() ? ", truncated" : "");
  } else if (!json) {
    std::printf("# %llu of %llu events shown; fingerprint %016llx, exit %d\n",
                static_cast<unsigned long long>(printed), static_cast<unsigned long long>(footer.event_count),
                static_cast<unsigned long long>(footer.fingerprint), footer.exit_code);
  }
  return scenario::kExitOk;
}

namespace {

std::string SeedText(const TraceHeaderInfo& h) {
  return absl::StrCat("seed ", h.seed,
                      h.tie_break_seed.has_value() ? absl::StrCat(", tie-break seed ", *h.tie_break_seed) : "");
}

}  // namespace

int ReplayCommand(const std::vector<std::string>& args) {
  std::optional<std::string> file;
  ReplayOptions options;
  std::vector<std::string> libraries;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string error;
    if (auto v = tools::FlagValue(args, &i, "set", &error)) {
      if (!error.empty()) return Invalid("replay: " + error);
      options.overrides.push_back(*v);
    } else if (auto v = tools::FlagValue(args, &i, "driver-lib", &error)) {
      if (!error.empty()) return Invalid("replay: " + error);
      libraries.push_back(*v);
    } else if (auto v = tools::FlagValue(args, &i, "context", &error)) {
      uint64_t n = 0;
      if (!error.empty() || !ParseCount(*v, &n) || n > 1000) {
        return Invalid(absl::StrCat("replay: --context: expected a count in 0..1000, got '", *v, "'"));
      }
      options.context = n;
    } else if (args[i].rfind("--", 0) == 0) {
      return Invalid(absl::StrCat("replay: unknown flag '", args[i], "' (see 'vmbsim help')"));
    } else if (!file.has_value()) {
      file = args[i];
    } else {
      return Invalid(absl::StrCat("replay: one trace at a time; got '", *file, "' and '", args[i], "'"));
    }
  }
  if (!file.has_value()) return Invalid("replay: name a trace file");
  // The drivers: the libraries the recording loaded, then the command line's.
  absl::StatusOr<std::unique_ptr<TraceReader>> peek = TraceReader::Open(*file);
  if (!peek.ok()) return Invalid(std::string(peek.status().message()));
  std::vector<std::string> all_libraries = (*peek)->header().driver_libraries;
  all_libraries.insert(all_libraries.end(), libraries.begin(), libraries.end());
  peek->reset();
  absl::StatusOr<scenario::DriverRegistry> registry = tools::Registry(all_libraries);
  if (!registry.ok()) return Invalid(absl::StrCat("replay: ", registry.status().message()));

  absl::StatusOr<ReplayResult> result = Replay(*file, *registry, options);
  if (!result.ok()) return Invalid(std::string(result.status().message()));
  const ReplayResult& r = *result;
  if (options.overrides.empty()) {
    if (r.divergence.has_value()) {
      std::printf("replay %s: DIVERGED (%s)\n%s", file->c_str(), SeedText(r.header).c_str(),
                  FormatDivergence(*r.divergence, "recorded", "replayed").c_str());
      return kExitDiverged;
    }
    std::printf("replay %s: identical: %llu events, fingerprint %016llx, exit %d (%s)\n", file->c_str(),
                static_cast<unsigned long long>(r.recorded.event_count),
                static_cast<unsigned long long>(r.recorded.fingerprint), r.recorded.exit_code,
                SeedText(r.header).c_str());
    return scenario::kExitOk;
  }
  std::printf("what-if replay %s (%s): %llu recorded arrivals kept, with", file->c_str(), SeedText(r.header).c_str(),
              static_cast<unsigned long long>(r.arrivals));
  for (const std::string& o : options.overrides) std::printf(" --set %s", o.c_str());
  std::printf("\narrivals: %s\n", r.arrivals_identical ? "identical to the recording"
                                                      : absl::StrCat("DIFFERENT: ", r.arrivals_detail).c_str());
  std::fputs(CompareFigures(r.recorded_figures, r.replayed_figures, "recorded", "what-if").c_str(), stdout);
  std::printf("exit: %d recorded, %d what-if\n", r.recorded.exit_code, scenario::ExitCodeFor(r.report));
  // The arrivals were replayed: a what-if run differs by design, and that
  // is not an error.
  return r.arrivals_identical ? scenario::kExitOk : scenario::kExitInternalError;
}

int DiffCommand(const std::vector<std::string>& args) {
  std::vector<std::string> files;
  size_t context = 5;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string error;
    if (auto v = tools::FlagValue(args, &i, "context", &error)) {
      uint64_t n = 0;
      if (!error.empty() || !ParseCount(*v, &n) || n > 1000) {
        return Invalid(absl::StrCat("diff: --context: expected a count in 0..1000, got '", *v, "'"));
      }
      context = n;
    } else if (args[i].rfind("--", 0) == 0) {
      return Invalid(absl::StrCat("diff: unknown flag '", args[i], "' (see 'vmbsim help')"));
    } else {
      files.push_back(args[i]);
    }
  }
  if (files.size() != 2) return Invalid("diff: name two trace files");
  absl::StatusOr<DiffResult> result = Diff(files[0], files[1], context);
  if (!result.ok()) return Invalid(std::string(result.status().message()));
  const DiffResult& d = *result;
  const std::string a = "A", b = "B";
  std::printf("A: %s (%s, %llu events)\nB: %s (%s, %llu events)\n", files[0].c_str(), SeedText(d.header_a).c_str(),
              static_cast<unsigned long long>(d.footer_a.event_count), files[1].c_str(),
              SeedText(d.header_b).c_str(), static_cast<unsigned long long>(d.footer_b.event_count));
  if (d.header_a.scenario_json != d.header_b.scenario_json) std::printf("the scenarios differ\n");
  if (!d.divergence.has_value()) {
    std::printf("identical: %llu events, fingerprint %016llx\n", static_cast<unsigned long long>(d.compared),
                static_cast<unsigned long long>(d.footer_a.fingerprint));
    return scenario::kExitOk;
  }
  std::fputs(FormatDivergence(*d.divergence, a, b).c_str(), stdout);
  std::fputs(CompareFigures(d.figures_a, d.figures_b, a, b).c_str(), stdout);
  return kExitDiverged;
}

}  // namespace vmbsim::recording
