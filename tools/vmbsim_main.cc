// vmbsim — the command line.
//
//   vmbsim demo [--seed N] [--tie-break-seed N] [--requests N] [--servers N]
//               [--burst N]
//       Runs the synthetic workload of tools/demo_workload.h on the event
//       kernel and prints the seed first, then a summary and the run's trace
//       fingerprint. This is the default command.
//   vmbsim help | --help | -h
//
// Exit codes: 0 success; 2 invalid command line (the message names the flag).

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "sim/core/histogram.h"
#include "tools/demo_workload.h"

namespace vmbsim::tools {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitInvalidInput = 2;

constexpr const char* kUsage = R"(usage: vmbsim <command> [flags]

commands:
  demo     run the synthetic workload on the event kernel (default)
  help     show this help

demo flags:
  --seed N             seed of the run (default 1)
  --tie-break-seed N   explore another order of same-time events
  --requests N         requests to issue (default 100000, at least 1)
  --servers N          servers to route them to (default 4, 1..1024)
  --burst N            requests arriving at the same instant (default 4, 1..1024)

exit codes: 0 success, 2 invalid command line
)";

int Fail(const std::string& message) {
  std::fprintf(stderr, "vmbsim: %s\n(run 'vmbsim help' for usage)\n", message.c_str());
  return kExitInvalidInput;
}

// Parses "--flag=value" or "--flag value" into an integer in [min, max].
bool ParseFlag(const std::vector<std::string>& args, size_t* i, std::string_view name, uint64_t min,
               uint64_t max, uint64_t* out, std::string* error) {
  const std::string& arg = args[*i];
  const std::string prefix = "--" + std::string(name);
  std::string value;
  if (arg == prefix) {
    if (*i + 1 >= args.size()) {
      *error = absl::StrCat(prefix, ": missing value");
      return true;
    }
    value = args[++*i];
  } else if (arg.rfind(prefix + "=", 0) == 0) {
    value = arg.substr(prefix.size() + 1);
  } else {
    return false;
  }
  uint64_t parsed = 0;
  if (!absl::SimpleAtoi(value, &parsed) || parsed < min || parsed > max) {
    *error = absl::StrCat(prefix, ": expected an integer in [", min, ", ", max, "], got '", value, "'");
    return true;
  }
  *out = parsed;
  return true;
}

int RunDemoCommand(const std::vector<std::string>& args) {
  DemoOptions options;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string error;
    uint64_t value = 0;
    if (ParseFlag(args, &i, "seed", 0, UINT64_MAX, &value, &error)) {
      options.seed = value;
    } else if (ParseFlag(args, &i, "tie-break-seed", 0, UINT64_MAX, &value, &error)) {
      options.tie_break_seed = value;
    } else if (ParseFlag(args, &i, "requests", 1, uint64_t{1} << 40, &value, &error)) {
      options.request_count = value;
    } else if (ParseFlag(args, &i, "servers", 1, 1024, &value, &error)) {
      options.server_count = static_cast<uint32_t>(value);
    } else if (ParseFlag(args, &i, "burst", 1, 1024, &value, &error)) {
      options.burst_size = static_cast<uint32_t>(value);
    } else {
      return Fail(absl::StrCat("demo: unknown flag '", args[i], "'"));
    }
    if (!error.empty()) return Fail(absl::StrCat("demo: ", error));
  }

  // The seed comes first so that any failure can be replayed.
  std::printf("seed=%llu\n", static_cast<unsigned long long>(options.seed));
  if (options.tie_break_seed.has_value()) {
    std::printf("tie_break_seed=%llu\n", static_cast<unsigned long long>(*options.tie_break_seed));
  }
  std::fflush(stdout);
  const DemoResult result = RunDemo(options);
  const sim::Histogram::PercentileSummary p = result.latency_ns.Percentiles();
  std::printf("vmbsim demo: synthetic burst-arrival queueing workload on the event kernel\n");
  std::printf("  servers %u, requests %llu in bursts of %u\n", options.server_count,
              static_cast<unsigned long long>(options.request_count), options.burst_size);
  std::printf("  events executed   %llu\n", static_cast<unsigned long long>(result.events));
  std::printf("  requests done     %llu\n", static_cast<unsigned long long>(result.requests_completed));
  std::printf("  simulated time    %s\n", result.end_time.ToString().c_str());
  std::printf("  latency           p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n",
              sim::SimDuration::Nanoseconds(p.p50).ToString().c_str(),
              sim::SimDuration::Nanoseconds(p.p90).ToString().c_str(),
              sim::SimDuration::Nanoseconds(p.p99).ToString().c_str(),
              sim::SimDuration::Nanoseconds(p.p999).ToString().c_str(),
              sim::SimDuration::Nanoseconds(p.max).ToString().c_str());
  for (size_t s = 0; s < result.server_busy.size(); ++s) {
    const double utilisation = result.end_time.nanoseconds() == 0
                                   ? 0.0
                                   : 100.0 * static_cast<double>(result.server_busy[s].nanoseconds()) /
                                         static_cast<double>(result.end_time.nanoseconds());
    std::printf("  server %-3zu busy   %5.1f%%\n", s, utilisation);
  }
  std::printf("fingerprint=%016llx\n", static_cast<unsigned long long>(result.fingerprint));
  return kExitOk;
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return RunDemoCommand({});
  const std::string command = args[0];
  args.erase(args.begin());
  if (command == "help" || command == "--help" || command == "-h") {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  if (command == "demo") return RunDemoCommand(args);
  if (command.rfind("--", 0) == 0) {  // Flags without a command: the demo's.
    args.insert(args.begin(), command);
    return RunDemoCommand(args);
  }
  return Fail(absl::StrCat("unknown command '", command, "'"));
}

}  // namespace
}  // namespace vmbsim::tools

int main(int argc, char** argv) { return vmbsim::tools::Main(argc, argv); }
