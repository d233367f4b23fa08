// Goal: the fabric wires an open channel's two endpoints to real rings in
// guest memory and to their doorbells, with the documented timing: a direct
// guest->host doorbell costs the hypercall, the SINT delivery (plus the
// wake-up of a halted VP) and the ISR hop; a monitored channel's doorbell
// waits for the monitor window; host->guest doorbells are direct events.
// Method: echo traffic through the fabric with the default cost model, exact
// times asserted; the fabric invariant checker runs after every event.
#include "sim/fabric/fabric.h"

#include <vector>

#include "gtest/gtest.h"

namespace vmbsim::fabric {
namespace {

using sim::SimDuration;
using sim::SimTime;

class FabricTest : public ::testing::Test {
 protected:
  void Build(const CostModel& costs) {
    FabricConfig config;
    config.costs = costs;
    config.root.vp_count = 2;
    config.guests.push_back({.vp_count = 2});
    fabric_ = std::make_unique<Fabric>(&sim_, config);
    sim_.SetAfterEventHook([this] { fabric_->CheckInvariants(); });
  }

  // A channel with 2+2 ring pages at PFN 100.., echoing every packet back.
  void Attach(uint32_t relid, uint8_t monitor_id, uint16_t latency_100ns) {
    ChannelAttachment a;
    a.guest = 1;
    a.relid = relid;
    a.connection_id = 0x2000 | relid;
    a.monitor_id = monitor_id;
    a.monitor_latency_100ns = latency_100ns;
    a.guest_target_vp = 1;
    a.host_vp = 0;
    for (uint64_t i = 0; i < 4; ++i) a.ring_pfns.push_back(100 + 8 * relid + i);
    a.downstream_offset = 2;
    ASSERT_TRUE(fabric_->AttachChannel(a).ok());
    ChannelDataPath* host = fabric_->host_endpoint(1, relid);
    ChannelDataPath* guest = fabric_->guest_endpoint(1, relid);
    host->SetPacketHandler([this, host](const ParsedPacket& packet) {
      host_times_.push_back(sim_.Now().nanoseconds());
      OutgoingPacket reply;
      reply.type = PacketType::kComp;
      reply.trans_id = packet.descriptor.trans_id;
      ASSERT_TRUE(host->Send(reply).ok());
    });
    guest->SetPacketHandler([this](const ParsedPacket&) { guest_times_.push_back(sim_.Now().nanoseconds()); });
  }

  void SendFromGuest(uint32_t relid, SimTime at, int count) {
    struct Send {
      FabricTest* test;
      uint32_t relid;
      void operator()() const {
        OutgoingPacket packet;
        packet.trans_id = 7;
        packet.payload = absl::MakeConstSpan(test->payload_);
        ASSERT_TRUE(test->fabric_->guest_endpoint(1, relid)->Send(packet).ok());
      }
    };
    for (int i = 0; i < count; ++i) {
      sim_.ScheduleAt(at, [this, relid] {
        fabric_->guest(1).vp(1).Queue(Irql::kPassive, SimDuration::Zero(), Send{this, relid});
      });
    }
  }

  sim::Simulator sim_{{.seed = 1}};
  std::unique_ptr<Fabric> fabric_;
  std::vector<uint8_t> payload_ = std::vector<uint8_t>(100, 0x5A);
  std::vector<int64_t> host_times_;
  std::vector<int64_t> guest_times_;
};

TEST_F(FabricTest, DirectDoorbellRoundTripTimingIsExact) {
  Build(CostModel::Default());
  Attach(5, kMonitorIdNone, 0);
  SendFromGuest(5, SimTime::Zero(), 1);
  sim_.Run({});
  // Guest: copy the 120-byte packet (50 + 12 ns) then HvSignalEvent
  // (1500 ns): the event is set at 1562. The host VP is halted: delivery
  // 3000 + wake-up 20000, then the ISR hop 2000: the drain reads at 26562.
  ASSERT_EQ(host_times_.size(), 1u);
  EXPECT_EQ(host_times_[0], 26562);
  // Host echo: copy 16 bytes (50 + 1 ns) inside the read item, which already
  // charged the read copy (62); the event is set at the host's clock
  // 26562 + 62 + 51 = 26675. Guest VP 1 is halted: 3000 + 20000 + 2000.
  ASSERT_EQ(guest_times_.size(), 1u);
  EXPECT_EQ(guest_times_[0], 26675 + 25000);
  EXPECT_EQ(fabric_->counters().guest_to_host_signals, 1u);
  EXPECT_EQ(fabric_->counters().host_to_guest_signals, 1u);
  EXPECT_EQ(fabric_->root().synic().counters().signal_hypercalls, 1u);
}

TEST_F(FabricTest, MonitoredDoorbellWaitsForTheWindowAndBatches) {
  Build(CostModel::Default());
  Attach(6, /*monitor_id=*/3, /*latency_100ns=*/1000);  // 100 us.
  SendFromGuest(6, SimTime::Zero(), 10);
  sim_.Run({});
  ASSERT_EQ(host_times_.size(), 10u);
  // One doorbell (the first write found the ring empty), set at the
  // guest's clock 62 + 50 (the locked OR), fired 100 us later, delivered to
  // the halted host VP 25 us after that; all ten packets in one batch.
  EXPECT_EQ(host_times_[0], 112 + 100000 + 25000);
  EXPECT_EQ(fabric_->monitor_page(1).fires(), 1u);
  EXPECT_EQ(fabric_->root().synic().counters().signal_hypercalls, 0u);
  EXPECT_EQ(fabric_->host_endpoint(1, 6)->counters().batches, 1u);
  EXPECT_EQ(fabric_->guest_endpoint(1, 6)->counters().signals_suppressed, 9u);
  EXPECT_EQ(guest_times_.size(), 10u);
}

TEST_F(FabricTest, ZeroCostProfileKeepsCausalOrder) {
  Build(CostModel::Zero());
  Attach(1, kMonitorIdNone, 0);
  Attach(2, /*monitor_id=*/0, /*latency_100ns=*/0);
  SendFromGuest(1, SimTime::Zero(), 50);
  SendFromGuest(2, SimTime::Zero(), 50);
  sim_.Run({});
  EXPECT_EQ(host_times_.size(), 100u);
  EXPECT_EQ(guest_times_.size(), 100u);
  EXPECT_EQ(sim_.Now(), SimTime::Zero());
}

TEST_F(FabricTest, AttachRejectsBadGeometryAndDuplicates) {
  Build(CostModel::Zero());
  ChannelAttachment a;
  a.relid = 9;
  a.connection_id = 0x2009;
  a.ring_pfns = {200, 201, 202};
  a.downstream_offset = 2;  // The host->guest ring would have 1 page.
  EXPECT_EQ(fabric_->AttachChannel(a).code(), absl::StatusCode::kInvalidArgument);
  a.ring_pfns.push_back(203);
  a.guest = 2;  // No such guest.
  EXPECT_EQ(fabric_->AttachChannel(a).code(), absl::StatusCode::kInvalidArgument);
  a.guest = 1;
  a.guest_target_vp = 7;
  EXPECT_EQ(fabric_->AttachChannel(a).code(), absl::StatusCode::kInvalidArgument);
  a.guest_target_vp = 0;
  EXPECT_TRUE(fabric_->AttachChannel(a).ok());
  EXPECT_EQ(fabric_->AttachChannel(a).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(fabric_->DetachChannel(1, 9).ok());
  EXPECT_EQ(fabric_->DetachChannel(1, 9).code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace vmbsim::fabric
