// recording_benchmark.cc
//
// What recording and diffing cost, in one run:
//   record    scenarios/hello.json scaled to about --events trace records
//             (default 10^6), run as `vmbsim run` does, without and with
//             `--record` (a Recorder sink writing a trace file), each run in
//             a fresh process (this binary with --once, timing the run
//             itself: load, build, run, and for --record the file written
//             and closed). --rounds (default 11) rounds in alternating
//             order; each round's ratio is taken from two neighbouring runs,
//             in wall time and in CPU time (user + system, which other load
//             on the machine disturbs less). Target: recording costs at most
//             30 % (wall ratio <= 1.30).
//   diff      two recordings of the same run at 10^6 and 10^7 events
//             (--diff-events), diffed as `vmbsim diff` does, each in a child
//             process: wall time and the child's peak RSS. The memory must
//             not grow with the trace (the two RSS figures about equal).
// Also printed: bytes per event of the recordings.
//
// Run: bazel run --config=opt //tools/recording:recording_benchmark -- [--events=N]
// [--rounds=N] [--diff-events=N,M] (from the workspace: it reads scenarios/; traces go to
// $TMPDIR, default /tmp, and are removed). --once=plain or --once=record runs
// one side once, for profilers: under callgrind the two sides' instruction
// counts give a noise-free ratio.

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "tools/recording/recorder.h"
#include "tools/recording/replay.h"
#include "tools/scenario/loader.h"
#include "tools/scenario/runner.h"

namespace vmbsim::recording {
namespace {

using Clock = std::chrono::steady_clock;

// hello gives about 19.6 trace records per request.
constexpr double kRecordsPerRequest = 19.6;

scenario::ScenarioSpec Hello(uint64_t events) {
  const scenario::DriverRegistry registry = scenario::DriverRegistry::WithBuiltins();
  const uint64_t requests = std::max<uint64_t>(1, static_cast<uint64_t>(events / kRecordsPerRequest));
  absl::StatusOr<scenario::ScenarioSpec> spec = scenario::LoadScenarioFile(
      "scenarios/hello.json", registry.descriptors(), {absl::StrCat("workloads.0.requests=", requests)});
  if (!spec.ok()) {
    std::fprintf(stderr, "%s\n", std::string(spec.status().message()).c_str());
    std::exit(2);
  }
  return *spec;
}

struct Seconds {
  double wall = 0;
  double cpu = 0;  // User + system time of this process.
};

double CpuSeconds() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// One run; with `trace_path`, recorded there.
Seconds Run(const scenario::ScenarioSpec& spec, const std::string& trace_path, uint64_t* records = nullptr,
           uint64_t* bytes = nullptr) {
  const scenario::DriverRegistry registry = scenario::DriverRegistry::WithBuiltins();
  const Clock::time_point start = Clock::now();
  const double cpu_start = CpuSeconds();
  scenario::RunOptions options;
  std::unique_ptr<Recorder> recorder;
  if (!trace_path.empty()) {
    absl::StatusOr<std::unique_ptr<Recorder>> started = Recorder::Start(trace_path, spec, options, {"bench"}, {});
    if (!started.ok()) std::exit(2);
    recorder = std::move(*started);
    options.sinks.push_back(recorder->sink());
  }
  absl::StatusOr<scenario::RunReport> report = scenario::RunScenario(spec, registry, options);
  if (!report.ok()) std::exit(2);
  if (recorder != nullptr) {
    if (!recorder->Finish(*report).ok()) std::exit(2);
    if (bytes != nullptr) *bytes = recorder->bytes_written();
  }
  if (records != nullptr) *records = report->trace_records;
  return {std::chrono::duration<double>(Clock::now() - start).count(), CpuSeconds() - cpu_start};
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct DiffFigures {
  double seconds = 0;
  long peak_rss_kib = 0;
};

// Diffs a and b in a child process: its wall time and peak RSS.
DiffFigures DiffInChild(const std::string& a, const std::string& b) {
  const Clock::time_point start = Clock::now();
  const pid_t pid = fork();
  if (pid == 0) {
    absl::StatusOr<DiffResult> d = Diff(a, b, 5);
    _exit(d.ok() && !d->divergence.has_value() ? 0 : 1);
  }
  int status = 0;
  struct rusage usage {};
  wait4(pid, &status, 0, &usage);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "diff failed\n");
    std::exit(1);
  }
  return {seconds, usage.ru_maxrss};
}

int Main(int argc, char** argv) {
  uint64_t events = 1000000;
  std::vector<uint64_t> diff_events = {1000000, 10000000};
  std::string once;
  int rounds = 11;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--once=plain" || arg == "--once=record") {
      once = arg.substr(7);
      continue;
    }
    if (arg.rfind("--events=", 0) == 0 && absl::SimpleAtoi(arg.substr(9), &events)) continue;
    if (arg.rfind("--rounds=", 0) == 0 && absl::SimpleAtoi(arg.substr(9), &rounds) && rounds > 0) continue;
    if (arg.rfind("--diff-events=", 0) == 0) {
      diff_events.clear();
      for (absl::string_view n : absl::StrSplit(arg.substr(14), ',')) {
        uint64_t v = 0;
        if (!absl::SimpleAtoi(n, &v)) return 2;
        diff_events.push_back(v);
      }
      continue;
    }
    std::fprintf(stderr, "usage: recording_benchmark [--events=N] [--rounds=N] [--diff-events=N,M] [--once=plain|record]\n");
    return 2;
  }
  const char* tmp = std::getenv("TMPDIR");
  const std::string dir = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
  const std::string trace = dir + "/vmbsim_recording_benchmark.trace";

  const scenario::ScenarioSpec spec = Hello(events);
  if (!once.empty()) {  // One run, for profilers (callgrind counts instructions without noise).
    const Seconds s = Run(spec, once == "record" ? trace : "");
    std::printf("%s: %.4f s wall, %.4f s cpu\n", once.c_str(), s.wall, s.cpu);
    std::remove(trace.c_str());
    return 0;
  }
  // Each timed run is a fresh process (this binary with --once), as a
  // `vmbsim run` with or without --record is: a run after another in one
  // process inherits its heap and threads, which is not what a user pays.
  const auto timed = [&argv, events](const std::string& side) {
    const std::string command = absl::StrCat(argv[0], " --events=", events, " --once=", side);
    FILE* pipe = popen(command.c_str(), "r");
    Seconds seconds;
    if (pipe == nullptr || std::fscanf(pipe, "%*[a-z]: %lf s wall, %lf", &seconds.wall, &seconds.cpu) != 2) {
      std::exit(1);
    }
    if (pclose(pipe) != 0) std::exit(1);
    return seconds;
  };
  uint64_t records = 0, bytes = 0;
  Run(spec, trace, &records, &bytes);  // The trace's size, and a warm-up.
  std::vector<double> plain, recorded, ratios, cpu_ratios;
  for (int round = 0; round < rounds; ++round) {
    Seconds p, r;
    if (round % 2 == 0) {
      p = timed("plain");
      r = timed("record");
    } else {
      r = timed("record");
      p = timed("plain");
    }
    plain.push_back(p.wall);
    recorded.push_back(r.wall);
    ratios.push_back(r.wall / p.wall);
    cpu_ratios.push_back(r.cpu / p.cpu);
  }
  const auto range = [](const std::vector<double>& v) {
    return absl::StrFormat("median %.3f, range %.3f..%.3f", Median(v), *std::min_element(v.begin(), v.end()),
                           *std::max_element(v.begin(), v.end()));
  };
  std::printf("record: hello, %llu trace records, %.2f bytes per event\n",
              static_cast<unsigned long long>(records), static_cast<double>(bytes) / static_cast<double>(records));
  std::printf("  without --record  %.3f s wall (median of %d)\n", Median(plain), rounds);
  std::printf("  with --record     %.3f s wall (median of %d)\n", Median(recorded), rounds);
  std::printf("  ratio recorded/plain, wall: %s (target <= 1.30)\n", range(ratios).c_str());
  std::printf("  ratio recorded/plain, cpu:  %s (user + system time; less sensitive to other load)\n",
              range(cpu_ratios).c_str());

  for (uint64_t n : diff_events) {
    const std::string a = dir + "/vmbsim_recording_benchmark_a.trace";
    const std::string b = dir + "/vmbsim_recording_benchmark_b.trace";
    uint64_t got = 0, size = 0;
    const scenario::ScenarioSpec big = Hello(n);
    Run(big, a, &got, &size);
    Run(big, b);
    const DiffFigures d = DiffInChild(a, b);
    std::printf("diff: two traces of %llu events (%.1f MB each): %.3f s, peak RSS %.1f MiB, %.1f M events/s\n",
                static_cast<unsigned long long>(got), static_cast<double>(size) / 1e6, d.seconds,
                static_cast<double>(d.peak_rss_kib) / 1024.0, static_cast<double>(got) / d.seconds / 1e6);
    std::remove(a.c_str());
    std::remove(b.c_str());
  }
  std::remove(trace.c_str());
  return 0;
}

}  // namespace
}  // namespace vmbsim::recording

int main(int argc, char** argv) { return vmbsim::recording::Main(argc, argv); }
