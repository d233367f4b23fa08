// runner_test.cc
//
// Goal: RunScenario reports what goes wrong while building and running a
// scenario's world as the right kind of outcome: a driver that cannot start
// is an input error naming the place (not a report with an internal-error
// exit code), a request is sent at the size asked for or refused before the
// run, and a request the guest driver refuses at run time is counted as
// lost, never dropped unseen; the scenario's monitor latency reaches
// the offer as written; and a driver's service time is checked at start and
// draws from its own stream. Method: small specs, loaded from JSON with
// the built-in drivers (plus test drivers registered as C++ factories), run
// with the real simulator at a fixed seed; assertions on the returned status
// or on the report's counters and verdicts.

#include "tools/scenario/runner.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "kmcl/runtime.h"
#include "kmcl/trace_kinds.h"
#include "sim/core/trace.h"
#include "sim/fabric/fabric.h"
#include "sim/fabric/vmbus_server.h"
#include "tools/scenario/drivers.h"
#include "tools/scenario/loader.h"
#include "tools/scenario/spec.h"
#include "tools/scenario/trace_kinds.h"

namespace vmbsim::scenario {
namespace {

// One channel between echo_vsp and rr_vsc; tests replace what they need.
constexpr absl::string_view kOneChannel = R"json({
  "name": "runner_test",
  "channels": [{
    "name": "c0",
    "interface_type": "5ca1ab1e-0000-4000-8000-0000000000cc",
    "interface_instance": "00000000-0000-4000-8000-0000000000cc",
    "host_driver": {"name": "echo_vsp"},
    "guest_driver": {"name": "rr_vsc"}
  }],
  "workloads": [{"channel": "c0", "arrival": {"kind": "closed_loop", "outstanding": 2},
                 "requests": 20}]
})json";

ScenarioSpec Load(const DriverRegistry& registry, const std::vector<std::string>& overrides) {
  absl::StatusOr<ScenarioSpec> spec =
      LoadScenario(kOneChannel, "runner_test.json", registry.descriptors(), overrides);
  EXPECT_TRUE(spec.ok()) << spec.status();
  return spec.ok() ? *spec : ScenarioSpec{};
}

// A driver whose factory fails, as a library's Create returning an error
// does (driver_plugin.cc turns that NTSTATUS into a status the same way).
absl::StatusOr<std::unique_ptr<DriverInstance>> FailingFactory(const DriverContext&) {
  return absl::ResourceExhaustedError("Create returned STATUS_INSUFFICIENT_RESOURCES");
}

TEST(RunnerStartTest, AFactoryThatFailsIsAnInputErrorNamingTheDriver) {
  DriverRegistry registry = DriverRegistry::WithBuiltins();
  ASSERT_TRUE(registry.Register({.name = "failing_vsp", .host_side = true}, FailingFactory).ok());
  const ScenarioSpec spec = Load(registry, {"channels.0.host_driver.name=failing_vsp"});
  const absl::StatusOr<RunReport> report = RunScenario(spec, registry);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(report.status().message(),
            "/channels/0/host_driver: driver \"failing_vsp\" on channel \"c0\" failed to start: "
            "Create returned STATUS_INSUFFICIENT_RESOURCES");
}

// A built-in driver's Create failing: a hand-built spec (the loader would
// refuse it) asks for more sub-channels than the drivers serve. Both ends
// fail; the host's error comes first.
TEST(RunnerStartTest, ABuiltInCreateThatFailsNamesItsStatus) {
  const DriverRegistry registry = DriverRegistry::WithBuiltins();
  ScenarioSpec spec = Load(registry, {"channels.0.guest_driver.name=streaming_vsc"});
  spec.workloads.clear();
  spec.channels[0].sub_channels = kSubChannelsMax + 1;
  const absl::StatusOr<RunReport> report = RunScenario(spec, registry);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(report.status().message(),
            "/channels/0/host_driver: driver \"echo_vsp\" on channel \"c0\" failed to start: "
            "EchoVspCreate returned STATUS_INVALID_PARAMETER (0xC000000D) (and 1 more)");
}

// Requests go out at the size the workload asks for: a closed loop of 4-byte
// requests sends 4 bytes each (the runner used to raise the driver's request
// size to 8), and one above the channel's limit is refused before the run
// (it used to be cut to max_packet_bytes) even in a spec built in code.
TEST(RunnerRequestTest, RequestsAreNeverResized) {
  const DriverRegistry registry = DriverRegistry::WithBuiltins();
  const ScenarioSpec small = Load(registry, {"workloads.0.size.bytes=4"});
  const absl::StatusOr<RunReport> report = RunScenario(small, registry);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->expectations_met);
  EXPECT_EQ(report->channels[0].metrics.guest_to_host.packets_sent, 20u);
  EXPECT_EQ(report->channels[0].metrics.guest_to_host.bytes_sent, 20u * 4);

  ScenarioSpec oversize = Load(registry, {});
  oversize.workloads[0].size.value = 8192;
  const absl::StatusOr<RunReport> refused = RunScenario(oversize, registry);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.status().message(),
            "/workloads/0/size/bytes: expected a request of at most 4096 bytes "
            "(/channels/0/max_packet_bytes), found 8192");
}

// A channel without workloads gives its driver a request size of 64, or the
// channel's largest request when that is smaller: a channel of
// max_packet_bytes 2 and no workload used to abort the runner (found by the
// scenario fuzzer: tests/fuzz/scenario/crash-610af89aa3eef8d3).
TEST(RunnerRequestTest, AChannelWithoutWorkloadsAndTinyPacketsRuns) {
  const DriverRegistry registry = DriverRegistry::WithBuiltins();
  ScenarioSpec spec = Load(registry, {"channels.0.max_packet_bytes=2", "workloads.0.size.bytes=2"});
  spec.workloads.clear();
  const absl::StatusOr<RunReport> report = RunScenario(spec, registry);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->channels[0].metrics.guest_to_host.packets_sent, 0u);
}

// A driver's `service` is checked where the driver starts: with service_us
// beside it (two prices for one piece of work) or, in a spec built in code,
// with a distribution the loader would have refused, the world is not
// built and the error names the driver end.
TEST(RunnerServiceTest, ConflictingOrBadServiceFailsTheStart) {
  const DriverRegistry registry = DriverRegistry::WithBuiltins();
  const ScenarioSpec both = Load(registry, {"channels.0.host_driver.params={\"service_us\": 5, \"service\": "
                                            "{\"kind\": \"fixed\", \"ns\": 5000}}"});
  const absl::StatusOr<RunReport> refused = RunScenario(both, registry);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.status().message(),
            "/channels/0/host_driver: driver \"echo_vsp\" on channel \"c0\" failed to start: params: "
            "\"service\" and \"service_us\" both set; use one");

  ScenarioSpec bad = Load(registry, {});
  bad.channels[0].guest_driver.distribution_params["service"] = DistributionSpec{.kind = "uniform", .min = 9, .max = 3};
  const absl::StatusOr<RunReport> bad_report = RunScenario(bad, registry);
  EXPECT_EQ(bad_report.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad_report.status().message(),
            "/channels/0/guest_driver: driver \"rr_vsc\" on channel \"c0\" failed to start: params/service: "
            "min 9 > max 3");
}

// Service times draw from a stream of their own: adding one to the host
// leaves a Poisson workload's arrival times exactly where they were
// (the arrival records are compared), and a host service of mean S makes
// the host VP's busy time the sum of the draws, about n S.
TEST(RunnerServiceTest, ServiceDrawsLeaveArrivalsAlone) {
  const DriverRegistry registry = DriverRegistry::WithBuiltins();
  const std::string workload =
      "workloads.0={\"channel\": \"c0\", \"arrival\": {\"kind\": \"poisson\", \"interval_ns\": 50000}, "
      "\"requests\": 2000}";
  struct Arrivals : sim::TraceSink {
    std::vector<int64_t> times_ns;
    void OnRecord(const sim::TraceRecord& r) override {
      if (r.kind == kWorkloadArrivalTraceKind) times_ns.push_back(r.time.nanoseconds());
    }
  };
  Arrivals plain;
  Arrivals served;
  const ScenarioSpec without = Load(registry, {workload, "fabric.cost_profile=zero"});
  const ScenarioSpec with = Load(registry, {workload, "fabric.cost_profile=zero",
                                            "channels.0.host_driver.params.service={\"kind\": \"exponential\", "
                                            "\"mean_ns\": 10000}"});
  ASSERT_TRUE(RunScenario(without, registry, RunOptions{.sinks = {&plain}}).ok());
  const absl::StatusOr<RunReport> report = RunScenario(with, registry, RunOptions{.sinks = {&served}});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(plain.times_ns.size(), 2000u);
  EXPECT_EQ(plain.times_ns, served.times_ns);
  int64_t host_busy_ns = 0;
  for (const VpReport& vp : report->vps) {
    if (vp.partition == 0) host_busy_ns += vp.busy_ns;
  }
  EXPECT_NEAR(static_cast<double>(host_busy_ns) / (2000 * 10000.0), 1.0, 0.1);
}

// A request the guest driver refuses at run time is a lost arrival: rr_vsc
// refuses submissions once the host has rescinded the channel, and each failed
// submission must show in arrivals_refused and fail no_lost_packets (the
// runner used to take rr_vsc's Submit as always accepted).
TEST(RunnerRequestTest, ARefusedArrivalIsCountedAndLost) {
  const DriverRegistry registry = DriverRegistry::WithBuiltins();
  const ScenarioSpec spec = Load(
      registry, {"workloads.0={\"channel\": \"c0\", \"arrival\": {\"kind\": \"fixed_rate\", "
                 "\"interval_ns\": 20000}, \"requests\": 200}",
                 "channels.0.host_stop_ns=2000000"});
  const absl::StatusOr<RunReport> report = RunScenario(spec, registry);
  ASSERT_TRUE(report.ok()) << report.status();
  const ChannelReport& channel = report->channels[0];
  EXPECT_EQ(channel.arrivals, 200u);
  ASSERT_GT(channel.guest_driver.at("send_errors"), 0);
  const auto send_errors = static_cast<uint64_t>(channel.guest_driver.at("send_errors"));
  const auto sent = static_cast<uint64_t>(channel.guest_driver.at("sent"));
  EXPECT_EQ(channel.arrivals_refused, send_errors);
  EXPECT_EQ(channel.arrivals_refused + sent, 200u);
  EXPECT_GE(report->lost_packets, channel.arrivals_refused);
  bool judged = false;
  for (const ExpectationResult& result : report->expectations) {
    if (result.name != "no_lost_packets") continue;
    judged = true;
    EXPECT_FALSE(result.passed);
    EXPECT_NE(result.detail.find(absl::StrCat("c0: ", channel.arrivals_refused,
                                              " of 200 arrivals refused by the driver")),
              std::string::npos)
        << result.detail;
  }
  EXPECT_TRUE(judged);
  EXPECT_NE(ExitCodeFor(*report), kExitOk);
}

// A "trace" workload submits each event's request at start_ns + its time, at
// its size: the arrival records and the guest's sends show exactly the
// events, in order (ties included).
TEST(RunnerRequestTest, TraceArrivalsAreSubmittedAsRecorded) {
  const DriverRegistry registry = DriverRegistry::WithBuiltins();
  const ScenarioSpec spec = Load(
      registry, {"workloads.0={\"channel\": \"c0\", \"start_ns\": 1000000, \"arrival\": {\"kind\": "
                 "\"trace\", \"events\": [[0, 64], [7000, 1500], [7000, 8], [250000, 4096]]}}"});
  sim::RecordingTraceSink sink;
  const absl::StatusOr<RunReport> report = RunScenario(spec, registry, {.sinks = {&sink}});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->expectations_met);
  std::vector<std::pair<int64_t, uint64_t>> arrivals;
  std::vector<uint64_t> sent_sizes;
  for (const sim::TraceRecord& r : sink.records()) {
    if (r.kind == kWorkloadArrivalTraceKind) {
      EXPECT_EQ(r.id0, 0u);
      arrivals.emplace_back(r.time.nanoseconds(), r.size0);
    }
    if (r.kind == kmcl::kKmclSendTraceKind && (r.size1 & 0xFFFF) != 0 && r.partition != 0) {
      sent_sizes.push_back(r.size0);
    }
  }
  EXPECT_EQ(arrivals, (std::vector<std::pair<int64_t, uint64_t>>{
                          {1000000, 64}, {1007000, 1500}, {1007000, 8}, {1250000, 4096}}));
  EXPECT_EQ(sent_sizes, (std::vector<uint64_t>{64, 1500, 8, 4096}));
  EXPECT_EQ(report->channels[0].arrivals, 4u);
  EXPECT_EQ(report->channels[0].metrics.guest_to_host.packets_sent, 4u);
}

// A host driver that is echo_vsp and records the monitor latency its offer
// carries, read back from the fabric's VMBus server right after the offer.
DriverRegistry ProbeRegistry(std::optional<uint64_t>* offered_100ns) {
  DriverRegistry registry = DriverRegistry::WithBuiltins();
  const DriverFactory echo = *registry.Find("echo_vsp");
  using Made = absl::StatusOr<std::unique_ptr<DriverInstance>>;
  const absl::Status registered = registry.Register(
      {.name = "probe_vsp", .host_side = true},
      [echo, offered_100ns](const DriverContext& c) -> Made {
        Made made = echo(c);
        if (!made.ok() || c.runtime->offers().empty()) return made;
        const kmcl::OfferRecord& offer = c.runtime->offers().back();
        const absl::StatusOr<fabric::ServerChannelInfo> info =
            c.runtime->fabric().server(offer.guest).channel(offer.relid);
        if (info.ok()) *offered_100ns = info->offer.interrupt_latency_100ns;
        return made;
      });
  EXPECT_TRUE(registered.ok()) << registered;
  return registry;
}

// interrupt_latency_100ns reaches the offer as written, 0 included; only an
// absent or null value becomes the cost model's default, and the runner
// writes that default into the offer itself (an offer's 0 means 0; the
// fabric does not substitute a default).
TEST(RunnerOfferTest, TheOfferCarriesTheScenariosMonitorLatency) {
  struct Case {
    std::vector<std::string> overrides;
    uint64_t offered_100ns;
  };
  const std::vector<Case> cases = {
      {{}, 1000},  // CostModel::Default(): 100 us.
      {{"channels.0.interrupt_latency_100ns=null"}, 1000},
      {{"channels.0.interrupt_latency_100ns=0"}, 0},
      {{"channels.0.interrupt_latency_100ns=1"}, 1},
      {{"channels.0.interrupt_latency_100ns=65535"}, 65535},
      {{"fabric.cost_overrides.monitor_latency_default_ns=250000"}, 2500},
      {{"fabric.cost_overrides.monitor_latency_default_ns=250000",
        "channels.0.interrupt_latency_100ns=0"},
       0},
      {{"fabric.cost_profile=zero"}, 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::PrintToString(c.overrides));
    std::optional<uint64_t> offered_100ns;
    const DriverRegistry registry = ProbeRegistry(&offered_100ns);
    std::vector<std::string> overrides = c.overrides;
    overrides.push_back("channels.0.host_driver.name=probe_vsp");
    const absl::StatusOr<RunReport> report = RunScenario(Load(registry, overrides), registry);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_EQ(offered_100ns, c.offered_100ns);
  }
}

// A default that offers cannot carry exactly is refused, also in a spec
// built in code (the loader refuses it in JSON).
TEST(RunnerOfferTest, ADefaultLatencyOffersCannotCarryIsRefused) {
  const DriverRegistry registry = DriverRegistry::WithBuiltins();
  for (const int64_t ns : {int64_t{150}, int64_t{6553600}}) {
    ScenarioSpec spec = Load(registry, {});
    spec.fabric.cost_overrides["monitor_latency_default_ns"] = ns;
    const absl::StatusOr<RunReport> report = RunScenario(spec, registry);
    EXPECT_EQ(report.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(report.status().message(),
              absl::StrCat("/fabric/cost_overrides/monitor_latency_default_ns: expected a multiple "
                           "of 100 in 0..6553500, found ",
                           ns));
  }
}

// The format takes several guests, the fabric one: a second guest is a
// clear error before anything is built, not a stop while the fabric is
// built (found by the scenario fuzz target).
TEST(RunnerTest, SecondGuestIsRefusedBeforeTheWorldIsBuilt) {
  const DriverRegistry registry = DriverRegistry::WithBuiltins();
  const ScenarioSpec spec = Load(registry, {"fabric.guests=[{\"vps\": 2}, {\"vps\": 2}]"});
  absl::StatusOr<RunReport> report = RunScenario(spec, registry, {});
  EXPECT_EQ(report.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(report.status().message(),
            "/fabric/guests: expected 1 guest (the fabric runs one guest partition for now), found 2");
}

// A guest of 1024 VPs: a channel targeted at its last VP takes its
// interrupts there.
TEST(RunnerTest, ThousandVpGuestRunsOnItsLastVp) {
  const DriverRegistry registry = DriverRegistry::WithBuiltins();
  const ScenarioSpec spec =
      Load(registry, {"fabric.guests=[{\"vps\": 1024}]", "fabric.root_vps=1024", "channels.0.guest_target_vp=1023"});
  absl::StatusOr<RunReport> report = RunScenario(spec, registry, {});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(ExitCodeFor(*report), 0);
  ASSERT_EQ(report->vps.size(), 2048u);  // The root's 1024, then the guest's.
  const VpReport& last = report->vps.back();
  EXPECT_EQ(last.partition, 1);
  EXPECT_EQ(last.vp, 1023u);
  EXPECT_GT(last.interrupts, 0u);
  EXPECT_GT(last.busy_ns, 0);
}

}  // namespace
}  // namespace vmbsim::scenario
