// Goal: the VMBus control plane (vmbus_server.h, vmbus_client.h) keeps the
// channel-management protocol of spec 4.3-4.8, 5 and 7.1-7.3 on both sides:
// version fallback, offers, the GPADL / open / close / teardown lifecycle,
// rescinds at each step, unload, SynIC back-pressure, and rejection of every
// illegal message without a state change. Method: a real Simulator with a
// root partition (2 VPs) and a guest partition (2 VPs), one Synic each; the
// server and client exchange real encoded messages through the Synics. After
// every event both Synics, both state machines and a set of cross-side
// invariants are checked. Illegal messages are injected as raw bytes.
#include <algorithm>
#include <array>
#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "sim/core/sim_time.h"
#include "sim/core/simulator.h"
#include "sim/core/trace.h"
#include "sim/fabric/channel_messages.h"
#include "sim/fabric/cost_model.h"
#include "sim/fabric/gpadl_messages.h"
#include "sim/fabric/packet_format.h"
#include "sim/fabric/synic.h"
#include "sim/fabric/trace_kinds.h"
#include "sim/fabric/virtual_processor.h"
#include "sim/fabric/vmbus_client.h"
#include "sim/fabric/vmbus_server.h"

namespace vmbsim::fabric {
namespace {

using sim::SimDuration;
using sim::SimTime;

constexpr uint16_t kHostPartition = 0;
constexpr uint16_t kGuestPartition = 1;
constexpr uint64_t kMonitorPage1Gpa = 0x10000;
constexpr uint64_t kMonitorPage2Gpa = 0x11000;
constexpr Guid kNetInterface =
    Guid::FromFields(0xf8615163, 0xdf3e, 0x46c5, {0x91, 0x3f, 0xf2, 0xd2, 0xf9, 0x65, 0xed, 0x0e});

Guid Instance(uint8_t n) {
  return Guid::FromFields(0x11110000u + n, 0x2222, 0x3333, {0, 1, 2, 3, 4, 5, 6, n});
}

OfferParams Offer(uint8_t instance, uint16_t sub_channel_index = 0, bool monitored = false) {
  OfferParams params;
  params.interface_id = kNetInterface;
  params.instance_id = Instance(instance);
  params.sub_channel_index = sub_channel_index;
  params.monitored = monitored;
  if (monitored) params.interrupt_latency_100ns = 1000;  // 100 us.
  params.mmio_megabytes = 4;
  return params;
}

// One range of `pages` pages starting at PFN `first_pfn` (Linux's layout).
std::vector<GpaRange> Ranges(uint32_t pages, uint64_t first_pfn) {
  GpaRange range;
  range.byte_count = pages * kPageSizeBytes;
  range.byte_offset = 0;
  for (uint32_t i = 0; i < pages; ++i) range.pfns.push_back(first_pfn + i);
  return {range};
}

std::vector<uint64_t> Pfns(uint32_t pages, uint64_t first_pfn) {
  return Ranges(pages, first_pfn)[0].pfns;
}

// The device behind the server: records calls and completes them at once
// unless told to wait.
class TestDevice : public VmbusDeviceHandler {
 public:
  void OnOpen(uint32_t relid, const OpenRequest& request) override {
    opens.push_back({relid, request});
    events.push_back(absl::StrCat("open ", relid));
    if (auto_open) {
      EXPECT_TRUE(server->CompleteOpen(relid, open_status).ok());
    }
  }
  void OnClose(uint32_t relid) override {
    closes.push_back(relid);
    close_times.push_back(sim->Now());
    events.push_back(absl::StrCat("close ", relid));
    if (auto_close) {
      EXPECT_TRUE(server->CompleteClose(relid).ok());
    }
  }
  void OnModifyChannel(uint32_t relid, uint32_t target_vp) override {
    events.push_back(absl::StrCat("modify ", relid, " ", target_vp));
    if (on_modify) on_modify();
  }

  VmbusServer* server = nullptr;
  const sim::Simulator* sim = nullptr;
  std::function<void()> on_modify;  // Runs inside OnModifyChannel.
  bool auto_open = true;
  bool auto_close = true;
  uint32_t open_status = kStatusSuccess;
  std::vector<std::pair<uint32_t, OpenRequest>> opens;
  std::vector<uint32_t> closes;
  std::vector<SimTime> close_times;
  std::vector<std::string> events;
};

class TestListener : public VmbusClientListener {
 public:
  void OnOffer(const OfferChannel& offer) override {
    offers.push_back(offer);
    events.push_back(absl::StrCat("offer ", offer.child_relid));
  }
  void OnRescind(uint32_t relid) override { events.push_back(absl::StrCat("rescind ", relid)); }
  void OnAllOffersDelivered() override { events.push_back("all offers"); }

  std::vector<OfferChannel> offers;
  std::vector<std::string> events;
};

struct World {
  explicit World(const CostModel& cost_model, VmbusServerOptions server_options = {},
                 VmbusClientOptions client_options = {})
      : costs(cost_model) {
    sim.tracer().AddSink(&trace);
    server = VmbusServer::Create(&sim, &costs, &host_synic, &host_vp0, &guest_synic,
                                 std::move(server_options))
                 .value();
    client = std::make_unique<VmbusClient>(&sim, &guest_synic, guest_vps, &host_synic,
                                           client_options);
    // What the fabric does: the guest ISR forwards to the client.
    guest_synic.SetInterruptHandler([this](uint32_t vp_index) { client->OnInterrupt(vp_index); });
    client->SetListener(&listener);
    device.server = server.get();
    device.sim = &sim;
    server->SetDeviceHandler(&device);
    sim.SetAfterEventHook([this] { CheckAll(); });
  }

  void CheckAll() const {
    host_synic.CheckInvariants();
    guest_synic.CheckInvariants();
    server->CheckInvariants();
    client->CheckInvariants();
    if (client->connection_state() != ClientConnectionState::kConnected) return;
    // Cross-side: while connected the guest knows no relid the host has
    // freed (relids are freed only after RELID_RELEASED); a GPADL the guest
    // holds as Created is Accepted on the host; an Opened channel is Open on
    // the host unless the host has revoked it already.
    for (uint32_t relid : client->relids()) {
      const std::optional<ServerChannelState> host = server->channel_state(relid);
      VMBSIM_CHECK(host.has_value());
      if (client->channel_state(relid) == ClientChannelState::kOpened && !client->rescinded(relid)) {
        VMBSIM_CHECK(*host == ServerChannelState::kOpen || *host == ServerChannelState::kRevoked);
      }
    }
  }

  void Run() { ASSERT_EQ(sim.Run({}), sim::RunResult::kQueueEmpty); }

  // Connects at `max_version` and runs until the offers are in.
  uint32_t Connect(uint32_t max_version) {
    std::optional<absl::StatusOr<uint32_t>> result;
    EXPECT_TRUE(client->Connect(max_version, [&](absl::StatusOr<uint32_t> v) { result = v; }).ok());
    Run();
    EXPECT_TRUE(result.has_value());
    if (!result.has_value() || !result->ok()) return 0;
    EXPECT_EQ(client->connection_state(), ClientConnectionState::kConnected);
    EXPECT_EQ(server->connection_state(), ServerConnectionState::kConnected);
    return **result;
  }

  // Creates a GPADL and runs until GPADL_CREATED; returns (status, id).
  std::pair<uint32_t, uint32_t> CreateGpadl(uint32_t relid, const std::vector<GpaRange>& ranges) {
    std::optional<std::pair<uint32_t, uint32_t>> result;
    absl::StatusOr<uint32_t> id = client->CreateGpadl(
        relid, ranges, [&](uint32_t status, uint32_t gpadl) { result = {status, gpadl}; });
    EXPECT_TRUE(id.ok()) << id.status();
    Run();
    EXPECT_TRUE(result.has_value());
    return result.value_or(std::pair<uint32_t, uint32_t>{0xDEAD, 0});
  }

  // Opens `relid` on a fresh 2 x 16-page ring and runs until OPEN_RESULT.
  uint32_t OpenWithNewRing(uint32_t relid, uint64_t first_pfn, uint32_t* gpadl_id) {
    const auto [status, gpadl] = CreateGpadl(relid, Ranges(32, first_pfn));
    EXPECT_EQ(status, kStatusSuccess);
    *gpadl_id = gpadl;
    std::optional<uint32_t> open_status;
    EXPECT_TRUE(client->OpenChannel(relid, gpadl, 16, 0, {}, [&](uint32_t s) { open_status = s; })
                    .ok());
    Run();
    return open_status.value_or(0xDEAD);
  }

  std::vector<sim::TraceRecord> Records(FabricTraceKind kind, uint16_t partition) const {
    std::vector<sim::TraceRecord> out;
    for (const sim::TraceRecord& record : trace.records()) {
      if (record.kind == TraceKind(kind) && record.partition == partition) out.push_back(record);
    }
    return out;
  }

  // The connection ids the guest posted to, in order.
  std::vector<uint64_t> PostedConnectionIds() const {
    std::vector<uint64_t> ids;
    for (const sim::TraceRecord& r : Records(FabricTraceKind::kMessagePost, kGuestPartition)) {
      ids.push_back(r.id0);
    }
    return ids;
  }

  size_t RejectedTraceCount() const {
    size_t rejected = 0;
    for (const sim::TraceRecord& record : trace.records()) {
      if (record.kind == TraceKind(FabricTraceKind::kControlMessage) && record.id1 == 0) {
        ++rejected;
      }
    }
    return rejected;
  }

  const CostModel costs;
  sim::Simulator sim{{.seed = 11}};
  sim::RecordingTraceSink trace;
  VirtualProcessor host_vp0{&sim, kHostPartition, 0};
  VirtualProcessor host_vp1{&sim, kHostPartition, 1};
  VirtualProcessor guest_vp0{&sim, kGuestPartition, 0};
  VirtualProcessor guest_vp1{&sim, kGuestPartition, 1};
  std::vector<VirtualProcessor*> host_vps{&host_vp0, &host_vp1};
  std::vector<VirtualProcessor*> guest_vps{&guest_vp0, &guest_vp1};
  Synic host_synic{&sim, &costs, kHostPartition, host_vps};
  Synic guest_synic{&sim, &costs, kGuestPartition, guest_vps};
  TestDevice device;
  TestListener listener;
  std::unique_ptr<VmbusServer> server;
  std::unique_ptr<VmbusClient> client;
};

VmbusClientOptions WithMonitorPages() {
  VmbusClientOptions options;
  options.monitor_page1_gpa = kMonitorPage1Gpa;
  options.monitor_page2_gpa = kMonitorPage2Gpa;
  return options;
}

void ExpectNoViolations(const World& w) {
  for (const ServerViolation& v : w.server->violations()) {
    ADD_FAILURE() << "host violation: msgtype " << v.msgtype << " relid " << v.relid << ": "
                  << v.reason;
  }
  for (const ClientViolation& v : w.client->violations()) {
    ADD_FAILURE() << "guest violation: msgtype " << v.msgtype << " relid " << v.relid << ": "
                  << v.reason;
  }
}

// ---------------------------------------------------------------------------
// Connect and version negotiation.

// Goal: spec 4.3 negotiation: the guest tries newest first and falls back
// one version per VERSION_RESPONSE(version_supported = 0) until the exact
// match; INITIATE_CONTACT goes to id 4 from 5.0 and to id 1 below.
TEST(VmbusControlTest, VersionFallsBackToTheOnlyVersionTheServerSupports) {
  World w(CostModel::Default(), VmbusServerOptions{.supported_versions = {kVersionWin8_1}});
  EXPECT_EQ(w.Connect(kVersionCopper), kVersionWin8_1);
  // Copper, Iron, Rs5, Rs4, Rs3_1 (id 4), Rs3_0, Win10, Win8.1 (id 1).
  EXPECT_EQ(w.client->counters().contact_attempts, 8u);
  EXPECT_EQ(w.server->counters().versions_refused, 7u);
  EXPECT_EQ(w.client->version(), kVersionWin8_1);
  EXPECT_EQ(w.server->version(), kVersionWin8_1);
  EXPECT_EQ(w.client->message_connection_id(), kVmbusMessageConnectionId);
  // Eight contacts, then REQUESTOFFERS on id 1.
  EXPECT_EQ(w.PostedConnectionIds(), (std::vector<uint64_t>{4, 4, 4, 4, 4, 1, 1, 1, 1}));
  EXPECT_TRUE(w.server->offers_requested());
  EXPECT_EQ(w.listener.events, std::vector<std::string>{"all offers"});
  ExpectNoViolations(w);
}

// Goal: from 5.0 the guest contacts on id 4 and then uses VERSION_RESPONSE's
// msg_conn_id (this server's: 1).
TEST(VmbusControlTest, CopperConnectsAtTheFirstTryAndUsesTheReturnedConnectionId) {
  World w(CostModel::Default());
  EXPECT_EQ(w.Connect(kVersionCopper), kVersionCopper);
  EXPECT_EQ(w.client->counters().contact_attempts, 1u);
  EXPECT_EQ(w.client->message_connection_id(), kServerMessageConnectionId);
  EXPECT_EQ(w.PostedConnectionIds(), (std::vector<uint64_t>{4, kServerMessageConnectionId}));
  ExpectNoViolations(w);
}

// Goal: when the host accepts none of the versions the guest can try, the
// connect fails after trying each once and both sides stay disconnected.
TEST(VmbusControlTest, NoCommonVersionFailsTheConnect) {
  World w(CostModel::Default(), VmbusServerOptions{.supported_versions = {kVersionCopper}});
  std::optional<absl::StatusOr<uint32_t>> result;
  ASSERT_TRUE(w.client->Connect(kVersionIron, [&](absl::StatusOr<uint32_t> v) { result = v; }).ok());
  w.Run();
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(w.client->counters().contact_attempts, 10u);  // Iron down to WS2008.
  EXPECT_EQ(w.client->connection_state(), ClientConnectionState::kDisconnected);
  EXPECT_EQ(w.server->connection_state(), ServerConnectionState::kDisconnected);
  EXPECT_EQ(w.client->Connect(0x0000000C, nullptr).code(), absl::StatusCode::kInvalidArgument);
  ExpectNoViolations(w);
}

// Goal: target_vcpu (honoured from Win8.1) steers every host message to that
// guest VP; the client handles them in that VP's ISR.
TEST(VmbusControlTest, ControlMessagesGoToTheTargetVcpu) {
  VmbusClientOptions options;
  options.target_vcpu = 1;
  World w(CostModel::Default(), {}, options);
  ASSERT_TRUE(w.server->OfferChannel(Offer(1)).ok());
  EXPECT_EQ(w.Connect(kVersionIron), kVersionIron);
  const auto delivered = w.Records(FabricTraceKind::kMessageDeliver, kGuestPartition);
  ASSERT_EQ(delivered.size(), 3u);  // VERSION_RESPONSE, OFFER, ALLOFFERS_DELIVERED.
  for (const sim::TraceRecord& r : delivered) EXPECT_EQ(r.vp, 1u);
  EXPECT_EQ(w.server->target_vcpu(), 1u);
  EXPECT_EQ(w.listener.events, (std::vector<std::string>{"offer 1", "all offers"}));
  ExpectNoViolations(w);
}

// ---------------------------------------------------------------------------
// Offers.

// Goal: offers made before REQUESTOFFERS go out after it, in offer order,
// then ALLOFFERS_DELIVERED; later offers are hot-adds. Relids, connection
// ids and monitor ids follow the documented rules.
TEST(VmbusControlTest, OffersFollowRequestOffersThenAllOffersDeliveredThenHotAdds) {
  World w(CostModel::Default(), {}, WithMonitorPages());
  EXPECT_EQ(w.server->OfferChannel(Offer(1, 1)).status().code(),
            absl::StatusCode::kFailedPrecondition);  // Sub-channel before its primary.
  ASSERT_EQ(w.server->OfferChannel(Offer(1, 0, /*monitored=*/true)).value(), 1u);
  ASSERT_EQ(w.server->OfferChannel(Offer(2)).value(), 2u);
  ASSERT_EQ(w.server->OfferChannel(Offer(1, 1, /*monitored=*/true)).value(), 3u);
  EXPECT_EQ(w.server->OfferChannel(Offer(2)).status().code(), absl::StatusCode::kAlreadyExists);
  w.Run();
  EXPECT_TRUE(w.listener.events.empty());  // Nothing before the guest asks.

  EXPECT_EQ(w.Connect(kVersionCopper), kVersionCopper);
  EXPECT_EQ(w.listener.events,
            (std::vector<std::string>{"offer 1", "offer 2", "offer 3", "all offers"}));
  ASSERT_EQ(w.listener.offers.size(), 3u);
  const OfferChannel& primary = w.listener.offers[0];
  EXPECT_EQ(primary.interface_id, kNetInterface);
  EXPECT_EQ(primary.instance_id, Instance(1));
  EXPECT_EQ(primary.connection_id, 0x2001u);
  EXPECT_EQ(primary.monitor_id, 0u);
  EXPECT_EQ(primary.monitor_allocated, 1u);
  EXPECT_EQ(primary.reserved1, 0u);  // The latency (1000) is not in the offer.
  EXPECT_EQ(primary.is_dedicated_interrupt, 1u);
  EXPECT_EQ(primary.mmio_megabytes, 4u);
  EXPECT_EQ(w.listener.offers[1].monitor_id, kMonitorIdNone);  // Not monitored.
  EXPECT_EQ(w.listener.offers[1].monitor_allocated, 0u);
  EXPECT_EQ(w.listener.offers[2].sub_channel_index, 1u);
  EXPECT_EQ(w.listener.offers[2].monitor_id, 1u);
  EXPECT_EQ(w.listener.offers[2].connection_id, 0x2003u);
  EXPECT_TRUE(w.client->all_offers_delivered());
  EXPECT_EQ(w.server->channel(3).value().monitor_id, 1u);

  // Hot-add.
  ASSERT_EQ(w.server->OfferChannel(Offer(4)).value(), 4u);
  w.Run();
  EXPECT_EQ(w.listener.events.back(), "offer 4");
  EXPECT_EQ(w.client->relids(), (std::vector<uint32_t>{1, 2, 3, 4}));
  EXPECT_EQ(w.client->channel_state(4), ClientChannelState::kOffered);
  ExpectNoViolations(w);
}

// Goal: a monitored offer gets no monitor id when the guest supplied no
// monitor pages (OpenVMM `send_offer`).
TEST(VmbusControlTest, MonitorIdsAreWithheldWithoutMonitorPages) {
  World w(CostModel::Default());
  ASSERT_TRUE(w.server->OfferChannel(Offer(1, 0, /*monitored=*/true)).ok());
  w.Connect(kVersionIron);
  ASSERT_EQ(w.listener.offers.size(), 1u);
  EXPECT_EQ(w.listener.offers[0].monitor_id, kMonitorIdNone);
  EXPECT_EQ(w.listener.offers[0].monitor_allocated, 0u);
}

// Goal: shared-interrupt offers carry is_dedicated_interrupt 0, the legacy
// shared connection id and one monitor id for all of them; a dedicated one
// keeps its own; the shared id is freed only with the last shared channel.
TEST(VmbusControlTest, SharedInterruptOffersShareTheConnectionAndOneMonitorId) {
  World w(CostModel::Default(), {}, WithMonitorPages());
  for (uint8_t instance : {1, 2, 3}) {
    OfferParams params = Offer(instance, 0, /*monitored=*/true);
    params.is_dedicated_interrupt = instance == 2;  // 1 and 3 shared.
    ASSERT_TRUE(w.server->OfferChannel(params).ok());
  }
  w.Connect(kVersionCopper);
  ASSERT_EQ(w.listener.offers.size(), 3u);
  const OfferChannel& first = w.listener.offers[0];
  const OfferChannel& dedicated = w.listener.offers[1];
  const OfferChannel& second = w.listener.offers[2];
  EXPECT_EQ(first.is_dedicated_interrupt, 0u);
  EXPECT_EQ(first.connection_id, kVmbusEventConnectionId);
  EXPECT_EQ(second.connection_id, kVmbusEventConnectionId);
  EXPECT_EQ(first.monitor_id, second.monitor_id);
  EXPECT_EQ(dedicated.is_dedicated_interrupt, 1u);
  EXPECT_EQ(dedicated.connection_id, 0x2002u);
  EXPECT_NE(dedicated.monitor_id, first.monitor_id);
  EXPECT_EQ(w.server->channel(3).value().connection_id, kVmbusEventConnectionId);
  const uint8_t shared_id = first.monitor_id;
  // Rescind one shared channel: the id stays with the other.
  ASSERT_TRUE(w.server->RescindChannel(1).ok());
  w.Run();
  EXPECT_EQ(w.server->channel(3).value().monitor_id, shared_id);
  ExpectNoViolations(w);
}

// ---------------------------------------------------------------------------
// The open / close lifecycle, per protocol version.

// MODIFYCHANNEL as OpenVMM documents it: the response goes out after the
// device has moved the channel's event port (before: the response first);
// 0xFFFFFFFF (disable interrupts) is refused, and so is enabling the
// interrupts of a channel opened with them disabled, both with OpenVMM's
// failure status (before: both accepted).
TEST(ModifyChannelTest, AnsweredAfterTheMoveNeverDisablingOrEnablingInterrupts) {
  World w(CostModel::Default());
  ASSERT_EQ(w.Connect(kVersionCopper), kVersionCopper);
  const uint32_t moved = w.server->OfferChannel(Offer(1)).value();
  const uint32_t polled = w.server->OfferChannel(Offer(2)).value();
  w.Run();
  auto open = [&w](uint32_t relid, uint64_t first_pfn, uint32_t target_vp) {
    const auto [status, gpadl] = w.CreateGpadl(relid, Ranges(32, first_pfn));
    EXPECT_EQ(status, kStatusSuccess);
    std::optional<uint32_t> open_status;
    EXPECT_TRUE(w.client->OpenChannel(relid, gpadl, 16, target_vp, {}, [&](uint32_t s) { open_status = s; }).ok());
    w.Run();
    EXPECT_EQ(open_status, kStatusSuccess);
  };
  open(moved, 0x5000, 1);
  open(polled, 0x6000, kVpIndexDisableInterrupt);
  auto responses = [&w] {
    size_t n = 0;
    for (const sim::TraceRecord& r : w.Records(FabricTraceKind::kControlMessage, kGuestPartition)) {
      n += r.id0 == static_cast<uint64_t>(ChannelMessageType::kModifyChannelResponse) ? 1 : 0;
    }
    return n;
  };
  std::optional<size_t> responses_at_move;
  w.device.on_modify = [&] { responses_at_move = responses(); };
  auto modify = [&w](uint32_t relid, uint32_t target_vp) {
    std::optional<uint32_t> status;
    EXPECT_TRUE(w.client->ModifyChannel(relid, target_vp, [&](uint32_t s) { status = s; }).ok());
    w.Run();
    return status.value_or(0xDEAD);
  };

  EXPECT_EQ(modify(moved, 0), kStatusSuccess);
  EXPECT_EQ(responses_at_move, 0u);  // Moved before the response existed.
  EXPECT_EQ(responses(), 1u);
  EXPECT_EQ(w.server->channel(moved).value().target_vp, 0u);

  const size_t device_events = w.device.events.size();
  EXPECT_EQ(modify(moved, kVpIndexDisableInterrupt), kStatusUnsuccessful);
  EXPECT_EQ(w.server->channel(moved).value().target_vp, 0u);  // Unchanged.
  EXPECT_EQ(modify(polled, 1), kStatusUnsuccessful);
  EXPECT_EQ(w.server->channel(polled).value().target_vp, kVpIndexDisableInterrupt);
  EXPECT_EQ(w.device.events.size(), device_events);  // The device saw neither.
}

class LifecycleTest : public ::testing::TestWithParam<uint32_t> {};

// Goal: the whole sequence GPADL (2 x 32 ring pages, 3 messages) -> open ->
// device completes -> OPEN_RESULT -> modify -> close -> device completes ->
// teardown -> TORNDOWN, with both sides' states checked at each step, as
// OpenVMM's test_channel_lifetime_* do per version.
TEST_P(LifecycleTest, OpenCloseLifecycle) {
  const uint32_t version = GetParam();
  World w(CostModel::Default());
  w.device.auto_open = false;
  w.device.auto_close = false;
  EXPECT_EQ(w.Connect(version), version);
  const uint32_t relid = w.server->OfferChannel(Offer(1)).value();
  w.Run();
  ASSERT_EQ(w.client->channel_state(relid), ClientChannelState::kOffered);
  ASSERT_EQ(w.server->channel_state(relid), ServerChannelState::kClosed);

  // GPADL: header + 2 bodies, posted back-to-back.
  constexpr uint32_t kRingPages = 32;
  const std::vector<GpaRange> ring = Ranges(2 * kRingPages, 0x5000);
  const size_t posts_before = w.PostedConnectionIds().size();
  std::optional<std::pair<uint32_t, uint32_t>> created;
  const uint32_t gpadl = w.client
                             ->CreateGpadl(relid, ring,
                                           [&](uint32_t s, uint32_t id) { created = {s, id}; })
                             .value();
  EXPECT_EQ(gpadl, kFirstGpadlId);
  EXPECT_EQ(w.client->gpadl_state(gpadl), ClientGpadlState::kCreating);
  w.Run();
  EXPECT_EQ(w.PostedConnectionIds().size() - posts_before, 3u);
  ASSERT_TRUE(created.has_value());
  EXPECT_EQ(*created, (std::pair<uint32_t, uint32_t>{kStatusSuccess, gpadl}));
  EXPECT_EQ(w.client->gpadl_state(gpadl), ClientGpadlState::kCreated);
  EXPECT_EQ(w.server->gpadl_state(relid, gpadl), ServerGpadlState::kAccepted);
  EXPECT_EQ(w.server->GpadlPages(relid, gpadl).value(), Pfns(2 * kRingPages, 0x5000));

  // Open: the device sees the ring and parameters; the guest waits.
  std::optional<uint32_t> open_status;
  std::array<uint8_t, 120> userdata = {};
  userdata[0] = 0xAB;
  ASSERT_TRUE(w.client
                  ->OpenChannel(relid, gpadl, kRingPages, /*target_vp=*/1, userdata,
                                [&](uint32_t s) { open_status = s; })
                  .ok());
  EXPECT_EQ(w.client->channel_state(relid), ClientChannelState::kOpening);
  w.Run();
  EXPECT_FALSE(open_status.has_value());
  EXPECT_EQ(w.server->channel_state(relid), ServerChannelState::kOpening);
  ASSERT_EQ(w.device.opens.size(), 1u);
  const OpenRequest& request = w.device.opens[0].second;
  EXPECT_EQ(request.ring_gpadl_id, gpadl);
  EXPECT_EQ(request.ring_pages, Pfns(2 * kRingPages, 0x5000));
  EXPECT_EQ(request.downstream_ringbuffer_pageoffset, kRingPages);
  EXPECT_EQ(request.target_vp, 1u);
  EXPECT_EQ(request.openid, relid);  // Linux: openid = relid.
  EXPECT_EQ(request.userdata[0], 0xAB);

  ASSERT_TRUE(w.server->CompleteOpen(relid, kStatusSuccess).ok());
  EXPECT_EQ(w.server->channel_state(relid), ServerChannelState::kOpen);
  w.Run();
  EXPECT_EQ(open_status, kStatusSuccess);
  EXPECT_EQ(w.client->channel_state(relid), ClientChannelState::kOpened);
  const ServerChannelInfo info = w.server->channel(relid).value();
  EXPECT_EQ(info.ring_gpadl_id, gpadl);
  EXPECT_EQ(info.downstream_ringbuffer_pageoffset, kRingPages);
  EXPECT_EQ(info.target_vp, 1u);
  EXPECT_EQ(info.connection_id, ChannelConnectionId(relid));
  EXPECT_EQ(w.server->RingPages(relid).value().size(), 2 * kRingPages);

  // Modify: acknowledged from Iron, completed on post from 4.1, absent below.
  std::optional<uint32_t> modify_status;
  const absl::Status modify =
      w.client->ModifyChannel(relid, 0, [&](uint32_t s) { modify_status = s; });
  if (version < kVersionWin10Rs3_0) {
    EXPECT_EQ(modify.code(), absl::StatusCode::kFailedPrecondition);
  } else {
    ASSERT_TRUE(modify.ok());
    w.Run();
    EXPECT_EQ(modify_status, kStatusSuccess);
    EXPECT_EQ(w.server->channel(relid).value().target_vp, 0u);
    EXPECT_EQ(w.device.events.back(), absl::StrCat("modify ", relid, " 0"));
    EXPECT_EQ(w.Records(FabricTraceKind::kControlMessage, kGuestPartition).back().id0,
              version >= kVersionIron ? 24u : 6u);  // MODIFYCHANNEL_RESPONSE or OPEN_RESULT.
  }

  // Close: no reply; the device releases the ring later.
  ASSERT_TRUE(w.client->CloseChannel(relid).ok());
  EXPECT_EQ(w.client->channel_state(relid), ClientChannelState::kOffered);
  w.Run();
  EXPECT_EQ(w.server->channel_state(relid), ServerChannelState::kClosing);
  EXPECT_EQ(w.device.closes, std::vector<uint32_t>{relid});
  ASSERT_TRUE(w.server->CompleteClose(relid).ok());
  EXPECT_EQ(w.server->channel_state(relid), ServerChannelState::kClosed);
  EXPECT_FALSE(w.server->channel(relid).value().ring_gpadl_id.has_value());
  EXPECT_EQ(w.server->CompleteClose(relid).code(), absl::StatusCode::kFailedPrecondition);

  // Teardown.
  std::optional<uint32_t> teardown_status;
  ASSERT_TRUE(w.client->TeardownGpadl(relid, gpadl, [&](uint32_t s) { teardown_status = s; }).ok());
  EXPECT_EQ(w.client->gpadl_state(gpadl), ClientGpadlState::kTearingDown);
  w.Run();
  EXPECT_EQ(teardown_status, kStatusSuccess);
  EXPECT_FALSE(w.client->gpadl_state(gpadl).has_value());
  EXPECT_FALSE(w.server->gpadl_state(relid, gpadl).has_value());
  EXPECT_EQ(w.server->gpadl_count(), 0u);
  EXPECT_EQ(w.server->counters().gpadls_torn_down, 1u);
  ExpectNoViolations(w);
}

INSTANTIATE_TEST_SUITE_P(Versions, LifecycleTest,
                         ::testing::Values(kVersionWin8, kVersionWin8_1, kVersionWin10,
                                           kVersionIron, kVersionCopper),
                         [](const ::testing::TestParamInfo<uint32_t>& info) {
                           return std::string(ProtocolVersionName(info.param));
                         });

// Goal: a re-open that arrives while the host is still closing is legal
// (ClosingReopen) and starts once the device has closed.
TEST(VmbusControlTest, ReopenWhileClosingOpensAfterTheClose) {
  World w(CostModel::Default());
  w.Connect(kVersionIron);
  const uint32_t relid = w.server->OfferChannel(Offer(1)).value();
  w.Run();
  uint32_t gpadl = 0;
  ASSERT_EQ(w.OpenWithNewRing(relid, 0x100, &gpadl), kStatusSuccess);
  w.device.auto_close = false;
  ASSERT_TRUE(w.client->CloseChannel(relid).ok());
  std::optional<uint32_t> reopen_status;
  ASSERT_TRUE(
      w.client->OpenChannel(relid, gpadl, 16, 0, {}, [&](uint32_t s) { reopen_status = s; }).ok());
  w.Run();
  EXPECT_EQ(w.server->channel_state(relid), ServerChannelState::kClosingReopen);
  EXPECT_EQ(w.device.opens.size(), 1u);
  ASSERT_TRUE(w.server->CompleteClose(relid).ok());
  w.Run();  // The device opens again (and completes at once).
  EXPECT_EQ(w.device.events, (std::vector<std::string>{"open 1", "close 1", "open 1"}));
  EXPECT_EQ(reopen_status, kStatusSuccess);
  EXPECT_EQ(w.server->channel_state(relid), ServerChannelState::kOpen);
  EXPECT_EQ(w.client->channel_state(relid), ClientChannelState::kOpened);
  ExpectNoViolations(w);
}

// Goal: a device that fails the open makes the host answer OPEN_RESULT with
// its status and release the ring GPADL.
TEST(VmbusControlTest, DeviceOpenFailureReachesTheGuest) {
  World w(CostModel::Default());
  w.Connect(kVersionCopper);
  const uint32_t relid = w.server->OfferChannel(Offer(1)).value();
  w.Run();
  w.device.open_status = kStatusUnsuccessful;
  uint32_t gpadl = 0;
  EXPECT_EQ(w.OpenWithNewRing(relid, 0x100, &gpadl), kStatusUnsuccessful);
  EXPECT_EQ(w.server->channel_state(relid), ServerChannelState::kClosed);
  EXPECT_EQ(w.client->channel_state(relid), ClientChannelState::kOffered);
  // The ring GPADL is free again: a teardown is answered at once.
  std::optional<uint32_t> teardown_status;
  ASSERT_TRUE(w.client->TeardownGpadl(relid, gpadl, [&](uint32_t s) { teardown_status = s; }).ok());
  w.Run();
  EXPECT_EQ(teardown_status, kStatusSuccess);
  ExpectNoViolations(w);
}

// ---------------------------------------------------------------------------
// Rescind.

// Goal: a rescind of an idle channel reaches the listener; the relid stays
// taken until RELID_RELEASED and is reused only after it.
TEST(VmbusControlTest, RescindWhileIdleHoldsTheRelidUntilReleased) {
  World w(CostModel::Default());
  w.Connect(kVersionCopper);
  ASSERT_EQ(w.server->OfferChannel(Offer(1)).value(), 1u);
  w.Run();
  ASSERT_TRUE(w.server->RescindChannel(1).ok());
  EXPECT_EQ(w.server->RescindChannel(1).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(w.server->channel_state(1), ServerChannelState::kRevoked);
  w.Run();
  EXPECT_EQ(w.listener.events.back(), "rescind 1");
  EXPECT_TRUE(w.client->rescinded(1));
  EXPECT_EQ(w.client->CreateGpadl(1, Ranges(2, 1), nullptr).status().code(),
            absl::StatusCode::kFailedPrecondition);

  EXPECT_EQ(w.server->OfferChannel(Offer(2)).value(), 2u);  // 1 is still held.
  ASSERT_TRUE(w.client->ReleaseRelid(1).ok());
  EXPECT_EQ(w.client->ReleaseRelid(1).code(), absl::StatusCode::kNotFound);
  w.Run();
  EXPECT_EQ(w.server->relids(), std::vector<uint32_t>{2});
  EXPECT_EQ(w.server->OfferChannel(Offer(3)).value(), 1u);  // Reused only now.
  w.Run();
  EXPECT_EQ(w.client->relids(), (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(w.client->offer(1)->instance_id, Instance(3));
  ExpectNoViolations(w);
}

// Goal: a channel never offered to the guest is withdrawn without a message.
TEST(VmbusControlTest, RescindBeforeRequestOffersWithdrawsSilently) {
  World w(CostModel::Default());
  ASSERT_EQ(w.server->OfferChannel(Offer(1)).value(), 1u);
  ASSERT_TRUE(w.server->RescindChannel(1).ok());
  EXPECT_TRUE(w.server->relids().empty());
  w.Connect(kVersionIron);
  EXPECT_EQ(w.listener.events, std::vector<std::string>{"all offers"});
  EXPECT_EQ(w.server->counters().rescinds_sent, 0u);
}

// Goal: a rescind while the device has not completed the open fails the
// guest's open at once (spec 7.3); the device's late success is closed
// again and no OPEN_RESULT is ever sent.
TEST(VmbusControlTest, RescindWhileOpeningFailsTheOpenAndClosesTheLateDevice) {
  World w(CostModel::Default());
  w.Connect(kVersionCopper);
  const uint32_t relid = w.server->OfferChannel(Offer(1)).value();
  w.Run();
  const auto [status, gpadl] = w.CreateGpadl(relid, Ranges(32, 0x700));
  ASSERT_EQ(status, kStatusSuccess);
  w.device.auto_open = false;
  w.device.auto_close = false;
  std::optional<uint32_t> open_status;
  ASSERT_TRUE(w.client->OpenChannel(relid, gpadl, 16, 0, {}, [&](uint32_t s) { open_status = s; })
                  .ok());
  w.Run();
  ASSERT_EQ(w.device.opens.size(), 1u);
  ASSERT_EQ(w.server->channel_state(relid), ServerChannelState::kOpening);

  ASSERT_TRUE(w.server->RescindChannel(relid).ok());
  w.Run();
  EXPECT_EQ(open_status, kStatusUnsuccessful);
  EXPECT_TRUE(w.client->rescinded(relid));
  EXPECT_EQ(w.client->channel_state(relid), ClientChannelState::kOffered);
  EXPECT_EQ(w.server->channel_state(relid), ServerChannelState::kRevoked);

  ASSERT_TRUE(w.server->CompleteOpen(relid, kStatusSuccess).ok());
  w.Run();
  EXPECT_EQ(w.device.closes, std::vector<uint32_t>{relid});  // Closed again.
  EXPECT_EQ(w.server->channel_state(relid), ServerChannelState::kRevoked);
  ASSERT_TRUE(w.server->CompleteClose(relid).ok());

  std::optional<uint32_t> teardown_status;
  ASSERT_TRUE(w.client->TeardownGpadl(relid, gpadl, [&](uint32_t s) { teardown_status = s; }).ok());
  w.Run();
  EXPECT_EQ(teardown_status, kStatusSuccess);  // Answered at once (spec 5.3).
  ASSERT_TRUE(w.client->ReleaseRelid(relid).ok());
  w.Run();
  EXPECT_TRUE(w.server->relids().empty());
  EXPECT_EQ(w.server->gpadl_count(), 0u);
  EXPECT_EQ(w.client->gpadl_count(), 0u);
  // No OPEN_RESULT was sent for the revoked channel: 3 messages for the
  // contact and offer, GPADL_CREATED, RESCIND, TORNDOWN.
  EXPECT_EQ(w.server->counters().messages_sent, 6u);
  ExpectNoViolations(w);
}

// Goal: rescind after open: the device closes, the guest still closes
// (ignored by the host), tears the ring down (answered), releases the relid;
// the relid is reused only after the release.
TEST(VmbusControlTest, RescindAfterOpenThenCloseTeardownAndRelease) {
  World w(CostModel::Default());
  w.Connect(kVersionCopper);
  const uint32_t relid = w.server->OfferChannel(Offer(1)).value();
  w.Run();
  uint32_t gpadl = 0;
  ASSERT_EQ(w.OpenWithNewRing(relid, 0x900, &gpadl), kStatusSuccess);

  ASSERT_TRUE(w.server->RescindChannel(relid).ok());
  w.Run();
  EXPECT_EQ(w.device.events, (std::vector<std::string>{"open 1", "close 1"}));
  EXPECT_EQ(w.listener.events.back(), "rescind 1");
  EXPECT_EQ(w.client->channel_state(relid), ClientChannelState::kOpened);  // Until the driver closes.
  EXPECT_EQ(w.server->OfferChannel(Offer(2)).value(), 2u);

  ASSERT_TRUE(w.client->CloseChannel(relid).ok());
  std::optional<uint32_t> teardown_status;
  ASSERT_TRUE(w.client->TeardownGpadl(relid, gpadl, [&](uint32_t s) { teardown_status = s; }).ok());
  w.Run();
  EXPECT_EQ(w.server->counters().closes_ignored_revoked, 1u);
  EXPECT_EQ(teardown_status, kStatusSuccess);
  ASSERT_TRUE(w.client->ReleaseRelid(relid).ok());
  w.Run();
  EXPECT_EQ(w.server->relids(), std::vector<uint32_t>{2});
  EXPECT_EQ(w.server->OfferChannel(Offer(3)).value(), 1u);
  ExpectNoViolations(w);
}

// Goal: Linux skips GPADL_TEARDOWN for a rescinded channel; the host drops
// the GPADL when the relid is released.
TEST(VmbusControlTest, LinuxStyleSkippedTeardownIsDroppedAtRelease) {
  VmbusClientOptions options;
  options.skip_teardown_when_rescinded = true;
  World w(CostModel::Default(), {}, options);
  w.Connect(kVersionIron);
  const uint32_t relid = w.server->OfferChannel(Offer(1)).value();
  w.Run();
  uint32_t gpadl = 0;
  ASSERT_EQ(w.OpenWithNewRing(relid, 0x900, &gpadl), kStatusSuccess);
  ASSERT_TRUE(w.server->RescindChannel(relid).ok());
  w.Run();
  ASSERT_TRUE(w.client->CloseChannel(relid).ok());
  std::optional<uint32_t> teardown_status;
  ASSERT_TRUE(w.client->TeardownGpadl(relid, gpadl, [&](uint32_t s) { teardown_status = s; }).ok());
  w.Run();
  EXPECT_EQ(teardown_status, kStatusSuccess);
  EXPECT_EQ(w.server->gpadl_state(relid, gpadl), ServerGpadlState::kAccepted);  // Not told.
  ASSERT_TRUE(w.client->ReleaseRelid(relid).ok());
  w.Run();
  EXPECT_EQ(w.server->gpadl_count(), 0u);
  EXPECT_TRUE(w.server->relids().empty());
  ExpectNoViolations(w);
}

// Goal: a device that is slow to close after a rescind holds the ring, so
// the guest's teardown is answered only when the device lets go; a re-offer
// of the same device is sent with the same relid right after the release.
TEST(VmbusControlTest, RescindWithSlowDeviceDefersTheTeardownAndReoffersAfterRelease) {
  World w(CostModel::Default());
  w.Connect(kVersionCopper);
  const uint32_t relid = w.server->OfferChannel(Offer(1)).value();
  w.Run();
  uint32_t gpadl = 0;
  ASSERT_EQ(w.OpenWithNewRing(relid, 0x900, &gpadl), kStatusSuccess);
  w.device.auto_close = false;
  ASSERT_TRUE(w.server->RescindChannel(relid).ok());
  w.Run();
  ASSERT_TRUE(w.client->CloseChannel(relid).ok());
  std::optional<uint32_t> teardown_status;
  ASSERT_TRUE(w.client->TeardownGpadl(relid, gpadl, [&](uint32_t s) { teardown_status = s; }).ok());
  w.Run();
  EXPECT_FALSE(teardown_status.has_value());
  EXPECT_EQ(w.server->gpadl_state(relid, gpadl), ServerGpadlState::kTearingDown);
  EXPECT_EQ(w.server->OfferChannel(Offer(1)).status().code(),
            absl::StatusCode::kFailedPrecondition);  // Still closing in the device.
  ASSERT_TRUE(w.server->CompleteClose(relid).ok());
  w.Run();
  EXPECT_EQ(teardown_status, kStatusSuccess);

  EXPECT_EQ(w.server->OfferChannel(Offer(1)).value(), relid);  // Re-offer: same relid.
  EXPECT_EQ(w.server->channel_state(relid), ServerChannelState::kReoffered);
  ASSERT_TRUE(w.client->ReleaseRelid(relid).ok());
  w.Run();
  EXPECT_EQ(w.server->channel_state(relid), ServerChannelState::kClosed);
  EXPECT_EQ(w.listener.events,
            (std::vector<std::string>{"all offers", "offer 1", "rescind 1", "offer 1"}));
  EXPECT_FALSE(w.client->rescinded(relid));
  uint32_t gpadl2 = 0;
  EXPECT_EQ(w.OpenWithNewRing(relid, 0xA00, &gpadl2), kStatusSuccess);
  ExpectNoViolations(w);
}

// Goal: a rescind during GPADL body streaming fails the GPADL at once
// (GPADL_CREATED(STATUS_UNSUCCESSFUL) before the RESCIND); the bodies still
// in flight are absorbed without violations.
TEST(VmbusControlTest, RescindDuringGpadlStreamingFailsTheGpadl) {
  World w(CostModel::Default());
  w.Connect(kVersionCopper);
  const uint32_t relid = w.server->OfferChannel(Offer(1)).value();
  w.Run();
  std::optional<std::pair<uint32_t, uint32_t>> created;
  ASSERT_TRUE(w.client
                  ->CreateGpadl(relid, Ranges(400, 0x1000),
                                [&](uint32_t s, uint32_t id) { created = {s, id}; })
                  .ok());
  // Run until the host has the header but not every body.
  while (w.server->gpadl_count() == 0) {
    ASSERT_EQ(w.sim.Run({.events_max = 1}), sim::RunResult::kEventBudgetExhausted);
  }
  ASSERT_EQ(w.server->gpadl_state(relid, kFirstGpadlId), ServerGpadlState::kInProgress);
  ASSERT_TRUE(w.server->RescindChannel(relid).ok());
  w.Run();
  ASSERT_TRUE(created.has_value());
  EXPECT_EQ(created->first, kStatusUnsuccessful);
  EXPECT_EQ(w.server->counters().gpadls_failed, 1u);
  EXPECT_EQ(w.server->gpadl_count(), 0u);  // Dropped once complete.
  ASSERT_TRUE(w.client->ReleaseRelid(relid).ok());
  w.Run();
  EXPECT_TRUE(w.server->relids().empty());
  ExpectNoViolations(w);
}

// ---------------------------------------------------------------------------
// GPADLs.

// Goal: "GPADL teardown while a ring uses it": the host marks it
// TearingDown and sends GPADL_TORNDOWN only after the close completed.
TEST(VmbusControlTest, TeardownOfTheRingOfAnOpenChannelWaitsForTheClose) {
  World w(CostModel::Default());
  w.Connect(kVersionIron);
  const uint32_t relid = w.server->OfferChannel(Offer(1)).value();
  w.Run();
  uint32_t gpadl = 0;
  ASSERT_EQ(w.OpenWithNewRing(relid, 0x900, &gpadl), kStatusSuccess);
  std::optional<SimTime> torndown_at;
  ASSERT_TRUE(w.client->TeardownGpadl(relid, gpadl, [&](uint32_t s) {
                         EXPECT_EQ(s, kStatusSuccess);
                         torndown_at = w.sim.Now();
                       }).ok());
  w.Run();
  EXPECT_FALSE(torndown_at.has_value());
  EXPECT_EQ(w.server->gpadl_state(relid, gpadl), ServerGpadlState::kTearingDown);
  EXPECT_EQ(w.client->gpadl_state(gpadl), ClientGpadlState::kTearingDown);
  EXPECT_EQ(w.server->channel_state(relid), ServerChannelState::kOpen);  // Still in use.

  ASSERT_TRUE(w.client->CloseChannel(relid).ok());
  w.Run();
  ASSERT_TRUE(torndown_at.has_value());
  ASSERT_EQ(w.device.close_times.size(), 1u);
  EXPECT_GT(*torndown_at, w.device.close_times[0]);
  EXPECT_EQ(w.server->gpadl_count(), 0u);
  ExpectNoViolations(w);
}

// Goal: SynIC back-pressure: an 8000-page GPADL is ~286 messages posted
// back-to-back; the host's 16-buffer port overflows and the client's
// Linux-style retries get every message through.
TEST(VmbusControlTest, HugeGpadlOverflowsThePortAndCompletesThroughRetries) {
  World w(CostModel::Default());
  w.Connect(kVersionCopper);
  const uint32_t relid = w.server->OfferChannel(Offer(1)).value();
  w.Run();
  constexpr uint32_t kPages = 8000;
  const uint64_t received_before = w.server->counters().messages_received;
  const auto [status, gpadl] = w.CreateGpadl(relid, Ranges(kPages, 0x100000));
  EXPECT_EQ(status, kStatusSuccess);
  const uint32_t messages = GpadlMessageCount(8 + 8 * kPages);
  EXPECT_EQ(messages, 286u);
  EXPECT_EQ(w.server->counters().messages_received - received_before, messages);
  EXPECT_EQ(w.server->GpadlPages(relid, gpadl).value().size(), kPages);
  EXPECT_EQ(w.server->counters().gpadl_pages_accepted, kPages);
  const uint64_t refused = w.host_synic.counters().posts_rejected_insufficient_buffers;
  EXPECT_GT(refused, 0u);
  EXPECT_EQ(w.client->counters().post_retries, refused);
  EXPECT_TRUE(w.client->post_failures().empty());
  std::cout << "8000-page GPADL: " << messages << " messages, " << refused
            << " kInsufficientBuffers retries, done at t=" << w.sim.Now() << "\n";
  ExpectNoViolations(w);
}

// Goal: a port that stays full (host VP descheduled) makes the client give
// up after 100 tries (1 us doubling x21, then 2^21 us), recording the
// failure and failing the request; the other requests complete later.
TEST(VmbusControlTest, PostGivesUpAfterOneHundredTries) {
  World w(CostModel::Default());
  w.Connect(kVersionCopper);
  const uint32_t relid = w.server->OfferChannel(Offer(1)).value();
  w.Run();
  const SimTime stall_start = w.sim.Now();
  w.host_vp0.Stall(SimDuration::Seconds(400));
  std::vector<uint32_t> statuses(17, 0xDEAD);
  for (uint32_t i = 0; i < 17; ++i) {
    ASSERT_TRUE(w.client
                    ->CreateGpadl(relid, Ranges(2, 0x100 * (i + 1)),
                                  [&statuses, i](uint32_t s, uint32_t) { statuses[i] = s; })
                    .ok());
  }
  w.Run();
  ASSERT_EQ(w.client->post_failures().size(), 1u);
  const PostFailure& failure = w.client->post_failures()[0];
  EXPECT_EQ(failure.type, ChannelMessageType::kGpadlHeader);
  EXPECT_EQ(failure.gpadl_id, kFirstGpadlId + 16);
  EXPECT_EQ(failure.status, HvStatus::kInsufficientBuffers);
  EXPECT_EQ(failure.tries, kPostMessageTriesMax);
  // 99 waits: 2^0 .. 2^21 us, then 77 x 2^21 us.
  const int64_t waits_us = ((int64_t{1} << 22) - 1) + 77 * (int64_t{1} << 21);
  EXPECT_GE((failure.time - stall_start).nanoseconds(), waits_us * 1000);
  EXPECT_EQ(w.client->counters().post_retries, 99u);
  for (uint32_t i = 0; i < 16; ++i) EXPECT_EQ(statuses[i], kStatusSuccess) << i;
  EXPECT_EQ(statuses[16], kStatusUnsuccessful);
  ExpectNoViolations(w);
}

// ---------------------------------------------------------------------------
// Unload and reconnect.

// Goal: UNLOAD closes the open channels in their devices (and an open the
// device is still working on), tears every GPADL down internally and
// answers only after the last device finished; the guest can reconnect and
// gets the same offers again.
TEST(VmbusControlTest, UnloadWithOpenChannelsWaitsForTheDevices) {
  World w(CostModel::Default());
  w.Connect(kVersionCopper);
  for (uint8_t i = 1; i <= 3; ++i) ASSERT_TRUE(w.server->OfferChannel(Offer(i)).ok());
  w.Run();
  uint32_t gpadl1 = 0;
  uint32_t gpadl2 = 0;
  ASSERT_EQ(w.OpenWithNewRing(1, 0x1000, &gpadl1), kStatusSuccess);
  ASSERT_EQ(w.OpenWithNewRing(2, 0x2000, &gpadl2), kStatusSuccess);
  // Channel 3: the device has not completed the open when UNLOAD comes.
  w.device.auto_open = false;
  w.device.auto_close = false;
  const auto [status3, gpadl3] = w.CreateGpadl(3, Ranges(32, 0x3000));
  ASSERT_EQ(status3, kStatusSuccess);
  std::optional<uint32_t> open3_status;
  ASSERT_TRUE(w.client->OpenChannel(3, gpadl3, 16, 0, {}, [&](uint32_t s) { open3_status = s; })
                  .ok());
  w.Run();
  ASSERT_EQ(w.server->channel_state(3), ServerChannelState::kOpening);

  std::optional<absl::Status> unloaded;
  ASSERT_TRUE(w.client->Unload([&](absl::Status s) { unloaded = s; }).ok());
  w.Run();
  EXPECT_EQ(w.server->connection_state(), ServerConnectionState::kDisconnecting);
  EXPECT_EQ(w.client->connection_state(), ClientConnectionState::kDisconnecting);
  EXPECT_EQ(w.server->channel_state(1), ServerChannelState::kClosingClientRelease);
  EXPECT_EQ(w.server->channel_state(3), ServerChannelState::kOpeningClientRelease);
  EXPECT_EQ(w.device.closes, (std::vector<uint32_t>{1, 2}));
  EXPECT_FALSE(unloaded.has_value());

  ASSERT_TRUE(w.server->CompleteClose(1).ok());
  ASSERT_TRUE(w.server->CompleteOpen(3, kStatusSuccess).ok());  // Closed again at once.
  w.Run();
  EXPECT_EQ(w.device.closes, (std::vector<uint32_t>{1, 2, 3}));
  ASSERT_TRUE(w.server->CompleteClose(2).ok());
  ASSERT_TRUE(w.server->CompleteClose(3).ok());
  w.Run();
  ASSERT_TRUE(unloaded.has_value());
  EXPECT_TRUE(unloaded->ok());
  EXPECT_EQ(open3_status, kStatusUnsuccessful);  // Failed by the unload.
  EXPECT_EQ(w.server->connection_state(), ServerConnectionState::kDisconnected);
  EXPECT_EQ(w.client->connection_state(), ClientConnectionState::kDisconnected);
  EXPECT_EQ(w.server->gpadl_count(), 0u);
  EXPECT_EQ(w.client->gpadl_count(), 0u);
  EXPECT_TRUE(w.client->relids().empty());
  for (uint32_t relid : w.server->relids()) {
    EXPECT_EQ(w.server->channel_state(relid), ServerChannelState::kClosed);
    EXPECT_FALSE(w.server->channel(relid).value().offer_sent);
  }

  // Reconnect: the same offers, usable again.
  w.device.auto_open = true;
  w.device.auto_close = true;
  w.listener.events.clear();
  EXPECT_EQ(w.Connect(kVersionCopper), kVersionCopper);
  EXPECT_EQ(w.listener.events,
            (std::vector<std::string>{"offer 1", "offer 2", "offer 3", "all offers"}));
  uint32_t gpadl = 0;
  EXPECT_EQ(w.OpenWithNewRing(2, 0x4000, &gpadl), kStatusSuccess);
  ExpectNoViolations(w);
}

// Goal: a Win8 guest skips UNLOAD (as Linux does below Win8.1), so its next
// INITIATE_CONTACT reaches a connected host: an implicit disconnect that
// closes the open channel, then a normal connect.
TEST(VmbusControlTest, ContactWhileConnectedIsAnImplicitReconnect) {
  World w(CostModel::Default());
  w.Connect(kVersionWin8);
  ASSERT_TRUE(w.server->OfferChannel(Offer(1)).ok());
  w.Run();
  uint32_t gpadl = 0;
  ASSERT_EQ(w.OpenWithNewRing(1, 0x1000, &gpadl), kStatusSuccess);
  std::optional<absl::Status> unloaded;
  ASSERT_TRUE(w.client->Unload([&](absl::Status s) { unloaded = s; }).ok());
  w.Run();
  EXPECT_TRUE(unloaded.has_value() && unloaded->ok());
  EXPECT_EQ(w.server->connection_state(), ServerConnectionState::kConnected);  // Not told.

  w.listener.events.clear();
  EXPECT_EQ(w.Connect(kVersionWin8), kVersionWin8);
  EXPECT_EQ(w.device.events, (std::vector<std::string>{"open 1", "close 1"}));
  EXPECT_EQ(w.server->gpadl_count(), 0u);
  EXPECT_EQ(w.listener.events, (std::vector<std::string>{"offer 1", "all offers"}));
  ExpectNoViolations(w);
}

// ---------------------------------------------------------------------------
// Illegal messages.

// A snapshot of both sides' protocol state, to show a rejected message
// changed nothing.
struct Snapshot {
  ServerConnectionState server_connection;
  ClientConnectionState client_connection;
  std::vector<uint32_t> server_relids;
  std::vector<std::optional<ServerChannelState>> server_states;
  std::vector<uint32_t> client_relids;
  std::vector<std::optional<ClientChannelState>> client_states;
  size_t server_gpadls;
  size_t client_gpadls;
  uint64_t server_sent;
  bool offers_requested;

  static Snapshot Of(const World& w) {
    Snapshot s{.server_connection = w.server->connection_state(),
               .client_connection = w.client->connection_state(),
               .server_relids = w.server->relids(),
               .client_relids = w.client->relids(),
               .server_gpadls = w.server->gpadl_count(),
               .client_gpadls = w.client->gpadl_count(),
               .server_sent = w.server->counters().messages_sent,
               .offers_requested = w.server->offers_requested()};
    for (uint32_t relid : s.server_relids) s.server_states.push_back(w.server->channel_state(relid));
    for (uint32_t relid : s.client_relids) s.client_states.push_back(w.client->channel_state(relid));
    return s;
  }
  bool operator==(const Snapshot&) const = default;
};

class IllegalMessageTest : public ::testing::TestWithParam<bool> {
 protected:
  static CostModel Costs() { return GetParam() ? CostModel::Zero() : CostModel::Default(); }
};

// Goal: every illegal message, on either side, is rejected with a reason,
// recorded and traced, and leaves both state machines as they were; the
// connection still works afterwards. Method: raw encoded bytes posted to
// the host port or delivered to the guest slot.
TEST_P(IllegalMessageTest, IllegalMessagesAreRejectedWithoutStateChange) {
  World w(Costs());
  w.Connect(kVersionIron);
  const uint32_t relid = w.server->OfferChannel(Offer(1)).value();
  w.Run();
  const auto [status, gpadl] = w.CreateGpadl(relid, Ranges(32, 0x700));
  ASSERT_EQ(status, kStatusSuccess);

  struct ToHost {
    std::vector<uint8_t> bytes;
    uint32_t msgtype;
    uint32_t relid;
    const char* reason;
  };
  const std::vector<ToHost> to_host = {
      {Encode(OpenChannel{.child_relid = 77, .openid = 77, .ringbuffer_gpadlhandle = gpadl,
                          .downstream_ringbuffer_pageoffset = 16}),
       5, 77, "unknown relid 77"},
      {Encode(RequestOffers{}), 3, 0, "REQUESTOFFERS already received"},
      {Encode(GpadlBody{.gpadl = 0x1234, .pfns = {1, 2, 3}}), 9, 0, "no GPADL_HEADER in progress"},
      {Encode(GpadlTeardown{.child_relid = relid, .gpadl = 0x4321}), 11, relid, "unknown gpadl"},
      {Encode(RelidReleased{.child_relid = relid}), 13, relid, "not rescinded"},
      {Encode(CloseChannel{.child_relid = relid}), 7, relid, "not open"},
      {Encode(OfferChannel{.child_relid = 5}), 1, 0, "host-to-guest"},
      {std::vector<uint8_t>{99, 0, 0, 0, 0, 0, 0, 0}, 99, 0, "does not decode"},
      {std::vector<uint8_t>{5, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}, 5, 0, "does not decode"},
      {std::vector<uint8_t>{1, 2}, 0, 0, "does not decode"},
  };
  const std::vector<std::pair<std::vector<uint8_t>, const char*>> to_guest = {
      {Encode(OpenResult{.child_relid = relid, .openid = relid}), "not opening"},
      {Encode(OpenResult{.child_relid = 42, .openid = 42}), "unknown relid 42"},
      {Encode(GpadlCreated{.child_relid = relid, .gpadl = 0x777}), "unknown gpadl"},
      {Encode(GpadlCreated{.child_relid = relid, .gpadl = gpadl}), "not being created"},
      {Encode(GpadlTorndown{.gpadl = gpadl}), "not being torn down"},
      {Encode(AllOffersDelivered{}), "already received"},
      {Encode(RescindChannelOffer{.child_relid = 9}), "unknown relid 9"},
      {Encode(UnloadResponse{}), "without an UNLOAD"},
      {Encode(VersionResponse{.version_supported = 1}), "without an INITIATE_CONTACT"},
      {Encode(ModifyChannelResponse{.child_relid = relid}), "no MODIFYCHANNEL"},
      {Encode(OfferChannel{.child_relid = relid}), "already offered"},
      {Encode(Unload{}), "guest-to-host"},
      {std::vector<uint8_t>{0, 0, 0, 0, 0, 0, 0, 0}, "does not decode"},
  };

  const Snapshot before = Snapshot::Of(w);
  for (const ToHost& m : to_host) {
    ASSERT_EQ(PostMessage(w.host_synic, w.guest_vp0, kServerMessageConnectionId, m.bytes),
              HvStatus::kSuccess);
    w.Run();
  }
  for (const auto& [bytes, reason] : to_guest) {
    ASSERT_TRUE(w.guest_synic.DeliverMessage(0, bytes).ok());
    w.Run();
  }
  EXPECT_EQ(Snapshot::Of(w), before);

  ASSERT_EQ(w.server->violations().size(), to_host.size());
  for (size_t i = 0; i < to_host.size(); ++i) {
    const ServerViolation& v = w.server->violations()[i];
    EXPECT_STREQ(v.side, "host");
    EXPECT_EQ(v.msgtype, to_host[i].msgtype) << i;
    EXPECT_EQ(v.relid, to_host[i].relid) << i;
    EXPECT_TRUE(absl::StrContains(v.reason, to_host[i].reason)) << i << ": " << v.reason;
  }
  ASSERT_EQ(w.client->violations().size(), to_guest.size());
  for (size_t i = 0; i < to_guest.size(); ++i) {
    const ClientViolation& v = w.client->violations()[i];
    EXPECT_STREQ(v.side, "guest");
    EXPECT_TRUE(absl::StrContains(v.reason, to_guest[i].second)) << i << ": " << v.reason;
  }
  EXPECT_EQ(w.RejectedTraceCount(), to_host.size() + to_guest.size());
  EXPECT_EQ(w.server->counters().messages_rejected, to_host.size());
  EXPECT_EQ(w.client->counters().messages_rejected, to_guest.size());

  // Nothing was corrupted: the channel still opens and closes.
  std::optional<uint32_t> open_status;
  ASSERT_TRUE(w.client->OpenChannel(relid, gpadl, 16, 0, {}, [&](uint32_t s) { open_status = s; })
                  .ok());
  w.Run();
  EXPECT_EQ(open_status, kStatusSuccess);
  ASSERT_TRUE(w.client->CloseChannel(relid).ok());
  w.Run();
  EXPECT_EQ(w.server->channel_state(relid), ServerChannelState::kClosed);
}

// Goal: requests with bad parameters are rejected but still answered, so the
// guest never waits forever: OPENCHANNEL with a bad offset or target VP gets
// OPEN_RESULT(failure); a GPADL_HEADER for an unknown relid gets
// GPADL_CREATED(failure).
TEST_P(IllegalMessageTest, BadRequestsAreRejectedAndAnsweredWithAFailure) {
  World w(Costs());
  w.Connect(kVersionCopper);
  const uint32_t relid = w.server->OfferChannel(Offer(1)).value();
  w.Run();
  const auto [status, gpadl] = w.CreateGpadl(relid, Ranges(32, 0x700));
  ASSERT_EQ(status, kStatusSuccess);
  for (uint32_t offset : {0u, 32u}) {
    std::optional<uint32_t> open_status;
    ASSERT_TRUE(w.client->OpenChannel(relid, gpadl, offset, 0, {}, [&](uint32_t s) {
                           open_status = s;
                         }).ok());
    w.Run();
    EXPECT_EQ(open_status, kStatusUnsuccessful) << offset;
    EXPECT_EQ(w.server->channel_state(relid), ServerChannelState::kClosed);
  }
  std::optional<uint32_t> open_status;
  ASSERT_TRUE(
      w.client->OpenChannel(relid, gpadl, 16, 7, {}, [&](uint32_t s) { open_status = s; }).ok());
  w.Run();
  EXPECT_EQ(open_status, kStatusUnsuccessful);
  ASSERT_EQ(w.server->violations().size(), 3u);
  EXPECT_TRUE(absl::StrContains(w.server->violations()[0].reason, "downstream_ringbuffer_pageoffset"));
  EXPECT_TRUE(absl::StrContains(w.server->violations()[2].reason, "target_vp 7"));

  const std::vector<ChannelMessage> split = SplitGpadl(55, 0x999, Ranges(2, 1)).value();
  ASSERT_EQ(PostMessage(w.host_synic, w.guest_vp0, kServerMessageConnectionId, Encode(split[0])),
            HvStatus::kSuccess);
  w.Run();
  EXPECT_EQ(w.server->violations().size(), 4u);
  EXPECT_EQ(w.server->counters().gpadls_failed, 1u);
  ASSERT_EQ(w.client->violations().size(), 1u);  // The answer names a GPADL it never made.
  EXPECT_TRUE(absl::StrContains(w.client->violations()[0].reason, "unknown gpadl"));
  EXPECT_EQ(w.client->channel_state(relid), ClientChannelState::kOffered);
}

INSTANTIATE_TEST_SUITE_P(CostModels, IllegalMessageTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return std::string(info.param ? "Zero" : "Default");
                         });

// ---------------------------------------------------------------------------
// Determinism and the zero cost model.

// Goal: a whole lifecycle with rescind and unload gives the same trace
// fingerprint twice, and also completes with every cost at zero.
uint64_t RunScenario(const CostModel& costs) {
  World w(costs, {}, WithMonitorPages());
  w.sim.tracer().EnableFingerprint();
  w.Connect(kVersionCopper);
  for (uint8_t i = 1; i <= 2; ++i) EXPECT_TRUE(w.server->OfferChannel(Offer(i, 0, true)).ok());
  w.Run();
  uint32_t gpadl = 0;
  EXPECT_EQ(w.OpenWithNewRing(1, 0x1000, &gpadl), kStatusSuccess);
  EXPECT_EQ(w.OpenWithNewRing(2, 0x2000, &gpadl), kStatusSuccess);
  EXPECT_TRUE(w.server->RescindChannel(2).ok());
  w.Run();
  EXPECT_TRUE(w.client->CloseChannel(2).ok());
  EXPECT_TRUE(w.client->ReleaseRelid(2).ok());
  w.Run();
  std::optional<absl::Status> unloaded;
  EXPECT_TRUE(w.client->Unload([&](absl::Status s) { unloaded = s; }).ok());
  w.Run();
  EXPECT_TRUE(unloaded.has_value() && unloaded->ok());
  ExpectNoViolations(w);
  return w.sim.tracer().fingerprint();
}

TEST(VmbusControlTest, SameScenarioSameFingerprint) {
  const uint64_t first = RunScenario(CostModel::Default());
  EXPECT_EQ(RunScenario(CostModel::Default()), first);
  EXPECT_NE(RunScenario(CostModel::Zero()), first);
  EXPECT_EQ(RunScenario(CostModel::Zero()), RunScenario(CostModel::Zero()));
}

}  // namespace
}  // namespace vmbsim::fabric
