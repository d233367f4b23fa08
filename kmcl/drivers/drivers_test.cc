// The sample drivers against the real KMCL runtime: each scenario creates
// drivers through their public headers in a KmclWorld (one host, one guest),
// runs the simulator, and checks the drivers' own statistics and that the
// runtime's contract verifier found nothing. The drivers reach KMCL only
// through the exported C functions, so this also proves they link against it.

#include <set>
#include <vector>

#include "gtest/gtest.h"
#include "kmcl/drivers/echo_vsp.h"
#include "kmcl/drivers/request_response_vsc.h"
#include "kmcl/drivers/streaming_vsc.h"
#include "kmcl/drivers/sync_request_client.h"
#include "kmcl/testing/kmcl_world.h"
#include "sim/fabric/virtual_processor.h"

namespace vmbsim::kmcl {
namespace {

using testing::KmclWorld;
using testing::WorldOptions;

constexpr GUID kType = {0x0e0e0e0e, 0x1, 0x2, {3, 4, 5, 6, 7, 8, 9, 10}};
constexpr GUID kInstance = {0x1e1e1e1e, 0x1, 0x2, {3, 4, 5, 6, 7, 8, 9, 10}};

const std::vector<UINT32> kOpenedAndRunning = {
    VMBSIM_DRIVER_EVENT_OPENED, VMBSIM_DRIVER_EVENT_STARTED, VMBSIM_DRIVER_EVENT_POST_STARTED};

std::vector<UINT32> Events(const UINT32* log, UINT32 count) {
  return std::vector<UINT32>(log, log + (count < VMBSIM_DRIVER_EVENT_LOG_CAPACITY
                                             ? count
                                             : VMBSIM_DRIVER_EVENT_LOG_CAPACITY));
}

ECHO_VSP_CONFIG EchoConfig() {
  ECHO_VSP_CONFIG config{};
  config.InterfaceType = kType;
  config.InterfaceInstance = kInstance;
  config.MaxPacketSize = 4096;
  return config;
}

RR_VSC_CONFIG RrConfig() {
  RR_VSC_CONFIG config{};
  config.InterfaceType = kType;  // Any instance.
  config.MaxPacketSize = 4096;
  config.RequestBytes = 64;
  return config;
}

class DriversTest : public ::testing::Test {
 protected:
  DriversTest() = default;
  explicit DriversTest(const WorldOptions& options) : world_(options) {}

  void CreateEcho(const ECHO_VSP_CONFIG& config) {
    world_.OnHost([this, config] {
      ASSERT_EQ(EchoVspCreate(world_.host_device(), world_.vmbus_handle(), &config, &echo_),
                STATUS_SUCCESS);
    });
  }
  void CreateRr(const RR_VSC_CONFIG& config) {
    world_.OnGuest([this, config] {
      ASSERT_EQ(RrVscCreate(world_.guest_device(), &config, &rr_), STATUS_SUCCESS);
    });
  }
  ECHO_VSP_STATS EchoStats() {
    ECHO_VSP_STATS stats;
    EchoVspGetStats(echo_, &stats);
    return stats;
  }
  RR_VSC_STATS RrStats() {
    RR_VSC_STATS stats;
    RrVscGetStats(rr_, &stats);
    return stats;
  }
  uint64_t Findings() { return world_.runtime().verifier().total_count(); }

  // Submits `count` open-loop requests from the guest, runs, checks that each
  // got a `completion_bytes` completion, then destroys both drivers and
  // checks that nothing is left behind.
  void SubmitAndCheck(int count, UINT32 completion_bytes) {
    world_.OnGuest([this, count] {
      for (int i = 0; i < count; ++i) ASSERT_EQ(RrVscSubmit(rr_), STATUS_SUCCESS);
    });
    world_.Run();
    EXPECT_EQ(RrStats().Completed, static_cast<uint64_t>(count));
    EXPECT_EQ(RrStats().BytesReceived, static_cast<uint64_t>(count) * completion_bytes);
    EXPECT_EQ(EchoStats().ProcessingCompletePackets, static_cast<uint64_t>(count));
    world_.OnGuest([this] { RrVscDestroy(rr_); });
    world_.OnHost([this] { EchoVspDestroy(echo_); });
    world_.Run();
    EXPECT_EQ(Findings(), 0u);
    EXPECT_EQ(world_.runtime().live_packet_count(), 0u);
  }

  KmclWorld world_;
  ECHO_VSP* echo_ = nullptr;
  RR_VSC* rr_ = nullptr;
};

// Goal: in the shared-buffer mode the request bytes travel through the
// guest's GPADL: the host maps it once, reads every slot and writes its
// response there, the guest finds every response in its buffer, and the
// teardown unmaps before the guest's delete, with no finding. Method: a
// closed loop of 100 requests served inline, then both drivers destroyed.
TEST_F(DriversTest, SharedBufferCarriesRequestsAndResponsesThroughAGpadl) {
  ECHO_VSP_CONFIG echo = EchoConfig();
  echo.SharedBuffer = TRUE;
  CreateEcho(echo);
  RR_VSC_CONFIG rr = RrConfig();
  rr.Outstanding = 4;
  rr.TotalRequests = 100;
  rr.SharedBuffer = TRUE;
  CreateRr(rr);
  world_.Run();
  const RR_VSC_STATS stats = RrStats();
  EXPECT_EQ(stats.Completed, 100u);
  EXPECT_EQ(stats.SharedChecked, 100u);
  EXPECT_EQ(stats.SharedMismatches, 0u);
  EXPECT_EQ(stats.SharedAborted, 0u);
  EXPECT_EQ(stats.GpadlsCreated, 1u);
  EXPECT_EQ(stats.BytesReceived, 100u * sizeof(ECHO_VSP_SHARED_COMPLETION));
  EXPECT_EQ(EchoStats().SharedServed, 100u);
  EXPECT_EQ(EchoStats().GpadlMaps, 1u);
  world_.OnGuest([this] { RrVscDestroy(rr_); });
  world_.Run();
  EXPECT_EQ(EchoStats().GpadlUnmaps, 1u);
  world_.OnHost([this] { EchoVspDestroy(echo_); });
  world_.Run();
  EXPECT_EQ(Findings(), 0u);
}

// Goal: the shared-buffer mode refuses what it has no slot for: an open
// loop, sub-channels, early requests, a request shorter than its header.
TEST_F(DriversTest, SharedBufferNeedsAClosedLoopOnOneChannel) {
  RR_VSC_CONFIG rr = RrConfig();
  rr.SharedBuffer = TRUE;
  RR_VSC* vsc = nullptr;
  world_.OnGuest([&] {
    EXPECT_EQ(RrVscCreate(world_.guest_device(), &rr, &vsc), STATUS_INVALID_PARAMETER);  // Open loop.
    rr.Outstanding = 2;
    rr.RequestBytes = RR_VSC_SHARED_REQUEST_BYTES_MIN - 1;
    EXPECT_EQ(RrVscCreate(world_.guest_device(), &rr, &vsc), STATUS_INVALID_PARAMETER);
    rr.RequestBytes = RR_VSC_SHARED_REQUEST_BYTES_MIN;
    rr.SubChannels = 1;
    EXPECT_EQ(RrVscCreate(world_.guest_device(), &rr, &vsc), STATUS_INVALID_PARAMETER);
    rr.SubChannels = 0;
    rr.EarlyRequests = 1;
    EXPECT_EQ(RrVscCreate(world_.guest_device(), &rr, &vsc), STATUS_INVALID_PARAMETER);
  });
  world_.Run();
  EXPECT_EQ(vsc, nullptr);
}

TEST_F(DriversTest, ClosedLoopEchoesEveryRequestAndTearsDownCleanly) {
  CreateEcho(EchoConfig());
  RR_VSC_CONFIG rr = RrConfig();
  rr.Outstanding = 4;
  rr.TotalRequests = 100;
  CreateRr(rr);
  world_.Run();
  const RR_VSC_STATS stats = RrStats();
  EXPECT_EQ(stats.Sent, 100u);
  EXPECT_EQ(stats.Completed, 100u);
  EXPECT_EQ(stats.Failed, 0u);
  EXPECT_EQ(stats.InFlight, 0u);
  EXPECT_EQ(stats.BytesReceived, 100u * 64);
  EXPECT_EQ(stats.LatencyCount, 100u);
  EXPECT_GT(stats.LatencyMin100ns, 0u);
  EXPECT_LE(stats.LatencyMin100ns, stats.LatencyMax100ns);
  EXPECT_EQ(Events(stats.EventLog, stats.EventCount), kOpenedAndRunning);
  EXPECT_EQ(EchoStats().PacketsProcessed, 100u);
  EXPECT_EQ(EchoStats().ProcessingCompletePackets, 100u);
  EXPECT_EQ(Events(EchoStats().EventLog, EchoStats().EventCount), kOpenedAndRunning);

  world_.OnGuest([this] { RrVscDestroy(rr_); });
  world_.Run();
  world_.OnHost([this] { EchoVspDestroy(echo_); });
  world_.Run();
  EXPECT_EQ(Findings(), 0u);
  EXPECT_EQ(world_.runtime().live_packet_count(), 0u);
}

// The service routines are the drivers' hooks for their own work: echo_vsp
// calls its routine once per well-formed request (on the host, inside
// ProcessPacket), rr_vsc once per ended transaction (on the guest, in the
// completion routine). Each routine records the partition of the VP it ran
// on, read as the current VP; the counts must match the requests exactly.
struct ServiceCalls {
  int count = 0;
  std::set<uint16_t> partitions;
};

VOID RecordServiceCall(PVOID context) {
  auto* calls = static_cast<ServiceCalls*>(context);
  calls->count += 1;
  const fabric::VirtualProcessor* vp = fabric::VirtualProcessor::Current();
  calls->partitions.insert(vp != nullptr ? vp->partition_id() : 0xffff);
}

TEST_F(DriversTest, ServiceRoutinesRunOncePerRequestOnTheirSide) {
  ServiceCalls host_calls;
  ServiceCalls guest_calls;
  ECHO_VSP_CONFIG echo = EchoConfig();
  echo.ServiceRoutine = &RecordServiceCall;
  echo.ServiceContext = &host_calls;
  CreateEcho(echo);
  RR_VSC_CONFIG rr = RrConfig();
  rr.Outstanding = 3;
  rr.TotalRequests = 30;
  rr.CompletionServiceRoutine = &RecordServiceCall;
  rr.CompletionServiceContext = &guest_calls;
  CreateRr(rr);
  world_.Run();
  EXPECT_EQ(RrStats().Completed, 30u);
  EXPECT_EQ(host_calls.count, 30);
  EXPECT_EQ(host_calls.partitions, (std::set<uint16_t>{0}));
  EXPECT_EQ(guest_calls.count, 30);
  EXPECT_EQ(guest_calls.partitions, (std::set<uint16_t>{1}));
  world_.OnGuest([this] { RrVscDestroy(rr_); });
  world_.Run();
  world_.OnHost([this] { EchoVspDestroy(echo_); });
  world_.Run();
  EXPECT_EQ(Findings(), 0u);
}

TEST_F(DriversTest, OpenLoopCompletesFromProcessingComplete) {
  ECHO_VSP_CONFIG echo = EchoConfig();
  echo.CompletionBytes = 24;
  echo.CompleteAsynchronously = TRUE;
  CreateEcho(echo);
  CreateRr(RrConfig());
  world_.Run();
  SubmitAndCheck(10, 24);
}

TEST_F(DriversTest, OpenLoopUnderATransactionQuota) {
  ECHO_VSP_CONFIG echo = EchoConfig();
  echo.CompletionBytes = 24;
  echo.TransactionQuota = 2;
  CreateEcho(echo);
  CreateRr(RrConfig());
  world_.Run();
  SubmitAndCheck(10, 24);  // Inline completions keep it under the quota.
}

// TODO(kmcl): the runtime stalls here. A batch that ends because the quota
// is reached calls ProcessingComplete from inside the data path's read step;
// the driver's completions there find the endpoint not yet stalled (it is
// marked so only in StepCommitRead), so nothing kicks it afterwards and the
// queue stops with 0 packets outstanding. Enable once that is fixed.
TEST_F(DriversTest, OpenLoopCompletesFromProcessingCompleteUnderAQuota) {
  ECHO_VSP_CONFIG echo = EchoConfig();
  echo.CompletionBytes = 24;
  echo.CompleteAsynchronously = TRUE;
  echo.TransactionQuota = 2;
  CreateEcho(echo);
  CreateRr(RrConfig());
  world_.Run();
  SubmitAndCheck(10, 24);
}

TEST_F(DriversTest, RescindStopsTheClosedLoopWithoutFindings) {
  CreateEcho(EchoConfig());
  RR_VSC_CONFIG rr = RrConfig();
  rr.Outstanding = 8;  // Unlimited requests.
  CreateRr(rr);
  world_.Run(sim::SimDuration::Milliseconds(5));
  EXPECT_GT(RrStats().Completed, 0u);
  world_.OnHost([this] { EchoVspDestroy(echo_); });
  world_.Run();
  const RR_VSC_STATS stats = RrStats();
  EXPECT_EQ(stats.InFlight, 0u);
  EXPECT_EQ(stats.Sent, stats.Completed + stats.Failed);
  EXPECT_EQ(stats.Cancelled, stats.Failed);
  EXPECT_EQ(Events(stats.EventLog, stats.EventCount),
            (std::vector<UINT32>{VMBSIM_DRIVER_EVENT_OPENED, VMBSIM_DRIVER_EVENT_STARTED,
                                 VMBSIM_DRIVER_EVENT_POST_STARTED, VMBSIM_DRIVER_EVENT_SUSPEND,
                                 VMBSIM_DRIVER_EVENT_CLOSED}));
  world_.OnGuest([this] { RrVscDestroy(rr_); });
  world_.Run();
  EXPECT_EQ(Findings(), 0u);
  EXPECT_EQ(world_.runtime().live_packet_count(), 0u);
}

// A bare KMCL client for the save/restore test: it holds every packet the
// host sends (no completion) while `hold` is set, completes the held ones
// when its channel is suspended (a pause or close waits for them), and
// completes at once otherwise.
struct HoldingClient {
  VMBCHANNEL channel = nullptr;
  bool hold = true;
  std::vector<VMBPACKETCOMPLETION> held;
  uint64_t received = 0;
  uint64_t completed_at_once = 0;
};
HoldingClient* g_holding = nullptr;

VOID HoldingPacket(VMBCHANNEL, VMBPACKETCOMPLETION packet, PVOID, UINT32, UINT32) {
  ++g_holding->received;
  if (g_holding->hold) {
    g_holding->held.push_back(packet);
    return;
  }
  ++g_holding->completed_at_once;
  VmbChannelPacketComplete(packet, nullptr, 0);
}

VOID HoldingSuspend(VMBCHANNEL) {
  for (VMBPACKETCOMPLETION packet : g_holding->held) VmbChannelPacketComplete(packet, nullptr, 0);
  g_holding->held.clear();
}

// Goal: greetings the echo VSP has in flight when it is saved (the guest
// holds them, uncompleted) are not lost: a new instance restores them from
// the save, with the VSP's per-packet state (the greeting numbers), and
// once the guest opens the restored channel each is sent again and
// completed exactly once, with no verifier finding. Method: 5 greetings
// held by a bare client; pause and save (EchoVspSaveBegin/End), destroy the
// saved instance (the guest sees a rescind), create one from the save, let
// the guest enable again and complete at once.
TEST_F(DriversTest, GreetingsInFlightAtASaveCompleteAfterTheRestore) {
  constexpr UINT32 kGreetings = 5;
  HoldingClient client;
  g_holding = &client;
  ECHO_VSP_CONFIG config = EchoConfig();
  config.GreetingPackets = kGreetings;
  config.SaveRestore = TRUE;
  CreateEcho(config);
  world_.OnGuest([&client, this] {
    ASSERT_EQ(VmbChannelAllocate(world_.guest_device(), FALSE, &client.channel), STATUS_SUCCESS);
    ASSERT_EQ(VmbChannelInitSetMaximumPacketSize(client.channel, 4096), STATUS_SUCCESS);
    VMB_CHANNEL_STATE_CHANGE_CALLBACKS callbacks;
    VMB_CHANNEL_STATE_CHANGE_CALLBACKS_INIT(&callbacks);
    callbacks.EvtChannelSuspend = HoldingSuspend;
    ASSERT_EQ(VmbChannelInitSetStateChangeCallbacks(client.channel, &callbacks), STATUS_SUCCESS);
    ASSERT_EQ(VmbChannelInitSetProcessPacketCallbacks(client.channel, HoldingPacket, nullptr), STATUS_SUCCESS);
    ASSERT_EQ(VmbClientChannelInitSetTargetPnp(client.channel, &kType, &kInstance, nullptr), STATUS_SUCCESS);
    ASSERT_EQ(VmbChannelEnable(client.channel), STATUS_SUCCESS);
  });
  world_.Run();
  ASSERT_EQ(client.held.size(), kGreetings);
  EXPECT_EQ(EchoStats().GreetingsCompleted, 0u);

  UINT8* saved = nullptr;
  UINT32 saved_size = 0;
  world_.OnHost([&] {
    ASSERT_EQ(EchoVspSaveBegin(echo_), STATUS_SUCCESS);
    EXPECT_EQ(EchoVspSaveBegin(echo_), STATUS_INVALID_DEVICE_STATE);  // One save at a time.
    ASSERT_EQ(EchoVspSaveEnd(echo_, &saved, &saved_size), STATUS_SUCCESS);
  });
  world_.Run();
  ASSERT_NE(saved, nullptr);
  EXPECT_EQ(EchoStats().GreetingsSaved, kGreetings);

  // The saved instance goes (its greetings are cancelled with its channel);
  // a new one restores them.
  ECHO_VSP* old = echo_;
  world_.OnHost([&] {
    EchoVspDestroy(old);
    old = nullptr;
    ECHO_VSP_CONFIG restore = config;
    restore.RestoreBuffer = saved;
    restore.RestoreBufferSize = saved_size;
    ASSERT_EQ(EchoVspCreate(world_.host_device(), world_.vmbus_handle(), &restore, &echo_), STATUS_SUCCESS);
  });
  world_.Run();
  free(saved);
  EXPECT_EQ(EchoStats().GreetingsRestored, kGreetings);
  EXPECT_EQ(EchoStats().GreetingsSent, 0u);  // No greetings of its own.
  EXPECT_EQ(world_.runtime().StateOf(client.channel), "disabled");  // The rescind.

  client.hold = false;
  world_.OnGuest([&client] { ASSERT_EQ(VmbChannelEnable(client.channel), STATUS_SUCCESS); });
  world_.Run();
  EXPECT_EQ(client.completed_at_once, kGreetings);
  EXPECT_EQ(client.received, 2 * kGreetings);
  EXPECT_EQ(EchoStats().GreetingsCompleted, kGreetings);
  EXPECT_EQ(EchoStats().GreetingsFailed, 0u);

  world_.OnGuest([&client] {
    VmbChannelDisable(client.channel);
    VmbChannelCleanup(client.channel);
  });
  world_.OnHost([this] { EchoVspDestroy(echo_); });
  world_.Run();
  g_holding = nullptr;
  EXPECT_EQ(Findings(), 0u);
  EXPECT_EQ(world_.runtime().live_packet_count(), 0u);
}

// A guest with 4 VPs, for the multi-channel drivers.
class MultiChannelTest : public DriversTest {
 protected:
  MultiChannelTest() : DriversTest(FourGuestVps()) {}
  static WorldOptions FourGuestVps() {
    WorldOptions options;
    options.guest_vps = 4;
    return options;
  }

  // Echo VSP and streaming VSC, both with 3 sub-channels, 1000 packets per
  // channel, the VSC's channels spread over the 4 VPs; runs and checks.
  void StreamOverFourChannels() {
    ECHO_VSP_CONFIG echo = EchoConfig();
    echo.SubChannels = 3;
    CreateEcho(echo);
    STREAMING_VSC_CONFIG config{};
    config.InterfaceType = kType;
    config.SubChannels = 3;
    config.PacketBytes = 64;
    config.PacketsPerChannel = 1000;
    config.TargetVpSpread = TRUE;
    config.VpCount = 4;
    world_.OnGuest([this, config] {
      ASSERT_EQ(StreamingVscCreate(world_.guest_device(), &config, &vsc_), STATUS_SUCCESS);
    });
    world_.Run();

    STREAMING_VSC_STATS stats;
    StreamingVscGetStats(vsc_, &stats);
    EXPECT_EQ(stats.Channels, 4u);
    EXPECT_EQ(stats.ChannelsOpen, 4u);
    EXPECT_EQ(stats.Opened, 4u);
    EXPECT_EQ(stats.PostStarted, 4u);
    EXPECT_EQ(stats.SubChannelEnableErrors, 0u);
    EXPECT_EQ(stats.SendErrors, 0u);
    EXPECT_EQ(stats.Sent, 4000u);
    const ECHO_VSP_STATS echo_stats = EchoStats();
    EXPECT_EQ(echo_stats.Channels, 4u);
    EXPECT_EQ(echo_stats.Opened, 4u);
    EXPECT_EQ(echo_stats.PacketsProcessed, 4000u);
    EXPECT_EQ(echo_stats.BytesProcessed, 4000u * 64);
    EXPECT_EQ(echo_stats.PacketsFailed, 0u);
    std::set<uint32_t> relids;
    std::set<uint32_t> vps;
    for (UINT32 i = 0; i < 4; ++i) {
      EXPECT_EQ(stats.ChannelPacketsSent[i], 1000u) << i;
      EXPECT_EQ(echo_stats.ChannelPacketsProcessed[i], 1000u) << i;
      EXPECT_NE(world_.runtime().EndpointOf(EchoVspChannelAt(echo_, i)), nullptr) << i;
      const VMBCHANNEL channel = StreamingVscChannel(vsc_, i);
      ASSERT_NE(channel, nullptr);
      EXPECT_NE(world_.runtime().EndpointOf(channel), nullptr) << i;
      EXPECT_EQ(world_.runtime().StateOf(channel), "open") << i;
      const uint32_t relid = world_.runtime().RelidOf(channel);
      relids.insert(relid);
      // The OPENCHANNEL the guest sent: channel i interrupts VP i.
      absl::StatusOr<fabric::ServerChannelInfo> info = world_.fabric().server(1).channel(relid);
      ASSERT_TRUE(info.ok()) << info.status();
      EXPECT_EQ(info->target_vp, i);
      EXPECT_EQ(info->offer.sub_channel_index != 0, i != 0) << i;
      vps.insert(info->target_vp);
      EXPECT_GT(world_.fabric().guest(1).vp(i).items_run(), 0u) << i;
    }
    EXPECT_EQ(relids.size(), 4u);
    EXPECT_EQ(vps.size(), 4u);
    EXPECT_EQ(StreamingVscChannel(vsc_, 4), nullptr);
    EXPECT_EQ(EchoVspChannelAt(echo_, 4), nullptr);
  }

  STREAMING_VSC* vsc_ = nullptr;
};

TEST_F(MultiChannelTest, StreamsOverSubChannelsOnDistinctVps) {
  StreamOverFourChannels();
  world_.OnGuest([this] { StreamingVscDestroy(vsc_); });
  world_.Run();
  EXPECT_EQ(EchoStats().Closed, 4u);  // The guest closed all four.
  world_.OnHost([this] { EchoVspDestroy(echo_); });
  world_.Run();
  EXPECT_EQ(Findings(), 0u);
  EXPECT_EQ(world_.runtime().live_packet_count(), 0u);
  EXPECT_EQ(world_.runtime().interface_references(), 0);
}

TEST_F(MultiChannelTest, HostTeardownRescindsEverySubChannel) {
  StreamOverFourChannels();
  world_.OnHost([this] { EchoVspDestroy(echo_); });
  world_.Run();
  STREAMING_VSC_STATS stats;
  StreamingVscGetStats(vsc_, &stats);
  EXPECT_EQ(stats.ChannelsOpen, 0u);
  EXPECT_EQ(stats.Closed, 4u);
  for (UINT32 i = 0; i < 4; ++i) {
    EXPECT_EQ(world_.runtime().StateOf(StreamingVscChannel(vsc_, i)), "disabled") << i;
  }
  world_.OnGuest([this] { StreamingVscDestroy(vsc_); });
  world_.Run();
  EXPECT_EQ(Findings(), 0u);
  EXPECT_EQ(world_.runtime().live_packet_count(), 0u);
  EXPECT_EQ(world_.runtime().interface_references(), 0);
}

TEST_F(DriversTest, ClientV5QueryWithAWrongSizeIsNotSupported) {
  world_.OnGuest([this] {
    KMCL_CLIENT_INTERFACE_V5 table{};
    for (USHORT size : {static_cast<USHORT>(sizeof(KMCL_CLIENT_INTERFACE_V1)),
                        static_cast<USHORT>(sizeof(KMCL_CLIENT_INTERFACE_V5) - 8)}) {
      EXPECT_EQ(VmbsimQueryInterface(world_.guest_device(), &KMCL_CLIENT_INTERFACE_TYPE,
                                     reinterpret_cast<PINTERFACE>(&table), size,
                                     KMCL_CLIENT_INTERFACE_VERSION_V5, nullptr),
                STATUS_NOT_SUPPORTED)
          << size;
      EXPECT_EQ(table.Size, 0u);  // Nothing written.
    }
  });
  world_.Run();
  EXPECT_EQ(world_.runtime().interface_references(), 0);
}

// Each case: completion buffer capacity, expected status and completion size
// for a 64-byte request echoed back.
struct SyncCase {
  UINT32 capacity;
  NTSTATUS status;
  UINT32 size;
};

class SyncClientTest : public DriversTest, public ::testing::WithParamInterface<SyncCase> {};

TEST_P(SyncClientTest, NegotiatesFromPostStarted) {
  CreateEcho(EchoConfig());
  SYNC_CLIENT_CONFIG config{};
  config.InterfaceType = kType;
  config.RequestBytes = 64;
  config.CompletionBufferBytes = GetParam().capacity;
  config.Requests = 3;
  config.TimeoutMs = 100;
  SYNC_CLIENT* client = nullptr;
  world_.OnGuest([&] {
    ASSERT_EQ(SyncClientCreate(world_.guest_device(), &config, &client), STATUS_SUCCESS);
  });
  world_.Run();
  SYNC_CLIENT_STATS stats;
  SyncClientGetStats(client, &stats);
  EXPECT_EQ(stats.Negotiations, 1u);
  ASSERT_EQ(stats.RecordCount, 3u);
  for (UINT32 i = 0; i < 3; ++i) {
    EXPECT_EQ(stats.RequestStatus[i], GetParam().status) << i;
    EXPECT_EQ(stats.CompletionSize[i], GetParam().size) << i;
  }
  world_.OnGuest([&] { SyncClientDestroy(client); });
  world_.OnHost([this] { EchoVspDestroy(echo_); });
  world_.Run();
  if (GetParam().status == STATUS_SUCCESS) {
    EXPECT_EQ(Findings(), 0u);  // The error cases are findings by design.
  }
  EXPECT_EQ(world_.runtime().live_packet_count(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Capacities, SyncClientTest,
                         ::testing::Values(SyncCase{128, STATUS_SUCCESS, 64},
                                           SyncCase{64, STATUS_SUCCESS, 64},
                                           SyncCase{16, STATUS_BUFFER_TOO_SMALL, 16},
                                           SyncCase{12, STATUS_INVALID_PARAMETER, 12}));

}  // namespace
}  // namespace vmbsim::kmcl
