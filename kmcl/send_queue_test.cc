// Goal: a send that waits in KMCL's send queue for ring space leaves it no
// earlier than its sender's local time at the call, even when the queue is
// flushed by work that preempted the sender (the hold of
// Runtime::EnqueueSend, released at the sender's VP clock).
// Method: the host serves requests at PASSIVE, stalling 20 us per request
// before completing it, so one work item makes every completion at the item's
// start in simulated time while its VP clock runs ahead. The guest's incoming
// ring holds only a few completions; the rest wait in the host's send queue.
// The guest's reads free space and the host's writer wake-up (a DPC that
// preempts the item) flushes the queue. Each completion must reach the guest
// no earlier than the host's local time when it was made.

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "kmcl/runtime.h"
#include "kmcl/testing/kmcl_world.h"
#include "sim/core/sim_time.h"
#include "vmbuskernelmodeclientlibapi.h"

namespace vmbsim::kmcl {
namespace {

using testing::KmclWorld;

constexpr GUID kType = {0x5e9d0a11, 0x7431, 0x4c2b, {9, 1, 7, 3, 5, 5, 2, 8}};
constexpr int kRequests = 12;
constexpr uint32_t kCompletionBytes = 1536;
constexpr ULONG kServiceUs = 20;

KmclWorld* g_world = nullptr;
std::vector<int64_t> g_made_ns;      // Host local time when completion i was made.
std::vector<int64_t> g_received_ns;  // Guest time when completion i arrived.

VOID HostServe(VMBCHANNEL, VMBPACKETCOMPLETION packet, PVOID, UINT32, UINT32) {
  KeStallExecutionProcessor(kServiceUs);
  g_made_ns.push_back(g_world->runtime().CallerNow().nanoseconds());
  static uint8_t response[kCompletionBytes] = {};
  VmbChannelPacketComplete(packet, response, sizeof(response));
}
VOID GuestPacket(VMBCHANNEL, VMBPACKETCOMPLETION packet, PVOID, UINT32, UINT32) {
  VmbChannelPacketComplete(packet, nullptr, 0);
}
VOID Completed(VMBPACKET packet, NTSTATUS status, PVOID, UINT32 length) {
  EXPECT_EQ(status, STATUS_SUCCESS);
  EXPECT_EQ(length, kCompletionBytes);
  g_received_ns.push_back(g_world->runtime().CallerNow().nanoseconds());
  VmbPacketFree(packet);
}

TEST(SendQueueTest, AQueuedCompletionLeavesNoEarlierThanItsSenderMadeIt) {
  KmclWorld world;
  g_world = &world;
  g_made_ns.clear();
  g_received_ns.clear();
  VMBCHANNEL server = nullptr;
  VMBCHANNEL client = nullptr;
  world.OnHost([&] {
    VmbChannelAllocate(world.host_device(), TRUE, &server);
    VmbServerChannelInitSetVmbusHandle(server, world.vmbus_handle());
    VmbServerChannelInitSetTargetInterfaceId(server, kType, kType);
    VmbChannelInitSetProcessPacketCallbacks(server, HostServe, nullptr);
    VmbChannelSetIncomingProcessingAtPassive(server, TRUE);
    VmbChannelEnable(server);
    VmbChannelStart(server);
  });
  world.OnGuest([&] {
    VmbChannelAllocate(world.guest_device(), FALSE, &client);
    // Two data pages in (8 KiB): a few 1.5 KiB completions at a time.
    ASSERT_EQ(VmbClientChannelInitSetRingBufferPageCount(client, 2, 8), STATUS_SUCCESS);
    VmbClientChannelInitSetTargetPnp(client, &kType, nullptr, nullptr);
    VmbChannelInitSetProcessPacketCallbacks(client, GuestPacket, nullptr);
    VmbChannelEnable(client);
  });
  world.Run();
  ASSERT_EQ(world.runtime().StateOf(client), "open");

  world.runtime().RunDispatch(1, 0, [&] {
    static uint8_t request[64] = {};
    for (int i = 0; i < kRequests; ++i) {
      VMBPACKET p = VmbPacketAllocate(client);
      VmbPacketSetCompletionRoutine(p, Completed);
      EXPECT_EQ(VmbPacketSend(p, request, sizeof(request), nullptr, VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION),
                STATUS_SUCCESS);
    }
  });
  world.Run();

  ASSERT_EQ(g_made_ns.size(), size_t{kRequests});
  ASSERT_EQ(g_received_ns.size(), size_t{kRequests});
  // The work item ran ahead: its last completion was made well after the
  // first could reach the guest, so the ring filled and completions queued.
  EXPECT_GT(g_made_ns.back() - g_made_ns.front(), int64_t{(kRequests - 2) * kServiceUs * 1000});
  for (int i = 0; i < kRequests; ++i) {
    EXPECT_GE(g_received_ns[i], g_made_ns[i]) << "completion " << i << " arrived before the host made it";
  }
  EXPECT_EQ(world.runtime().verifier().total_count(), 0u);
  EXPECT_EQ(world.runtime().live_packet_count(), 0u);
  g_world = nullptr;
}

}  // namespace
}  // namespace vmbsim::kmcl
