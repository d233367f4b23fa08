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
  void Attach(uint32_t relid, uint8_t monitor_id, uint16_t latency_100ns, bool shared = false) {
    ChannelAttachment a;
    a.guest = 1;
    a.relid = relid;
    a.connection_id = shared ? kVmbusEventConnectionId : 0x2000 | relid;
    a.shared_interrupt = shared;
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
      ASSERT_TRUE(host->SendCompletion(packet.descriptor.trans_id).ok());
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

// Shared signals: channels on the guest's shared connection are all rung by
// its one host interrupt; the connection stays bound until the last leaves.
TEST_F(FabricTest, ASharedSignalRingsEverySharedChannelUntilTheLastDetaches) {
  Build(CostModel::Default());
  Attach(1, kMonitorIdNone, 0, /*shared=*/true);
  Attach(2, kMonitorIdNone, 0, /*shared=*/true);
  Attach(3, kMonitorIdNone, 0, /*shared=*/true);
  Attach(4, kMonitorIdNone, 0);  // Dedicated: not rung by the others.
  SendFromGuest(2, SimTime::Zero(), 1);
  sim_.Run({});
  ASSERT_EQ(host_times_.size(), 1u);
  EXPECT_EQ(fabric_->counters().shared_interrupts, 1u);
  EXPECT_EQ(fabric_->counters().shared_doorbells, 3u);
  for (uint32_t relid : {1u, 2u, 3u}) EXPECT_EQ(fabric_->host_endpoint(1, relid)->counters().doorbells, 1u) << relid;
  EXPECT_EQ(fabric_->host_endpoint(1, 4)->counters().doorbells, 0u);
  // The same timing as a dedicated doorbell (DirectDoorbellRoundTripTimingIsExact).
  EXPECT_EQ(host_times_[0], 26562);
  // The channel that bound the connection leaves; the others still hear it.
  ASSERT_TRUE(fabric_->DetachChannel(1, 1).ok());
  SendFromGuest(3, SimTime::FromNanoseconds(1000000), 1);
  sim_.Run({});
  ASSERT_EQ(host_times_.size(), 2u);
  EXPECT_EQ(fabric_->counters().shared_doorbells, 5u);
  ASSERT_TRUE(fabric_->DetachChannel(1, 2).ok());
  ASSERT_TRUE(fabric_->DetachChannel(1, 3).ok());
  // Unbound with the last: a signal on it now reaches nothing, and a new
  // shared channel binds it again.
  EXPECT_EQ(SignalEventHypercall(fabric_->root().synic(), fabric_->guest(1).vp(0), kVmbusEventConnectionId),
            HvStatus::kInvalidConnectionId);
  Attach(5, kMonitorIdNone, 0, /*shared=*/true);
  SendFromGuest(5, SimTime::FromNanoseconds(2000000), 1);
  sim_.Run({});
  EXPECT_EQ(host_times_.size(), 3u);
  EXPECT_EQ(fabric_->counters().shared_interrupts, 3u);
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

namespace vmbsim::fabric {
namespace {

// Goal: a channel goes through the whole control plane and carries data:
// connect, offer, ring GPADL, open (the fabric attaches the data plane over
// the GPADL's pages), traffic through the monitored doorbell and back,
// close (detached), teardown; then a rescind during traffic fails nothing
// and leaves no data plane behind. Invariants of the SynICs, both state
// machines and the rings are checked after every event.
class FabricEndToEndTest : public ::testing::Test {
 protected:
  FabricEndToEndTest() {
    FabricConfig config;
    config.root.vp_count = 2;
    config.guests.push_back({.vp_count = 2});
    fabric_ = std::make_unique<Fabric>(&sim_, config);
    sim_.SetAfterEventHook([this] { fabric_->CheckInvariants(); });
    fabric_->SetChannelAttachedHook([this](uint16_t guest, uint32_t relid) {
      ChannelDataPath* host = fabric_->host_endpoint(guest, relid);
      host->SetPacketHandler(
          [host](const ParsedPacket& packet) { host->SendCompletion(packet.descriptor.trans_id).IgnoreError(); });
      fabric_->guest_endpoint(guest, relid)->SetPacketHandler([this](const ParsedPacket&) { ++completions_; });
    });
    fabric_->SetChannelDetachingHook([this](uint16_t, uint32_t) { ++detaches_; });
  }

  uint32_t OfferAndOpen() {
    OfferParams offer;
    offer.interface_id = Guid::FromFields(0xf8615163, 0xdf3e, 0x46c5, {0x91, 0x3f, 0xf2, 0xd2, 0xf9, 0x65, 0xed, 0x0e});
    offer.instance_id = Guid::FromFields(1, 2, 3, {4, 5, 6, 7, 8, 9, 10, 11});
    offer.monitored = true;
    offer.interrupt_latency_100ns = 500;  // 50 us.
    absl::StatusOr<uint32_t> relid = fabric_->server(1).OfferChannel(offer);
    EXPECT_TRUE(relid.ok()) << relid.status();
    absl::StatusOr<uint32_t> version;
    EXPECT_TRUE(fabric_->client(1).Connect(kVersionCopper, [&version](absl::StatusOr<uint32_t> v) { version = v; }).ok());
    sim_.Run({});
    EXPECT_TRUE(version.ok());
    EXPECT_EQ(fabric_->client(1).channel_state(*relid), ClientChannelState::kOffered);

    GpaRange ring;
    ring.byte_count = 8 * kPageSizeBytes;  // 4 + 4 pages.
    for (uint64_t pfn = 300; pfn < 308; ++pfn) ring.pfns.push_back(pfn);
    uint32_t gpadl_status = 1;
    absl::StatusOr<uint32_t> gpadl = fabric_->client(1).CreateGpadl(
        *relid, absl::MakeConstSpan(&ring, 1), [&gpadl_status](uint32_t status, uint32_t) { gpadl_status = status; });
    EXPECT_TRUE(gpadl.ok());
    sim_.Run({});
    EXPECT_EQ(gpadl_status, 0u);
    gpadl_ = *gpadl;

    uint32_t open_status = 1;
    EXPECT_TRUE(fabric_->client(1)
                    .OpenChannel(*relid, gpadl_, /*downstream_offset=*/4, /*target_vp=*/1, {},
                                 [&open_status](uint32_t status) { open_status = status; })
                    .ok());
    sim_.Run({});
    EXPECT_EQ(open_status, 0u);
    EXPECT_EQ(fabric_->attached_channel_count(), 1u);
    EXPECT_EQ(fabric_->server(1).channel_state(*relid), ServerChannelState::kOpen);
    return *relid;
  }

  void Send(uint32_t relid, int count) {
    for (int i = 0; i < count; ++i) {
      fabric_->guest(1).vp(1).Queue(Irql::kPassive, sim::SimDuration::Nanoseconds(500), [this, relid] {
        ChannelDataPath* guest = fabric_->guest_endpoint(1, relid);
        if (guest == nullptr) return;  // Rescinded meanwhile.
        OutgoingPacket packet;
        packet.trans_id = ++sent_;
        packet.payload = absl::MakeConstSpan(payload_);
        guest->Send(packet).IgnoreError();
      });
    }
  }

  sim::Simulator sim_{{.seed = 3}};
  std::unique_ptr<Fabric> fabric_;
  std::vector<uint8_t> payload_ = std::vector<uint8_t>(64, 1);
  uint32_t gpadl_ = 0;
  uint64_t sent_ = 0;
  uint64_t completions_ = 0;
  int detaches_ = 0;
};

TEST_F(FabricEndToEndTest, OpenTrafficCloseTeardown) {
  const uint32_t relid = OfferAndOpen();
  Send(relid, 20);
  sim_.Run({});
  EXPECT_EQ(completions_, 20u);
  EXPECT_GE(fabric_->monitor_page(1).fires(), 1u);  // The guest used the monitor page.
  EXPECT_EQ(fabric_->root().synic().counters().signal_hypercalls, 0u);

  ASSERT_TRUE(fabric_->client(1).CloseChannel(relid).ok());
  sim_.Run({});
  EXPECT_EQ(detaches_, 1);
  EXPECT_EQ(fabric_->attached_channel_count(), 0u);
  EXPECT_EQ(fabric_->server(1).channel_state(relid), ServerChannelState::kClosed);
  uint32_t teardown_status = 1;
  ASSERT_TRUE(fabric_->client(1).TeardownGpadl(relid, gpadl_, [&](uint32_t s) { teardown_status = s; }).ok());
  sim_.Run({});
  EXPECT_EQ(teardown_status, 0u);
  EXPECT_TRUE(fabric_->server(1).violations().empty());
  EXPECT_TRUE(fabric_->client(1).violations().empty());
}

// The offer's bytes 40-47 are 0, as Windows 8 and later hosts send them;
// the channel's monitor latency (50 us here) reaches the guest only through
// the monitor page. (Before: the offer carried 500 there.)
TEST_F(FabricEndToEndTest, MonitorLatencyIsInTheMonitorPageNotTheOffer) {
  const uint32_t relid = OfferAndOpen();
  const OfferChannel* offer = fabric_->client(1).offer(relid);
  ASSERT_NE(offer, nullptr);
  EXPECT_EQ(offer->reserved1, 0u);
  std::vector<uint8_t> wire = Encode(ChannelMessage(*offer));
  ASSERT_GE(wire.size(), 48u);
  for (size_t i = 40; i < 48; ++i) EXPECT_EQ(wire[i], 0u) << "offer byte " << i;
  ASSERT_NE(offer->monitor_id, kMonitorIdNone);
  EXPECT_EQ(fabric_->monitor_page(1).latency_100ns(offer->monitor_id), 500u);
}

// After MODIFYCHANNEL the guest's drain (its DPC) runs on the VP the
// interrupt now targets, and the response arrives after the move. (Before:
// the interrupt moved, the drain stayed on the old VP.)
TEST_F(FabricEndToEndTest, ModifyChannelMovesTheDrainWithTheInterrupt) {
  const uint32_t relid = OfferAndOpen();  // Guest VP 1.
  ChannelDataPath* guest = fabric_->guest_endpoint(1, relid);
  ASSERT_NE(guest, nullptr);
  EXPECT_EQ(guest->vp().vp_index(), 1u);
  std::optional<uint32_t> status;
  uint32_t vp_at_response = 99;
  ASSERT_TRUE(fabric_->client(1)
                  .ModifyChannel(relid, 0,
                                 [&](uint32_t s) {
                                   status = s;
                                   vp_at_response = fabric_->guest_endpoint(1, relid)->vp().vp_index();
                                 })
                  .ok());
  sim_.Run({});
  EXPECT_EQ(status, kStatusSuccess);
  EXPECT_EQ(vp_at_response, 0u);
  const uint64_t vp0_items = fabric_->guest(1).vp(0).items_run();
  const uint64_t vp1_items = fabric_->guest(1).vp(1).items_run();
  Send(relid, 20);  // Sent from guest VP 1; the completions' drains run on VP 0.
  sim_.Run({});
  EXPECT_EQ(completions_, 20u);
  EXPECT_GT(fabric_->guest(1).vp(0).items_run(), vp0_items);
  EXPECT_EQ(fabric_->guest(1).vp(1).items_run() - vp1_items, 20u);  // Its sends only.
}

TEST_F(FabricEndToEndTest, RescindDuringTrafficDetachesTheDataPlane) {
  const uint32_t relid = OfferAndOpen();
  Send(relid, 200);
  sim_.ScheduleAfter(sim::SimDuration::Microseconds(60), [this, relid] {
    ASSERT_TRUE(fabric_->server(1).RescindChannel(relid).ok());
  });
  sim_.Run({});
  EXPECT_EQ(detaches_, 1);
  EXPECT_EQ(fabric_->attached_channel_count(), 0u);
  EXPECT_TRUE(fabric_->client(1).rescinded(relid));
  EXPECT_LT(completions_, 200u);  // Traffic was cut off, not completed.
  EXPECT_EQ(fabric_->server(1).channel_state(relid), ServerChannelState::kRevoked);
  ASSERT_TRUE(fabric_->client(1).CloseChannel(relid).ok());
  ASSERT_TRUE(fabric_->client(1).ReleaseRelid(relid).ok());
  sim_.Run({});
  EXPECT_FALSE(fabric_->server(1).channel_state(relid).has_value());  // The relid is free again.
}

}  // namespace
}  // namespace vmbsim::fabric
