#include "tools/explore_command.h"

#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "kmcl/verifier.h"
#include "tools/scenario/loader.h"
#include "tools/scenario/runner.h"
#include "tools/fork_pool.h"
#include "tools/scenario_commands.h"

namespace vmbsim::tools {

const char* const kExploreUsage = R"(explore:
  explore SCENARIO --tie-break-seeds A..B [--jobs N] [--seed N] [--set PATH=VALUE]... [--driver-lib LIB.so]...
                   run SCENARIO under each tie-break seed in A..B and print each distinct outcome
                   (exit code, failed expectations, verifier findings, causality violations) with its seeds
                   and number of distinct fingerprints; exit 0 when every run ends as the
                   insertion-order run does, 1 otherwise, 2 for invalid input
)";

namespace {

int Invalid(const std::string& message) {
  std::fprintf(stderr, "vmbsim: explore: %s\n", message.c_str());
  return scenario::kExitInvalidInput;
}

// What one run came to; what the child writes to its pipe, one field a line:
// exit code, failed expectations, findings, causality, fingerprint.
struct Outcome {
  std::string exit;          // "0", "70", or "killed by signal 11".
  std::string expectations;  // Failed ones, "name: detail; ..." or "all met".
  std::string findings;      // "rule x count, ..." or "none".
  std::string causality;     // "none" or the count.
  bool operator<(const Outcome& o) const {
    return std::tie(exit, expectations, findings, causality) < std::tie(o.exit, o.expectations, o.findings, o.causality);
  }
};

std::string Describe(const scenario::RunReport& report) {
  std::vector<std::string> failed;
  for (const scenario::ExpectationResult& r : report.expectations) {
    if (!r.passed) failed.push_back(r.name);
  }
  std::map<std::string, int> rules;
  for (const kmcl::Finding& f : report.findings) ++rules[kmcl::RuleName(f.rule)];
  std::vector<std::string> findings;
  for (const auto& [rule, count] : rules) findings.push_back(absl::StrCat(rule, " x", count));
  return absl::StrCat(scenario::ExitCodeFor(report), "\n", failed.empty() ? "all met" : absl::StrJoin(failed, ", "),
                      "\n", findings.empty() ? "none" : absl::StrJoin(findings, ", "), "\n",
                      report.causality_violations_total == 0 ? "none" : absl::StrCat(report.causality_violations_total),
                      "\n", absl::StrCat(absl::Hex(report.fingerprint, absl::kZeroPad16)), "\n");
}

}  // namespace

int ExploreCommand(const std::vector<std::string>& args) {
  std::optional<std::string> file;
  std::optional<std::pair<uint64_t, uint64_t>> range;
  unsigned jobs = std::max(1u, std::thread::hardware_concurrency());
  std::optional<uint64_t> seed;
  std::vector<std::string> overrides;
  std::vector<std::string> libraries;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    std::string error;
    auto value = [&](const std::string& name) { return FlagValue(args, &i, name, &error); };
    if (auto v = value("tie-break-seeds")) {
      if (!error.empty()) return Invalid(error);
      range = ParseSeedRange(*v, 1'000'000);
      if (!range.has_value()) {
        return Invalid(absl::StrCat("--tie-break-seeds: expected A..B with A <= B (at most 10^6 seeds), got '", *v, "'"));
      }
    } else if (auto v = value("jobs")) {
      if (!error.empty() || !absl::SimpleAtoi(*v, &jobs) || jobs < 1 || jobs > 1024) {
        return Invalid(absl::StrCat("--jobs: expected an integer in 1..1024, got '", *v, "'"));
      }
    } else if (auto v = value("seed")) {
      uint64_t n = 0;
      if (!error.empty() || !absl::SimpleAtoi(*v, &n)) return Invalid(absl::StrCat("--seed: expected an integer, got '", *v, "'"));
      seed = n;
    } else if (auto v = value("set")) {
      if (!error.empty()) return Invalid(error);
      overrides.push_back(*v);
    } else if (auto v = value("driver-lib")) {
      if (!error.empty()) return Invalid(error);
      libraries.push_back(*v);
    } else if (a.rfind("--", 0) == 0) {
      return Invalid(absl::StrCat("unknown flag '", a, "' (see 'vmbsim help')"));
    } else if (!file.has_value()) {
      file = a;
    } else {
      return Invalid(absl::StrCat("one scenario at a time; got '", *file, "' and '", a, "'"));
    }
  }
  if (!file.has_value()) return Invalid("missing SCENARIO");
  if (!range.has_value()) return Invalid("missing --tie-break-seeds A..B");
  absl::StatusOr<scenario::DriverRegistry> registry = Registry(libraries);
  if (!registry.ok()) return Invalid(std::string(registry.status().message()));
  const std::string path = ResolveScenario(*file);
  absl::StatusOr<scenario::ScenarioSpec> spec = scenario::LoadScenarioFile(path, registry->descriptors(), overrides);
  if (!spec.ok()) return Invalid(std::string(spec.status().message()));
  std::printf("seed=%llu\n", static_cast<unsigned long long>(seed.value_or(spec->seed)));
  std::fflush(stdout);
  std::fflush(stderr);

  // The insertion-order run first, then each seed; at most `jobs` at once.
  std::vector<std::optional<uint64_t>> queue = {std::nullopt};
  for (uint64_t s = range->first; s <= range->second; ++s) queue.push_back(s);
  std::map<Outcome, std::pair<std::vector<uint64_t>, std::set<std::string>>> outcomes;
  std::optional<std::string> baseline_exit;
  size_t next = 0;
  const absl::Status pool = RunForked(
      jobs, [&]() -> std::optional<size_t> { return next < queue.size() ? std::optional<size_t>(next++) : std::nullopt; },
      [&](size_t task) {
        scenario::RunOptions options;
        options.seed = seed;
        options.tie_break_seed = queue[task];
        absl::StatusOr<scenario::RunReport> report = scenario::RunScenario(*spec, *registry, options);
        return report.ok() ? Describe(*report)
                           : absl::StrCat(scenario::kExitInvalidInput, "\n", report.status().message(),
                                          "\nnone\nnone\n-\n");
      },
      [&](ForkResult result) {
        Outcome outcome;
        std::string fingerprint = "-";
        std::vector<std::string> lines = absl::StrSplit(result.output, '\n');
        if (!result.abnormal.empty() || lines.size() < 5) {
          outcome.exit = !result.abnormal.empty() ? result.abnormal
                                                  : absl::StrCat("ended without a report (status ", result.wait_status, ")");
          outcome.expectations = outcome.findings = outcome.causality = "-";
        } else {
          outcome = Outcome{lines[0], lines[1], lines[2], lines[3]};
          fingerprint = lines[4];
        }
        const std::optional<uint64_t> tie_break_seed = queue[result.task];
        if (!tie_break_seed.has_value()) {
          baseline_exit = outcome.exit;
          std::printf("insertion order: exit %s; expectations %s; findings %s; causality violations %s\n",
                      outcome.exit.c_str(), outcome.expectations.c_str(), outcome.findings.c_str(),
                      outcome.causality.c_str());
          return;
        }
        auto& entry = outcomes[outcome];
        entry.first.push_back(*tie_break_seed);
        entry.second.insert(fingerprint);
      });
  if (!pool.ok()) {
    std::fprintf(stderr, "vmbsim: explore: %s\n", std::string(pool.message()).c_str());
    return scenario::kExitInternalError;
  }
  const uint64_t runs = range->second - range->first + 1;
  std::printf("scenario %s: tie-break seeds %llu..%llu, %llu runs, %zu distinct outcome(s)\n", spec->name.c_str(),
              static_cast<unsigned long long>(range->first), static_cast<unsigned long long>(range->second),
              static_cast<unsigned long long>(runs), outcomes.size());
  bool all_as_baseline = true;
  int index = 0;
  for (auto& [outcome, seeds_and_prints] : outcomes) {
    std::vector<uint64_t>& seeds = seeds_and_prints.first;
    std::sort(seeds.begin(), seeds.end());
    if (outcome.exit != baseline_exit) all_as_baseline = false;
    std::printf("outcome %d: %zu run(s), %zu distinct fingerprint(s)\n", ++index, seeds.size(),
                seeds_and_prints.second.size());
    std::printf("  exit %s; expectations %s; findings %s; causality violations %s\n", outcome.exit.c_str(),
                outcome.expectations.c_str(), outcome.findings.c_str(), outcome.causality.c_str());
    std::printf("  tie-break seeds: %s\n", SeedRanges(seeds).c_str());
  }
  std::printf("exit=%d\n", all_as_baseline ? 0 : 1);
  return all_as_baseline ? 0 : 1;
}

}  // namespace vmbsim::tools
