// Goal: the runtime's causality check catches a packet seen before its cause
// (a request processed before it was sent, a completion seen before its
// request was processed) and names the packet; an honest run has none.
// Method: one client and one server through the public C header with
// transaction metrics on. The host holds the request without completing it;
// the test then writes, straight into the host's ring, a completion (and a
// request) whose cause tag lies in the future, as a broken fabric would.

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "kmcl/runtime.h"
#include "kmcl/testing/kmcl_world.h"
#include "kmcl/trace_kinds.h"
#include "sim/fabric/channel_data_path.h"
#include "vmbuskernelmodeclientlibapi.h"

namespace vmbsim::kmcl {
namespace {

using testing::KmclWorld;

constexpr GUID kType = {0x3e7a11c5, 0x2468, 0x1357, {2, 7, 1, 8, 2, 8, 1, 9}};

VMBPACKETCOMPLETION g_held = nullptr;
int g_guest_packets = 0;

VOID HostHolds(VMBCHANNEL, VMBPACKETCOMPLETION packet, PVOID, UINT32, UINT32) { g_held = packet; }
VOID GuestPacket(VMBCHANNEL, VMBPACKETCOMPLETION packet, PVOID, UINT32, UINT32) {
  ++g_guest_packets;
  VmbChannelPacketComplete(packet, nullptr, 0);
}
VOID Completed(VMBPACKET packet, NTSTATUS, PVOID, UINT32) { VmbPacketFree(packet); }

// Remembers the transaction ids of guest sends.
class SendIds : public sim::TraceSink {
 public:
  void OnRecord(const sim::TraceRecord& r) override {
    if (r.kind == kKmclSendTraceKind && r.partition == 1) ids.push_back(r.id1);
  }
  std::vector<uint64_t> ids;
};

class CausalityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    g_held = nullptr;
    g_guest_packets = 0;
    world_.sim().tracer().AddSink(&sends_);
    world_.OnHost([this] {
      VmbChannelAllocate(world_.host_device(), TRUE, &server_);
      VmbServerChannelInitSetVmbusHandle(server_, world_.vmbus_handle());
      VmbServerChannelInitSetTargetInterfaceId(server_, kType, kType);
      VmbChannelInitSetProcessPacketCallbacks(server_, HostHolds, nullptr);
      VmbChannelEnable(server_);
      VmbChannelStart(server_);
    });
    world_.OnGuest([this] {
      VmbChannelAllocate(world_.guest_device(), FALSE, &client_);
      VmbClientChannelInitSetTargetPnp(client_, &kType, nullptr, nullptr);
      VmbChannelInitSetProcessPacketCallbacks(client_, GuestPacket, nullptr);
      VmbChannelEnable(client_);
    });
    world_.Run();
    world_.runtime().RunDispatch(1, 0, [this] {
      static uint8_t request[64] = {};
      VMBPACKET p = VmbPacketAllocate(client_);
      VmbPacketSetCompletionRoutine(p, Completed);
      EXPECT_EQ(VmbPacketSend(p, request, sizeof(request), nullptr, VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION),
                STATUS_SUCCESS);
    });
    world_.Run();
    ASSERT_NE(g_held, nullptr);
    ASSERT_EQ(sends_.ids.size(), 1u);
    relid_ = world_.runtime().RelidOf(client_);
  }
  void TearDown() override { world_.sim().tracer().RemoveSink(&sends_); }

  // A tag for a cause 1 ms in the future (tags are time + 1).
  uint64_t FutureTag() { return static_cast<uint64_t>(world_.sim().Now().nanoseconds()) + 1'000'000 + 1; }

  KmclWorld world_{testing::WorldOptions{.runtime = {.transaction_metrics = true}}};
  SendIds sends_;
  VMBCHANNEL server_ = nullptr;
  VMBCHANNEL client_ = nullptr;
  uint32_t relid_ = 0;
};

TEST_F(CausalityTest, AnHonestRoundTripHasNoViolation) {
  world_.runtime().RunDispatch(0, 0, [] { VmbChannelPacketComplete(g_held, nullptr, 0); });
  world_.Run();
  EXPECT_TRUE(world_.runtime().causality_violations().empty());
  EXPECT_EQ(world_.runtime().TransactionsFor(1, relid_).guest_to_host.transactions_finished, 1u);
}

TEST_F(CausalityTest, ACompletionSeenBeforeItsRequestWasProcessedIsNamed) {
  const uint64_t trans_id = sends_.ids[0];
  world_.runtime().RunDispatch(0, 0, [&] {
    fabric::ChannelDataPath* host = world_.fabric().host_endpoint(1, relid_);
    ASSERT_NE(host, nullptr);
    ASSERT_TRUE(host->SendCompletion(trans_id, {}, FutureTag()).ok());
  });
  world_.Run();
  const std::vector<CausalityViolation>& v = world_.runtime().causality_violations();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].trans_id, trans_id);
  EXPECT_EQ(v[0].guest, 1u);
  EXPECT_EQ(v[0].relid, relid_);
  EXPECT_EQ(v[0].what, "completion seen before its request was processed");
  EXPECT_LT(v[0].time, v[0].cause_time);
}

TEST_F(CausalityTest, ARequestProcessedBeforeItWasSentIsNamedAndNotTimed) {
  world_.runtime().RunDispatch(0, 0, [&] {
    fabric::ChannelDataPath* host = world_.fabric().host_endpoint(1, relid_);
    ASSERT_NE(host, nullptr);
    static const uint8_t payload[8] = {};
    fabric::OutgoingPacket packet;
    packet.trans_id = 77;
    packet.tag = FutureTag();
    packet.payload = absl::MakeConstSpan(payload);
    ASSERT_TRUE(host->Send(packet).ok());
  });
  world_.Run();
  EXPECT_EQ(g_guest_packets, 1);
  const std::vector<CausalityViolation>& v = world_.runtime().causality_violations();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].trans_id, 77u);
  EXPECT_EQ(v[0].what, "request processed before it was sent");
  // The negative interval is not recorded as a latency.
  EXPECT_EQ(world_.runtime().TransactionsFor(1, relid_).host_to_guest.send_to_process_ns.count(), 0u);
}

}  // namespace
}  // namespace vmbsim::kmcl
