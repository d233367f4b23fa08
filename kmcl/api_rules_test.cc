// The rules of the KMCL contract, one focused test each, through the public C
// header (spec §5, §6, §7.6, §10, §11). The runtime is used only to inspect:
// verifier findings, counters, channel states and the fabric behind them.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kmcl/testing/kmcl_world.h"
#include "vmbuskernelmodeclientlibapi.h"

namespace vmbsim::kmcl {
namespace {

using sim::SimDuration;
using sim::SimTime;
using testing::KmclWorld;
using testing::WorldOptions;

constexpr GUID kType = {0x5a5a0001, 0x1, 0x2, {1, 2, 3, 4, 5, 6, 7, 8}};
constexpr GUID kInstance = {0x5a5a0002, 0x3, 0x4, {8, 7, 6, 5, 4, 3, 2, 1}};
constexpr UINT32 kWait = VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION;

// One endpoint's driver: what its callbacks saw (one interleaved log) and
// what they do. By default ProcessPacket echoes the payload in its
// completion; `hold` keeps packets uncompleted; `on_packet` replaces both.
struct Driver {
  VMBCHANNEL channel = nullptr;
  std::vector<std::string> events;  // "opened", "packet", "complete:3", ...
  int processed = 0;
  std::vector<UINT32> batches;
  bool hold = false;
  std::vector<VMBPACKETCOMPLETION> held;
  std::vector<NTSTATUS> send_results;  // Statuses seen by completion routines.
  std::function<void(VMBPACKETCOMPLETION, const uint8_t*, UINT32, UINT32)> on_packet;
  std::function<void()> on_opened;
  std::function<void()> on_started;
  std::function<void()> configure;  // Runs before Enable.
};

Driver* DriverOf(VMBCHANNEL channel) { return static_cast<Driver*>(VmbChannelGetPointer(channel)); }

NTSTATUS OnOpened(VMBCHANNEL c) {
  DriverOf(c)->events.push_back("opened");
  if (DriverOf(c)->on_opened) DriverOf(c)->on_opened();
  return STATUS_SUCCESS;
}
VOID OnClosed(VMBCHANNEL c) { DriverOf(c)->events.push_back("closed"); }
VOID OnSuspend(VMBCHANNEL c) { DriverOf(c)->events.push_back("suspend"); }
VOID OnStarted(VMBCHANNEL c) {
  DriverOf(c)->events.push_back("started");
  if (DriverOf(c)->on_started) DriverOf(c)->on_started();
}
VOID OnPostStarted(VMBCHANNEL c) { DriverOf(c)->events.push_back("post_started"); }

VOID OnPacket(VMBCHANNEL c, VMBPACKETCOMPLETION packet, PVOID buffer, UINT32 length, UINT32 flags) {
  Driver* d = DriverOf(c);
  d->events.push_back("packet");
  ++d->processed;
  if (d->on_packet) {
    d->on_packet(packet, static_cast<const uint8_t*>(buffer), length, flags);
  } else if (d->hold) {
    d->held.push_back(packet);
  } else {
    VmbChannelPacketComplete(packet, buffer, length);
  }
}

VOID OnBatch(VMBCHANNEL c, UINT32 count) {
  DriverOf(c)->events.push_back("complete:" + std::to_string(count));
  DriverOf(c)->batches.push_back(count);
}

// Completion routine of allocated packets whose pointer is their Driver.
VOID OnSendDone(VMBPACKET packet, NTSTATUS status, PVOID buffer, UINT32 length) {
  static_cast<Driver*>(VmbPacketGetPointer(packet))->send_results.push_back(status);
  VmbPacketFree(packet);
}
VOID OnSendDoneKeep(VMBPACKET packet, NTSTATUS status, PVOID buffer, UINT32 length) {}

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

// Whether the calling code runs at PASSIVE_LEVEL: VmbChannelAllocate is
// PASSIVE-only (at DISPATCH it fails, with an irql_violation finding).
bool AtPassive(PDEVICE_OBJECT host) {
  VMBCHANNEL probe = nullptr;
  if (VmbChannelAllocate(host, TRUE, &probe) != STATUS_SUCCESS) return false;
  VmbChannelCleanup(probe);
  return true;
}

// A server on the host and a client on guest 1, configured through the C API.
class RulesTest : public ::testing::Test {
 protected:
  explicit RulesTest(WorldOptions options = {}) : world_(options) {}

  void MakeServer() {
    world_.OnHost([this] {
      ASSERT_EQ(VmbChannelAllocate(world_.host_device(), TRUE, &server_.channel), STATUS_SUCCESS);
      VmbChannelSetPointer(server_.channel, &server_);
      ASSERT_EQ(VmbServerChannelInitSetVmbusHandle(server_.channel, world_.vmbus_handle()), STATUS_SUCCESS);
      ASSERT_EQ(VmbServerChannelInitSetTargetInterfaceId(server_.channel, kType, kInstance), STATUS_SUCCESS);
      VMB_CHANNEL_STATE_CHANGE_CALLBACKS callbacks = AllCallbacks();
      ASSERT_EQ(VmbChannelInitSetStateChangeCallbacks(server_.channel, &callbacks), STATUS_SUCCESS);
      ASSERT_EQ(VmbChannelInitSetProcessPacketCallbacks(server_.channel, OnPacket, OnBatch), STATUS_SUCCESS);
      if (server_.configure) server_.configure();
      ASSERT_EQ(VmbChannelEnable(server_.channel), STATUS_SUCCESS);
      VmbChannelStart(server_.channel);
    });
  }

  void MakeClient() {
    world_.OnGuest([this] {
      ASSERT_EQ(VmbChannelAllocate(world_.guest_device(), FALSE, &client_.channel), STATUS_SUCCESS);
      VmbChannelSetPointer(client_.channel, &client_);
      ASSERT_EQ(VmbChannelInitSetMaximumPacketSize(client_.channel, 4096), STATUS_SUCCESS);
      ASSERT_EQ(VmbClientChannelInitSetRingBufferPageCount(client_.channel, client_ring_pages_, client_ring_pages_),
                STATUS_SUCCESS);
      VMB_CHANNEL_STATE_CHANGE_CALLBACKS callbacks = AllCallbacks();
      ASSERT_EQ(VmbChannelInitSetStateChangeCallbacks(client_.channel, &callbacks), STATUS_SUCCESS);
      ASSERT_EQ(VmbChannelInitSetProcessPacketCallbacks(client_.channel, OnPacket, OnBatch), STATUS_SUCCESS);
      ASSERT_EQ(VmbClientChannelInitSetTargetPnp(client_.channel, &kType, nullptr, nullptr), STATUS_SUCCESS);
      if (client_.configure) client_.configure();
      ASSERT_EQ(VmbChannelEnable(client_.channel), STATUS_SUCCESS);
    });
  }

  void Open() {
    MakeServer();
    MakeClient();
    world_.Run();
    ASSERT_EQ(world_.runtime().StateOf(server_.channel), "open");
    ASSERT_EQ(world_.runtime().StateOf(client_.channel), "open");
  }

  // `count` requests from one guest worker job (so they reach the host as
  // one batch); byte 0 of request i is i.
  void SendFromGuest(int count, UINT32 bytes, UINT32 flags = kWait) {
    world_.OnGuest([this, count, bytes, flags] {
      std::vector<uint8_t> payload(bytes, 0);
      for (int i = 0; i < count; ++i) {
        payload[0] = static_cast<uint8_t>(i);
        VMBPACKET packet = VmbPacketAllocate(client_.channel);
        ASSERT_NE(packet, nullptr);
        VmbPacketSetPointer(packet, &client_);
        VmbPacketSetCompletionRoutine(packet, OnSendDone);
        ASSERT_EQ(VmbPacketSend(packet, payload.data(), bytes, nullptr, flags), STATUS_SUCCESS);
      }
    });
  }

  // Completes every held server packet (empty completion) from a host worker.
  void CompleteHeldOnHost() {
    world_.OnHost([this] {
      for (VMBPACKETCOMPLETION packet : server_.held) VmbChannelPacketComplete(packet, nullptr, 0);
      server_.held.clear();
    });
  }

  // §5.7: each ProcessingComplete comes after the ProcessPacket calls it
  // counts, and none is left uncounted. Returns the ProcessPacket calls.
  static int CheckBatches(const Driver& driver) {
    int since_last = 0;
    int total = 0;
    for (const std::string& event : driver.events) {
      if (event == "packet") {
        ++since_last;
      } else if (event.starts_with("complete:")) {
        EXPECT_EQ(std::stoi(event.substr(9)), since_last) << "ProcessingComplete counts the packets before it";
        total += since_last;
        since_last = 0;
      }
    }
    EXPECT_EQ(since_last, 0) << "a ProcessingComplete follows the last packet";
    return total + since_last;
  }

  size_t Findings(Rule rule) { return world_.runtime().verifier().count(rule); }
  size_t AllFindings() { return world_.runtime().verifier().total_count(); }

  KmclWorld world_;
  Driver server_;
  Driver client_;
  UINT32 client_ring_pages_ = 16;
};

// ---------------------------------------------------------------------------
// Pause, ProcessingComplete, quota (§6.1, §5.3, §5.7, §6.2, G22).

TEST_F(RulesTest, PauseBlocksUntilEveryIndicatedPacketIsCompleted) {
  server_.hold = true;
  Open();
  SendFromGuest(3, 64);
  world_.Run();
  ASSERT_EQ(server_.held.size(), 3u);

  bool paused = false;
  world_.OnHost([&] {
    VmbChannelPause(server_.channel);
    paused = true;
  });
  world_.Run(SimDuration::Milliseconds(1));
  EXPECT_FALSE(paused);
  EXPECT_EQ(server_.events.back(), "suspend");
  // More requests wait in the ring: no ProcessPacket after Suspend.
  SendFromGuest(2, 64);
  world_.Run(SimDuration::Milliseconds(1));
  EXPECT_FALSE(paused);
  EXPECT_EQ(server_.events.back(), "suspend");
  EXPECT_EQ(server_.processed, 3);

  CompleteHeldOnHost();
  world_.Run(SimDuration::Milliseconds(1));
  EXPECT_TRUE(paused);

  server_.hold = false;
  world_.OnHost([this] { VmbChannelStart(server_.channel); });
  world_.Run();
  EXPECT_EQ(server_.processed, 5);
  const auto suspend = std::find(server_.events.begin(), server_.events.end(), "suspend");
  const std::vector<std::string> after(suspend + 1, server_.events.end());
  ASSERT_FALSE(after.empty());
  EXPECT_EQ(after.front(), "started");
  EXPECT_NE(std::find(after.begin(), after.end(), "post_started"), after.end());
  EXPECT_EQ(client_.send_results.size(), 5u);
  EXPECT_EQ(AllFindings(), 0u);
}

TEST_F(RulesTest, ProcessingCompleteFollowsTheLastPacketOfItsBatchWithTheCount) {
  Open();
  SendFromGuest(8, 64);
  world_.Run();
  EXPECT_EQ(CheckBatches(server_), 8);
  EXPECT_EQ(server_.batches, (std::vector<UINT32>{8}));  // Sent in one go: one batch.
}

TEST_F(RulesTest, QuotaStopsDeliveryAndOnlyACompletionRestartsIt) {
  server_.hold = true;
  server_.configure = [this] { VmbChannelSetTransactionQuota(server_.channel, 2); };
  Open();
  SendFromGuest(5, 64);
  world_.Run();
  EXPECT_EQ(server_.processed, 2);
  EXPECT_EQ(server_.batches, (std::vector<UINT32>{2}));  // G22: the batch ends on quota.
  EXPECT_GE(world_.runtime().counters().quota_stalls, 1u);

  // Raising the quota alone does not restart the stalled queue (§6.2).
  world_.OnHost([this] { VmbChannelSetTransactionQuota(server_.channel, 10); });
  world_.Run();
  EXPECT_EQ(server_.processed, 2);

  // A completion does.
  world_.OnHost([this] {
    VmbChannelPacketComplete(server_.held.front(), nullptr, 0);
    server_.held.erase(server_.held.begin());
  });
  world_.Run();
  EXPECT_EQ(server_.processed, 5);
  CompleteHeldOnHost();
  world_.Run();
  EXPECT_EQ(client_.send_results, std::vector<NTSTATUS>(5, STATUS_SUCCESS));
}

// ---------------------------------------------------------------------------
// VmbChannelSendSynchronousRequest (§6.7, G21, §7.6.9).

TEST_F(RulesTest, SyncRequestCopiesTheCompletionAndSetsItsSize) {
  Open();
  NTSTATUS status = STATUS_UNSUCCESSFUL;
  std::array<uint8_t, 24> request;
  for (size_t i = 0; i < request.size(); ++i) request[i] = static_cast<uint8_t>(0xA0 + i);
  std::array<uint8_t, 64> reply{};
  UINT32 size = reply.size();
  world_.OnGuest([&] {
    status = VmbChannelSendSynchronousRequest(client_.channel, request.data(), request.size(), nullptr, kWait,
                                              reply.data(), &size, nullptr);
  });
  world_.Run();
  EXPECT_EQ(status, STATUS_SUCCESS);
  ASSERT_EQ(size, request.size());  // The server echoes the request.
  EXPECT_EQ(std::memcmp(reply.data(), request.data(), request.size()), 0);
}

// Runtime::ReleaseWorkers, the end of a run for driver code: a request the
// server holds for ever leaves its caller blocked; released, the call fails
// with STATUS_CANCELLED and the caller's code goes on (what its frame owns
// is freed by it, which under LeakSanitizer is the point), a PASSIVE job
// the run never reached runs, and nothing can block any more.
TEST_F(RulesTest, ReleasingWorkersEndsABlockedCallAndRunsWhatWasQueued) {
  server_.hold = true;
  Open();
  NTSTATUS status = STATUS_PENDING;
  bool returned = false;
  world_.OnGuest([&] {
    const auto owned = std::make_unique<std::array<uint8_t, 256>>();
    uint64_t request = 1;
    status = VmbChannelSendSynchronousRequest(client_.channel, &request, sizeof(request), nullptr, kWait, nullptr,
                                              nullptr, nullptr);
    returned = owned != nullptr;
  });
  world_.Run();
  ASSERT_FALSE(returned);
  EXPECT_EQ(world_.runtime().blocked_worker_count(), 1u);
  NTSTATUS later = STATUS_PENDING;
  world_.OnGuest([&] {  // Queued; the simulator does not run again.
    uint64_t request = 2;
    later = VmbChannelSendSynchronousRequest(client_.channel, &request, sizeof(request), nullptr, kWait, nullptr,
                                             nullptr, nullptr);
  });
  world_.runtime().ReleaseWorkers();
  EXPECT_TRUE(returned);
  EXPECT_EQ(status, STATUS_CANCELLED);
  EXPECT_EQ(later, STATUS_CANCELLED);  // It ran, and could not wait.
  EXPECT_EQ(world_.runtime().blocked_worker_count(), 0u);
  world_.runtime().ReleaseWorkers();  // Idempotent: nothing is left.
}

TEST_F(RulesTest, SyncRequestRejectsBadCompletionBufferSizes) {
  Open();
  NTSTATUS odd_size = STATUS_SUCCESS;
  NTSTATUS too_small = STATUS_SUCCESS;
  world_.OnGuest([&] {
    std::array<uint8_t, 64> request{};
    std::array<uint8_t, 16> reply{};
    UINT32 size = 12;  // Not a multiple of 8.
    odd_size = VmbChannelSendSynchronousRequest(client_.channel, request.data(), 8, nullptr, kWait, reply.data(),
                                                &size, nullptr);
    size = 8;  // The 64-byte echo does not fit: never truncated.
    too_small = VmbChannelSendSynchronousRequest(client_.channel, request.data(), request.size(), nullptr, kWait,
                                                 reply.data(), &size, nullptr);
  });
  world_.Run();
  EXPECT_EQ(odd_size, STATUS_INVALID_PARAMETER);
  EXPECT_EQ(too_small, STATUS_BUFFER_TOO_SMALL);
  EXPECT_EQ(server_.processed, 1);  // The odd size never left the guest.
}

TEST_F(RulesTest, ZeroTimeoutRequestIsNotQueuedBeforeTheChannelOpens) {
  MakeClient();  // No server: the client stays Enabled, waiting for an offer.
  world_.Run();
  NTSTATUS status = STATUS_SUCCESS;
  world_.OnGuest([&] {
    uint64_t request = 1;
    LARGE_INTEGER zero;
    zero.QuadPart = 0;
    status = VmbChannelSendSynchronousRequest(client_.channel, &request, 8, nullptr, 0, nullptr, nullptr, &zero);
  });
  world_.Run();
  EXPECT_EQ(status, STATUS_BUFFER_OVERFLOW);
  EXPECT_EQ(world_.runtime().counters().packets_queued, 0u);
}

TEST_F(RulesTest, ZeroTimeoutRequestIsNotQueuedWhenTheRingIsFull) {
  server_.hold = true;  // With quota 1 the server takes one packet and drains no more.
  server_.configure = [this] { VmbChannelSetTransactionQuota(server_.channel, 1); };
  client_ring_pages_ = 2;  // Grown to the minimum that fits one 4 KiB packet.
  Open();
  int accepted = 0;
  NTSTATUS last = STATUS_SUCCESS;
  world_.OnGuest([&] {
    std::vector<uint8_t> request(1024, 0xAB);
    LARGE_INTEGER zero;
    zero.QuadPart = 0;
    for (int i = 0; i < 64 && last == STATUS_SUCCESS; ++i) {
      last = VmbChannelSendSynchronousRequest(client_.channel, request.data(), request.size(), nullptr, 0, nullptr,
                                              nullptr, &zero);
      if (last == STATUS_SUCCESS) ++accepted;
    }
  });
  world_.Run();
  EXPECT_EQ(last, STATUS_BUFFER_OVERFLOW);
  EXPECT_GT(accepted, 1);
  EXPECT_LT(accepted, 64);
  EXPECT_EQ(server_.processed, 1);
  EXPECT_EQ(world_.runtime().counters().packets_queued, 0u);
}

// A zero timeout with WAIT_FOR_COMPLETION bounds the wait for ring space,
// not the wait for the completion: a request that fits is written and the
// call returns with its completion. (Before: queued, then cancelled at +0,
// STATUS_CANCELLED.)
TEST_F(RulesTest, ZeroTimeoutWaitingRequestThatFitsIsSentAndWaitsForItsCompletion) {
  Open();
  NTSTATUS status = STATUS_UNSUCCESSFUL;
  uint64_t reply = 0;
  UINT32 reply_size = sizeof(reply);
  world_.OnGuest([&] {
    uint64_t request = 0x1234;
    LARGE_INTEGER zero;
    zero.QuadPart = 0;
    status = VmbChannelSendSynchronousRequest(client_.channel, &request, 8, nullptr, kWait, &reply, &reply_size, &zero);
  });
  world_.Run();
  EXPECT_EQ(status, STATUS_SUCCESS);
  EXPECT_EQ(reply, 0x1234u);  // The server's echo.
  EXPECT_EQ(reply_size, 8u);
  EXPECT_EQ(server_.processed, 1);
  EXPECT_EQ(world_.runtime().counters().packets_queued, 0u);
  EXPECT_EQ(world_.runtime().counters().transactions_cancelled, 0u);
}

// ... and one that does not fit is STATUS_BUFFER_OVERFLOW at once, never
// queued. (Before: queued behind the full ring and cancelled at +0.)
TEST_F(RulesTest, ZeroTimeoutWaitingRequestIsNotQueuedWhenTheRingIsFull) {
  server_.hold = true;  // With quota 1 the server takes one packet and drains no more.
  server_.configure = [this] { VmbChannelSetTransactionQuota(server_.channel, 1); };
  client_ring_pages_ = 2;
  Open();
  NTSTATUS fill = STATUS_SUCCESS;
  NTSTATUS waiting = STATUS_SUCCESS;
  SimTime called;
  SimTime returned;
  world_.OnGuest([&] {
    std::vector<uint8_t> request(1024, 0xAB);
    LARGE_INTEGER zero;
    zero.QuadPart = 0;
    for (int i = 0; i < 64 && fill == STATUS_SUCCESS; ++i) {
      fill = VmbChannelSendSynchronousRequest(client_.channel, request.data(), request.size(), nullptr, 0, nullptr,
                                              nullptr, &zero);
    }
    uint64_t reply = 0;
    UINT32 reply_size = sizeof(reply);
    called = SimTime::Zero() + SimDuration::Units100ns(static_cast<int64_t>(KeQueryInterruptTime()));
    waiting = VmbChannelSendSynchronousRequest(client_.channel, request.data(), request.size(), nullptr, kWait,
                                               &reply, &reply_size, &zero);
    returned = SimTime::Zero() + SimDuration::Units100ns(static_cast<int64_t>(KeQueryInterruptTime()));
  });
  world_.Run();
  EXPECT_EQ(fill, STATUS_BUFFER_OVERFLOW);
  EXPECT_EQ(waiting, STATUS_BUFFER_OVERFLOW);
  EXPECT_LE(returned - called, SimDuration::Microseconds(10));  // No wait: one call's cost at most.
  EXPECT_EQ(world_.runtime().counters().packets_queued, 0u);
  EXPECT_EQ(world_.runtime().counters().transactions_cancelled, 0u);
  EXPECT_EQ(server_.processed, 1);
}

TEST_F(RulesTest, SyncRequestTimeoutCancelsAfterTheTimeout) {
  server_.hold = true;
  Open();
  NTSTATUS status = STATUS_SUCCESS;
  SimTime start;
  SimTime end;
  world_.OnGuest([&] {
    uint64_t request = 7;
    LARGE_INTEGER timeout;
    timeout.QuadPart = -20000;  // 2 ms, relative, in 100 ns units.
    start = world_.sim().Now();
    status = VmbChannelSendSynchronousRequest(client_.channel, &request, 8, nullptr, kWait, nullptr, nullptr,
                                              &timeout);
    end = world_.sim().Now();
  });
  world_.Run();
  EXPECT_EQ(status, STATUS_CANCELLED);
  EXPECT_GE(end - start, SimDuration::Milliseconds(2));
  EXPECT_LT(end - start, SimDuration::Milliseconds(3));
  // The host got the request and answers late: the completion is absorbed.
  ASSERT_EQ(server_.held.size(), 1u);
  CompleteHeldOnHost();
  world_.Run();
  EXPECT_TRUE(world_.runtime().peer_violations().empty());
  EXPECT_EQ(AllFindings(), 0u);
}

// Only KMCL calls cost time (250 ns each, everything else free), so a
// caller's clock (its VP's local time, what KeQueryInterruptTime reads) runs
// ahead of the global clock by exactly the calls its work item has made.
class CallerClockTest : public RulesTest {
 protected:
  static constexpr int64_t kCallNs = 250;
  static fabric::CostModel CallCostOnly() {
    fabric::CostModel costs = fabric::CostModel::Zero();
    costs.kmcl_call = SimDuration::Nanoseconds(kCallNs);
    return costs;
  }
  CallerClockTest() : RulesTest(WorldOptions{.costs = CallCostOnly()}) {}

  // From a guest worker: four KMCL calls (the clock is then 1 us ahead of
  // the global one), then the request with `timeout` against a server that
  // holds it. Records the caller's clock just before and after the call, in
  // ns and by KeQueryInterruptTime.
  void TimedRequest(std::function<LONGLONG(ULONGLONG t0_100ns)> timeout_for) {
    world_.OnGuest([this, timeout_for] {
      fabric::VirtualProcessor& vp = world_.fabric().guest(1).vp(0);
      for (int i = 0; i < 4; ++i) VmbChannelGetPointer(client_.channel);
      ahead_ns = (vp.LocalNow() - world_.sim().Now()).nanoseconds();
      t0_ns = vp.LocalNow().nanoseconds();
      t0_100ns = KeQueryInterruptTime();
      uint64_t request = 7;
      LARGE_INTEGER timeout;
      timeout.QuadPart = timeout_for(t0_100ns);
      status = VmbChannelSendSynchronousRequest(client_.channel, &request, 8, nullptr, kWait, nullptr, nullptr,
                                                &timeout);
      t1_ns = vp.LocalNow().nanoseconds();
      t1_100ns = KeQueryInterruptTime();
    });
    world_.Run();
  }

  int64_t ahead_ns = 0;
  int64_t t0_ns = 0;
  int64_t t1_ns = 0;
  ULONGLONG t0_100ns = 0;
  ULONGLONG t1_100ns = 0;
  NTSTATUS status = STATUS_SUCCESS;
};

// A relative 1 ms timeout counts from the call on the caller's own clock:
// it is armed after the call's one handle lookup (250 ns), and the caller
// resumes exactly 1 ms after that by its clock. Armed on the global clock,
// which trails the caller's by the 1 us its earlier calls charged, the wait
// ended 1 us early: about 9990 x 100 ns by KeQueryInterruptTime.
TEST_F(CallerClockTest, RelativeTimeoutNeverEndsBeforeTheCallersClockSaysItElapsed) {
  server_.hold = true;
  Open();
  TimedRequest([](ULONGLONG) { return -10000; });  // 1 ms, relative.
  EXPECT_EQ(status, STATUS_CANCELLED);
  EXPECT_EQ(ahead_ns, 4 * kCallNs);
  EXPECT_EQ(t1_ns - t0_ns, kCallNs + 1000000);
  EXPECT_EQ(t1_100ns - t0_100ns, (t0_ns % 100 + kCallNs + 1000000) / 100);  // Truncating clock reads.
  EXPECT_GE(t1_100ns - t0_100ns, 10000u);
  EXPECT_EQ(AllFindings(), 0u);
}

// An absolute timeout is a time on the caller's clock: the call returns
// exactly when KeQueryInterruptTime reaches it.
TEST_F(CallerClockTest, AbsoluteTimeoutEndsExactlyAtItsTimeOnTheCallersClock) {
  server_.hold = true;
  Open();
  TimedRequest([](ULONGLONG t0_100ns) { return static_cast<LONGLONG>(t0_100ns + 10000); });
  EXPECT_EQ(status, STATUS_CANCELLED);
  EXPECT_EQ(ahead_ns, 4 * kCallNs);
  EXPECT_EQ(t1_ns, static_cast<int64_t>(t0_100ns + 10000) * 100);
  EXPECT_EQ(t1_100ns, t0_100ns + 10000);
}

TEST_F(RulesTest, WaitingSyncRequestFromEvtChannelStartedIsAFinding) {
  NTSTATUS status = STATUS_SUCCESS;
  client_.on_started = [&] {
    uint64_t request = 1;
    status = VmbChannelSendSynchronousRequest(client_.channel, &request, 8, nullptr, kWait, nullptr, nullptr,
                                              nullptr);
  };
  Open();
  EXPECT_EQ(status, STATUS_INVALID_DEVICE_STATE);
  EXPECT_EQ(Findings(Rule::kSyncRequestInStarted), 1u);
  EXPECT_EQ(client_.events, (std::vector<std::string>{"opened", "started", "post_started"}));
}

TEST_F(RulesTest, ServerMayOnlyUseTheNonBlockingSyncRequest) {
  Open();
  NTSTATUS with_wait = STATUS_SUCCESS;
  NTSTATUS with_timeout = STATUS_SUCCESS;
  NTSTATUS non_blocking = STATUS_UNSUCCESSFUL;
  world_.OnHost([&] {
    uint64_t request = 1;
    LARGE_INTEGER zero;
    zero.QuadPart = 0;
    LARGE_INTEGER one_ms;
    one_ms.QuadPart = -10000;
    with_wait = VmbChannelSendSynchronousRequest(server_.channel, &request, 8, nullptr, kWait, nullptr, nullptr, &zero);
    with_timeout = VmbChannelSendSynchronousRequest(server_.channel, &request, 8, nullptr, 0, nullptr, nullptr, &one_ms);
    non_blocking = VmbChannelSendSynchronousRequest(server_.channel, &request, 8, nullptr, 0, nullptr, nullptr, &zero);
  });
  world_.Run();
  EXPECT_EQ(with_wait, STATUS_INVALID_PARAMETER);
  EXPECT_EQ(with_timeout, STATUS_INVALID_PARAMETER);
  EXPECT_EQ(non_blocking, STATUS_SUCCESS);
  EXPECT_EQ(Findings(Rule::kSyncRequestWaitOnServer), 2u);
  EXPECT_EQ(client_.processed, 1);
}

// ---------------------------------------------------------------------------
// Init setters (§6.2-§6.4, G3, G15, G16).

TEST_F(RulesTest, EveryInitSetterAfterEnableFailsWithParameter1AndAFinding) {
  Open();
  world_.OnHost([this] {
    const VMBCHANNEL s = server_.channel;
    VMB_CHANNEL_STATE_CHANGE_CALLBACKS callbacks = AllCallbacks();
    WCHAR text[] = u"Rules";
    UNICODE_STRING name = {.Length = 10, .MaximumLength = 12, .Buffer = text};
    EXPECT_EQ(VmbChannelInitSetMaximumPacketSize(s, 128), STATUS_INVALID_PARAMETER_1);
    EXPECT_EQ(VmbChannelInitSetMaximumExternalData(s, 4096, 1), STATUS_INVALID_PARAMETER_1);
    EXPECT_EQ(VmbChannelInitSetClientContextSize(s, 16), STATUS_INVALID_PARAMETER_1);
    EXPECT_EQ(VmbChannelInitSetProcessPacketCallbacks(s, OnPacket, OnBatch), STATUS_INVALID_PARAMETER_1);
    EXPECT_EQ(VmbChannelInitSetStateChangeCallbacks(s, &callbacks), STATUS_INVALID_PARAMETER_1);
    EXPECT_EQ(VmbChannelInitSetFriendlyName(s, &name), STATUS_INVALID_PARAMETER_1);
    EXPECT_EQ(VmbChannelInitSetFlags(s, 0), STATUS_INVALID_PARAMETER_1);
    EXPECT_EQ(VmbServerChannelInitSetTargetInterfaceId(s, kType, kInstance), STATUS_INVALID_PARAMETER_1);
    EXPECT_EQ(VmbServerChannelInitSetFlags(s, 0), STATUS_INVALID_PARAMETER_1);
    EXPECT_EQ(VmbServerChannelInitSetMmioMegabytes(s, 1, 0), STATUS_INVALID_PARAMETER_1);
    EXPECT_EQ(VmbServerChannelInitSetTargetVtl(s, 0), STATUS_INVALID_PARAMETER_1);
    EXPECT_EQ(VmbServerChannelInitSetVmbusHandle(s, world_.vmbus_handle()), STATUS_INVALID_PARAMETER_1);
    EXPECT_EQ(VmbServerChannelInitSetSaveRestorePacketCallbacks(s, nullptr, nullptr), STATUS_INVALID_PARAMETER_1);
  });
  world_.OnGuest([this] {
    EXPECT_EQ(VmbClientChannelInitSetRingBufferPageCount(client_.channel, 8, 8), STATUS_INVALID_PARAMETER_1);
    EXPECT_EQ(VmbClientChannelInitSetTargetPnp(client_.channel, &kType, nullptr, nullptr),
              STATUS_INVALID_PARAMETER_1);
  });
  world_.Run();
  EXPECT_EQ(Findings(Rule::kInitSetterWrongState), 15u);
  EXPECT_EQ(AllFindings(), 15u);
}

TEST_F(RulesTest, InitSettersRejectBadArgumentsWithTheirParameterIndex) {
  world_.OnHost([this] {
    VMBCHANNEL s = nullptr;
    ASSERT_EQ(VmbChannelAllocate(world_.host_device(), TRUE, &s), STATUS_SUCCESS);
    EXPECT_EQ(VmbChannelInitSetMaximumPacketSize(s, 0), STATUS_INVALID_PARAMETER_2);
    EXPECT_EQ(VmbChannelInitSetMaximumExternalData(s, 0, 1), STATUS_INVALID_PARAMETER_2);
    EXPECT_EQ(VmbChannelInitSetMaximumExternalData(s, 1, 0), STATUS_INVALID_PARAMETER_3);
    EXPECT_EQ(VmbChannelInitSetFlags(s, 0x80000000u), STATUS_INVALID_PARAMETER_2);
    VMB_CHANNEL_STATE_CHANGE_CALLBACKS callbacks = AllCallbacks();
    callbacks.Version = 2;
    EXPECT_EQ(VmbChannelInitSetStateChangeCallbacks(s, &callbacks), STATUS_INVALID_PARAMETER_2);
    callbacks = AllCallbacks();
    callbacks.Size -= 8;
    EXPECT_EQ(VmbChannelInitSetStateChangeCallbacks(s, &callbacks), STATUS_INVALID_PARAMETER_2);
    // Client-only setters on a server.
    EXPECT_EQ(VmbClientChannelInitSetRingBufferPageCount(s, 8, 8), STATUS_INVALID_PARAMETER_1);
    EXPECT_EQ(VmbClientChannelInitSetTargetPnp(s, &kType, nullptr, nullptr), STATUS_INVALID_PARAMETER_1);
    EXPECT_EQ(VmbServerChannelInitSetMmioMegabytes(s, 0, 0), STATUS_INVALID_PARAMETER);  // G15.
    EXPECT_EQ(VmbServerChannelInitSetMmioMegabytes(s, 0, 4), STATUS_SUCCESS);
    EXPECT_EQ(VmbServerChannelInitSetTargetVtl(s, 3), STATUS_INVALID_PARAMETER_2);  // G16.
    EXPECT_EQ(VmbServerChannelInitSetTargetVtl(s, 2), STATUS_SUCCESS);
    VmbChannelCleanup(s);
  });
  world_.OnGuest([this] {
    VMBCHANNEL c = nullptr;
    ASSERT_EQ(VmbChannelAllocate(world_.guest_device(), FALSE, &c), STATUS_SUCCESS);
    // Server-only setters on a client.
    EXPECT_EQ(VmbServerChannelInitSetTargetInterfaceId(c, kType, kInstance), STATUS_INVALID_PARAMETER_1);
    EXPECT_EQ(VmbServerChannelInitSetFlags(c, 0), STATUS_INVALID_PARAMETER_1);
    EXPECT_EQ(VmbServerChannelInitSetMmioMegabytes(c, 1, 0), STATUS_INVALID_PARAMETER_1);
    EXPECT_EQ(VmbServerChannelInitSetTargetVtl(c, 0), STATUS_INVALID_PARAMETER_1);
    EXPECT_EQ(VmbServerChannelInitSetVmbusHandle(c, world_.vmbus_handle()), STATUS_INVALID_PARAMETER_1);
    VmbChannelCleanup(c);
  });
  world_.Run();
  EXPECT_EQ(AllFindings(), 0u);  // Bad arguments are errors, not contract findings.
}

// ---------------------------------------------------------------------------
// VmbChannelSetInterruptLatency (§6.2, §7.6.7, G25).

class InterruptLatencyTest : public RulesTest {
 protected:
  InterruptLatencyTest() : RulesTest(WorldOptions{.runtime = {.offer_interrupt_latency_100ns = 700}}) {}

  uint16_t FabricLatency() {
    const uint32_t relid = world_.runtime().RelidOf(client_.channel);
    const fabric::OfferChannel* offer = world_.fabric().client(1).offer(relid);
    return world_.fabric().monitor_page(1).latency_100ns(offer->monitor_id);
  }
};

TEST_F(InterruptLatencyTest, LegalFromOpenedAndDrivesTheMonitorPage) {
  NTSTATUS in_opened = STATUS_UNSUCCESSFUL;
  UINT16 offer_default = 0;
  client_.on_opened = [&] { in_opened = VmbChannelSetInterruptLatency(client_.channel, 700, &offer_default); };
  MakeClient();
  world_.Run();
  NTSTATUS before_open = STATUS_SUCCESS;
  world_.OnGuest([&] {
    UINT16 previous = 0;
    before_open = VmbChannelSetInterruptLatency(client_.channel, 500, &previous);
  });
  world_.Run();
  EXPECT_EQ(before_open, STATUS_INVALID_DEVICE_STATE);
  EXPECT_EQ(Findings(Rule::kInterruptLatencyOutsideOpen), 1u);

  MakeServer();
  world_.Run();
  EXPECT_EQ(in_opened, STATUS_SUCCESS);
  EXPECT_EQ(offer_default, 700);

  UINT16 first = 0;
  UINT16 second = 0;
  world_.OnGuest([&] {
    EXPECT_EQ(VmbChannelSetInterruptLatency(client_.channel, 500, &first), STATUS_SUCCESS);
    EXPECT_EQ(VmbChannelSetInterruptLatency(client_.channel, 1000, &second), STATUS_SUCCESS);
  });
  world_.Run();
  EXPECT_EQ(first, 700);
  EXPECT_EQ(second, 500);
  EXPECT_EQ(FabricLatency(), 1000);

  // 1000 x 100 ns: the host sees a guest packet no earlier than 100 us later.
  uint64_t sent = 0;
  uint64_t processed = 0;
  server_.on_packet = [&](VMBPACKETCOMPLETION packet, const uint8_t*, UINT32, UINT32) {
    processed = KeQueryInterruptTime();
    VmbChannelPacketComplete(packet, nullptr, 0);
  };
  world_.OnGuest([&] { sent = KeQueryInterruptTime(); });
  SendFromGuest(1, 16);
  world_.Run();
  ASSERT_NE(processed, 0u);
  EXPECT_GE(processed - sent, 1000u);
  EXPECT_LT(processed - sent, 2000u);
  EXPECT_EQ(AllFindings(), 1u);
}

// ---------------------------------------------------------------------------
// Verifier findings (§7.6, §6.10).

TEST_F(RulesTest, DoubleCompletionIsAFinding) {
  server_.hold = true;
  Open();
  SendFromGuest(1, 16);
  world_.Run();
  ASSERT_EQ(server_.held.size(), 1u);
  world_.OnHost([this] {
    VmbChannelPacketComplete(server_.held[0], nullptr, 0);
    VmbChannelPacketComplete(server_.held[0], nullptr, 0);
  });
  world_.Run();
  EXPECT_EQ(Findings(Rule::kDoubleCompletion), 1u);
  EXPECT_EQ(client_.send_results, (std::vector<NTSTATUS>{STATUS_SUCCESS}));  // One completion on the wire.
}

// The default (the WDK state model): a peer close blocks until the driver
// completes what it was handed; one that never does hangs the teardown, and
// the run's end reports it with the packet's transaction id. Completing the
// packet later lets the teardown finish. (Before: retired after 100 ms.)
TEST_F(RulesTest, PacketNotCompletedAtCloseBlocksTheTeardownUntilItIsCompleted) {
  server_.hold = true;
  Open();
  SendFromGuest(1, 16);
  world_.Run();
  ASSERT_EQ(server_.held.size(), 1u);
  world_.OnGuest([&] { VmbChannelDisable(client_.channel); });
  world_.Run();
  world_.sim().ScheduleAfter(SimDuration::Seconds(1), [] {});  // A second later: still waiting.
  world_.Run();
  EXPECT_EQ(Findings(Rule::kPacketNotCompletedAtClose), 0u);   // Nothing retired, nothing reported yet.
  EXPECT_EQ(server_.events.back(), "suspend");                 // EvtChannelClosed has not run.
  uint64_t held = 0;
  for (const auto& state : world_.runtime().DebugStates()) held += state.packets_held;
  EXPECT_EQ(held, 1u);
  ASSERT_EQ(world_.runtime().ReportHungTeardowns(), 1u);  // What a run's end does.
  EXPECT_EQ(world_.runtime().ReportHungTeardowns(), 0u);  // Once.
  ASSERT_EQ(Findings(Rule::kPacketNotCompletedAtClose), 1u);
  const Finding& finding = world_.runtime().verifier().findings().back();
  EXPECT_STREQ(finding.function, "peer close");
  EXPECT_NE(finding.detail.find("transaction ids 1)"), std::string::npos) << finding.detail;
  EXPECT_NE(finding.detail.find("the teardown hangs"), std::string::npos) << finding.detail;

  world_.OnHost([this] { VmbChannelPacketComplete(server_.held[0], nullptr, 0); });
  world_.Run();
  EXPECT_EQ(server_.events.back(), "closed");
  EXPECT_EQ(world_.runtime().StateOf(server_.channel), "peer_closed");
  EXPECT_EQ(world_.runtime().StateOf(client_.channel), "disabled");
  EXPECT_EQ(world_.runtime().ReportHungTeardowns(), 0u);
}

// Pause and the server's own Disable block the same way (one T-stop,
// spec §7.3): a packet the driver never completes hangs the call, the run's
// end reports it naming the call, and completing it lets the call return.
// (Before: each gave up after 100 ms and retired the packet.)
TEST_F(RulesTest, PauseWaitsForAPacketNeverCompletedAndTheRunsEndReportsIt) {
  server_.hold = true;
  Open();
  SendFromGuest(1, 16);
  world_.Run();
  ASSERT_EQ(server_.held.size(), 1u);
  bool paused = false;
  world_.OnHost([&] {
    VmbChannelPause(server_.channel);
    paused = true;
  });
  world_.Run();
  world_.sim().ScheduleAfter(SimDuration::Seconds(1), [] {});
  world_.Run();
  EXPECT_FALSE(paused);
  EXPECT_EQ(Findings(Rule::kPacketNotCompletedAtClose), 0u);  // Nothing retired.
  ASSERT_EQ(world_.runtime().ReportHungTeardowns(), 1u);
  const Finding& finding = world_.runtime().verifier().findings().back();
  EXPECT_STREQ(finding.function, "VmbChannelPause");
  EXPECT_NE(finding.detail.find("transaction ids 1)"), std::string::npos) << finding.detail;
  EXPECT_NE(finding.detail.find("the teardown hangs"), std::string::npos) << finding.detail;
  CompleteHeldOnHost();
  world_.Run();
  EXPECT_TRUE(paused);
  EXPECT_EQ(world_.runtime().ReportHungTeardowns(), 0u);
}

TEST_F(RulesTest, ServerDisableWaitsForAPacketNeverCompletedAndTheRunsEndReportsIt) {
  server_.hold = true;
  Open();
  SendFromGuest(1, 16);
  world_.Run();
  ASSERT_EQ(server_.held.size(), 1u);
  bool disabled = false;
  world_.OnHost([&] {
    VmbChannelDisable(server_.channel);
    disabled = true;
  });
  world_.Run();
  world_.sim().ScheduleAfter(SimDuration::Seconds(1), [] {});
  world_.Run();
  EXPECT_FALSE(disabled);
  EXPECT_EQ(server_.events.back(), "suspend");  // EvtChannelClosed has not run.
  EXPECT_EQ(Findings(Rule::kPacketNotCompletedAtClose), 0u);
  ASSERT_EQ(world_.runtime().ReportHungTeardowns(), 1u);
  const Finding& finding = world_.runtime().verifier().findings().back();
  EXPECT_STREQ(finding.function, "VmbChannelDisable");
  EXPECT_NE(finding.detail.find("transaction ids 1)"), std::string::npos) << finding.detail;
  CompleteHeldOnHost();
  world_.Run();
  EXPECT_TRUE(disabled);
  EXPECT_EQ(server_.events.back(), "closed");
  EXPECT_EQ(world_.runtime().StateOf(server_.channel), "disabled");
  EXPECT_EQ(world_.runtime().ReportHungTeardowns(), 0u);
}

// Opt-in, the model before: force_retire_after gives up after that long,
// reports the packets and retires them.
class ForceRetireTest : public RulesTest {
 protected:
  ForceRetireTest() : RulesTest(WorldOptions{.runtime = {.force_retire_after = SimDuration::Milliseconds(100)}}) {}
};

TEST_F(ForceRetireTest, PacketNotCompletedAtCloseIsRetiredAfterTheTimeoutAndTheChannelCloses) {
  server_.hold = true;
  Open();
  SendFromGuest(1, 16);
  world_.Run();
  ASSERT_EQ(server_.held.size(), 1u);
  SimTime disabled;
  world_.OnGuest([&] {
    disabled = world_.sim().Now();
    VmbChannelDisable(client_.channel);
  });
  world_.Run();
  ASSERT_EQ(Findings(Rule::kPacketNotCompletedAtClose), 1u);
  const Finding& finding = world_.runtime().verifier().findings().back();
  EXPECT_EQ(finding.rule, Rule::kPacketNotCompletedAtClose);
  EXPECT_GE(finding.time - disabled, SimDuration::Milliseconds(100));
  EXPECT_NE(finding.detail.find("transaction ids 1)"), std::string::npos) << finding.detail;
  EXPECT_EQ(world_.runtime().StateOf(server_.channel), "peer_closed");
  EXPECT_EQ(server_.events.back(), "closed");
  EXPECT_EQ(world_.runtime().StateOf(client_.channel), "disabled");
  EXPECT_EQ(world_.runtime().ReportHungTeardowns(), 0u);
}

// Opt-in, the model before, for Pause too: it returns after the timeout
// with the packet reported and retired.
TEST_F(ForceRetireTest, PauseGivesUpAfterTheTimeoutAndRetiresThePacket) {
  server_.hold = true;
  Open();
  SendFromGuest(1, 16);
  world_.Run();
  ASSERT_EQ(server_.held.size(), 1u);
  SimTime called;
  SimTime returned;
  world_.OnHost([&] {
    called = world_.sim().Now();
    VmbChannelPause(server_.channel);
    returned = world_.sim().Now();
  });
  world_.Run();
  EXPECT_GE(returned - called, SimDuration::Milliseconds(100));
  ASSERT_EQ(Findings(Rule::kPacketNotCompletedAtClose), 1u);
  const Finding& finding = world_.runtime().verifier().findings().back();
  EXPECT_STREQ(finding.function, "VmbChannelPause");
  EXPECT_NE(finding.detail.find("retired (force_retire_after)"), std::string::npos) << finding.detail;
  EXPECT_EQ(world_.runtime().ReportHungTeardowns(), 0u);
}

// The driver completes the retired packet after all: completion_after_close
// (not double_completion: the driver completed it once), and nothing is sent.
TEST_F(ForceRetireTest, ACompletionAfterTheCloseRetiredThePacketIsNamed) {
  server_.hold = true;
  Open();
  SendFromGuest(1, 16);
  world_.Run();
  ASSERT_EQ(server_.held.size(), 1u);
  world_.OnGuest([this] { VmbChannelDisable(client_.channel); });
  world_.Run();
  ASSERT_EQ(Findings(Rule::kPacketNotCompletedAtClose), 1u);
  world_.OnHost([this] { VmbChannelPacketComplete(server_.held[0], nullptr, 0); });
  world_.Run();
  EXPECT_EQ(Findings(Rule::kCompletionAfterClose), 1u);
  EXPECT_EQ(Findings(Rule::kDoubleCompletion), 0u);
  const Finding& finding = world_.runtime().verifier().findings().back();
  EXPECT_EQ(finding.rule, Rule::kCompletionAfterClose);
  EXPECT_EQ(finding.status, STATUS_INVALID_HANDLE);
}

TEST_F(RulesTest, BlockingCallsAtDispatchAreFindingsAndReturnAtOnce) {
  bool pause_returned = false;
  server_.on_packet = [&](VMBPACKETCOMPLETION packet, const uint8_t*, UINT32, UINT32) {
    VmbChannelPause(server_.channel);  // ProcessPacket runs at DISPATCH.
    pause_returned = true;
    VmbChannelPacketComplete(packet, nullptr, 0);
  };
  NTSTATUS sync = STATUS_SUCCESS;
  client_.on_packet = [&](VMBPACKETCOMPLETION packet, const uint8_t*, UINT32, UINT32) {
    uint64_t request = 1;
    sync = VmbChannelSendSynchronousRequest(client_.channel, &request, 8, nullptr, kWait, nullptr, nullptr, nullptr);
    VmbChannelPacketComplete(packet, nullptr, 0);
  };
  Open();
  SendFromGuest(1, 16);
  world_.OnHost([this] {
    VMBPACKET packet = VmbPacketAllocate(server_.channel);  // Default routine: frees itself.
    uint64_t message = 2;
    ASSERT_EQ(VmbPacketSend(packet, &message, 8, nullptr, 0), STATUS_SUCCESS);
  });
  world_.Run();
  EXPECT_TRUE(pause_returned);
  EXPECT_EQ(sync, STATUS_INVALID_DEVICE_STATE);
  EXPECT_EQ(Findings(Rule::kBlockingCallAtDispatch), 2u);
  EXPECT_EQ(std::count(server_.events.begin(), server_.events.end(), "suspend"), 0);  // Pause did nothing.
  EXPECT_EQ(client_.send_results.size(), 1u);
}

TEST_F(RulesTest, SendOnADisabledChannelFails) {
  Open();
  NTSTATUS status = STATUS_SUCCESS;
  world_.OnGuest([&] {
    VmbChannelDisable(client_.channel);
    VMBPACKET packet = VmbPacketAllocate(client_.channel);
    uint64_t message = 1;
    status = VmbPacketSend(packet, &message, 8, nullptr, kWait);
    VmbPacketFree(packet);  // Not accepted: still the caller's.
  });
  world_.Run();
  EXPECT_EQ(status, STATUS_INVALID_DEVICE_STATE);
  EXPECT_EQ(Findings(Rule::kSendOnDisabledChannel), 1u);
  EXPECT_EQ(AllFindings(), 1u);
}

TEST_F(RulesTest, OversizePacketFailsWithParameter3) {
  Open();
  NTSTATUS status = STATUS_SUCCESS;
  world_.OnGuest([&] {
    std::vector<uint8_t> big(4097, 0);  // The client's maximum is 4096.
    VMBPACKET packet = VmbPacketAllocate(client_.channel);
    status = VmbPacketSend(packet, big.data(), big.size(), nullptr, kWait);
    VmbPacketFree(packet);
  });
  world_.Run();
  EXPECT_EQ(status, STATUS_INVALID_PARAMETER_3);
  EXPECT_EQ(Findings(Rule::kOversizePacket), 1u);
  EXPECT_EQ(server_.processed, 0);
}

TEST_F(RulesTest, LifecycleCallsFromAStateCallbackAreFindings) {
  server_.on_started = [this] {
    VmbChannelStart(server_.channel);
    VmbChannelPause(server_.channel);
    VmbChannelDisable(server_.channel);
  };
  Open();  // Ignored calls: the channel still opens and runs.
  EXPECT_EQ(Findings(Rule::kLifecycleCallInStateCallback), 3u);
  EXPECT_EQ(server_.events, (std::vector<std::string>{"opened", "started", "post_started"}));
  SendFromGuest(1, 16);
  world_.Run();
  EXPECT_EQ(client_.send_results.size(), 1u);
}

TEST_F(RulesTest, InitializedPacketNeedsACompletionRoutineBeforeItsSend) {
  Open();
  NTSTATUS without = STATUS_SUCCESS;
  NTSTATUS with = STATUS_UNSUCCESSFUL;
  std::vector<uint64_t> storage;
  world_.OnGuest([&] {
    storage.assign(VmbChannelSizeofPacket(client_.channel) / 8 + 1, 0);
    VMBPACKET packet = reinterpret_cast<VMBPACKET>(storage.data());
    ASSERT_EQ(VmbPacketInitialize(client_.channel, packet, storage.size() * 8), STATUS_SUCCESS);
    uint64_t message = 1;
    without = VmbPacketSend(packet, &message, 8, nullptr, 0);
    VmbPacketSetCompletionRoutine(packet, OnSendDoneKeep);
    with = VmbPacketSend(packet, &message, 8, nullptr, 0);
  });
  world_.Run();
  EXPECT_EQ(without, STATUS_INVALID_DEVICE_STATE);
  EXPECT_EQ(with, STATUS_SUCCESS);
  EXPECT_EQ(Findings(Rule::kSendWithoutCompletionRoutine), 1u);
  EXPECT_EQ(server_.processed, 1);
}

TEST_F(RulesTest, FreeingAnInFlightOrInitializedPacketIsAFinding) {
  server_.hold = true;
  Open();
  std::vector<uint64_t> storage;
  world_.OnGuest([&] {
    VMBPACKET packet = VmbPacketAllocate(client_.channel);
    VmbPacketSetPointer(packet, &client_);
    VmbPacketSetCompletionRoutine(packet, OnSendDone);
    uint64_t message = 1;
    ASSERT_EQ(VmbPacketSend(packet, &message, 8, nullptr, kWait), STATUS_SUCCESS);
    VmbPacketFree(packet);  // In flight: refused.
    storage.assign(VmbChannelSizeofPacket(client_.channel) / 8 + 1, 0);
    VMBPACKET initialized = reinterpret_cast<VMBPACKET>(storage.data());
    ASSERT_EQ(VmbPacketInitialize(client_.channel, initialized, storage.size() * 8), STATUS_SUCCESS);
    VmbPacketFree(initialized);  // Caller storage: never freed by KMCL.
  });
  world_.Run();
  EXPECT_EQ(Findings(Rule::kPacketFreeInvalid), 2u);
  CompleteHeldOnHost();
  world_.Run();
  EXPECT_EQ(client_.send_results, (std::vector<NTSTATUS>{STATUS_SUCCESS}));  // Still alive, then freed.
}

TEST_F(RulesTest, PacketCallsOutsideProcessPacketAreFindings) {
  server_.hold = true;
  Open();
  SendFromGuest(1, 16);
  world_.Run();
  ASSERT_EQ(server_.held.size(), 1u);
  NTSTATUS external = STATUS_SUCCESS;
  world_.OnHost([&] {
    VmbChannelPacketDeferToPassive(server_.held[0]);
    VmbChannelPacketFail(server_.held[0]);
    PMDL mdl = nullptr;
    external = VmbChannelPacketGetExternalData(server_.held[0], 0, &mdl);
  });
  world_.Run();
  EXPECT_EQ(Findings(Rule::kPacketCallOutsideProcessPacket), 3u);
  EXPECT_EQ(external, STATUS_INVALID_DEVICE_STATE);
  CompleteHeldOnHost();  // The packet is untouched and still completes.
  world_.Run();
  EXPECT_EQ(client_.send_results, (std::vector<NTSTATUS>{STATUS_SUCCESS}));
}

class FatalFindingsTest : public RulesTest {
 protected:
  FatalFindingsTest() : RulesTest(WorldOptions{.runtime = {.fatal_findings = true}}) {}
};

TEST_F(FatalFindingsTest, AnErrorFindingStopsTheSimulator) {
  Open();
  world_.OnGuest([this] {
    std::vector<uint8_t> big(8192, 0);
    VMBPACKET packet = VmbPacketAllocate(client_.channel);
    EXPECT_EQ(VmbPacketSend(packet, big.data(), big.size(), nullptr, kWait), STATUS_INVALID_PARAMETER_3);
    VmbPacketFree(packet);
  });
  EXPECT_EQ(world_.Run(), sim::RunResult::kStopRequested);
  EXPECT_TRUE(world_.runtime().verifier().stop_requested());
  EXPECT_EQ(Findings(Rule::kOversizePacket), 1u);
}

// ---------------------------------------------------------------------------
// Interface query (§2, G1, G2, G28).

TEST_F(RulesTest, ClientInterfaceTableDrivesAChannel) {
  KMCL_CLIENT_INTERFACE_V1 table{};
  ASSERT_EQ(VmbsimQueryInterface(world_.guest_device(), &KMCL_CLIENT_INTERFACE_TYPE,
                                 reinterpret_cast<PINTERFACE>(&table), sizeof(table),
                                 KMCL_CLIENT_INTERFACE_VERSION_V1, nullptr),
            STATUS_SUCCESS);
  EXPECT_EQ(table.Size, sizeof(table));
  EXPECT_EQ(table.Version, KMCL_CLIENT_INTERFACE_VERSION_V1);
  EXPECT_EQ(table.VmbChannelAllocate, &VmbChannelAllocate);
  EXPECT_EQ(table.VmbChannelSendSynchronousRequest, &VmbChannelSendSynchronousRequest);
  EXPECT_EQ(table.VmbPacketSetPointer, &VmbPacketSetPointer);
  EXPECT_EQ(world_.runtime().interface_references(), 1);

  MakeServer();
  world_.OnGuest([&] {
    ASSERT_EQ(table.VmbChannelAllocate(world_.guest_device(), FALSE, &client_.channel), STATUS_SUCCESS);
    table.VmbChannelSetPointer(client_.channel, &client_);
    VMB_CHANNEL_STATE_CHANGE_CALLBACKS callbacks = AllCallbacks();
    ASSERT_EQ(table.VmbChannelInitSetStateChangeCallbacks(client_.channel, &callbacks), STATUS_SUCCESS);
    ASSERT_EQ(table.VmbChannelInitSetProcessPacketCallbacks(client_.channel, OnPacket, nullptr), STATUS_SUCCESS);
    ASSERT_EQ(table.VmbClientChannelInitSetTargetPnp(client_.channel, &kType, nullptr, nullptr), STATUS_SUCCESS);
    ASSERT_EQ(table.VmbChannelEnable(client_.channel), STATUS_SUCCESS);
  });
  world_.Run();
  ASSERT_EQ(world_.runtime().StateOf(client_.channel), "open");
  NTSTATUS status = STATUS_UNSUCCESSFUL;
  uint64_t request = 0x1122334455667788;
  uint64_t reply = 0;
  UINT32 size = sizeof(reply);
  world_.OnGuest([&] {
    status = table.VmbChannelSendSynchronousRequest(client_.channel, &request, 8, nullptr, kWait, &reply, &size,
                                                    nullptr);
  });
  world_.Run();
  EXPECT_EQ(status, STATUS_SUCCESS);
  EXPECT_EQ(reply, request);

  table.InterfaceReference(table.Context);
  EXPECT_EQ(world_.runtime().interface_references(), 2);
  table.InterfaceDereference(table.Context);
  table.InterfaceDereference(table.Context);
  EXPECT_EQ(world_.runtime().interface_references(), 0);
}

TEST_F(RulesTest, InterfaceQueryRejectsWrongSizesAndVersions) {
  KMCL_CLIENT_INTERFACE_V1 client{};
  EXPECT_EQ(VmbsimQueryInterface(world_.guest_device(), &KMCL_CLIENT_INTERFACE_TYPE,
                                 reinterpret_cast<PINTERFACE>(&client), sizeof(client) - 8,
                                 KMCL_CLIENT_INTERFACE_VERSION_V1, nullptr),
            STATUS_NOT_SUPPORTED);
  EXPECT_EQ(VmbsimQueryInterface(world_.guest_device(), &KMCL_CLIENT_INTERFACE_TYPE,
                                 reinterpret_cast<PINTERFACE>(&client), sizeof(client),
                                 KMCL_CLIENT_INTERFACE_VERSION_V2, nullptr),
            STATUS_NOT_SUPPORTED);
  EXPECT_EQ(client.VmbChannelAllocate, nullptr);  // Nothing filled.

  KMCL_SERVER_INTERFACE_V1 server{};
  EXPECT_EQ(VmbsimQueryInterface(world_.host_device(), &KMCL_SERVER_INTERFACE_TYPE,
                                 reinterpret_cast<PINTERFACE>(&server), sizeof(server) - 8,
                                 KMCL_SERVER_INTERFACE_VERSION_V1, nullptr),
            STATUS_NOT_SUPPORTED);
  EXPECT_EQ(world_.runtime().interface_references(), 0);
  ASSERT_EQ(VmbsimQueryInterface(world_.host_device(), &KMCL_SERVER_INTERFACE_TYPE,
                                 reinterpret_cast<PINTERFACE>(&server), sizeof(server),
                                 KMCL_SERVER_INTERFACE_VERSION_V1, nullptr),
            STATUS_SUCCESS);
  EXPECT_EQ(server.Size, sizeof(server));
  EXPECT_EQ(server.VmbChannelAllocate, &VmbChannelAllocate);
  EXPECT_EQ(server.VmbChannelMapGpadl, &VmbChannelMapGpadl);
  EXPECT_EQ(server.VmbServerChannelInitSetVmbusHandle, &VmbServerChannelInitSetVmbusHandle);
  EXPECT_EQ(world_.runtime().interface_references(), 1);
  server.InterfaceDereference(server.Context);
  EXPECT_EQ(world_.runtime().interface_references(), 0);
}

// ---------------------------------------------------------------------------
// PASSIVE processing and deferral (§6.2, §6.6, G7, G18).

TEST_F(RulesTest, PassiveChannelProcessesOnAWorker) {
  std::vector<bool> passive;
  std::vector<uint64_t> times;
  server_.configure = [this] { VmbChannelSetIncomingProcessingAtPassive(server_.channel, TRUE); };
  server_.on_packet = [&](VMBPACKETCOMPLETION packet, const uint8_t* buffer, UINT32 length, UINT32) {
    passive.push_back(AtPassive(world_.host_device()));
    times.push_back(KeQueryInterruptTime());
    VmbChannelPacketComplete(packet, const_cast<uint8_t*>(buffer), length);
  };
  Open();
  SendFromGuest(6, 32);
  world_.Run();
  EXPECT_EQ(passive, std::vector<bool>(6, true));
  ASSERT_EQ(times.size(), 6u);
  EXPECT_TRUE(std::is_sorted(times.begin(), times.end()));
  EXPECT_LT(times.front(), times.back());
  EXPECT_EQ(server_.batches, (std::vector<UINT32>{6}));
  EXPECT_EQ(client_.send_results, std::vector<NTSTATUS>(6, STATUS_SUCCESS));
  EXPECT_EQ(AllFindings(), 0u);
}

TEST_F(RulesTest, DeferredPacketIsDeliveredAgainAtPassiveInFifoOrder) {
  std::vector<int> order;  // Request index per ProcessPacket call.
  std::vector<VMBPACKETCOMPLETION> handles;
  std::vector<bool> passive;
  server_.on_packet = [&](VMBPACKETCOMPLETION packet, const uint8_t* buffer, UINT32, UINT32) {
    order.push_back(buffer[0]);
    handles.push_back(packet);
    if (order.size() == 1) {
      VmbChannelPacketDeferToPassive(packet);  // At DISPATCH: not completed now.
      return;
    }
    passive.push_back(AtPassive(world_.host_device()));
    VmbChannelPacketComplete(packet, nullptr, 0);
  };
  Open();
  SendFromGuest(5, 16);
  world_.Run();
  EXPECT_EQ(order, (std::vector<int>{0, 0, 1, 2, 3, 4}));
  ASSERT_EQ(handles.size(), 6u);
  EXPECT_EQ(handles[1], handles[0]);  // The same VMBPACKETCOMPLETION.
  EXPECT_EQ(passive, std::vector<bool>(5, true));  // G18: the rest follows it to PASSIVE.
  EXPECT_EQ(client_.send_results, std::vector<NTSTATUS>(5, STATUS_SUCCESS));
  EXPECT_EQ(AllFindings(), 0u);
}

// ---------------------------------------------------------------------------
// GPADLs (§6.8).

// Goal: while the host has a guest's GPADL mapped, its accesses through the
// mapping read the guest's bytes and write into the guest's buffer, with no
// finding; once it has unmapped, asking for the mapping's address again is a
// gpadl_use_after_unmap finding (the GPADL, the server channel, the call)
// and gives NULL, and the guest's delete no longer waits. Method: one guest
// buffer of two pages, one map, accesses on both sides of the unmap.
TEST_F(RulesTest, AGpadlMappingSharesTheBufferAndItsUseAfterUnmapIsAFinding) {
  Open();
  std::vector<uint8_t> buffer(8192, 0);
  for (size_t i = 0; i < buffer.size(); ++i) buffer[i] = static_cast<uint8_t>(i * 7);
  UINT32 gpadl = 0;
  world_.OnGuest([&] {
    ASSERT_EQ(VmbChannelCreateGpadlFromBuffer(client_.channel, 0, buffer.data(),
                                              static_cast<UINT32>(buffer.size()), &gpadl),
              STATUS_SUCCESS);
  });
  world_.Run();
  ASSERT_NE(gpadl, 0u);
  PMDL mdl = nullptr;
  uint8_t read_while_mapped = 0;
  size_t findings_while_mapped = 1;
  PVOID after_unmap = &buffer;  // Anything but NULL.
  world_.OnHost([&] {
    ASSERT_EQ(VmbChannelMapGpadl(server_.channel, 0, gpadl, &mdl), STATUS_SUCCESS);
    uint8_t* va = static_cast<uint8_t*>(MmGetSystemAddressForMdlSafe(mdl, NormalPagePriority));
    ASSERT_NE(va, nullptr);
    read_while_mapped = va[5000];
    va[4096] = 0xAB;
    findings_while_mapped = AllFindings();
    VmbChannelUnmapGpadl(server_.channel, gpadl);
    after_unmap = MmGetSystemAddressForMdlSafe(mdl, NormalPagePriority);
  });
  world_.Run();
  EXPECT_EQ(read_while_mapped, static_cast<uint8_t>(5000 * 7));
  EXPECT_EQ(buffer[4096], 0xAB);
  EXPECT_EQ(findings_while_mapped, 0u);
  EXPECT_EQ(after_unmap, nullptr);
  ASSERT_EQ(Findings(Rule::kGpadlUseAfterUnmap), 1u);
  const Finding& finding = world_.runtime().verifier().findings().back();
  EXPECT_EQ(finding.rule, Rule::kGpadlUseAfterUnmap);
  EXPECT_STREQ(finding.function, "MmGetSystemAddressForMdlSafe");
  EXPECT_EQ(finding.channel, reinterpret_cast<uintptr_t>(server_.channel));
  EXPECT_NE(finding.detail.find("GPADL " + std::to_string(gpadl) + " "), std::string::npos) << finding.detail;
  EXPECT_NE(finding.detail.find("after VmbChannelUnmapGpadl"), std::string::npos) << finding.detail;
  bool deleted = false;
  world_.OnGuest([&] {
    VmbChannelDeleteGpadl(client_.channel, gpadl);
    deleted = true;
  });
  world_.Run();
  EXPECT_TRUE(deleted);
  EXPECT_EQ(AllFindings(), 1u);
}

// ---------------------------------------------------------------------------
// External data (§6.6 GetExternalData, §10.6 "pend first", G23).

class ExternalDataTest : public RulesTest {
 protected:
  ExternalDataTest() : RulesTest(WorldOptions{.runtime = {.external_data_pends_first = true}}) {}
};

// An MDL of two pages (0x500, 0x501), 8192 bytes at offset 0, its PFN array
// right behind it (wdk_shim.h).
struct TwoPageMdl {
  TwoPageMdl() {
    std::memset(&mdl, 0, sizeof(mdl));
    mdl.Size = sizeof(MDL) + sizeof(pfns);
    mdl.ByteCount = 8192;
    mdl.ByteOffset = 0;
    pfns[0] = 0x500;
    pfns[1] = 0x501;
  }
  MDL mdl;
  PFN_NUMBER pfns[2];
};
static_assert(offsetof(TwoPageMdl, pfns) == sizeof(MDL));

TEST_F(ExternalDataTest, FirstGetExternalDataPendsAndThePacketIsDeliveredAgain) {
  std::vector<NTSTATUS> statuses;
  std::vector<VMBPACKETCOMPLETION> handles;
  std::vector<UINT32> flags_seen;
  ULONG byte_count = 0;
  std::vector<PFN_NUMBER> pfns;
  server_.on_packet = [&](VMBPACKETCOMPLETION packet, const uint8_t*, UINT32, UINT32 flags) {
    handles.push_back(packet);
    flags_seen.push_back(flags);
    PMDL mdl = nullptr;
    statuses.push_back(VmbChannelPacketGetExternalData(packet, 0, &mdl));
    if (statuses.back() == STATUS_PENDING) return;  // Delivered again later.
    if (statuses.back() != STATUS_SUCCESS) {  // No external data.
      VmbChannelPacketComplete(packet, nullptr, 0);
      return;
    }
    byte_count = mdl->ByteCount;
    pfns.assign(MmGetMdlPfnArray(mdl), MmGetMdlPfnArray(mdl) + 2);
    VmbChannelPacketComplete(packet, nullptr, 0);
  };
  Open();
  TwoPageMdl external;
  NTSTATUS without_wait = STATUS_SUCCESS;
  world_.OnGuest([&] {
    uint64_t header = 42;
    VMBPACKET packet = VmbPacketAllocate(client_.channel);
    without_wait = VmbPacketSend(packet, &header, 8, &external.mdl, 0);  // G23: WAIT required.
    VmbPacketSetPointer(packet, &client_);
    VmbPacketSetCompletionRoutine(packet, OnSendDone);
    ASSERT_EQ(VmbPacketSend(packet, &header, 8, &external.mdl, kWait), STATUS_SUCCESS);
  });
  world_.Run();
  EXPECT_EQ(without_wait, STATUS_INVALID_PARAMETER_5);
  EXPECT_EQ(statuses, (std::vector<NTSTATUS>{STATUS_PENDING, STATUS_SUCCESS}));
  ASSERT_EQ(handles.size(), 2u);
  EXPECT_EQ(handles[1], handles[0]);
  EXPECT_EQ(flags_seen, std::vector<UINT32>(2, VMBUS_CHANNEL_PROCESS_PACKET_FLAG_EXTERNAL_DATA));
  EXPECT_EQ(byte_count, 8192u);
  EXPECT_EQ(pfns, (std::vector<PFN_NUMBER>{0x500, 0x501}));
  EXPECT_EQ(client_.send_results, (std::vector<NTSTATUS>{STATUS_SUCCESS}));
  // The re-delivery is a batch of its own: its count does not leak into the next.
  SendFromGuest(2, 16);
  world_.Run();
  EXPECT_EQ(CheckBatches(server_), 4);
  EXPECT_EQ(AllFindings(), 0u);
}

}  // namespace
}  // namespace vmbsim::kmcl
