// teardown_scenarios_test.cc
//
// Goal: a driver that never completes the packets it was handed hangs the
// channel's teardown, as the WDK model says (KMCL waits), and the run names
// the packets; the opt-in bound on that wait (force_retire_after_ns) gives
// up at its timeout, retires the packets and lets the close finish, with the
// count in the report. Method: one scenario file (teardown/), whose host
// driver leaves 4 requests in a back-end slower than the run when the guest
// closes, run through the scenario loader and runner with and without the
// opt-in; the host channel's close is read from the trace.
// The finding a hung teardown leaves at the run's end is a trace record
// like any other, counted in the run's record count.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kmcl/trace_kinds.h"
#include "sim/core/trace.h"
#include "tools/scenario/loader.h"
#include "tools/scenario/report.h"
#include "tools/scenario/runner.h"

namespace vmbsim::scenario {
namespace {

constexpr const char* kScenario = "tests/teardown/driver_never_completes.json";
constexpr int64_t kGuestCloseNs = 1'000'000;  // channels.0.guest_stop_ns.
constexpr int64_t kStopNs = 20'000'000;       // stop.time_ns.
constexpr int64_t kRetireAfterNs = 100'000;

RunReport RunDriverNeverCompletes(const std::vector<std::string>& overrides, sim::TraceSink* sink) {
  const DriverRegistry registry = DriverRegistry::WithBuiltins();
  absl::StatusOr<ScenarioSpec> spec = LoadScenarioFile(kScenario, registry.descriptors(), overrides);
  EXPECT_TRUE(spec.ok()) << spec.status();
  if (!spec.ok()) return {};
  absl::StatusOr<RunReport> report = RunScenario(*spec, registry, {.sinks = {sink}});
  EXPECT_TRUE(report.ok()) << report.status();
  return report.ok() ? *report : RunReport{};
}

// EvtChannelClosed callbacks of the host's (partition 0) channels.
int HostClosedCallbacks(const sim::RecordingTraceSink& trace) {
  int closed = 0;
  for (const sim::TraceRecord& r : trace.records()) {
    closed += r.kind == kmcl::kKmclCallbackTraceKind && r.partition == 0 && r.id1 == 2;  // CallbackId::kClosed.
  }
  return closed;
}

TEST(TeardownScenarioTest, WithoutTheOptInTheTeardownHangsAndTheRunNamesThePackets) {
  sim::RecordingTraceSink trace;
  const RunReport r = RunDriverNeverCompletes({}, &trace);
  ASSERT_EQ(r.findings.size(), 1u) << ReportSummary(r);
  const kmcl::Finding& f = r.findings[0];
  EXPECT_EQ(f.rule, kmcl::Rule::kPacketNotCompletedAtClose);
  EXPECT_STREQ(f.function, "peer close");
  EXPECT_EQ(f.time.nanoseconds(), kStopNs);  // Reported when the run ends, still waiting.
  EXPECT_NE(f.detail.find("4 indicated packet(s) the driver never completed (transaction ids 1, 2, 3, 4)"),
            std::string::npos)
      << f.detail;
  EXPECT_NE(f.detail.find("the teardown hangs"), std::string::npos) << f.detail;
  EXPECT_EQ(r.kmcl.packets_retired, 0u);
  EXPECT_EQ(HostClosedCallbacks(trace), 0);  // The host's close never finished.
  // The finding's trace record is counted with the run's (a recording's
  // footer checks the two agree).
  EXPECT_EQ(trace.records().size(), r.trace_records);
  EXPECT_EQ(ExitCodeFor(r), kExitVerifierFinding);
}

TEST(TeardownScenarioTest, WithTheOptInThePacketsAreRetiredAtTheTimeoutAndTheCloseFinishes) {
  sim::RecordingTraceSink trace;
  const RunReport r = RunDriverNeverCompletes(
      {absl::StrCat("channels.0.force_retire_after_ns=", kRetireAfterNs),
       R"(expectations.findings=[{"rule": "packet_not_completed_at_close", "max_count": 1}])"},
      &trace);
  ASSERT_EQ(r.findings.size(), 1u) << ReportSummary(r);
  const kmcl::Finding& f = r.findings[0];
  EXPECT_EQ(f.rule, kmcl::Rule::kPacketNotCompletedAtClose);
  // The guest's close reaches the host a little after it starts; the host
  // gives up kRetireAfterNs later, long before the run ends.
  EXPECT_GE(f.time.nanoseconds(), kGuestCloseNs + kRetireAfterNs);
  EXPECT_LT(f.time.nanoseconds(), kGuestCloseNs + 2 * kRetireAfterNs);
  EXPECT_NE(f.detail.find("4 indicated packet(s) not completed 100us after EvtChannelSuspend (transaction ids 1, 2, 3, 4)"),
            std::string::npos)
      << f.detail;
  EXPECT_NE(f.detail.find("retired (force_retire_after)"), std::string::npos) << f.detail;
  EXPECT_EQ(r.kmcl.packets_retired, 4u);
  EXPECT_EQ(HostClosedCallbacks(trace), 1);
  // The guest's 4 transactions ended (cancelled by its close), none lost.
  EXPECT_EQ(r.lost_packets, 0u);
  EXPECT_EQ(r.kmcl.transactions_cancelled, 4u);
  EXPECT_TRUE(r.expectations_met) << ReportSummary(r);
  EXPECT_EQ(ExitCodeFor(r), kExitOk);
  EXPECT_NE(ReportSummary(r).find("packets retired by a bounded teardown (force_retire_after): 4"), std::string::npos)
      << ReportSummary(r);
  EXPECT_NE(ReportJson(r).find("\"packets_retired\": 4"), std::string::npos);
}

}  // namespace
}  // namespace vmbsim::scenario
