// Goal: with RuntimeOptions::transaction_metrics the runtime counts every
// channel's sends, first deliveries and finished transactions, and times
// send->process and send->completion, attributed to (guest, relid) and the
// sender's direction; without the option it measures nothing.
// Method: one client and one echo server through the public C header; the
// host also sends packets without WAIT_FOR_COMPLETION, and the guest sends
// before its channel is open. The figures are checked against what the
// test's own callbacks saw.

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "kmcl/runtime.h"
#include "kmcl/testing/kmcl_world.h"
#include "vmbuskernelmodeclientlibapi.h"

namespace vmbsim::kmcl {
namespace {

using testing::KmclWorld;

constexpr GUID kType = {0x3e7a11c5, 0x2468, 0x1357, {2, 7, 1, 8, 2, 8, 1, 8}};

// What the callbacks saw (one world at a time).
struct Seen {
  int host_packets = 0;
  int guest_packets = 0;
  int completions = 0;
  int failed_completions = 0;
};
Seen g_seen;

VOID HostPacket(VMBCHANNEL, VMBPACKETCOMPLETION packet, PVOID, UINT32, UINT32) {
  ++g_seen.host_packets;
  static UINT64 status = 0;
  VmbChannelPacketComplete(packet, &status, sizeof(status));
}
VOID GuestPacket(VMBCHANNEL, VMBPACKETCOMPLETION packet, PVOID, UINT32, UINT32) {
  ++g_seen.guest_packets;
  VmbChannelPacketComplete(packet, nullptr, 0);
}
VOID Completed(VMBPACKET packet, NTSTATUS status, PVOID, UINT32) {
  ++g_seen.completions;
  if (status != STATUS_SUCCESS) ++g_seen.failed_completions;
  VmbPacketFree(packet);
}

class TransactionMetricsTest : public ::testing::Test {
 protected:
  void Build(bool metrics) {
    g_seen = {};
    world_ = std::make_unique<KmclWorld>(testing::WorldOptions{.runtime = {.transaction_metrics = metrics}});
    world_->OnHost([this] {
      VmbChannelAllocate(world_->host_device(), TRUE, &server_);
      VmbServerChannelInitSetVmbusHandle(server_, world_->vmbus_handle());
      VmbServerChannelInitSetTargetInterfaceId(server_, kType, kType);
      VmbChannelInitSetProcessPacketCallbacks(server_, HostPacket, nullptr);
      VmbChannelEnable(server_);
      VmbChannelStart(server_);
    });
  }

  // Enables the client; `before_open` requests are sent right after Enable,
  // while the channel is still opening (they wait in KMCL's send queue).
  void EnableClient(int before_open) {
    world_->OnGuest([this, before_open] {
      VmbChannelAllocate(world_->guest_device(), FALSE, &client_);
      VmbClientChannelInitSetTargetPnp(client_, &kType, nullptr, nullptr);
      VmbChannelInitSetProcessPacketCallbacks(client_, GuestPacket, nullptr);
      VmbChannelEnable(client_);
      for (int i = 0; i < before_open; ++i) Send(client_, /*wait=*/true);
    });
    world_->Run();
  }

  static void Send(VMBCHANNEL channel, bool wait) {
    static uint8_t request[64] = {};
    VMBPACKET p = VmbPacketAllocate(channel);
    ASSERT_NE(p, nullptr);
    VmbPacketSetCompletionRoutine(p, Completed);
    EXPECT_EQ(VmbPacketSend(p, request, sizeof(request), nullptr,
                            wait ? VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION : 0),
              STATUS_SUCCESS);
  }

  void GuestSends(int count) {
    world_->runtime().RunDispatch(1, 0, [this, count] {
      for (int i = 0; i < count; ++i) Send(client_, /*wait=*/true);
    });
    world_->Run();
  }
  void HostSends(int count) {
    world_->runtime().RunDispatch(0, 0, [this, count] {
      for (int i = 0; i < count; ++i) Send(server_, /*wait=*/false);
    });
    world_->Run();
  }

  ChannelTransactions Figures() {
    const uint32_t relid = world_->runtime().RelidOf(client_);
    EXPECT_NE(relid, 0u);
    return world_->runtime().TransactionsFor(1, relid);
  }

  std::unique_ptr<KmclWorld> world_;
  VMBCHANNEL server_ = nullptr;
  VMBCHANNEL client_ = nullptr;
};

TEST_F(TransactionMetricsTest, RequestsAreCountedAndTimedInTheGuestToHostDirection) {
  Build(/*metrics=*/true);
  EnableClient(0);
  GuestSends(10);
  ASSERT_EQ(g_seen.host_packets, 10);
  ASSERT_EQ(g_seen.completions, 10);
  const ChannelTransactions t = Figures();
  const DirectionTransactions& d = t.guest_to_host;
  EXPECT_EQ(d.packets_sent, 10u);
  EXPECT_EQ(d.bytes_sent, 640u);
  EXPECT_EQ(d.packets_processed, 10u);
  EXPECT_EQ(d.bytes_processed, 640u);
  EXPECT_EQ(d.transactions_finished, 10u);
  EXPECT_EQ(d.transactions_failed, 0u);
  EXPECT_EQ(d.queued_sends, 0u);
  ASSERT_EQ(d.send_to_process_ns.count(), 10u);
  ASSERT_EQ(d.send_to_completion_ns.count(), 10u);
  // The default costs put time between each step; a request is processed
  // before its completion comes back.
  EXPECT_GT(d.send_to_process_ns.min(), 0);
  EXPECT_LT(d.send_to_process_ns.max(), d.send_to_completion_ns.max());
  EXPECT_LT(d.send_to_process_ns.sum(), d.send_to_completion_ns.sum());
  // Completion packets are not sends.
  EXPECT_EQ(t.host_to_guest.packets_sent, 0u);
  EXPECT_EQ(t.host_to_guest.packets_processed, 0u);
  EXPECT_EQ(world_->runtime().unfinished_sends(), 0u);
}

// Without WAIT_FOR_COMPLETION a transaction finishes when its packet enters
// the ring; the packet's delivery, later, is still timed from its send.
TEST_F(TransactionMetricsTest, SendsWithoutWaitFinishAtRingEntryAndAreProcessedLater) {
  Build(/*metrics=*/true);
  EnableClient(0);
  HostSends(5);
  ASSERT_EQ(g_seen.guest_packets, 5);
  const DirectionTransactions& d = Figures().host_to_guest;
  EXPECT_EQ(d.packets_sent, 5u);
  EXPECT_EQ(d.transactions_finished, 5u);
  EXPECT_EQ(d.packets_processed, 5u);
  ASSERT_EQ(d.send_to_process_ns.count(), 5u);
  EXPECT_LT(d.send_to_completion_ns.max(), d.send_to_process_ns.min());
  EXPECT_EQ(world_->runtime().unfinished_sends(), 0u);
}

// Sends made before the client knew its relid are counted in the channel it
// then opened, as queued.
TEST_F(TransactionMetricsTest, SendsBeforeTheOpenLandInTheChannelItOpened) {
  Build(/*metrics=*/true);
  EnableClient(3);
  ASSERT_EQ(g_seen.host_packets, 3);
  const DirectionTransactions& d = Figures().guest_to_host;
  EXPECT_EQ(d.packets_sent, 3u);
  EXPECT_EQ(d.queued_sends, 3u);
  EXPECT_EQ(d.packets_processed, 3u);
  EXPECT_EQ(d.transactions_finished, 3u);
}

// A send whose channel goes away first stays unfinished until its
// completion routine runs with a failure.
TEST_F(TransactionMetricsTest, UnfinishedSendsAreCountedUntilTheyFinish) {
  Build(/*metrics=*/true);
  EnableClient(0);
  world_->OnHost([this] { VmbChannelPause(server_); });  // Holds the requests in the ring.
  world_->Run();
  GuestSends(4);
  EXPECT_EQ(world_->runtime().unfinished_sends(), 4u);
  EXPECT_EQ(Figures().guest_to_host.transactions_finished, 0u);
  world_->OnGuest([this] { VmbChannelDisable(client_); });
  world_->Run();
  EXPECT_EQ(g_seen.failed_completions, 4);
  EXPECT_EQ(world_->runtime().unfinished_sends(), 0u);
}

TEST_F(TransactionMetricsTest, NothingIsMeasuredUnlessAsked) {
  Build(/*metrics=*/false);
  EnableClient(2);
  GuestSends(10);
  HostSends(5);
  ASSERT_EQ(g_seen.host_packets, 12);
  const ChannelTransactions t = Figures();
  EXPECT_EQ(t.guest_to_host.packets_sent, 0u);
  EXPECT_EQ(t.host_to_guest.packets_sent, 0u);
  EXPECT_EQ(t.guest_to_host.send_to_process_ns.count(), 0u);
  EXPECT_EQ(world_->runtime().unfinished_sends(), 0u);
}

}  // namespace
}  // namespace vmbsim::kmcl
