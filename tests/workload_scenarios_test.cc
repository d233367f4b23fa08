// Goal: the workload model's shared bottleneck and placement knobs show what
// they claim on whole runs. scaling_96vp: the back-end's throughput rises in
// proportion to the streaming VPs while they are the bottleneck (each VP
// offers one packet per 20 us of service plus its send costs), then
// flattens at the back-end's capacity, servers / mean service = 2.8 M
// packets/s, within 2 %. hello with a back-end: the back-end serves every
// request, its utilisation is arrivals x service / servers, and the round
// trip includes the service. VP speed: the host VP of a half-speed root is
// busy exactly twice as long for the same packets.
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/scenario_testing.h"
#include "tools/scenario/runner.h"

namespace vmbsim::scenario {
namespace {

using testing::RunLibrary;

// The back-end's throughput at `vps` streaming VPs (one channel each).
double ServedPerSecond(int vps) {
  const RunReport r = RunLibrary("scaling_96vp", {"fabric.guests.0.vps=" + std::to_string(vps + 1),
                                                   "channels.0.sub_channels=" + std::to_string(vps - 1),
                                                   "channels.0.guest_driver.params.vp_count=" + std::to_string(vps)});
  EXPECT_TRUE(r.expectations_met) << vps << " VPs";
  EXPECT_EQ(r.causality_violations_total, 0u);
  if (r.backends.size() != 1) {
    ADD_FAILURE() << "expected one back-end";
    return 0;
  }
  const BackendFigures& f = r.backends[0].figures;
  EXPECT_EQ(f.window_ns, 10'000'000);  // stop 15 ms, warm-up 5 ms.
  return static_cast<double>(f.served) / (static_cast<double>(f.window_ns) / 1e9);
}

TEST(ScalingTest, ThroughputRisesWithVpsThenFlattensAtTheBackendsCapacity) {
  constexpr double kCapacity = 28 / 10e-6;  // 28 servers, 10 us each.
  constexpr double kPerVp = 1 / 20e-6;      // One packet per 20 us of service (the send costs come on top).
  const std::vector<int> vps = {16, 32, 48, 64, 96};
  std::vector<double> served;
  for (int n : vps) served.push_back(ServedPerSecond(n));
  for (size_t i = 1; i < served.size(); ++i) {
    EXPECT_GT(served[i], served[i - 1]) << vps[i] << " VPs against " << vps[i - 1];
  }
  // VP-bound: in proportion to the VPs, a little under n / 20 us.
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_LT(served[i], vps[i] * kPerVp) << vps[i] << " VPs";
    EXPECT_GT(served[i], 0.96 * vps[i] * kPerVp) << vps[i] << " VPs";
  }
  // Back-end-bound: 64 VPs offer 3.2 M/s, 96 VPs 4.8 M/s; both get the capacity.
  for (size_t i = 3; i < 5; ++i) {
    EXPECT_NEAR(served[i], kCapacity, 0.02 * kCapacity) << vps[i] << " VPs";
  }
}

TEST(BackendRunTest, EveryRequestIsServedAndTheRoundTripIncludesTheService) {
  const RunReport r = RunLibrary(
      "hello", {"backends=[{\"name\": \"disk\", \"servers\": 2, \"service\": {\"kind\": \"fixed\", \"ns\": 40000}}]",
                "channels.0.backend=disk"});
  ASSERT_TRUE(r.expectations_met);
  ASSERT_EQ(r.backends.size(), 1u);
  const BackendFigures& f = r.backends[0].figures;
  EXPECT_EQ(f.arrivals, 1000u);
  EXPECT_EQ(f.served, 1000u);
  EXPECT_EQ(f.service_mean_ns, 40000.0);
  // Busy server time is exactly the requests' service.
  EXPECT_NEAR(f.utilisation * f.servers * static_cast<double>(f.window_ns), 1000 * 40000.0, 1.0);
  ASSERT_EQ(r.channels.size(), 1u);
  EXPECT_EQ(r.channels[0].host_driver.at("backend_submitted"), 1000);
  EXPECT_GE(r.channels[0].metrics.guest_to_host.send_to_completion_ns.ValueAtQuantile(0.01), 40000);
}

TEST(VpSpeedRunTest, AHalfSpeedHostVpIsBusyTwiceAsLongForTheSameWork) {
  // Requests 100 us apart: each is served alone, so both runs do the same work.
  // The warm-up leaves out the start-up (the control plane's work differs in
  // timing, not in kind) and ends before the first request.
  const std::vector<std::string> open_loop = {
      "fabric.root_vps=1", "workloads.0.arrival={\"kind\": \"fixed_rate\", \"interval_ns\": 100000}",
      "workloads.0.requests=200", "workloads.0.start_ns=5000000", "stop.warmup_ns=4900000",
      "channels.0.monitored=false"};
  std::vector<std::string> slow = open_loop;
  slow.push_back("fabric.root_vp_speed=0.5");
  const RunReport nominal = RunLibrary("hello", open_loop);
  const RunReport half = RunLibrary("hello", slow);
  ASSERT_TRUE(nominal.expectations_met);
  ASSERT_TRUE(half.expectations_met);
  ASSERT_FALSE(nominal.vps.empty());
  ASSERT_EQ(nominal.vps[0].partition, 0);
  ASSERT_EQ(half.vps[0].partition, 0);
  EXPECT_EQ(half.vps[0].speed, 0.5);
  EXPECT_EQ(half.vps[0].work_items, nominal.vps[0].work_items);
  EXPECT_EQ(half.vps[0].busy_ns, 2 * nominal.vps[0].busy_ns);
  // The guest's VPs keep their speed and their time.
  for (size_t i = 1; i < nominal.vps.size(); ++i) EXPECT_EQ(half.vps[i].busy_ns, nominal.vps[i].busy_ns) << i;
}

TEST(RrVscSubChannelsTest, AClosedLoopDealsItsWindowOverTheChannels) {
  // 4 slots over the primary and 3 sub-channels, one each: about 250
  // requests each (the channels open at different times and share the
  // total of 1000, so the first ones open carry a few more).
  const RunReport r = RunLibrary("hello", {"fabric.guests.0.vps=4", "channels.0.sub_channels=3"});
  ASSERT_TRUE(r.expectations_met);
  ASSERT_EQ(r.channels.size(), 1u);
  EXPECT_EQ(r.channels[0].relids.size(), 4u);
  const std::map<std::string, int64_t>& g = r.channels[0].guest_driver;
  EXPECT_EQ(g.at("channels"), 4);
  EXPECT_GE(g.at("sent_per_channel_min"), 240);
  EXPECT_LE(g.at("sent_per_channel_max"), 260);
  EXPECT_EQ(r.channels[0].metrics.guest_to_host.packets_processed, 1000u);
}

TEST(RrVscSubChannelsTest, AnOpenLoopRequestGoesOutOnTheSendingVpsChannel) {
  // 1000 requests sent from VPs 0..3 in turn, from 3 ms (every channel is
  // open by then): each channel carries one VP's.
  const RunReport r = RunLibrary("hello", {"fabric.guests.0.vps=4", "channels.0.sub_channels=3",
                                           "workloads.0.arrival={\"kind\": \"fixed_rate\", \"interval_ns\": 5000}",
                                           "workloads.0.start_ns=3000000", "workloads.0.send_vps=[0, 1, 2, 3]"});
  ASSERT_TRUE(r.expectations_met);
  const std::map<std::string, int64_t>& g = r.channels[0].guest_driver;
  EXPECT_EQ(g.at("sent_per_channel_min"), 250);
  EXPECT_EQ(g.at("sent_per_channel_max"), 250);
  // With no sub-channels everything goes on the primary, as before.
  const RunReport one = RunLibrary("hello", {"fabric.guests.0.vps=4"});
  EXPECT_EQ(one.channels[0].guest_driver.at("channels"), 1);
  EXPECT_EQ(one.channels[0].guest_driver.at("sent_per_channel_max"), 1000);
}

}  // namespace
}  // namespace vmbsim::scenario
