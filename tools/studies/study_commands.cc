#include "tools/studies/study_commands.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "tools/scenario/loader.h"
#include "tools/scenario/runner.h"
#include "tools/scenario_commands.h"
#include "tools/studies/report_html.h"
#include "tools/studies/results.h"
#include "tools/studies/run_html.h"
#include "tools/studies/study_file.h"
#include "tools/studies/sweep.h"
#include "tools/studies/sweep_plan.h"

namespace vmbsim::studies {

const char* const kStudyCommandsUsage = R"(study commands:
  sweep [SCENARIO] [--study NAME|FILE] --grid PATH=v1,v2,... [--zip PATH=v1,v2,...] --seeds N
                   run the cross product of the grids (zipped settings vary together) x N seeds,
                   in --jobs worker processes; write runs and per-point mean, sd and 95% CI
  merge DIR... --out DIR
                   combine the result directories of `sweep --shard i/n` into the single-machine result
  report DIR -o FILE [--format html|svg] [--chart METRIC] [--x PATH] [--distributions P1,P2,...]
                   an HTML page (SVG charts with 95% bands, and their tables) from a result directory:
                   each metric against each swept axis, the other axes' values as series;
                   --format svg --chart METRIC [--x PATH] draws one chart (x: the first axis);
                   --distributions runs the first seed of each named point again (runs are
                   deterministic) and adds its round-trip and batch-size histograms

sweep flags:
  --study NAME|FILE      grids, seeds and overrides from a study file (scenarios/studies/NAME.json)
  --grid PATH=v1,v2,...  a swept setting (repeatable; values are JSON or strings, as for --set)
  --zip PATH=v1,v2,...   settings varied together, value by value (repeatable; one axis)
  --seeds N              seeds per point (default 5, or the study's)
  --seed N               the first seed (default: the scenario's); point p, seed k runs seed N+k
  --jobs N               runs at once (default: the number of cores)
  --out DIR              result directory (default: sweep)
  --set PATH=VALUE       override at every point (repeatable)
  --driver-lib LIB.so    load drivers from a shared library (repeatable)
  --shard i/n            run only shard i of n (merge the shards with `vmbsim merge`)
  --ci-target X          stop a point once every CI target metric's 95% interval is within X (2% or 0.02)
                         of its mean (at least 3 seeds, at most --seeds)
  --ci-metric NAME       a CI target metric (repeatable; default: every metric)
  --independent-streams  a seed of its own per point instead of common random numbers

exit codes: 0 success, 1 some runs failed (listed with their commands), 2 invalid input, 70 internal error
)";

namespace {

int Invalid(const std::string& command, const std::string& message) {
  std::fprintf(stderr, "vmbsim: %s: %s\n", command.c_str(), message.c_str());
  return scenario::kExitInvalidInput;
}

std::string ReadFile(const std::string& path, bool* ok) {
  std::ifstream in(path, std::ios::binary);
  *ok = static_cast<bool>(in);
  std::ostringstream text;
  if (*ok) text << in.rdbuf();
  return text.str();
}

// ARG if it names a file, else the library's study ARG
// ($VMBSIM_SCENARIO_DIR/studies/ARG.json) if there is one, else ARG.
std::string StudyPath(const std::string& arg) {
  if (std::filesystem::is_regular_file(arg)) return arg;
  const char* dir = std::getenv("VMBSIM_SCENARIO_DIR");
  const std::string library = absl::StrCat(dir != nullptr && *dir != '\0' ? dir : "scenarios", "/studies/", arg, ".json");
  if (arg.find('/') == std::string::npos && std::filesystem::exists(library)) return library;
  return arg;
}

}  // namespace

int SweepCommand(const std::vector<std::string>& args) {
  const std::string cmd = "sweep";
  std::optional<std::string> file;
  std::optional<std::string> study_arg;
  std::vector<Axis> axes;
  std::optional<size_t> zip_axis;
  std::optional<uint64_t> seeds;
  std::optional<uint64_t> seed;
  unsigned jobs = std::max(1u, std::thread::hardware_concurrency());
  std::string out_dir = "sweep";
  std::vector<std::string> overrides;
  std::vector<std::string> libraries;
  std::optional<Shard> shard;
  std::optional<double> ci_target;
  std::vector<std::string> ci_metrics;
  bool independent = false;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string error;
    auto value = [&](const std::string& name) { return tools::FlagValue(args, &i, name, &error); };
    if (auto v = value("study")) {
      if (!error.empty()) return Invalid(cmd, error);
      study_arg = *v;
    } else if (auto v = value("grid")) {
      if (!error.empty()) return Invalid(cmd, error);
      auto parsed = ParseAxisArg("--grid", *v);
      if (!parsed.ok()) return Invalid(cmd, std::string(parsed.status().message()));
      Axis axis;
      axis.paths = {parsed->first};
      for (std::string& value : parsed->second) axis.values.push_back({std::move(value)});
      axes.push_back(std::move(axis));
    } else if (auto v = value("zip")) {
      if (!error.empty()) return Invalid(cmd, error);
      auto parsed = ParseAxisArg("--zip", *v);
      if (!parsed.ok()) return Invalid(cmd, std::string(parsed.status().message()));
      if (!zip_axis.has_value()) {
        zip_axis = axes.size();
        Axis axis;
        axis.zipped = true;
        axis.values.resize(parsed->second.size());
        axes.push_back(std::move(axis));
      }
      Axis& axis = axes[*zip_axis];
      if (axis.values.size() != parsed->second.size()) {
        return Invalid(cmd, absl::StrCat("--zip: ", parsed->first, " has ", parsed->second.size(), " values, ",
                                         axis.paths[0], " has ", axis.values.size(), "; zipped settings need as many"));
      }
      axis.paths.push_back(parsed->first);
      for (size_t k = 0; k < parsed->second.size(); ++k) axis.values[k].push_back(parsed->second[k]);
    } else if (auto v = value("seeds")) {
      uint64_t n = 0;
      if (!error.empty() || !absl::SimpleAtoi(*v, &n) || n < 1 || n > 1'000'000) {
        return Invalid(cmd, absl::StrCat("--seeds: expected an integer in 1..1000000, got '", *v, "'"));
      }
      seeds = n;
    } else if (auto v = value("seed")) {
      uint64_t n = 0;
      if (!error.empty() || !absl::SimpleAtoi(*v, &n)) return Invalid(cmd, absl::StrCat("--seed: expected an integer, got '", *v, "'"));
      seed = n;
    } else if (auto v = value("jobs")) {
      if (!error.empty() || !absl::SimpleAtoi(*v, &jobs) || jobs < 1 || jobs > 1024) {
        return Invalid(cmd, absl::StrCat("--jobs: expected an integer in 1..1024, got '", *v, "'"));
      }
    } else if (auto v = value("out")) {
      if (!error.empty() || v->empty()) return Invalid(cmd, "--out: missing value");
      out_dir = *v;
    } else if (auto v = value("set")) {
      if (!error.empty()) return Invalid(cmd, error);
      overrides.push_back(*v);
    } else if (auto v = value("driver-lib")) {
      if (!error.empty()) return Invalid(cmd, error);
      libraries.push_back(*v);
    } else if (auto v = value("shard")) {
      if (!error.empty()) return Invalid(cmd, error);
      auto parsed = ParseShard(*v);
      if (!parsed.ok()) return Invalid(cmd, std::string(parsed.status().message()));
      shard = *parsed;
    } else if (auto v = value("ci-target")) {
      if (!error.empty()) return Invalid(cmd, error);
      auto parsed = ParseRelative("--ci-target", *v);
      if (!parsed.ok()) return Invalid(cmd, std::string(parsed.status().message()));
      ci_target = *parsed;
    } else if (auto v = value("ci-metric")) {
      if (!error.empty()) return Invalid(cmd, error);
      ci_metrics.push_back(*v);
    } else if (args[i] == "--independent-streams") {
      independent = true;
    } else if (args[i].rfind("--", 0) == 0) {
      return Invalid(cmd, absl::StrCat("unknown flag '", args[i], "' (see 'vmbsim help')"));
    } else if (!file.has_value()) {
      file = args[i];
    } else {
      return Invalid(cmd, absl::StrCat("one scenario at a time; got '", *file, "' and '", args[i], "'"));
    }
  }

  SweepPlan plan;
  std::vector<Axis> study_axes;
  if (study_arg.has_value()) {
    const std::string path = StudyPath(*study_arg);
    absl::StatusOr<StudySpec> study = LoadStudyFile(path);
    if (!study.ok()) return Invalid(cmd, std::string(study.status().message()));
    plan.study = study->name;
    if (!file.has_value()) {
      // A library name, or a path relative to the study file.
      const bool is_path = study->scenario.find('/') != std::string::npos ||
                           study->scenario.find(".json") != std::string::npos;
      file = is_path ? (std::filesystem::path(path).parent_path() / study->scenario).lexically_normal().string()
                     : study->scenario;
    }
    if (!seeds.has_value()) seeds = study->seeds;
    plan.overrides = study->overrides;
    for (const StudyAxisSpec& g : study->grid) {
      Axis axis;
      axis.paths = {g.path};
      for (const std::string& v : g.values) axis.values.push_back({v});
      study_axes.push_back(std::move(axis));
    }
    if (!study->zip.empty() && zip_axis.has_value()) {
      return Invalid(cmd, absl::StrCat("--zip: ", path, " already zips ", study->zip[0].path,
                                       "; give every zipped setting in one place (the study's /zip or --zip)"));
    }
    if (!study->zip.empty()) {
      Axis axis;
      axis.zipped = true;
      axis.values.resize(study->zip[0].values.size());
      for (const StudyAxisSpec& z : study->zip) {
        if (z.values.size() != axis.values.size()) {
          return Invalid(cmd, absl::StrCat(path, ": /zip: every zipped setting needs ", axis.values.size(),
                                           " values; ", z.path, " has ", z.values.size()));
        }
        axis.paths.push_back(z.path);
        for (size_t k = 0; k < z.values.size(); ++k) axis.values[k].push_back(z.values[k]);
      }
      study_axes.push_back(std::move(axis));
    }
    if (!ci_target.has_value() && study->ci_target.has_value()) {
      auto parsed = ParseRelative(absl::StrCat(path, ": /ci_target"), *study->ci_target);
      if (!parsed.ok()) return Invalid(cmd, std::string(parsed.status().message()));
      ci_target = *parsed;
    }
    if (ci_metrics.empty()) ci_metrics = study->ci_metrics;
  }
  if (!file.has_value()) return Invalid(cmd, "missing SCENARIO (or --study)");
  plan.axes = std::move(study_axes);
  for (Axis& a : axes) plan.axes.push_back(std::move(a));
  if (plan.axes.empty()) return Invalid(cmd, "nothing to sweep: give --grid or --zip (or a --study)");
  plan.scenario = *file;
  for (std::string& o : overrides) plan.overrides.push_back(std::move(o));
  plan.driver_libs = libraries;
  plan.seeds = seeds.value_or(5);
  plan.independent_streams = independent;
  plan.ci_target = ci_target;
  plan.ci_metrics = ci_metrics;
  if (!ci_metrics.empty() && !ci_target.has_value()) return Invalid(cmd, "--ci-metric needs --ci-target");
  if (const absl::Status expanded = plan.Expand(); !expanded.ok()) return Invalid(cmd, std::string(expanded.message()));

  absl::StatusOr<scenario::DriverRegistry> registry = tools::Registry(libraries);
  if (!registry.ok()) return Invalid(cmd, std::string(registry.status().message()));
  const std::string path = tools::ResolveScenario(*file);
  // Every point's scenario is loaded (and so validated) before any run.
  std::vector<scenario::ScenarioSpec> specs;
  for (const Point& point : plan.points) {
    std::vector<std::string> all = plan.overrides;
    for (const std::string& o : point.Overrides()) all.push_back(o);
    absl::StatusOr<scenario::ScenarioSpec> spec = scenario::LoadScenarioFile(path, registry->descriptors(), all);
    if (!spec.ok()) {
      return Invalid(cmd, absl::StrCat("point ", point.index, " (", point.Label(), "): ", spec.status().message()));
    }
    specs.push_back(std::move(*spec));
  }
  plan.scenario_name = specs[0].name;
  plan.seed_base = seed.value_or(specs[0].seed);
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) return Invalid(cmd, absl::StrCat("--out: cannot create the directory ", out_dir, ": ", ec.message()));

  SweepOptions options;
  options.jobs = jobs;
  if (shard.has_value()) options.shard = *shard;
  options.progress = stderr;
  options.progress_bar = isatty(STDERR_FILENO) != 0;
  uint64_t in_shard = 0;
  for (size_t p = 0; p < plan.points.size(); ++p) {
    for (uint64_t k = 0; k < plan.seeds; ++k) in_shard += plan.InShard(options.shard, p, k) ? 1 : 0;
  }
  std::printf("sweep %s: %zu point(s) x %llu seed(s) = %llu runs", plan.scenario_name.c_str(), plan.points.size(),
              static_cast<unsigned long long>(plan.seeds), static_cast<unsigned long long>(plan.runs()));
  if (shard.has_value()) {
    std::printf("; shard %llu/%llu: %llu runs", static_cast<unsigned long long>(shard->index),
                static_cast<unsigned long long>(shard->count), static_cast<unsigned long long>(in_shard));
  }
  std::printf("\n");
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<ResultSet> results = RunSweep(plan, specs, *registry, options);
  if (!results.ok()) {
    std::fprintf(stderr, "vmbsim: sweep: %s\n", std::string(results.status().message()).c_str());
    return scenario::kExitInternalError;
  }
  if (const absl::Status written = WriteResults(out_dir, *results); !written.ok()) {
    return Invalid(cmd, absl::StrCat("--out: ", written.message()));
  }
  const std::string shard_file = out_dir + "/shard.txt";
  if (shard.has_value()) {
    std::ofstream s(shard_file, std::ios::trunc);
    s << "shard " << shard->index << "/" << shard->count << "\n";
    if (!s) return Invalid(cmd, "--out: cannot write " + shard_file);
  } else {
    std::filesystem::remove(shard_file, ec);
  }
  // Per point: seeds used, failures with their commands.
  std::vector<uint64_t> used(plan.points.size()), failed(plan.points.size());
  for (const RunRow& row : results->rows) {
    ++used[row.point];
    if (!row.ok()) ++failed[row.point];
  }
  uint64_t failures = 0;
  for (const Point& point : plan.points) {
    if (used[point.index] == 0) continue;
    std::printf("  point %zu (%s): %llu run(s), %llu failed\n", point.index, point.Label().c_str(),
                static_cast<unsigned long long>(used[point.index]), static_cast<unsigned long long>(failed[point.index]));
    failures += failed[point.index];
  }
  for (const RunRow& row : results->rows) {
    if (!row.ok()) std::printf("  FAILED point %zu seed %llu: exit %s: %s\n", row.point,
                               static_cast<unsigned long long>(row.seed), row.exit.c_str(), row.command.c_str());
  }
  std::printf("wrote %s/{plan.txt,runs.csv,runs.json,points.csv,points.json}\n", out_dir.c_str());
  // Timing goes to stderr, apart from the results (which never hold it).
  double runs_own = 0;
  for (const RunRow& row : results->rows) runs_own += row.wall_seconds;
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "sweep: %zu runs in %.2f s wall at --jobs %u (%.1f runs/s); the runs' own time %.2f s\n",
               results->rows.size(), wall, jobs, wall > 0 ? static_cast<double>(results->rows.size()) / wall : 0.0,
               runs_own);
  std::printf("exit=%d\n", failures == 0 ? 0 : 1);
  return failures == 0 ? scenario::kExitOk : scenario::kExitExpectationFailed;
}

int MergeCommand(const std::vector<std::string>& args) {
  const std::string cmd = "merge";
  std::vector<std::string> dirs;
  std::string out_dir;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string error;
    if (auto v = tools::FlagValue(args, &i, "out", &error)) {
      if (!error.empty() || v->empty()) return Invalid(cmd, "--out: missing value");
      out_dir = *v;
    } else if (args[i].rfind("--", 0) == 0) {
      return Invalid(cmd, absl::StrCat("unknown flag '", args[i], "'"));
    } else {
      dirs.push_back(args[i]);
    }
  }
  if (dirs.empty()) return Invalid(cmd, "name the shard result directories");
  if (out_dir.empty()) return Invalid(cmd, "missing --out DIR");
  std::string plan_text;
  std::optional<uint64_t> shard_count;
  std::set<uint64_t> shards_seen;
  ResultSet merged;
  for (const std::string& dir : dirs) {
    bool ok = false;
    const std::string plan = ReadFile(dir + "/plan.txt", &ok);
    if (!ok) return Invalid(cmd, absl::StrCat(dir, "/plan.txt: cannot read (not a sweep result directory?)"));
    if (plan_text.empty()) {
      plan_text = plan;
    } else if (plan != plan_text) {
      return Invalid(cmd, absl::StrCat(dir, "/plan.txt: another sweep's plan than ", dirs[0], "/plan.txt"));
    }
    const std::string shard_text = ReadFile(dir + "/shard.txt", &ok);
    Shard shard;
    if (ok) {
      std::string line = shard_text;
      while (!line.empty() && line.back() == '\n') line.pop_back();
      auto parsed = line.rfind("shard ", 0) == 0 ? ParseShard(line.substr(6))
                                                 : absl::StatusOr<Shard>(absl::InvalidArgumentError("expected 'shard i/n'"));
      if (!parsed.ok()) return Invalid(cmd, absl::StrCat(dir, "/shard.txt: ", parsed.status().message()));
      shard = *parsed;
    }
    if (shard_count.has_value() && *shard_count != shard.count) {
      return Invalid(cmd, absl::StrCat(dir, ": shard of ", shard.count, ", others are of ", *shard_count));
    }
    shard_count = shard.count;
    if (!shards_seen.insert(shard.index).second) return Invalid(cmd, absl::StrCat(dir, ": shard ", shard.index, " given twice"));
    const std::string csv = ReadFile(dir + "/runs.csv", &ok);
    if (!ok) return Invalid(cmd, absl::StrCat(dir, "/runs.csv: cannot read"));
    size_t settings = 0;
    for (absl::string_view line : absl::StrSplit(plan, '\n')) {
      if (line.rfind("grid ", 0) == 0 || line.rfind("zip ", 0) == 0) ++settings;
    }
    absl::StatusOr<ResultSet> part = ParseRunsCsv(csv, dir + "/runs.csv", settings);
    if (!part.ok()) return Invalid(cmd, std::string(part.status().message()));
    if (merged.setting_paths.empty()) merged.setting_paths = part->setting_paths;
    for (size_t p = 0; p < part->point_settings.size(); ++p) {
      if (part->point_settings[p].empty()) continue;
      if (merged.point_settings.size() <= p) merged.point_settings.resize(p + 1);
      merged.point_settings[p] = part->point_settings[p];
    }
    for (RunRow& row : part->rows) merged.rows.push_back(std::move(row));
  }
  if (shards_seen.size() != *shard_count) {
    std::vector<std::string> missing;
    for (uint64_t s = 0; s < *shard_count; ++s) {
      if (shards_seen.count(s) == 0) missing.push_back(absl::StrCat(s));
    }
    return Invalid(cmd, absl::StrCat("missing shard(s) ", absl::StrJoin(missing, ", "), " of ", *shard_count));
  }
  uint64_t points = 0;
  uint64_t runs = 0;
  uint64_t seeds = 0;
  if (!absl::SimpleAtoi(PlanValue(plan_text, "points"), &points) || !absl::SimpleAtoi(PlanValue(plan_text, "runs"), &runs) ||
      !absl::SimpleAtoi(PlanValue(plan_text, "seeds"), &seeds)) {
    return Invalid(cmd, absl::StrCat(dirs[0], "/plan.txt: no points, runs or seeds line"));
  }
  std::sort(merged.rows.begin(), merged.rows.end(), [](const RunRow& a, const RunRow& b) {
    return std::tie(a.point, a.seed_index) < std::tie(b.point, b.seed_index);
  });
  for (size_t i = 0; i < merged.rows.size(); ++i) {
    const RunRow& row = merged.rows[i];
    if (row.point >= points || row.seed_index >= seeds) {
      return Invalid(cmd, absl::StrCat("a run of point ", row.point, " seed index ", row.seed_index, " is outside the plan"));
    }
    if (i > 0 && merged.rows[i - 1].point == row.point && merged.rows[i - 1].seed_index == row.seed_index) {
      return Invalid(cmd, absl::StrCat("point ", row.point, " seed index ", row.seed_index, " appears twice"));
    }
  }
  merged.point_settings.resize(points);
  for (uint64_t p = 0; p < points; ++p) {
    if (merged.point_settings[p].size() != merged.setting_paths.size()) {
      return Invalid(cmd, absl::StrCat("no run of point ", p, " in the shards"));
    }
  }
  const bool adaptive = !PlanValue(plan_text, "ci_target").empty();
  if (!adaptive && merged.rows.size() != runs) {
    return Invalid(cmd, absl::StrCat("the shards hold ", merged.rows.size(), " runs; the plan has ", runs));
  }
  merged.plan_text = plan_text;
  if (const absl::Status written = WriteResults(out_dir, merged); !written.ok()) {
    return Invalid(cmd, absl::StrCat("--out: ", written.message()));
  }
  std::printf("merged %zu shard(s): %zu runs of %llu points into %s\n", dirs.size(), merged.rows.size(),
              static_cast<unsigned long long>(points), out_dir.c_str());
  return scenario::kExitOk;
}

// Point `point` of a sweep run again at its first seed that ran clean, with
// the plan's overrides and the point's settings, as its rows' commands say:
// the run is the same (deterministic), so its distributions are the ones
// the sweep measured. Drivers from libraries are not loaded.
absl::StatusOr<ReportLayout::Distribution> PointDistribution(const ResultSet& results, uint64_t point) {
  if (point >= results.point_settings.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("point ", point, " is not in the results (points 0..", results.point_settings.size() - 1, ")"));
  }
  const RunRow* row = nullptr;
  for (const RunRow& r : results.rows) {
    if (r.point == point && r.ok() && (row == nullptr || r.seed_index < row->seed_index)) row = &r;
  }
  if (row == nullptr) return absl::InvalidArgumentError(absl::StrCat("point ", point, " has no run that ended with exit 0"));
  std::vector<std::string> overrides;
  for (absl::string_view line : absl::StrSplit(results.plan_text, '\n')) {
    if (absl::StartsWith(line, "set ")) overrides.emplace_back(line.substr(4));
  }
  std::vector<std::string> label;
  for (size_t i = 0; i < results.setting_paths.size(); ++i) {
    const std::string setting = absl::StrCat(results.setting_paths[i], "=", results.point_settings[point][i]);
    overrides.push_back(setting);
    label.push_back(setting);
  }
  const scenario::DriverRegistry registry = scenario::DriverRegistry::WithBuiltins();
  const std::string path = tools::ResolveScenario(PlanValue(results.plan_text, "scenario"));
  absl::StatusOr<scenario::ScenarioSpec> spec = scenario::LoadScenarioFile(path, registry.descriptors(), overrides);
  if (!spec.ok()) return spec.status();
  scenario::RunOptions options;
  options.seed = row->seed;
  absl::StatusOr<scenario::RunReport> report = scenario::RunScenario(*spec, registry, options);
  if (!report.ok()) return report.status();
  return ReportLayout::Distribution{
      .title = absl::StrCat("point ", point, " (", absl::StrJoin(label, ", "), "), seed ", row->seed),
      .html = ChannelDistributionsHtml(*report, 4)};
}

int ReportCommand(const std::vector<std::string>& args) {
  const std::string cmd = "report";
  std::optional<std::string> dir;
  std::string out;
  std::string format = "html";
  std::vector<std::string> charts;
  std::string x_path;
  std::vector<uint64_t> distributions;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string error;
    if (auto v = tools::FlagValue(args, &i, "distributions", &error)) {
      for (absl::string_view part : absl::StrSplit(*v, ',')) {
        uint64_t point = 0;
        if (!error.empty() || !absl::SimpleAtoi(part, &point)) {
          return Invalid(cmd, absl::StrCat("--distributions: expected point numbers such as 0,4, got '", *v, "'"));
        }
        distributions.push_back(point);
      }
    } else if (auto v = tools::FlagValue(args, &i, "o", &error)) {
      if (!error.empty() || v->empty()) return Invalid(cmd, "-o: missing value");
      out = *v;
    } else if (args[i] == "-o") {
      if (i + 1 >= args.size()) return Invalid(cmd, "-o: missing value");
      out = args[++i];
    } else if (auto v = tools::FlagValue(args, &i, "format", &error)) {
      if (!error.empty() || (*v != "html" && *v != "svg")) {
        return Invalid(cmd, absl::StrCat("--format: expected html or svg, got '", *v, "'"));
      }
      format = *v;
    } else if (auto v = tools::FlagValue(args, &i, "chart", &error)) {
      if (!error.empty()) return Invalid(cmd, error);
      charts.push_back(*v);
    } else if (auto v = tools::FlagValue(args, &i, "x", &error)) {
      if (!error.empty() || v->empty()) return Invalid(cmd, "--x: missing value");
      x_path = *v;
    } else if (args[i].rfind("-", 0) == 0) {
      return Invalid(cmd, absl::StrCat("unknown flag '", args[i], "'"));
    } else if (!dir.has_value()) {
      dir = args[i];
    } else {
      return Invalid(cmd, absl::StrCat("one result directory at a time; got '", *dir, "' and '", args[i], "'"));
    }
  }
  if (!dir.has_value()) return Invalid(cmd, "name a sweep result directory");
  if (out.empty()) return Invalid(cmd, "missing -o FILE");
  if (format == "svg" && charts.size() != 1) return Invalid(cmd, "--format svg draws one chart: give one --chart METRIC");
  if (format != "svg" && !x_path.empty()) return Invalid(cmd, "--x chooses the x axis of --format svg; a page has every axis");
  bool ok = false;
  const std::string plan = ReadFile(*dir + "/plan.txt", &ok);
  if (!ok) return Invalid(cmd, absl::StrCat(*dir, "/plan.txt: cannot read (not a sweep result directory?)"));
  const std::string csv = ReadFile(*dir + "/runs.csv", &ok);
  if (!ok) return Invalid(cmd, absl::StrCat(*dir, "/runs.csv: cannot read"));
  size_t settings = 0;
  for (absl::string_view line : absl::StrSplit(plan, '\n')) {
    if (line.rfind("grid ", 0) == 0 || line.rfind("zip ", 0) == 0) ++settings;
  }
  absl::StatusOr<ResultSet> results = ParseRunsCsv(csv, *dir + "/runs.csv", settings);
  if (!results.ok()) return Invalid(cmd, std::string(results.status().message()));
  results->plan_text = plan;
  ReportLayout layout;
  // The study's charts, knees and spread, when the sweep came from a library study.
  const std::string study = PlanValue(plan, "study");
  if (!study.empty()) {
    absl::StatusOr<StudySpec> spec = LoadStudyFile(StudyPath(study));
    if (spec.ok()) {
      if (charts.empty()) charts = spec->charts;
      layout.knees = spec->knees;
      layout.spread = spec->spread;
      if (distributions.empty()) distributions = spec->distributions;
    }
  }
  layout.charts = charts;
  for (uint64_t point : distributions) {
    absl::StatusOr<ReportLayout::Distribution> d = PointDistribution(*results, point);
    if (!d.ok()) return Invalid(cmd, absl::StrCat("--distributions: ", d.status().message()));
    layout.distributions.push_back(std::move(*d));
  }
  absl::StatusOr<std::string> text =
      format == "svg" ? RenderChartSvg(*results, charts[0], x_path) : RenderReportHtml(*results, layout);
  if (!text.ok()) return Invalid(cmd, std::string(text.status().message()));
  std::ofstream file(out, std::ios::binary | std::ios::trunc);
  file << *text;
  file.close();
  if (!file) return Invalid(cmd, "-o: cannot write " + out);
  std::printf("wrote %s\n", out.c_str());
  return scenario::kExitOk;
}

}  // namespace vmbsim::studies
