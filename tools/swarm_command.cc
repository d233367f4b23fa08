#include "tools/swarm_command.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tools/faults/scenario_json.h"
#include "tools/faults/swarm.h"
#include "tools/fork_pool.h"
#include "tools/scenario/loader.h"
#include "tools/scenario/report.h"
#include "tools/scenario/runner.h"
#include "tools/scenario/shell_quote.h"
#include "tools/scenario_commands.h"

namespace vmbsim::tools {

using scenario::ShellQuote;

const char* const kSwarmUsage = R"(swarm and shrink:
  swarm SCENARIO... --seeds A..B [--jobs N] [--out DIR] [--set PATH=VALUE]... [--driver-lib LIB.so]...
                   run each scenario's swarm variant for every seed in A..B (random faults, parameters
                   and tie-break seed; liveness on), group failures by signature with the seeds and the
                   commands that reproduce them (with the run's --set and --driver-lib flags); --out
                   writes DIR/swarm.json and one replayable scenario per failure group; exit 0 no
                   failure, 1 failures, 2 invalid input
  shrink SCENARIO --seed S [--tie-break-seed T] [--as-is] [--out FILE] [--set PATH=VALUE]... [--driver-lib LIB.so]...
                   shrink the failing swarm variant of SCENARIO for seed S (--as-is: SCENARIO itself
                   with seed S) keeping its failure signature; write the smallest failing scenario
                   (seeds pinned) to FILE and replay it; exit 0 when it fails alone, 1 when not, 2 invalid
)";

namespace {

int Invalid(const char* command, const std::string& message) {
  std::fprintf(stderr, "vmbsim: %s: %s\n", command, message.c_str());
  return scenario::kExitInvalidInput;
}

std::string JsonString(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out + "\"";
}

// " --set 'P=V'... --driver-lib 'L'...": the flags a command that
// reproduces a run needs, quoted for a shell.
std::string ReproduceFlags(const std::vector<std::string>& overrides, const std::vector<std::string>& libraries) {
  std::string out;
  for (const std::string& o : overrides) absl::StrAppend(&out, " --set ", ShellQuote(o));
  for (const std::string& l : libraries) absl::StrAppend(&out, " --driver-lib ", ShellQuote(l));
  return out;
}

struct Loaded {
  std::string arg;   // As given on the command line.
  scenario::ScenarioSpec spec;
};

}  // namespace

int SwarmCommand(const std::vector<std::string>& args) {
  std::vector<std::string> files;
  std::optional<std::pair<uint64_t, uint64_t>> range;
  unsigned jobs = std::max(1u, std::thread::hardware_concurrency());
  std::optional<std::string> out_dir;
  std::vector<std::string> overrides;
  std::vector<std::string> libraries;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    std::string error;
    auto value = [&](const std::string& name) { return FlagValue(args, &i, name, &error); };
    if (auto v = value("seeds")) {
      if (!error.empty()) return Invalid("swarm", error);
      range = ParseSeedRange(*v, 10'000'000);
      if (!range.has_value()) {
        return Invalid("swarm", absl::StrCat("--seeds: expected A..B with A <= B (at most 10^7 seeds), got '", *v, "'"));
      }
    } else if (auto v = value("jobs")) {
      if (!error.empty() || !absl::SimpleAtoi(*v, &jobs) || jobs < 1 || jobs > 1024) {
        return Invalid("swarm", absl::StrCat("--jobs: expected an integer in 1..1024, got '", *v, "'"));
      }
    } else if (auto v = value("out")) {
      if (!error.empty()) return Invalid("swarm", error);
      out_dir = *v;
    } else if (auto v = value("set")) {
      if (!error.empty()) return Invalid("swarm", error);
      overrides.push_back(*v);
    } else if (auto v = value("driver-lib")) {
      if (!error.empty()) return Invalid("swarm", error);
      libraries.push_back(*v);
    } else if (a.rfind("--", 0) == 0) {
      return Invalid("swarm", absl::StrCat("unknown flag '", a, "' (see 'vmbsim help')"));
    } else {
      files.push_back(a);
    }
  }
  if (files.empty()) return Invalid("swarm", "missing SCENARIO");
  if (!range.has_value()) return Invalid("swarm", "missing --seeds A..B");
  absl::StatusOr<scenario::DriverRegistry> registry = Registry(libraries);
  if (!registry.ok()) return Invalid("swarm", std::string(registry.status().message()));
  std::vector<Loaded> scenarios;
  for (const std::string& file : files) {
    absl::StatusOr<scenario::ScenarioSpec> spec =
        scenario::LoadScenarioFile(ResolveScenario(file), registry->descriptors(), overrides);
    if (!spec.ok()) return Invalid("swarm", std::string(spec.status().message()));
    scenarios.push_back({file, std::move(*spec)});
  }
  if (out_dir.has_value()) {
    std::error_code ec;
    std::filesystem::create_directories(*out_dir, ec);  // As run and sweep do; a failure shows below.
    std::ofstream probe(*out_dir + "/swarm.json", std::ios::trunc);
    if (!probe) return Invalid("swarm", absl::StrCat("--out: cannot write ", *out_dir, "/swarm.json"));
  }
  std::fflush(stdout);
  std::fflush(stderr);

  struct Group {
    std::vector<std::pair<size_t, uint64_t>> runs;  // (scenario, seed), in seed-major order once sorted.
  };
  std::map<std::string, Group> failures;  // By signature.
  const uint64_t seeds = range->second - range->first + 1;
  const uint64_t total = seeds * scenarios.size();
  // Task t: seed-major order, every scenario at a seed before the next seed.
  const auto scenario_of = [&](size_t t) { return t % scenarios.size(); };
  const auto seed_of = [&](size_t t) { return range->first + t / scenarios.size(); };
  uint64_t done = 0;
  uint64_t failed = 0;
  uint64_t events = 0;
  const absl::Time start = absl::Now();
  uint64_t next = 0;
  // Built-in drivers keep no state between runs, so workers run many runs
  // each; a driver library may, so with one each run gets its own process.
  const auto runner = libraries.empty() ? RunPooled : RunForked;
  const absl::Status pool = runner(
      jobs, [&]() -> std::optional<size_t> { return next < total ? std::optional<size_t>(next++) : std::nullopt; },
      [&](size_t t) {
        const scenario::ScenarioSpec variant = faults::SwarmVariant(scenarios[scenario_of(t)].spec, seed_of(t));
        absl::StatusOr<scenario::RunReport> report = scenario::RunScenario(variant, *registry, {});
        if (!report.ok()) {
          return absl::StrCat(scenario::kExitInvalidInput, "\n0\nexit 2; ", report.status().message(), "\n");
        }
        return absl::StrCat(scenario::ExitCodeFor(*report), "\n", report->events, "\n",
                            faults::FailureSignature(*report), "\n");
      },
      [&](ForkResult r) {
        std::vector<std::string> lines = absl::StrSplit(r.output, '\n');
        std::string signature;
        if (WIFSIGNALED(r.wait_status) || lines.size() < 3) {
          signature = WIFSIGNALED(r.wait_status)
                          ? absl::StrCat("killed by signal ", WTERMSIG(r.wait_status))
                          : absl::StrCat("ended without a report (status ", r.wait_status, ")");
        } else {
          signature = lines[2];
          uint64_t e = 0;
          if (absl::SimpleAtoi(lines[1], &e)) events += e;
        }
        ++done;
        if (!signature.empty()) {
          ++failed;
          failures[signature].runs.push_back({scenario_of(r.task), seed_of(r.task)});
        }
        const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
        const double left = done == 0 ? 0 : elapsed / static_cast<double>(done) * static_cast<double>(total - done);
        std::fprintf(stderr, "\rswarm: %llu/%llu runs, %llu failure(s), %.0f s left   ",
                     static_cast<unsigned long long>(done), static_cast<unsigned long long>(total),
                     static_cast<unsigned long long>(failed), left);
        std::fflush(stderr);
      });
  if (!pool.ok()) {
    std::fprintf(stderr, "vmbsim: swarm: %s\n", std::string(pool.message()).c_str());
    return scenario::kExitInternalError;
  }
  // Runs end in any order; a group lists its runs, and names its first, in
  // seed-major order, whatever --jobs.
  for (auto& [signature, group] : failures) {
    std::sort(group.runs.begin(), group.runs.end(), [](const auto& x, const auto& y) {
      return std::make_pair(x.second, x.first) < std::make_pair(y.second, y.first);
    });
  }
  std::fprintf(stderr, "\n");
  const double wall = absl::ToDoubleSeconds(absl::Now() - start);
  std::printf("swarm: %zu scenario(s) x seeds %llu..%llu: %llu runs, %llu failed, %zu signature(s); %.1f s, %.1f runs/s, "
              "%llu events\n",
              scenarios.size(), static_cast<unsigned long long>(range->first),
              static_cast<unsigned long long>(range->second), static_cast<unsigned long long>(total),
              static_cast<unsigned long long>(failed), failures.size(), wall,
              wall > 0 ? static_cast<double>(total) / wall : 0.0, static_cast<unsigned long long>(events));
  std::string json = absl::StrCat("{\"runs\": ", total, ", \"failed\": ", failed, ", \"seeds\": [", range->first, ", ",
                                  range->second, "], \"wall_seconds\": ", wall, ", \"scenarios\": [");
  for (size_t i = 0; i < scenarios.size(); ++i) {
    absl::StrAppend(&json, i == 0 ? "" : ", ", JsonString(scenarios[i].spec.name));
  }
  json += "], \"groups\": [";
  int index = 0;
  for (const auto& [signature, group] : failures) {
    const auto [first_scenario, first_seed] = group.runs.front();
    const std::string& arg = scenarios[first_scenario].arg;
    // Overrides and driver libraries go with it: the run had them.
    const std::string reproduce = absl::StrCat("vmbsim shrink ", ShellQuote(arg), " --seed ", first_seed,
                                               ReproduceFlags(overrides, libraries));
    std::map<size_t, std::vector<uint64_t>> by_scenario;
    for (const auto& [s, seed] : group.runs) by_scenario[s].push_back(seed);
    std::printf("failure %d: %zu run(s): %s\n", ++index, group.runs.size(), signature.c_str());
    for (const auto& [s, list] : by_scenario) {
      std::printf("  %s: seeds %s\n", scenarios[s].spec.name.c_str(), SeedRanges(list).c_str());
    }
    std::printf("  shrink: %s\n", reproduce.c_str());
    std::string replay;
    if (out_dir.has_value()) {
      const scenario::ScenarioSpec variant = faults::SwarmVariant(scenarios[first_scenario].spec, first_seed);
      replay = absl::StrCat(*out_dir, "/", variant.name, "-seed", first_seed, ".json");
      std::ofstream file(replay, std::ios::trunc);
      file << faults::ScenarioToJson(variant);
      // The file holds the overrides already; a driver library it names
      // must still be loaded.
      std::printf("  replay: vmbsim run %s%s\n", ShellQuote(replay).c_str(), ReproduceFlags({}, libraries).c_str());
    }
    absl::StrAppend(&json, index == 1 ? "" : ", ", "{\"signature\": ", JsonString(signature),
                    ", \"runs\": ", group.runs.size(), ", \"first\": {\"scenario\": ",
                    JsonString(scenarios[first_scenario].spec.name), ", \"seed\": ", first_seed,
                    "}, \"shrink\": ", JsonString(reproduce), ", \"replay\": ", JsonString(replay), ", \"seeds\": {");
    bool first = true;
    for (const auto& [s, list] : by_scenario) {
      absl::StrAppend(&json, first ? "" : ", ", JsonString(scenarios[s].spec.name), ": [",
                      absl::StrJoin(list, ", "), "]");
      first = false;
    }
    json += "}}";
  }
  json += "]}\n";
  if (out_dir.has_value()) {
    std::ofstream file(*out_dir + "/swarm.json", std::ios::trunc);
    file << json;
  }
  std::printf("exit=%d\n", failed == 0 ? 0 : 1);
  return failed == 0 ? 0 : 1;
}

int ShrinkCommand(const std::vector<std::string>& args) {
  std::optional<std::string> file;
  std::optional<uint64_t> seed;
  std::optional<uint64_t> tie_break_seed;
  bool as_is = false;
  std::optional<std::string> out;
  std::vector<std::string> overrides;
  std::vector<std::string> libraries;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    std::string error;
    auto value = [&](const std::string& name) { return FlagValue(args, &i, name, &error); };
    if (auto v = value("seed")) {
      uint64_t n = 0;
      if (!error.empty() || !absl::SimpleAtoi(*v, &n)) {
        return Invalid("shrink", absl::StrCat("--seed: expected an integer, got '", *v, "'"));
      }
      seed = n;
    } else if (auto v = value("tie-break-seed")) {
      uint64_t n = 0;
      if (!error.empty() || !absl::SimpleAtoi(*v, &n)) {
        return Invalid("shrink", absl::StrCat("--tie-break-seed: expected an integer, got '", *v, "'"));
      }
      tie_break_seed = n;
    } else if (auto v = value("out")) {
      if (!error.empty()) return Invalid("shrink", error);
      out = *v;
    } else if (auto v = value("set")) {
      if (!error.empty()) return Invalid("shrink", error);
      overrides.push_back(*v);
    } else if (auto v = value("driver-lib")) {
      if (!error.empty()) return Invalid("shrink", error);
      libraries.push_back(*v);
    } else if (a == "--as-is") {
      as_is = true;
    } else if (a.rfind("--", 0) == 0) {
      return Invalid("shrink", absl::StrCat("unknown flag '", a, "' (see 'vmbsim help')"));
    } else if (!file.has_value()) {
      file = a;
    } else {
      return Invalid("shrink", absl::StrCat("one scenario at a time; got '", *file, "' and '", a, "'"));
    }
  }
  if (!file.has_value()) return Invalid("shrink", "missing SCENARIO");
  if (!seed.has_value()) return Invalid("shrink", "missing --seed S");
  absl::StatusOr<scenario::DriverRegistry> registry = Registry(libraries);
  if (!registry.ok()) return Invalid("shrink", std::string(registry.status().message()));
  absl::StatusOr<scenario::ScenarioSpec> base =
      scenario::LoadScenarioFile(ResolveScenario(*file), registry->descriptors(), overrides);
  if (!base.ok()) return Invalid("shrink", std::string(base.status().message()));
  scenario::ScenarioSpec failing = *base;
  if (as_is) {
    failing.seed = *seed;
  } else {
    failing = faults::SwarmVariant(*base, *seed);
  }
  if (tie_break_seed.has_value()) failing.exploration.tie_break_seed = tie_break_seed;
  std::printf("seed=%llu\n", static_cast<unsigned long long>(failing.seed));
  std::fflush(stdout);
  auto run = [&registry](const scenario::ScenarioSpec& spec) { return scenario::RunScenario(spec, *registry, {}); };
  absl::StatusOr<faults::ShrinkResult> result = faults::Shrink(failing, run);
  if (!result.ok()) return Invalid("shrink", std::string(result.status().message()));
  result->spec.name = absl::StrCat(base->name, "-shrunk");
  result->spec.description = absl::StrCat("Shrunk by vmbsim shrink from ", base->name, " (seed ", *seed,
                                          "); fails with: ", result->signature);
  const std::string path = out.value_or(absl::StrCat(result->spec.name, ".json"));
  {
    std::ofstream f(path, std::ios::trunc);
    if (!f) return Invalid("shrink", absl::StrCat("--out: cannot write ", path));
    f << faults::ScenarioToJson(result->spec);
  }
  std::printf("signature: %s\n", result->signature.c_str());
  for (const faults::ShrinkStep& step : result->steps) {
    std::printf("  %s: %llu events\n", step.what.c_str(), static_cast<unsigned long long>(step.events));
  }
  // Replay the written file alone: it must fail the same way.
  absl::StatusOr<scenario::ScenarioSpec> written = scenario::LoadScenarioFile(path, registry->descriptors(), {});
  if (!written.ok()) return Invalid("shrink", std::string(written.status().message()));
  absl::StatusOr<scenario::RunReport> replay = scenario::RunScenario(*written, *registry, {});
  const bool same = replay.ok() && faults::FailureSignature(*replay) == result->signature;
  std::printf("shrunk %llu -> %llu events (%.1fx) in %d runs; wrote %s; replayed alone: %s\n",
              static_cast<unsigned long long>(result->events_before),
              static_cast<unsigned long long>(result->events_after),
              result->events_after == 0 ? 0.0
                                        : static_cast<double>(result->events_before) /
                                              static_cast<double>(result->events_after),
              result->runs, path.c_str(), same ? "same failure" : "DIFFERENT outcome");
  std::printf("exit=%d\n", same ? 0 : 1);
  return same ? 0 : 1;
}

}  // namespace vmbsim::tools
