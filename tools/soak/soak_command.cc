#include "tools/soak/soak_command.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tools/scenario/loader.h"
#include "tools/scenario/runner.h"
#include "tools/scenario_commands.h"

namespace vmbsim::soak {

const char* const kSoakUsage = R"(soak:
  soak [FILE|NAME] [--events N] [--check-every N] [--stale T] [--seed N] [--set PATH=VALUE]...
       [--csv FILE] [--driver-lib LIB.so]...
                   run a scenario with faults (default soak_100_channels: 100 channels,
                   eight fault kinds) for N events (default 100000000), stopping every
                   --check-every events (default 1000000) to check the exactly-once ledger
                   (nothing finished twice, nothing open longer than --stale, default 1s, that
                   no fault accounts for) and causality, and to sample resident memory and
                   events/s; exit 0 when every check held and memory stayed flat after the
                   first 10 % of the events, 1 otherwise, 2 for invalid input
)";

namespace {

using scenario::kExitExpectationFailed;
using scenario::kExitInternalError;
using scenario::kExitInvalidInput;
using scenario::kExitOk;

int Invalid(const std::string& message) {
  std::fprintf(stderr, "vmbsim: soak: %s\n", message.c_str());
  return kExitInvalidInput;
}

// Resident memory in bytes (Linux /proc/self/statm), or 0 if unknown.
uint64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

struct Sample {
  uint64_t events = 0;
  int64_t simulated_ns = 0;
  double wall_s = 0;
  double events_per_s = 0;  // Since the previous sample.
  uint64_t rss = 0;
  scenario::RunCheckpoint checks;
};

double Mib(uint64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

// Whether resident memory says anything about leaks in this build: under
// AddressSanitizer freed blocks wait in a quarantine (256 MiB by default),
// so memory grows by design and the flatness check would only measure that.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kMemoryJudged = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kMemoryJudged = false;
#else
constexpr bool kMemoryJudged = true;
#endif
#else
constexpr bool kMemoryJudged = true;
#endif

}  // namespace

int SoakCommand(const std::vector<std::string>& args) {
  std::string file = "soak_100_channels";
  bool file_given = false;
  uint64_t events = 100'000'000;
  uint64_t check_every = 1'000'000;
  int64_t stale_ns = 1'000'000'000;
  std::optional<uint64_t> seed;
  std::vector<std::string> overrides;
  std::vector<std::string> libraries;
  std::string csv;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string error;
    auto number = [&](const std::string& flag, const std::string& text, uint64_t min, uint64_t* out) {
      uint64_t v = 0;
      if (!absl::SimpleAtoi(text, &v) || v < min) {
        error = absl::StrCat("--", flag, ": expected an integer >= ", min, ", found '", text, "'");
        return false;
      }
      *out = v;
      return true;
    };
    if (auto v = tools::FlagValue(args, &i, "events", &error)) {
      if (!number("events", *v, 1, &events)) return Invalid(error);
    } else if (auto v = tools::FlagValue(args, &i, "check-every", &error)) {
      if (!number("check-every", *v, 1000, &check_every)) return Invalid(error);
    } else if (auto v = tools::FlagValue(args, &i, "stale", &error)) {
      if (!tools::ParseTimeNs(*v, &stale_ns) || stale_ns <= 0) {
        return Invalid(absl::StrCat("--stale: expected a duration (1500, 12us, 3ms, 1s), found '", *v, "'"));
      }
    } else if (auto v = tools::FlagValue(args, &i, "seed", &error)) {
      uint64_t s = 0;
      if (!number("seed", *v, 0, &s)) return Invalid(error);
      seed = s;
    } else if (auto v = tools::FlagValue(args, &i, "set", &error)) {
      overrides.push_back(*v);
    } else if (auto v = tools::FlagValue(args, &i, "csv", &error)) {
      csv = *v;
    } else if (auto v = tools::FlagValue(args, &i, "driver-lib", &error)) {
      libraries.push_back(*v);
    } else if (!error.empty()) {
      return Invalid(error);
    } else if (args[i].rfind("--", 0) == 0) {
      return Invalid(absl::StrCat("unknown flag '", args[i], "' (see 'vmbsim help')"));
    } else if (!file_given) {
      file = args[i];
      file_given = true;
    } else {
      return Invalid(absl::StrCat("one scenario at a time, found '", args[i], "' after '", file, "'"));
    }
  }
  if (check_every > events) return Invalid("--check-every: more than --events");
  absl::StatusOr<scenario::DriverRegistry> registry = tools::Registry(libraries);
  if (!registry.ok()) return Invalid(std::string(registry.status().message()));
  overrides.push_back(absl::StrCat("stop.events_max=", events));
  // A NAME is a library scenario, or one of the soaks (scenarios/soak/NAME.json).
  std::string path = tools::ResolveScenario(file);
  const std::string soak_path = absl::StrCat(tools::ScenarioDir(), "/soak/", file, ".json");
  if (path == file && !std::filesystem::exists(path) && std::filesystem::exists(soak_path)) path = soak_path;
  absl::StatusOr<scenario::ScenarioSpec> spec = scenario::LoadScenarioFile(path, registry->descriptors(), overrides);
  if (!spec.ok()) {
    std::fprintf(stderr, "vmbsim: %s\n", std::string(spec.status().message()).c_str());
    return kExitInvalidInput;
  }
  if (spec->faults.injections.empty()) return Invalid(absl::StrCat(file, ": a soak needs faults (\"faults.injections\")"));

  std::printf("soak: %s, seed %llu, %llu events, a check every %llu\n", spec->name.c_str(),
              static_cast<unsigned long long>(seed.value_or(spec->seed)), static_cast<unsigned long long>(events),
              static_cast<unsigned long long>(check_every));
  std::printf("%8s %12s %10s %9s %11s %10s %10s %7s %6s %6s %9s %8s\n", "check", "events", "sim_ms", "rss_mib",
              "events/s", "sends", "completed", "failed", "stale", "twice", "causality", "faults");
  std::fflush(stdout);
  std::vector<Sample> samples;
  std::string broken;  // The first invariant that broke.
  const auto start = std::chrono::steady_clock::now();
  double last_wall = 0;
  uint64_t last_events = 0;
  scenario::RunOptions options;
  options.seed = seed;
  options.progress_events = check_every;
  options.checkpoint_stale_ns = stale_ns;
  options.checkpoint = [&](const scenario::RunCheckpoint& c) {
    Sample s;
    s.events = c.events;
    s.simulated_ns = c.simulated_ns;
    s.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    s.events_per_s = s.wall_s > last_wall ? static_cast<double>(c.events - last_events) / (s.wall_s - last_wall) : 0;
    last_wall = s.wall_s;
    last_events = c.events;
    s.rss = ResidentBytes();
    s.checks = c;
    samples.push_back(s);
    std::printf("%8zu %12llu %10.1f %9.1f %11.0f %10llu %10llu %7llu %6llu %6llu %9llu %8llu\n", samples.size(),
                static_cast<unsigned long long>(c.events), static_cast<double>(c.simulated_ns) / 1e6, Mib(s.rss),
                s.events_per_s, static_cast<unsigned long long>(c.sends), static_cast<unsigned long long>(c.completed),
                static_cast<unsigned long long>(c.failed), static_cast<unsigned long long>(c.stale_open),
                static_cast<unsigned long long>(c.finished_twice),
                static_cast<unsigned long long>(c.causality_violations),
                static_cast<unsigned long long>(c.fault_firings));
    std::fflush(stdout);
    if (!broken.empty()) return;
    const std::string at = absl::StrCat(" at check ", samples.size(), " (", c.events, " events)");
    if (!c.ledger) {
      broken = "the run keeps no ledger" + at;
    } else if (c.finished_twice != 0) {
      broken = absl::StrCat(c.finished_twice, " send(s) finished twice", at);
    } else if (c.stale_open != 0) {
      broken = absl::StrCat(c.stale_open, " send(s) open for more than ", stale_ns, " ns that no fault accounts for", at);
    } else if (c.completed + c.failed > c.sends) {
      broken = absl::StrCat("more sends finished (", c.completed + c.failed, ") than sent (", c.sends, ")", at);
    } else if (c.causality_violations != 0) {
      broken = absl::StrCat(c.causality_violations, " causality violation(s)", at);
    }
  };
  absl::StatusOr<scenario::RunReport> report = scenario::RunScenario(*spec, *registry, options);
  if (!report.ok()) {
    std::fprintf(stderr, "vmbsim: soak: %s\n", std::string(report.status().message()).c_str());
    return report.status().code() == absl::StatusCode::kInvalidArgument ? kExitInvalidInput : kExitInternalError;
  }
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // The end of the run: the ledger over the whole run, teardown included.
  if (broken.empty() && report->ledger_checked && !report->ledger.balanced()) {
    broken = absl::StrCat("the ledger does not balance at the end: ", report->ledger.unaccounted, " unaccounted, ",
                          report->ledger.finished_twice, " finished twice");
  }
  if (broken.empty() && report->causality_violations_total != 0) {
    broken = absl::StrCat(report->causality_violations_total, " causality violation(s) at the end");
  }
  // Memory after the warm-up (the first 10 % of the events).
  uint64_t warm_rss = 0;
  for (const Sample& s : samples) {
    if (s.events <= events / 10) warm_rss = std::max(warm_rss, s.rss);
  }
  if (warm_rss == 0 && !samples.empty()) warm_rss = samples.front().rss;
  const uint64_t end_rss = samples.empty() ? ResidentBytes() : samples.back().rss;
  const uint64_t allowance = std::max<uint64_t>(warm_rss / 20, uint64_t{4} << 20);
  const bool flat = kMemoryJudged ? end_rss <= warm_rss + allowance : true;
  if (!csv.empty()) {
    std::ofstream out(csv, std::ios::trunc);
    out << "check,events,simulated_ns,wall_s,events_per_s,rss_bytes,sends,completed,failed,stale_open,"
           "finished_twice,causality_violations,fault_firings\n";
    for (size_t i = 0; i < samples.size(); ++i) {
      const Sample& s = samples[i];
      out << i + 1 << ',' << s.events << ',' << s.simulated_ns << ',' << s.wall_s << ',' << s.events_per_s << ','
          << s.rss << ',' << s.checks.sends << ',' << s.checks.completed << ',' << s.checks.failed << ','
          << s.checks.stale_open << ',' << s.checks.finished_twice << ',' << s.checks.causality_violations << ','
          << s.checks.fault_firings << '\n';
    }
    if (!out) return Invalid(absl::StrCat("--csv: cannot write ", csv));
  }
  std::printf("soak: %llu events in %.1f s of wall time (%.2f M events/s), %.1f ms simulated, %zu checks\n",
              static_cast<unsigned long long>(report->events), wall_s,
              static_cast<double>(report->events) / wall_s / 1e6, static_cast<double>(report->simulated_ns) / 1e6,
              samples.size());
  std::printf("soak: memory %.1f MiB after the warm-up, %.1f MiB at the end (%+.1f %%): %s\n", Mib(warm_rss),
              Mib(end_rss), warm_rss == 0 ? 0.0 : 100.0 * (Mib(end_rss) - Mib(warm_rss)) / Mib(warm_rss),
              !kMemoryJudged ? "not judged (an AddressSanitizer build holds freed memory in its quarantine)"
              : flat         ? "flat"
                             : "GREW");
  if (!broken.empty()) {
    std::printf("soak: FAILED: %s\n", broken.c_str());
    return kExitExpectationFailed;
  }
  if (!flat) {
    std::printf("soak: FAILED: resident memory grew after the warm-up\n");
    return kExitExpectationFailed;
  }
  std::printf("soak: PASSED: the exactly-once ledger and causality held at every check%s\n",
              kMemoryJudged ? "; memory stayed flat" : "");
  return kExitOk;
}

}  // namespace vmbsim::soak
