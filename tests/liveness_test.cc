// liveness_test.cc
//
// Goal: a run that stops making progress while sends are outstanding is
// stopped as stuck (exit 4) with a state dump that shows why, instead of
// running to its time limit; a healthy run and a run whose outstanding
// work a fault accounts for are not stuck. Method: the library's lost
// wake-up pair with faults.stuck_ns set; the buggy host leaves data in its
// incoming ring with the interrupt unmasked and nobody draining.

#include <string>

#include "gtest/gtest.h"
#include "tests/scenario_testing.h"
#include "tools/faults/catalogue.h"
#include "tools/scenario/loader.h"
#include "tools/scenario/report.h"
#include "tools/scenario/runner.h"

namespace vmbsim::scenario {
namespace {

RunReport RunLibrary(const std::string& name, const std::vector<std::string>& overrides,
                     sim::TraceSink* sink = nullptr) {
  const DriverRegistry registry = DriverRegistry::WithBuiltins();
  absl::StatusOr<ScenarioSpec> spec =
      LoadScenarioFile("scenarios/" + name + ".json", registry.descriptors(), overrides);
  EXPECT_TRUE(spec.ok()) << spec.status();
  if (!spec.ok()) return {};
  RunOptions options;
  if (sink != nullptr) options.sinks.push_back(sink);
  absl::StatusOr<RunReport> report = RunScenario(*spec, registry, options);
  EXPECT_TRUE(report.ok()) << report.status();
  return report.ok() ? *report : RunReport{};
}

TEST(LivenessTest, LostWakeupIsStuckWithAStateDump) {
  sim::RecordingTraceSink trace;
  const RunReport r = RunLibrary("lost_wakeup_buggy", {R"(faults={"stuck_ns": 1000000})"}, &trace);
  ASSERT_TRUE(r.stuck) << ReportSummary(r);
  EXPECT_EQ(ExitCodeFor(r), kExitStuck);
  // Either nothing was left to run, or nothing progressed for stuck_ns.
  EXPECT_TRUE(r.stuck_queue_empty || r.stuck_idle_ns >= 1000000) << r.stuck_idle_ns;
  EXPECT_LT(r.simulated_ns, 60'000'000'000);  // Stopped long before the time limit.
  EXPECT_GT(r.stuck_open_sends, 0u);
  EXPECT_EQ(r.stuck_open_sends, r.ledger.unaccounted);
  ASSERT_EQ(r.stuck_state.size(), 2u);
  const EndpointState& host = r.stuck_state[1];
  EXPECT_EQ(host.side, "host");
  EXPECT_EQ(host.channel, "racy");
  // The stranded request: unread data in the host's incoming ring, its
  // interrupt unmasked, no drain under way.
  EXPECT_NE(host.in_write_index, host.in_read_index);
  EXPECT_EQ(host.in_interrupt_mask, 0u);
  EXPECT_FALSE(host.draining);
  EXPECT_EQ(host.driver_state, "open running");
  const EndpointState& guest = r.stuck_state[0];
  EXPECT_EQ(guest.side, "guest");
  EXPECT_GT(guest.open_transactions, 0u);
  EXPECT_EQ(guest.in_write_index, host.out_write_index);  // One ring, seen from both ends.
  const std::string json = ReportJson(r);
  EXPECT_NE(json.find("\"stuck\": true"), std::string::npos);
  EXPECT_NE(json.find("\"in_interrupt_mask\""), std::string::npos);
  int stuck_records = 0;
  for (const sim::TraceRecord& rec : trace.records()) stuck_records += rec.kind == faults::kFaultStuckTraceKind;
  EXPECT_EQ(stuck_records, 1);
}

TEST(LivenessTest, HealthyRunIsNotStuck) {
  const RunReport r = RunLibrary("lost_wakeup_fixed", {R"(faults={"stuck_ns": 1000000})"});
  EXPECT_FALSE(r.stuck) << ReportSummary(r);
  EXPECT_TRUE(r.ledger.balanced());
  EXPECT_EQ(ExitCodeFor(r), kExitOk) << ReportSummary(r);
}

TEST(LivenessTest, WorkAFaultLostIsNotStuck) {
  // Every guest-to-host doorbell lost from 1 ms on: the channel stops, and
  // what is left is accounted to the fault, not reported as stuck.
  const RunReport r = RunLibrary(
      "lost_wakeup_fixed",
      {R"(faults={"stuck_ns": 1000000, "injections": [{"kind": "signal_drop", "params": {"direction": "to_host"},
                    "trigger": {"at_ns": 1000000}, "max_firings": 1000000}]})"});
  EXPECT_FALSE(r.stuck) << ReportSummary(r);
  EXPECT_GT(r.ledger.accounted_to_faults, 0u);
  EXPECT_TRUE(r.ledger.balanced()) << ReportSummary(r);
}

// A run cut by its time limit stops with sends in flight: they end in the
// teardown and are not lost. A send stranded long before the stop is lost
// even so: it was older at the stop than any send of the run took to
// complete, whatever the teardown (which cancels it) does with it.
TEST(LivenessTest, ACutRunsSendsInFlightAreNotLostButStrandedOnesAre) {
  const RunReport healthy = RunLibrary(
      "hello", {"stop.time_ns=5000000", R"(faults={"stuck_ns": 100000000})",
                R"(workloads.0.arrival={"kind": "poisson", "interval_ns": 8000})", "workloads.0.requests=100000"});
  EXPECT_EQ(healthy.stop_reason, sim::RunResult::kEndTimeReached);
  ASSERT_TRUE(healthy.ledger_checked);
  EXPECT_GT(healthy.ledger.in_flight_at_stop, 0u) << ReportSummary(healthy);
  EXPECT_EQ(healthy.ledger.unaccounted, 0u);
  EXPECT_TRUE(healthy.ledger.balanced());
  // "no_lost_packets" is judged from the settled ledger too: the requests
  // outstanding at the cut were in flight, not lost.
  EXPECT_EQ(healthy.lost_packets, 0u) << ReportSummary(healthy);
  EXPECT_TRUE(healthy.expectations_met) << ReportSummary(healthy);
  EXPECT_EQ(ExitCodeFor(healthy), kExitOk) << ReportSummary(healthy);

  // The lost wake-up strands requests early; a second, healthy channel keeps
  // the run going until its time limit.
  const RunReport stranded = testing::RunInline(R"json({
    "name": "stranded_then_cut", "seed": 1, "stop": {"time_ns": 20000000},
    "fabric": {"root_vps": 1, "guests": [{"vps": 1}]},
    "channels": [
      {"name": "racy", "interface_type": "5ca1ab1e-0000-4000-8000-000000000008",
       "interface_instance": "00000000-0000-4000-8000-000000000070", "host_driver": {"name": "echo_vsp"},
       "guest_driver": {"name": "rr_vsc"}, "monitored": false, "lost_wakeup_bug": "host"},
      {"name": "busy", "interface_type": "5ca1ab1e-0000-4000-8000-000000000009",
       "interface_instance": "00000000-0000-4000-8000-000000000071", "host_driver": {"name": "echo_vsp"},
       "guest_driver": {"name": "rr_vsc"}}],
    "workloads": [
      {"channel": "racy", "arrival": {"kind": "poisson", "interval_ns": 8000}, "requests": 2000},
      {"channel": "busy", "arrival": {"kind": "fixed_rate", "interval_ns": 10000}, "requests": 100000}],
    "faults": {"stuck_ns": 100000000}})json");
  EXPECT_EQ(stranded.stop_reason, sim::RunResult::kEndTimeReached);
  EXPECT_GT(stranded.ledger.unaccounted, 1000u) << ReportSummary(stranded);
  EXPECT_EQ(stranded.lost_packets, stranded.ledger.unaccounted);  // Stranded sends are lost.
  EXPECT_FALSE(stranded.ledger.balanced());
  EXPECT_NE(ExitCodeFor(stranded), kExitOk);
}

}  // namespace
}  // namespace vmbsim::scenario
