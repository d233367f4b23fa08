#include "tools/scenario_commands.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tools/recording/recorder.h"
#include "tools/scenario/driver_plugin.h"
#include "tools/scenario/loader.h"
#include "tools/scenario/report.h"
#include "tools/scenario/runner.h"
#include "tools/scenario/timeline.h"
#include "tools/studies/run_html.h"

namespace vmbsim::tools {

const char* const kScenarioCommandsUsage = R"(scenario commands:
  run [FILE|NAME]  run a scenario (default: the library's "hello") and print its report
  check FILE...    validate scenario files only
  list             list the scenario library

run flags:
  --seed N               seed of the run (default: the scenario's)
  --tie-break-seed N     explore another order of same-time events
  --set PATH=VALUE       override a scenario field, e.g. --set channels.0.max_packet_bytes=8192
  --out DIR              write DIR/report.json and DIR/report.csv (created if missing)
  --percentiles LIST     latency percentiles of the report (default 50,90,99,99.9)
  --record FILE          record the run: a trace for `vmbsim trace`, `replay` and `diff`
  --timeline FILE        write a Chrome trace-event / Perfetto timeline (gzip if FILE ends in .gz)
  --html FILE            write the run as one self-contained HTML page (round-trip and batch
                         histograms, VP levels, an activity overview)
  --timeline-from T, --timeline-to T, --timeline-channel RELID
                         only that window (T: 1500, 12us, 3ms, 1s) / channel in the timeline
  --driver-lib LIB.so    load drivers from a shared library (repeatable; also for check)
  --quiet                no summary, only the seed and the exit status

exit codes: 0 success, 1 expectation failed (exactly_once included), 2 invalid input,
            3 unexpected verifier finding, 4 stuck (faults.stuck_ns: no progress with sends
            outstanding that no fault accounts for), 5 a driver from --driver-lib crashed
            (the message names the callback), 70 internal error
)";

namespace {

int Invalid(const std::string& message) {
  std::fprintf(stderr, "vmbsim: %s\n", message.c_str());
  return scenario::kExitInvalidInput;
}

}  // namespace

std::string ScenarioDir() {
  const char* dir = std::getenv("VMBSIM_SCENARIO_DIR");
  return dir != nullptr && *dir != '\0' ? dir : "scenarios";
}

std::string ResolveScenario(const std::string& arg) {
  if (std::filesystem::exists(arg)) return arg;
  if (arg.find('/') == std::string::npos && arg.find(".json") == std::string::npos) {
    const std::string library = absl::StrCat(ScenarioDir(), "/", arg, ".json");
    if (std::filesystem::exists(library)) return library;
  }
  return arg;
}

std::optional<std::string> FlagValue(const std::vector<std::string>& args, size_t* i, const std::string& name,
                                     std::string* error) {
  const std::string flag = "--" + name;
  if (args[*i] == flag) {
    if (*i + 1 >= args.size()) {
      *error = absl::StrCat(flag, ": missing value");
      return std::string();
    }
    return args[++*i];
  }
  if (args[*i].rfind(flag + "=", 0) == 0) return args[*i].substr(flag.size() + 1);
  return std::nullopt;
}

namespace {

// Opens `path` for writing (creating or truncating it), so that a
// destination that cannot be written is found before the run rather than
// after it; the run's output then goes into the open stream. Truncating up
// front also means a failed run never leaves an older run's file behind to be
// mistaken for its own. `flag` names the option in the message.
absl::StatusOr<std::unique_ptr<std::ofstream>> OpenOutput(const std::string& flag, const std::string& path) {
  errno = 0;
  auto out = std::make_unique<std::ofstream>(path, std::ios::binary | std::ios::trunc);
  if (!out->is_open()) {
    const std::string why = errno != 0 ? std::strerror(errno) : "unknown error";
    return absl::InvalidArgumentError(absl::StrCat("run: ", flag, ": cannot write ", path, ": ", why));
  }
  return out;
}

// Writes `text` to `out` (opened by OpenOutput) and closes it.
absl::Status WriteOutput(const std::string& flag, const std::string& path, std::ofstream& out,
                         const std::string& text) {
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.close();
  if (!out) return absl::InvalidArgumentError(absl::StrCat("run: ", flag, ": writing ", path, " failed"));
  return absl::OkStatus();
}

}  // namespace

bool ParseTimeNs(const std::string& text, int64_t* out) {
  static constexpr std::pair<const char*, int64_t> kUnits[] = {{"ns", 1}, {"us", 1000}, {"ms", 1000000}, {"s", 1000000000}};
  std::string digits = text;
  int64_t scale = 1;
  for (const auto& [suffix, ns] : kUnits) {
    const std::string unit = suffix;
    if (digits.size() > unit.size() && digits.compare(digits.size() - unit.size(), unit.size(), unit) == 0) {
      digits.resize(digits.size() - unit.size());
      scale = ns;
      break;
    }
  }
  int64_t value = 0;
  if (!absl::SimpleAtoi(digits, &value) || value < 0 || value > INT64_MAX / scale) return false;
  *out = value * scale;
  return true;
}

absl::StatusOr<scenario::DriverRegistry> Registry(const std::vector<std::string>& libraries) {
  scenario::DriverRegistry registry = scenario::DriverRegistry::WithBuiltins();
  for (const std::string& path : libraries) {
    VMBSIM_RETURN_IF_ERROR(scenario::LoadDriverLibrary(path, &registry));
  }
  return registry;
}

int RunScenarioCommand(const std::vector<std::string>& args) {
  std::optional<std::string> file;
  std::optional<uint64_t> seed;
  std::optional<uint64_t> tie_break_seed;
  std::vector<std::string> overrides;
  std::vector<std::string> libraries;
  std::string out_dir;
  std::string timeline_path;
  std::string html_path;
  std::string record_path;
  int64_t timeline_from_ns = 0;
  int64_t timeline_to_ns = INT64_MAX;
  std::optional<uint32_t> timeline_channel;
  bool quiet = false;
  std::optional<std::vector<double>> percentiles;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string error;
    if (auto v = FlagValue(args, &i, "percentiles", &error)) {
      if (!error.empty()) return Invalid("run: " + error);
      absl::StatusOr<std::vector<double>> parsed = scenario::ParsePercentiles(*v);
      if (!parsed.ok()) return Invalid(absl::StrCat("run: ", parsed.status().message()));
      percentiles = *parsed;
    } else if (auto v = FlagValue(args, &i, "record", &error)) {
      if (!error.empty()) return Invalid("run: " + error);
      record_path = *v;
    } else if (auto v = FlagValue(args, &i, "timeline-from", &error)) {
      if (!error.empty() || !ParseTimeNs(*v, &timeline_from_ns)) {
        return Invalid(absl::StrCat("run: --timeline-from: expected a time such as 1500, 12us or 3ms, got '", *v, "'"));
      }
    } else if (auto v = FlagValue(args, &i, "timeline-to", &error)) {
      if (!error.empty() || !ParseTimeNs(*v, &timeline_to_ns)) {
        return Invalid(absl::StrCat("run: --timeline-to: expected a time such as 1500, 12us or 3ms, got '", *v, "'"));
      }
    } else if (auto v = FlagValue(args, &i, "timeline-channel", &error)) {
      uint32_t relid = 0;
      if (!error.empty() || !absl::SimpleAtoi(*v, &relid)) {
        return Invalid(absl::StrCat("run: --timeline-channel: expected a relid, got '", *v, "'"));
      }
      timeline_channel = relid;
    } else if (auto v = FlagValue(args, &i, "seed", &error)) {
      uint64_t n = 0;
      if (!error.empty() || !absl::SimpleAtoi(*v, &n)) return Invalid(absl::StrCat("run: --seed: expected an integer, got '", *v, "'"));
      seed = n;
    } else if (auto v = FlagValue(args, &i, "tie-break-seed", &error)) {
      uint64_t n = 0;
      if (!error.empty() || !absl::SimpleAtoi(*v, &n)) {
        return Invalid(absl::StrCat("run: --tie-break-seed: expected an integer, got '", *v, "'"));
      }
      tie_break_seed = n;
    } else if (auto v = FlagValue(args, &i, "set", &error)) {
      if (!error.empty()) return Invalid("run: " + error);
      overrides.push_back(*v);
    } else if (auto v = FlagValue(args, &i, "out", &error)) {
      if (!error.empty()) return Invalid("run: " + error);
      out_dir = *v;
    } else if (auto v = FlagValue(args, &i, "timeline", &error)) {
      if (!error.empty()) return Invalid("run: " + error);
      timeline_path = *v;
    } else if (auto v = FlagValue(args, &i, "html", &error)) {
      if (!error.empty()) return Invalid("run: " + error);
      html_path = *v;
    } else if (auto v = FlagValue(args, &i, "driver-lib", &error)) {
      if (!error.empty()) return Invalid("run: " + error);
      libraries.push_back(*v);
    } else if (args[i] == "--quiet") {
      quiet = true;
    } else if (args[i].rfind("--", 0) == 0) {
      return Invalid(absl::StrCat("run: unknown flag '", args[i], "' (see 'vmbsim help')"));
    } else if (!file.has_value()) {
      file = args[i];
    } else {
      return Invalid(absl::StrCat("run: one scenario at a time; got '", *file, "' and '", args[i], "'"));
    }
  }
  const bool timeline_filtered = timeline_from_ns != 0 || timeline_to_ns != INT64_MAX || timeline_channel.has_value();
  if (timeline_filtered && timeline_path.empty()) {
    return Invalid("run: --timeline-from, --timeline-to and --timeline-channel narrow a --timeline; add one");
  }
  if (timeline_from_ns > timeline_to_ns) return Invalid("run: --timeline-from is after --timeline-to");
  const std::string path = ResolveScenario(file.value_or("hello"));
  absl::StatusOr<scenario::DriverRegistry> registry = Registry(libraries);
  if (!registry.ok()) return Invalid(std::string(registry.status().message()));
  absl::StatusOr<scenario::ScenarioSpec> spec = scenario::LoadScenarioFile(path, registry->descriptors(), overrides);
  if (!spec.ok()) return Invalid(std::string(spec.status().message()));

  // Output destinations are checked (opened) before the run.
  std::unique_ptr<std::ofstream> report_file;
  std::unique_ptr<std::ofstream> csv_file;
  const std::string report_path = out_dir + "/report.json";
  const std::string csv_path = out_dir + "/report.csv";
  if (!out_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(out_dir, ec);
    if (ec) return Invalid(absl::StrCat("run: --out: cannot create the directory ", out_dir, ": ", ec.message()));
    absl::StatusOr<std::unique_ptr<std::ofstream>> opened = OpenOutput("--out", report_path);
    if (!opened.ok()) return Invalid(std::string(opened.status().message()));
    report_file = std::move(*opened);
    opened = OpenOutput("--out", csv_path);
    if (!opened.ok()) return Invalid(std::string(opened.status().message()));
    csv_file = std::move(*opened);
  }
  std::unique_ptr<std::ofstream> timeline_file;
  if (!timeline_path.empty()) {
    absl::StatusOr<std::unique_ptr<std::ofstream>> opened = OpenOutput("--timeline", timeline_path);
    if (!opened.ok()) return Invalid(std::string(opened.status().message()));
    timeline_file = std::move(*opened);
  }

  std::unique_ptr<std::ofstream> html_file;
  if (!html_path.empty()) {
    absl::StatusOr<std::unique_ptr<std::ofstream>> opened = OpenOutput("--html", html_path);
    if (!opened.ok()) return Invalid(std::string(opened.status().message()));
    html_file = std::move(*opened);
  }

  scenario::RunOptions options;
  options.seed = seed;
  options.tie_break_seed = tie_break_seed;
  if (percentiles.has_value()) options.percentiles = *percentiles;
  studies::VpActivity activity;
  if (html_file != nullptr) options.sinks.push_back(&activity);
  // The seed comes first, so that any run can be replayed.
  std::printf("seed=%llu\n", static_cast<unsigned long long>(seed.value_or(spec->seed)));
  if (tie_break_seed.has_value() || spec->exploration.tie_break_seed.has_value()) {
    std::printf("tie_break_seed=%llu\n",
                static_cast<unsigned long long>(tie_break_seed.value_or(spec->exploration.tie_break_seed.value_or(0))));
  }
  std::fflush(stdout);
  std::unique_ptr<scenario::TimelineWriter> timeline;
  if (!timeline_path.empty()) {
    timeline = std::make_unique<scenario::TimelineWriter>();
    timeline->set_scenario(spec->name);
    timeline->set_window(timeline_from_ns, timeline_to_ns);
    if (timeline_channel.has_value()) timeline->set_channel(*timeline_channel);
    options.sinks.push_back(timeline.get());
  }
  std::unique_ptr<recording::Recorder> recorder;
  if (!record_path.empty()) {
    std::vector<std::string> command_line = {"vmbsim", "run"};
    command_line.insert(command_line.end(), args.begin(), args.end());
    absl::StatusOr<std::unique_ptr<recording::Recorder>> started =
        recording::Recorder::Start(record_path, *spec, options, command_line, libraries);
    if (!started.ok()) return Invalid(absl::StrCat("run: --record: ", started.status().message()));
    recorder = std::move(*started);
    options.sinks.push_back(recorder->sink());
  }
  if (isatty(STDERR_FILENO)) {
    options.progress = [](int64_t simulated_ns, uint64_t events) {
      std::fprintf(stderr, "\r  %.3f ms simulated, %llu events", static_cast<double>(simulated_ns) / 1e6,
                   static_cast<unsigned long long>(events));
    };
  }
  absl::StatusOr<scenario::RunReport> report = scenario::RunScenario(*spec, *registry, options);
  if (options.progress) std::fprintf(stderr, "\r%60s\r", "");
  // The world could not be built (a driver that failed to start, ...): the
  // message names the place in the scenario, as the loader's do.
  if (!report.ok()) {
    if (recorder != nullptr) recorder->Abandon();
    return Invalid(absl::StrCat(path, ": ", report.status().message()));
  }
  if (recorder != nullptr) {
    const absl::Status finished = recorder->Finish(*report);
    if (!finished.ok()) return Invalid(absl::StrCat("run: --record: ", finished.message()));
  }
  if (!quiet) std::fputs(scenario::ReportSummary(*report).c_str(), stdout);
  if (report_file != nullptr) {
    absl::Status written = WriteOutput("--out", report_path, *report_file, scenario::ReportJson(*report));
    if (written.ok()) written = WriteOutput("--out", csv_path, *csv_file, scenario::ReportCsv(*report));
    if (!written.ok()) return Invalid(std::string(written.message()));
  }
  if (timeline != nullptr) {
    const absl::Status written =
        WriteOutput("--timeline", timeline_path, *timeline_file, timeline->ToFileContents(timeline_path));
    if (!written.ok()) return Invalid(std::string(written.message()));
  }
  const int code = scenario::ExitCodeFor(*report);
  if (html_file != nullptr) {
    const absl::Status written =
        WriteOutput("--html", html_path, *html_file, studies::RenderRunHtml(*report, activity, code));
    if (!written.ok()) return Invalid(std::string(written.message()));
  }
  std::printf("exit=%d\n", code);
  return code;
}

int CheckScenarioCommand(const std::vector<std::string>& args) {
  std::vector<std::string> files;
  std::vector<std::string> libraries;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string error;
    if (auto v = FlagValue(args, &i, "driver-lib", &error)) {
      if (!error.empty()) return Invalid("check: " + error);
      libraries.push_back(*v);
    } else if (args[i].rfind("--", 0) == 0) {
      return Invalid(absl::StrCat("check: unknown flag '", args[i], "'"));
    } else {
      files.push_back(args[i]);
    }
  }
  if (files.empty()) return Invalid("check: name at least one scenario file");
  absl::StatusOr<scenario::DriverRegistry> registry = Registry(libraries);
  if (!registry.ok()) return Invalid(std::string(registry.status().message()));
  int failures = 0;
  for (const std::string& file : files) {
    absl::StatusOr<scenario::ScenarioSpec> spec =
        scenario::LoadScenarioFile(ResolveScenario(file), registry->descriptors());
    if (spec.ok()) {
      std::printf("%s: ok (%s)\n", file.c_str(), spec->name.c_str());
    } else {
      std::fprintf(stderr, "%s\n", std::string(spec.status().message()).c_str());
      ++failures;
    }
  }
  return failures == 0 ? scenario::kExitOk : scenario::kExitInvalidInput;
}

int ListScenariosCommand(const std::vector<std::string>& args) {
  if (!args.empty()) return Invalid("list: takes no arguments");
  const std::string dir = ScenarioDir();
  std::error_code ec;
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() == ".json" && name != "scenario.schema.json") files.push_back(entry.path().string());
  }
  if (ec) return Invalid(absl::StrCat("list: cannot read the scenario library ", dir, ": ", ec.message()));
  std::sort(files.begin(), files.end());
  const scenario::DriverRegistry registry = scenario::DriverRegistry::WithBuiltins();
  for (const std::string& file : files) {
    absl::StatusOr<scenario::ScenarioSpec> spec = scenario::LoadScenarioFile(file, registry.descriptors());
    if (spec.ok()) {
      std::printf("%-28s %s\n", spec->name.c_str(), spec->description.c_str());
    } else {
      std::printf("%-28s (invalid: %s)\n", std::filesystem::path(file).stem().string().c_str(),
                  std::string(spec.status().message()).c_str());
    }
  }
  return scenario::kExitOk;
}

}  // namespace vmbsim::tools
