// scale_benchmark.cc
//
// How load and start-up grow with the size of a scenario: one guest with N
// VPs and N echo channels (each with its own instance, target VP i), for N
// = 128, 256, 512 and 1024 (--sizes). Each size runs in a fresh child
// process, as `vmbsim run` does: the scenario's JSON is generated, then
//   load    LoadScenario: parse and validate;
//   start   RunScenario with no workload: every offer made, every channel
//           opened (GPADLs, rings, open callbacks), to quiescence;
//   traffic the same with 10 requests per channel (closed loop).
// It prints the wall time of each step, the child's peak resident memory,
// and the memory per channel. Targets (issue: scale): at 1024 VPs and 1024
// channels, load + start under 1 s and under 200 MB.
//
// Run: bazel run --config=opt //tools/scenario:scale_benchmark -- [--sizes=128,1024]

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "tools/scenario/loader.h"
#include "tools/scenario/runner.h"

namespace vmbsim::scenario {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// N channels on one guest of N VPs; `requests` per channel (0: none).
std::string ScaleScenario(int n, int requests) {
  std::string channels, workloads;
  for (int i = 0; i < n; ++i) {
    absl::StrAppendFormat(&channels,
                          R"(%s{"name": "c%d", "interface_type": "5ca1ab1e-0000-4000-8000-0000000000cc",)"
                          R"( "interface_instance": "00000000-0000-4000-8000-%012x", "guest_target_vp": %d,)"
                          R"( "host_driver": {"name": "echo_vsp"}, "guest_driver": {"name": "rr_vsc"}})",
                          i == 0 ? "" : ",", i, i, i);
    if (requests > 0) {
      absl::StrAppendFormat(&workloads, R"(%s{"channel": "c%d", "requests": %d})", i == 0 ? "" : ",", i, requests);
    }
  }
  return absl::StrFormat(R"({"name": "scale_%d", "fabric": {"root_vps": 64, "guests": [{"vps": %d}]},)"
                         R"( "channels": [%s], "workloads": [%s]})",
                         n, n, channels, workloads);
}

struct Figures {
  double load_s = 0;
  double run_s = 0;
  int64_t events = 0;
};

// In a child: load and run; writes the figures to `fd`.
[[noreturn]] void Child(int n, int requests, int fd) {
  const DriverRegistry registry = DriverRegistry::WithBuiltins();
  const std::string json = ScaleScenario(n, requests);
  Figures f;
  Clock::time_point start = Clock::now();
  absl::StatusOr<ScenarioSpec> spec = LoadScenario(json, "scale.json", registry.descriptors(), {});
  f.load_s = Since(start);
  if (!spec.ok()) {
    std::fprintf(stderr, "%s\n", std::string(spec.status().message()).c_str());
    _exit(2);
  }
  start = Clock::now();
  absl::StatusOr<RunReport> report = RunScenario(*spec, registry, {});
  f.run_s = Since(start);
  if (!report.ok() || ExitCodeFor(*report) != 0) _exit(1);
  f.events = static_cast<int64_t>(report->events);
  if (write(fd, &f, sizeof(f)) != sizeof(f)) _exit(1);
  _exit(0);
}

// Runs one size in a child: its figures and peak RSS (KiB).
bool Measure(int n, int requests, Figures* figures, long* peak_rss_kib) {
  int fds[2];
  if (pipe(fds) != 0) return false;
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    Child(n, requests, fds[1]);
  }
  close(fds[1]);
  const bool read_ok = read(fds[0], figures, sizeof(*figures)) == sizeof(*figures);
  close(fds[0]);
  int status = 0;
  struct rusage usage {};
  wait4(pid, &status, 0, &usage);
  *peak_rss_kib = usage.ru_maxrss;
  return read_ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int Main(int argc, char** argv) {
  std::vector<int> sizes = {128, 256, 512, 1024};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--sizes=", 0) == 0) {
      sizes.clear();
      for (absl::string_view s : absl::StrSplit(arg.substr(8), ',')) {
        int n = 0;
        if (!absl::SimpleAtoi(s, &n) || n < 1 || n > 1024) {
          std::fprintf(stderr, "scale_benchmark: --sizes: '%s' is not in 1..1024\n", std::string(s).c_str());
          return 2;
        }
        sizes.push_back(n);
      }
      continue;
    }
    std::fprintf(stderr, "usage: scale_benchmark [--sizes=N,...]\n");
    return 2;
  }
  std::printf("%-6s %-6s %-9s %-9s %-9s %-10s %-12s %s\n", "VPs", "chans", "load s", "start s", "events",
              "peak MiB", "KiB/channel", "(start: offers, opens, to quiescence)");
  bool ok = true;
  for (int requests : {0, 10}) {
    if (requests > 0) std::printf("with 10 requests per channel:\n");
    for (int n : sizes) {
      Figures f;
      long rss = 0;
      if (!Measure(n, requests, &f, &rss)) {
        std::printf("%d: the run failed\n", n);
        ok = false;
        continue;
      }
      std::printf("%-6d %-6d %-9.3f %-9.3f %-9lld %-10.1f %-12.1f\n", n, n, f.load_s, f.run_s,
                  static_cast<long long>(f.events), static_cast<double>(rss) / 1024.0,
                  static_cast<double>(rss) / static_cast<double>(n));
    }
  }
  std::printf("target at 1024: load + start < 1 s, peak < 200 MiB\n");
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace vmbsim::scenario

int main(int argc, char** argv) { return vmbsim::scenario::Main(argc, argv); }
