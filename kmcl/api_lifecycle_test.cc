// Channel lifecycle through the public C header: callback order on both
// endpoints, open, traffic, close, rescind, Init setters' status codes (wrong
// state, bad handle).

#include <cstring>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "kmcl/runtime.h"
#include "kmcl/testing/kmcl_world.h"
#include "vmbuskernelmodeclientlibapi.h"

namespace vmbsim::kmcl {
namespace {

using testing::KmclWorld;
using testing::WorldOptions;

constexpr GUID kType = {0x11223344, 0x5566, 0x7788, {1, 2, 3, 4, 5, 6, 7, 8}};
constexpr GUID kInstance = {0xaabbccdd, 0x1, 0x2, {9, 9, 9, 9, 9, 9, 9, 9}};

// What the callbacks saw, per endpoint, in order.
struct Log {
  std::vector<std::string> events;
  int processed = 0;
  std::vector<UINT32> batches;
  std::vector<NTSTATUS> completions;
  std::vector<std::vector<uint8_t>> completion_payloads;
  bool complete_inline = true;
  std::vector<VMBPACKETCOMPLETION> held;
};

Log* LogOf(VMBCHANNEL channel) { return static_cast<Log*>(VmbChannelGetPointer(channel)); }

NTSTATUS OnOpened(VMBCHANNEL c) {
  LogOf(c)->events.push_back("opened");
  return STATUS_SUCCESS;
}
VOID OnClosed(VMBCHANNEL c) { LogOf(c)->events.push_back("closed"); }
VOID OnSuspend(VMBCHANNEL c) { LogOf(c)->events.push_back("suspend"); }
VOID OnStarted(VMBCHANNEL c) { LogOf(c)->events.push_back("started"); }
VOID OnPostStarted(VMBCHANNEL c) { LogOf(c)->events.push_back("post_started"); }

VOID OnPacket(VMBCHANNEL c, VMBPACKETCOMPLETION packet, PVOID buffer, UINT32 length, UINT32 flags) {
  Log* log = LogOf(c);
  ++log->processed;
  if (log->complete_inline) {
    VmbChannelPacketComplete(packet, buffer, length);  // Echo.
  } else {
    log->held.push_back(packet);
  }
}
VOID OnBatch(VMBCHANNEL c, UINT32 count) { LogOf(c)->batches.push_back(count); }

VOID OnSendDone(VMBPACKET packet, NTSTATUS status, PVOID buffer, UINT32 length) {
  Log* log = static_cast<Log*>(VmbPacketGetPointer(packet));
  log->completions.push_back(status);
  const uint8_t* bytes = static_cast<const uint8_t*>(buffer);
  log->completion_payloads.emplace_back(bytes, bytes + length);
  VmbPacketFree(packet);
}

VMB_CHANNEL_STATE_CHANGE_CALLBACKS AllCallbacks() {
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS callbacks;
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS_INIT(&callbacks);
  callbacks.EvtChannelOpened = OnOpened;
  callbacks.EvtChannelClosed = OnClosed;
  callbacks.EvtChannelSuspend = OnSuspend;
  callbacks.EvtChannelStarted = OnStarted;
  callbacks.EvtChannelPostStarted = OnPostStarted;
  return callbacks;
}

class LifecycleTest : public ::testing::Test {
 protected:
  explicit LifecycleTest(WorldOptions options = {}) : world_(options) {}

  void MakeServer(UINT32 max_packet = 4096) {
    world_.OnHost([this, max_packet] {
      ASSERT_EQ(VmbChannelAllocate(world_.host_device(), TRUE, &server_), STATUS_SUCCESS);
      VmbChannelSetPointer(server_, &server_log_);
      ASSERT_EQ(VmbServerChannelInitSetVmbusHandle(server_, world_.vmbus_handle()), STATUS_SUCCESS);
      ASSERT_EQ(VmbChannelInitSetMaximumPacketSize(server_, max_packet), STATUS_SUCCESS);
      ASSERT_EQ(VmbServerChannelInitSetTargetInterfaceId(server_, kType, kInstance), STATUS_SUCCESS);
      VMB_CHANNEL_STATE_CHANGE_CALLBACKS callbacks = AllCallbacks();
      ASSERT_EQ(VmbChannelInitSetStateChangeCallbacks(server_, &callbacks), STATUS_SUCCESS);
      ASSERT_EQ(VmbChannelInitSetProcessPacketCallbacks(server_, OnPacket, OnBatch), STATUS_SUCCESS);
      ASSERT_EQ(VmbChannelEnable(server_), STATUS_SUCCESS);
      VmbChannelStart(server_);
    });
  }

  void MakeClient(UINT32 max_packet = 4096, UINT32 pages = 16) {
    world_.OnGuest([this, max_packet, pages] {
      ASSERT_EQ(VmbChannelAllocate(world_.guest_device(), FALSE, &client_), STATUS_SUCCESS);
      ASSERT_EQ(VmbChannelInitSetMaximumPacketSize(client_, max_packet), STATUS_SUCCESS);
      ASSERT_EQ(VmbClientChannelInitSetRingBufferPageCount(client_, pages, pages), STATUS_SUCCESS);
      VMB_CHANNEL_STATE_CHANGE_CALLBACKS callbacks = AllCallbacks();
      ASSERT_EQ(VmbChannelInitSetStateChangeCallbacks(client_, &callbacks), STATUS_SUCCESS);
      ASSERT_EQ(VmbChannelInitSetProcessPacketCallbacks(client_, OnPacket, nullptr), STATUS_SUCCESS);
      VmbChannelSetPointer(client_, &client_log_);
      ASSERT_EQ(VmbClientChannelInitSetTargetPnp(client_, &kType, nullptr, nullptr), STATUS_SUCCESS);
      ASSERT_EQ(VmbChannelEnable(client_), STATUS_SUCCESS);
      VmbChannelStart(client_);
    });
  }

  void SendFromGuest(int count, UINT32 bytes) {
    world_.OnGuest([this, count, bytes] {
      std::vector<uint8_t> payload(bytes);
      for (int i = 0; i < count; ++i) {
        for (UINT32 b = 0; b < bytes; ++b) payload[b] = static_cast<uint8_t>(i + b);
        VMBPACKET packet = VmbPacketAllocate(client_);
        ASSERT_NE(packet, nullptr);
        VmbPacketSetPointer(packet, &client_log_);
        VmbPacketSetCompletionRoutine(packet, OnSendDone);
        ASSERT_EQ(VmbPacketSend(packet, payload.data(), bytes, nullptr, VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION),
                  STATUS_SUCCESS);
      }
    });
  }

  KmclWorld world_;
  VMBCHANNEL server_ = nullptr;
  VMBCHANNEL client_ = nullptr;
  Log server_log_;
  Log client_log_;
};

TEST_F(LifecycleTest, OpenRunsCallbacksInOrderOnBothEndpoints) {
  MakeServer();
  MakeClient();
  world_.Run();
  EXPECT_EQ(server_log_.events, (std::vector<std::string>{"opened", "started", "post_started"}));
  EXPECT_EQ(client_log_.events, (std::vector<std::string>{"opened", "started", "post_started"}));
  EXPECT_EQ(world_.runtime().StateOf(server_), "open");
  EXPECT_EQ(world_.runtime().StateOf(client_), "open");
  EXPECT_EQ(world_.runtime().verifier().total_count(), 0u);
}

TEST_F(LifecycleTest, RequestsAreEchoedInCompletions) {
  MakeServer();
  MakeClient();
  world_.Run();
  SendFromGuest(10, 64);
  world_.Run();
  EXPECT_EQ(server_log_.processed, 10);
  ASSERT_EQ(client_log_.completions.size(), 10u);
  for (size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(client_log_.completions[i], STATUS_SUCCESS);
    ASSERT_EQ(client_log_.completion_payloads[i].size(), 64u);
    EXPECT_EQ(client_log_.completion_payloads[i][0], static_cast<uint8_t>(i));
  }
  // ProcessingComplete counts add up to the packets processed.
  UINT32 total = 0;
  for (UINT32 b : server_log_.batches) total += b;
  EXPECT_EQ(total, 10u);
  EXPECT_EQ(world_.runtime().verifier().total_count(), 0u);
}

TEST_F(LifecycleTest, GuestDisableClosesBothEndpointsInOrder) {
  MakeServer();
  MakeClient();
  world_.Run();
  SendFromGuest(3, 64);
  world_.Run();
  world_.OnGuest([this] { VmbChannelDisable(client_); });
  world_.Run();
  EXPECT_EQ(client_log_.events,
            (std::vector<std::string>{"opened", "started", "post_started", "suspend", "closed"}));
  EXPECT_EQ(server_log_.events,
            (std::vector<std::string>{"opened", "started", "post_started", "suspend", "closed"}));
  EXPECT_EQ(world_.runtime().StateOf(client_), "disabled");
  EXPECT_EQ(world_.runtime().StateOf(server_), "peer_closed");
  world_.OnGuest([this] { VmbChannelCleanup(client_); });
  world_.Run();
  EXPECT_EQ(world_.runtime().StateOf(client_), "invalid");
  EXPECT_EQ(world_.runtime().verifier().total_count(), 0u);
}

TEST_F(LifecycleTest, HostDisableRescindsAndTheGuestEndsDisabled) {
  MakeServer();
  MakeClient();
  world_.Run();
  world_.OnHost([this] { VmbChannelDisable(server_); });
  world_.Run();
  EXPECT_EQ(world_.runtime().StateOf(server_), "disabled");
  EXPECT_EQ(world_.runtime().StateOf(client_), "disabled");
  EXPECT_EQ(client_log_.events,
            (std::vector<std::string>{"opened", "started", "post_started", "suspend", "closed"}));
}

// Runtime::ResetGuest (the guest_reset fault): the guest's driver code
// never runs again, its sends in flight stay unfinished, the host sees the
// guest close (PeerClosed, Suspend then Closed); after ReconnectGuest a new
// client channel opens on the re-offered channel and traffic flows; the
// abandoned channel's Disable and Cleanup only free it, with no finding.
TEST_F(LifecycleTest, GuestResetFreezesTheGuestAndAReconnectReopens) {
  MakeServer();
  MakeClient();
  world_.Run();
  server_log_.complete_inline = false;  // Requests stay in flight at the reset.
  SendFromGuest(3, 64);
  world_.Run();
  ASSERT_EQ(server_log_.held.size(), 3u);
  bool unloaded = false;
  ASSERT_TRUE(world_.runtime().ResetGuest(1, [&unloaded] { unloaded = true; }));
  EXPECT_FALSE(world_.runtime().ResetGuest(1, [] {}));  // Not connected while unloading.
  const size_t client_events = client_log_.events.size();
  world_.OnHost([this] {
    for (VMBPACKETCOMPLETION packet : server_log_.held) VmbChannelPacketComplete(packet, nullptr, 0);
  });
  world_.Run();
  EXPECT_TRUE(unloaded);
  EXPECT_EQ(client_log_.events.size(), client_events);  // No callback of the old driver.
  EXPECT_TRUE(client_log_.completions.empty());          // Nor a completion routine.
  EXPECT_EQ(world_.runtime().StateOf(server_), "peer_closed");
  EXPECT_EQ(server_log_.events, (std::vector<std::string>{"opened", "started", "post_started", "suspend", "closed"}));

  ASSERT_TRUE(world_.runtime().ReconnectGuest(1).ok());
  VMBCHANNEL old_client = client_;
  Log old_log = client_log_;
  client_log_ = Log{};
  MakeClient();
  world_.Run();
  EXPECT_NE(client_, old_client);
  EXPECT_EQ(world_.runtime().StateOf(client_), "open");
  EXPECT_EQ(world_.runtime().StateOf(server_), "open");
  server_log_.complete_inline = true;
  SendFromGuest(5, 64);
  world_.Run();
  EXPECT_EQ(client_log_.completions.size(), 5u);
  world_.OnGuest([old_client] {
    VmbChannelDisable(old_client);
    VmbChannelCleanup(old_client);
  });
  world_.Run();
  EXPECT_EQ(world_.runtime().StateOf(old_client), "invalid");
  EXPECT_EQ(old_log.completions.size(), 0u);
  EXPECT_EQ(world_.runtime().verifier().total_count(), 0u);
}

TEST_F(LifecycleTest, InitSettersAfterEnableFailWithParameter1AndAFinding) {
  MakeServer();
  world_.Run();
  world_.OnHost([this] {
    EXPECT_EQ(VmbChannelInitSetMaximumPacketSize(server_, 128), STATUS_INVALID_PARAMETER_1);
    EXPECT_EQ(VmbChannelInitSetFlags(server_, 0), STATUS_INVALID_PARAMETER_1);
  });
  world_.Run();
  EXPECT_EQ(world_.runtime().verifier().count(Rule::kInitSetterWrongState), 2u);
}

// Every Init setter (the V1 functions and the two V5 ones), given a stale,
// a made-up or a NULL channel handle, returns STATUS_INVALID_PARAMETER_1:
// the header's rule for Init setters (spec §6 intro, gap G3: "a bad channel
// handle or a channel in the wrong state"), where other calls return
// STATUS_INVALID_HANDLE. Each call is also a stale_or_foreign_handle finding
// carrying the status returned. Every other argument is valid, so the
// handle is the only fault.
TEST_F(LifecycleTest, InitSettersOnABadHandleFailWithParameter1) {
  struct Setter {
    const char* name;
    std::function<NTSTATUS(VMBCHANNEL)> call;
  };
  std::vector<Setter> setters;
  KMCL_SERVER_INTERFACE_V5 server_v5{};
  KMCL_CLIENT_INTERFACE_V5 client_v5{};
  VMBCHANNEL stale = nullptr;
  VMBCHANNEL primary = nullptr;
  std::vector<std::pair<std::string, NTSTATUS>> results;
  world_.OnHost([&] {
    ASSERT_EQ(VmbsimQueryInterface(world_.host_device(), &KMCL_SERVER_INTERFACE_TYPE,
                                   reinterpret_cast<PINTERFACE>(&server_v5), sizeof(server_v5),
                                   KMCL_SERVER_INTERFACE_VERSION_V5, nullptr),
              STATUS_SUCCESS);
    ASSERT_EQ(VmbsimQueryInterface(world_.guest_device(), &KMCL_CLIENT_INTERFACE_TYPE,
                                   reinterpret_cast<PINTERFACE>(&client_v5), sizeof(client_v5),
                                   KMCL_CLIENT_INTERFACE_VERSION_V5, nullptr),
              STATUS_SUCCESS);
    ASSERT_EQ(VmbChannelAllocate(world_.host_device(), TRUE, &stale), STATUS_SUCCESS);
    VmbChannelCleanup(stale);
    ASSERT_EQ(VmbChannelAllocate(world_.host_device(), TRUE, &primary), STATUS_SUCCESS);
    static VMB_CHANNEL_STATE_CHANGE_CALLBACKS callbacks;
    VMB_CHANNEL_STATE_CHANGE_CALLBACKS_INIT(&callbacks);
    static WCHAR name_chars[] = {'v', 'm', 'b'};
    static UNICODE_STRING name = {sizeof(name_chars), sizeof(name_chars), name_chars};
    setters = {
        {"VmbChannelInitSetClientContextSize", [](VMBCHANNEL c) { return VmbChannelInitSetClientContextSize(c, 16); }},
        {"VmbChannelInitSetFlags", [](VMBCHANNEL c) { return VmbChannelInitSetFlags(c, 0); }},
        {"VmbChannelInitSetFriendlyName", [](VMBCHANNEL c) { return VmbChannelInitSetFriendlyName(c, &name); }},
        {"VmbChannelInitSetMaximumExternalData",
         [](VMBCHANNEL c) { return VmbChannelInitSetMaximumExternalData(c, 4096, 1); }},
        {"VmbChannelInitSetMaximumPacketSize", [](VMBCHANNEL c) { return VmbChannelInitSetMaximumPacketSize(c, 128); }},
        {"VmbChannelInitSetProcessPacketCallbacks",
         [](VMBCHANNEL c) { return VmbChannelInitSetProcessPacketCallbacks(c, OnPacket, OnBatch); }},
        {"VmbChannelInitSetStateChangeCallbacks",
         [](VMBCHANNEL c) { return VmbChannelInitSetStateChangeCallbacks(c, &callbacks); }},
        {"VmbClientChannelInitSetRingBufferPageCount",
         [](VMBCHANNEL c) { return VmbClientChannelInitSetRingBufferPageCount(c, 4, 4); }},
        {"VmbClientChannelInitSetTargetPnp",
         [](VMBCHANNEL c) { return VmbClientChannelInitSetTargetPnp(c, &kType, &kInstance, nullptr); }},
        {"VmbServerChannelInitSetFlags", [](VMBCHANNEL c) { return VmbServerChannelInitSetFlags(c, 0); }},
        {"VmbServerChannelInitSetMmioMegabytes",
         [](VMBCHANNEL c) { return VmbServerChannelInitSetMmioMegabytes(c, 1, 0); }},
        {"VmbServerChannelInitSetSaveRestorePacketCallbacks",
         [](VMBCHANNEL c) { return VmbServerChannelInitSetSaveRestorePacketCallbacks(c, nullptr, nullptr); }},
        {"VmbServerChannelInitSetTargetInterfaceId",
         [](VMBCHANNEL c) { return VmbServerChannelInitSetTargetInterfaceId(c, kType, kInstance); }},
        {"VmbServerChannelInitSetTargetVtl", [](VMBCHANNEL c) { return VmbServerChannelInitSetTargetVtl(c, 0); }},
        {"VmbServerChannelInitSetVmbusHandle",
         [this](VMBCHANNEL c) { return VmbServerChannelInitSetVmbusHandle(c, world_.vmbus_handle()); }},
        {"VmbChannelInitSetPrimaryChannel (V5)",
         [&](VMBCHANNEL c) { return server_v5.VmbChannelInitSetPrimaryChannel(c, primary); }},
        {"VmbClientChannelInitSetTargetProcessorIndex (V5)",
         [&](VMBCHANNEL c) { return client_v5.VmbClientChannelInitSetTargetProcessorIndex(c, 0); }},
    };
    for (VMBCHANNEL bad : {stale, reinterpret_cast<VMBCHANNEL>(0x1234), static_cast<VMBCHANNEL>(nullptr)}) {
      for (const Setter& setter : setters) results.emplace_back(setter.name, setter.call(bad));
    }
    // Other calls keep the handle convention.
    results.emplace_back("VmbChannelEnable", VmbChannelEnable(stale));
  });
  world_.Run();
  ASSERT_EQ(setters.size(), 17u);  // Every Init setter vmbsim implements.
  ASSERT_EQ(results.size(), 3 * setters.size() + 1);
  for (size_t i = 0; i + 1 < results.size(); ++i) {
    EXPECT_EQ(results[i].second, STATUS_INVALID_PARAMETER_1) << results[i].first << " (handle " << i / 17 << ")";
  }
  EXPECT_EQ(results.back().second, STATUS_INVALID_HANDLE);
  const Verifier& verifier = world_.runtime().verifier();
  EXPECT_EQ(verifier.count(Rule::kStaleOrForeignHandle), results.size());
  ASSERT_EQ(verifier.findings().size(), results.size());
  for (size_t i = 0; i + 1 < results.size(); ++i) {
    EXPECT_EQ(verifier.findings()[i].status, STATUS_INVALID_PARAMETER_1) << verifier.findings()[i].function;
  }

  // A bad primary is the second parameter's fault.
  NTSTATUS bad_primary = STATUS_SUCCESS;
  world_.OnHost([&] {
    VMBCHANNEL sub = nullptr;
    ASSERT_EQ(VmbChannelAllocate(world_.host_device(), TRUE, &sub), STATUS_SUCCESS);
    bad_primary = server_v5.VmbChannelInitSetPrimaryChannel(sub, stale);
    VmbChannelCleanup(sub);
  });
  world_.Run();
  EXPECT_EQ(bad_primary, STATUS_INVALID_PARAMETER_2);
  EXPECT_EQ(verifier.findings().back().status, STATUS_INVALID_PARAMETER_2);

  // With no runtime current (a driver calling outside any run) there is no
  // live channel at all: the same code.
  Runtime::Scope outside(nullptr);
  EXPECT_EQ(VmbChannelInitSetFlags(stale, 0), STATUS_INVALID_PARAMETER_1);
  EXPECT_EQ(server_v5.VmbChannelInitSetPrimaryChannel(stale, primary), STATUS_INVALID_PARAMETER_1);
  EXPECT_EQ(VmbChannelEnable(stale), STATUS_INVALID_HANDLE);
}

}  // namespace
}  // namespace vmbsim::kmcl
