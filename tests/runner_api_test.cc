// The simulator as a library (tools/scenario/runner.h): a team registers its
// own driver (here a C++ class calling the public KMCL functions), loads a
// scenario from JSON text, runs it and asserts on the report, in GoogleTest.

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "tools/scenario/drivers.h"
#include "tools/scenario/loader.h"
#include "tools/scenario/runner.h"
#include "vmbuskernelmodeclientlibapi.h"

namespace vmbsim::scenario {
namespace {

// A host driver that completes every request with an empty completion and
// counts them.
class CountingVsp : public DriverInstance {
 public:
  static VOID Process(VMBCHANNEL channel, VMBPACKETCOMPLETION packet, PVOID, UINT32, UINT32) {
    auto* self = static_cast<CountingVsp*>(VmbChannelGetPointer(channel));
    ++self->processed_;
    VmbChannelPacketComplete(packet, nullptr, 0);
  }

  absl::Status Start(const DriverContext& c) {
    if (VmbChannelAllocate(c.device, TRUE, &channel_) != STATUS_SUCCESS) return absl::InternalError("allocate");
    VmbChannelSetPointer(channel_, this);
    VmbServerChannelInitSetVmbusHandle(channel_, c.vmbus_handle);
    VmbServerChannelInitSetTargetInterfaceId(channel_, c.interface_type, c.interface_instance);
    VmbChannelInitSetProcessPacketCallbacks(channel_, Process, nullptr);
    if (VmbChannelEnable(channel_) != STATUS_SUCCESS) return absl::InternalError("enable");
    VmbChannelStart(channel_);
    return absl::OkStatus();
  }
  void Destroy() override {
    VmbChannelDisable(channel_);
    VmbChannelCleanup(channel_);
  }
  std::map<std::string, int64_t> figures() const override { return {{"processed", processed_}}; }

 private:
  VMBCHANNEL channel_ = nullptr;
  int64_t processed_ = 0;
};

constexpr const char* kScenario = R"json({
  "name": "library_use",
  "channels": [{
    "name": "c0",
    "interface_type": "5ca1ab1e-0000-4000-8000-0000000000bb",
    "interface_instance": "00000000-0000-4000-8000-0000000000bb",
    "host_driver": {"name": "counting_vsp"},
    "guest_driver": {"name": "rr_vsc"}
  }],
  "workloads": [{"channel": "c0", "arrival": {"kind": "poisson", "interval_ns": 50000}, "requests": 300}],
  "expectations": {"latency": [{"channel": "c0", "percentile": 99, "max_ns": 5000000}]}
})json";

TEST(RunnerApiTest, ATeamsOwnDriverRunsInAScenario) {
  DriverRegistry registry = DriverRegistry::WithBuiltins();
  ASSERT_TRUE(registry
                  .Register({.name = "counting_vsp", .description = "test VSP", .host_side = true},
                            [](const DriverContext& c) -> absl::StatusOr<std::unique_ptr<DriverInstance>> {
                              auto vsp = std::make_unique<CountingVsp>();
                              VMBSIM_RETURN_IF_ERROR(vsp->Start(c));
                              return vsp;
                            })
                  .ok());
  absl::StatusOr<ScenarioSpec> spec = LoadScenario(kScenario, "inline", registry.descriptors());
  ASSERT_TRUE(spec.ok()) << spec.status();
  absl::StatusOr<RunReport> report = RunScenario(*spec, registry);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->expectations_met);
  EXPECT_EQ(ExitCodeFor(*report), kExitOk);
  ASSERT_EQ(report->channels.size(), 1u);
  EXPECT_EQ(report->channels[0].host_driver.at("processed"), 300);
  EXPECT_EQ(report->channels[0].metrics.guest_to_host.send_to_completion_ns.count(), 300u);
  EXPECT_EQ(report->channels[0].arrivals, 300u);

  // Another seed gives another run; the same seed, the same one.
  absl::StatusOr<RunReport> same = RunScenario(*spec, registry);
  absl::StatusOr<RunReport> other = RunScenario(*spec, registry, {.seed = 99});
  ASSERT_TRUE(same.ok() && other.ok());
  EXPECT_EQ(same->fingerprint, report->fingerprint);
  EXPECT_NE(other->fingerprint, report->fingerprint);
}

TEST(RunnerApiTest, AScenarioNamingAnUnregisteredDriverIsRejectedByTheLoader) {
  DriverRegistry registry = DriverRegistry::WithBuiltins();
  absl::StatusOr<ScenarioSpec> spec = LoadScenario(kScenario, "inline", registry.descriptors());
  ASSERT_FALSE(spec.ok());
  EXPECT_NE(spec.status().message().find("counting_vsp"), std::string::npos) << spec.status();
}

}  // namespace
}  // namespace vmbsim::scenario
