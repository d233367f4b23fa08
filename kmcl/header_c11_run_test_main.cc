// Runs the C11 drivers of header_c11_run_test.c over a simulated world:
// open, traffic both ways with echoed completions, guest close, host close,
// cleanup. The drivers record what they saw; this checks it.

#include <string>

#include "gtest/gtest.h"
#include "kmcl/header_c11_run_test.h"
#include "kmcl/testing/kmcl_world.h"

namespace vmbsim::kmcl {
namespace {

using testing::KmclWorld;

class HeaderC11RunTest : public ::testing::Test {
 protected:
  HeaderC11RunTest() { VmbsimC11Scenario_Reset(); }

  // Runs `phase` as PASSIVE driver code on the host or the guest, then the
  // simulator until it is idle; returns the phase's result.
  int OnHost(int (*phase)()) {
    int result = -1;
    world_.OnHost([&result, phase] { result = phase(); });
    world_.Run();
    return result;
  }
  int OnGuest(int (*phase)()) {
    int result = -1;
    world_.OnGuest([&result, phase] { result = phase(); });
    world_.Run();
    return result;
  }

  const VmbsimC11Results& results() { return *VmbsimC11Scenario_Results(); }

  KmclWorld world_;
};

TEST_F(HeaderC11RunTest, CDriversRunAChannelThroughItsWholeLife) {
  int result = -1;
  world_.OnHost([&] { result = VmbsimC11Scenario_Host(world_.host_device(), world_.vmbus_handle()); });
  world_.Run();
  ASSERT_EQ(result, 0) << "failed step " << results().failed_step << " status 0x" << std::hex
                       << results().failed_status;
  world_.OnGuest([&] { result = VmbsimC11Scenario_Guest(world_.guest_device()); });
  world_.Run();
  ASSERT_EQ(result, 0) << "failed step " << results().failed_step << " status 0x" << std::hex
                       << results().failed_status;
  EXPECT_EQ(std::string(results().host.events), "OSP");
  EXPECT_EQ(std::string(results().guest.events), "OSP");
  EXPECT_EQ(world_.runtime().StateOf(results().host.channel), "open");
  EXPECT_EQ(world_.runtime().StateOf(results().guest.channel), "open");

  // Requests both ways, each echoed in its completion.
  ASSERT_EQ(OnGuest(VmbsimC11Scenario_GuestSend), 0) << results().failed_step;
  ASSERT_EQ(OnHost(VmbsimC11Scenario_HostSend), 0) << results().failed_step;
  for (const VmbsimC11Endpoint* endpoint : {&results().host, &results().guest}) {
    SCOPED_TRACE(endpoint == &results().host ? "host" : "guest");
    EXPECT_EQ(endpoint->sent, VMBSIM_C11_PACKETS);
    EXPECT_EQ(endpoint->packets_processed, VMBSIM_C11_PACKETS);
    EXPECT_EQ(endpoint->bad_packets, 0);
    EXPECT_EQ(endpoint->processing_complete_sum, VMBSIM_C11_PACKETS);
    EXPECT_EQ(endpoint->completions, VMBSIM_C11_PACKETS);
    EXPECT_EQ(endpoint->completions_ok, VMBSIM_C11_PACKETS);
    EXPECT_EQ(endpoint->completion_mismatches, 0);
    EXPECT_EQ(endpoint->completed_twice, 0);
    for (int i = 0; i < VMBSIM_C11_PACKETS; ++i) EXPECT_EQ(endpoint->completion_seen[i], 1) << i;
  }
  EXPECT_EQ(world_.runtime().live_packet_count(), 0u);  // Every completion routine freed its packet.
  EXPECT_EQ(world_.runtime().live_completion_count(), 0u);

  // The guest closes: both endpoints suspend and close; the offer stays.
  ASSERT_EQ(OnGuest(VmbsimC11Scenario_GuestClose), 0);
  EXPECT_EQ(std::string(results().guest.events), "OSPUC");
  EXPECT_EQ(std::string(results().host.events), "OSPUC");
  EXPECT_EQ(world_.runtime().StateOf(results().guest.channel), "disabled");
  EXPECT_EQ(world_.runtime().StateOf(results().host.channel), "peer_closed");

  ASSERT_EQ(OnHost(VmbsimC11Scenario_HostClose), 0);
  EXPECT_EQ(world_.runtime().StateOf(results().host.channel), "disabled");
  EXPECT_EQ(std::string(results().host.events), "OSPUC");  // Nothing more: it was not open.

  ASSERT_EQ(OnGuest(VmbsimC11Scenario_GuestCleanup), 0);
  ASSERT_EQ(OnHost(VmbsimC11Scenario_HostCleanup), 0);
  EXPECT_EQ(world_.runtime().StateOf(results().host.channel), "invalid");
  EXPECT_EQ(world_.runtime().StateOf(results().guest.channel), "invalid");
  EXPECT_EQ(world_.runtime().channel_count(), 0u);
  EXPECT_EQ(results().failed_step, 0);
  EXPECT_EQ(world_.runtime().verifier().total_count(), 0u);
  EXPECT_EQ(world_.runtime().peer_violations().size(), 0u);
}

}  // namespace
}  // namespace vmbsim::kmcl
