// Traffic through the public C header (spec §6.7, §6.9, §7.7, §8): the init
// sequences real drivers use with maximum-size packets both ways; rescind
// and guest close in the middle of traffic (every sent packet's completion
// routine runs exactly once); re-enabling a closed client (G26); ring-full
// backpressure with a transaction quota of 1; server save/restore.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kmcl/testing/kmcl_world.h"
#include "sim/core/simulator.h"
#include "vmbuskernelmodeclientlibapi.h"

namespace vmbsim::kmcl {
namespace {

using testing::KmclWorld;

constexpr GUID kType = {0x7a3ffc01, 0x1234, 0x4321, {1, 1, 2, 3, 5, 8, 13, 21}};
constexpr GUID kInstance = {0x7a3ffc02, 0x5678, 0x8765, {34, 55, 89, 144, 233, 0, 1, 2}};
constexpr UINT32 kWait = VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION;

// The payload of packet `id` sent by the side with `seed`: bytes 0..3 hold
// the id, the rest depends on seed, id and position.
std::vector<uint8_t> Pattern(uint32_t seed, uint32_t id, uint32_t size) {
  std::vector<uint8_t> bytes(size);
  for (uint32_t b = 0; b < size; ++b) {
    bytes[b] = static_cast<uint8_t>(seed * 17u + id * 131u + b * 7u + (b >> 8));
  }
  if (size >= 4) std::memcpy(bytes.data(), &id, 4);
  return bytes;
}

uint32_t IdOf(const void* buffer, uint32_t length) {
  uint32_t id = ~0u;
  if (buffer != nullptr && length >= 4) std::memcpy(&id, buffer, 4);
  return id;
}

std::vector<uint8_t> Bytes(const void* buffer, uint32_t length) {
  const uint8_t* p = static_cast<const uint8_t*>(buffer);
  return buffer == nullptr ? std::vector<uint8_t>{} : std::vector<uint8_t>(p, p + length);
}

// One endpoint's driver: how it behaves and what its callbacks saw.
struct Side {
  uint32_t seed = 0;
  VMBCHANNEL channel = nullptr;
  std::vector<std::string> events;

  // Receive side. kEcho completes every packet inline with its own bytes;
  // kHoldEveryFourth holds every fourth packet and completes the held ones
  // in EvtVmbChannelProcessingComplete (and in EvtChannelSuspend);
  // kCustom calls on_packet.
  enum class Mode { kEcho, kHoldEveryFourth, kCustom };
  Mode mode = Mode::kEcho;
  std::function<void(Side&, VMBPACKETCOMPLETION, PVOID, UINT32)> on_packet;
  bool record_payloads = false;
  int processed = 0;
  int completed = 0;  // VmbChannelPacketComplete calls.
  UINT32 processing_complete_sum = 0;
  std::vector<uint32_t> received_ids;
  std::vector<std::vector<uint8_t>> received;  // With record_payloads.
  struct Held {
    VMBPACKETCOMPLETION packet;
    std::vector<uint8_t> bytes;
  };
  std::vector<Held> held;

  // Send side: one tag per sent packet (VmbPacketSetPointer).
  struct Tag {
    Side* side;
    uint32_t id;
  };
  std::deque<Tag> tags;
  uint32_t next_id = 0;
  std::map<uint32_t, std::vector<uint8_t>> sent_payload;
  std::map<uint32_t, int> done_count;
  std::map<uint32_t, NTSTATUS> done_status;
  std::map<uint32_t, std::vector<uint8_t>> done_payload;
  std::vector<uint32_t> done_order;
  std::function<void(Side&, uint32_t, NTSTATUS)> on_done;  // After the bookkeeping.

  void CompleteHeld() {
    std::vector<Held> now;
    now.swap(held);
    for (Held& h : now) {
      ++completed;
      VmbChannelPacketComplete(h.packet, h.bytes.data(), static_cast<UINT32>(h.bytes.size()));
    }
  }
};

Side* SideOf(VMBCHANNEL channel) { return static_cast<Side*>(VmbChannelGetPointer(channel)); }

NTSTATUS OnOpened(VMBCHANNEL c) {
  SideOf(c)->events.push_back("opened");
  return STATUS_SUCCESS;
}
VOID OnClosed(VMBCHANNEL c) { SideOf(c)->events.push_back("closed"); }
VOID OnSuspend(VMBCHANNEL c) {
  Side* side = SideOf(c);
  side->events.push_back("suspend");
  side->CompleteHeld();  // The driver finishes what it holds (spec §7.3 T-stop).
}
VOID OnStarted(VMBCHANNEL c) { SideOf(c)->events.push_back("started"); }
VOID OnPostStarted(VMBCHANNEL c) { SideOf(c)->events.push_back("post_started"); }

VOID OnPacket(VMBCHANNEL c, VMBPACKETCOMPLETION packet, PVOID buffer, UINT32 length, UINT32 flags) {
  Side& side = *SideOf(c);
  ++side.processed;
  const uint32_t id = IdOf(buffer, length);
  side.received_ids.push_back(id);
  if (side.record_payloads) side.received.push_back(Bytes(buffer, length));
  switch (side.mode) {
    case Side::Mode::kEcho:
      ++side.completed;
      VmbChannelPacketComplete(packet, buffer, length);
      break;
    case Side::Mode::kHoldEveryFourth:
      if (id % 4 == 0) {
        side.held.push_back(Side::Held{packet, Bytes(buffer, length)});
      } else {
        ++side.completed;
        VmbChannelPacketComplete(packet, buffer, length);
      }
      break;
    case Side::Mode::kCustom:
      side.on_packet(side, packet, buffer, length);
      break;
  }
}

VOID OnBatch(VMBCHANNEL c, UINT32 count) {
  Side& side = *SideOf(c);
  side.processing_complete_sum += count;
  if (side.mode == Side::Mode::kHoldEveryFourth) side.CompleteHeld();
}

VOID OnSendDone(VMBPACKET packet, NTSTATUS status, PVOID buffer, UINT32 length) {
  auto* tag = static_cast<Side::Tag*>(VmbPacketGetPointer(packet));
  Side& side = *tag->side;
  const uint32_t id = tag->id;
  ++side.done_count[id];
  side.done_status[id] = status;
  side.done_payload[id] = Bytes(buffer, length);
  side.done_order.push_back(id);
  VmbPacketFree(packet);
  if (side.on_done) side.on_done(side, id, status);
}

// Sends one packet of `size` pattern bytes from `side`; returns the send's status.
NTSTATUS Send(Side& side, uint32_t size, UINT32 flags = kWait) {
  const uint32_t id = side.next_id++;
  std::vector<uint8_t> payload = Pattern(side.seed, id, size);
  VMBPACKET packet = VmbPacketAllocate(side.channel);
  if (packet == nullptr) return STATUS_INSUFFICIENT_RESOURCES;
  side.tags.push_back(Side::Tag{&side, id});
  VmbPacketSetPointer(packet, &side.tags.back());
  VmbPacketSetCompletionRoutine(packet, OnSendDone);
  side.sent_payload[id] = payload;
  const NTSTATUS status = VmbPacketSend(packet, payload.data(), size, nullptr, flags);
  if (status != STATUS_SUCCESS) {
    side.sent_payload.erase(id);
    VmbPacketFree(packet);
  }
  return status;
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

struct ServerConfig {
  UINT32 max_packet = 4096;
  UINT32 quota = 0;  // 0: the default.
  bool passive = false;
  PFN_VMB_CHANNEL_SAVE_PACKET save = nullptr;
  PFN_VMB_CHANNEL_RESTORE_PACKET restore = nullptr;
  bool enable = true;
};

struct ClientConfig {
  UINT32 max_packet = 4096;
  UINT32 incoming_pages = 16;
  UINT32 outgoing_pages = 16;
  bool passive = false;
};

class TrafficTest : public ::testing::Test {
 protected:
  TrafficTest() {
    host_.seed = 0x51;
    guest_.seed = 0xa7;
  }

  // dxgkrnl's CreateServerVmBusChannel order (spec §8.4).
  void ConfigureServer(Side& side, const ServerConfig& config) {
    ASSERT_EQ(VmbChannelAllocate(world_.host_device(), TRUE, &side.channel), STATUS_SUCCESS);
    ASSERT_EQ(VmbServerChannelInitSetVmbusHandle(side.channel, world_.vmbus_handle()), STATUS_SUCCESS);
    ASSERT_EQ(VmbChannelInitSetMaximumPacketSize(side.channel, config.max_packet), STATUS_SUCCESS);
    VmbChannelSetPointer(side.channel, &side);
    ASSERT_EQ(VmbServerChannelInitSetTargetInterfaceId(side.channel, kType, kInstance), STATUS_SUCCESS);
    VMB_CHANNEL_STATE_CHANGE_CALLBACKS callbacks = AllCallbacks();
    ASSERT_EQ(VmbChannelInitSetStateChangeCallbacks(side.channel, &callbacks), STATUS_SUCCESS);
    ASSERT_EQ(VmbChannelInitSetProcessPacketCallbacks(side.channel, OnPacket, OnBatch), STATUS_SUCCESS);
    if (config.save != nullptr || config.restore != nullptr) {
      ASSERT_EQ(VmbServerChannelInitSetSaveRestorePacketCallbacks(side.channel, config.save, config.restore),
                STATUS_SUCCESS);
    }
    if (config.passive) VmbChannelSetIncomingProcessingAtPassive(side.channel, TRUE);
    if (config.quota != 0) VmbChannelSetTransactionQuota(side.channel, config.quota);
  }

  void MakeServer(Side& side, ServerConfig config = {}) {
    world_.OnHost([this, &side, config] {
      ConfigureServer(side, config);
      if (!config.enable) return;
      ASSERT_EQ(VmbChannelEnable(side.channel), STATUS_SUCCESS);
      VmbChannelStart(side.channel);
    });
  }

  // dxgkrnl's CreateClientVmBusChannel order (spec §8.2).
  void MakeClient(Side& side, ClientConfig config = {}) {
    world_.OnGuest([this, &side, config] {
      ASSERT_EQ(VmbChannelAllocate(world_.guest_device(), FALSE, &side.channel), STATUS_SUCCESS);
      ASSERT_EQ(VmbChannelInitSetMaximumPacketSize(side.channel, config.max_packet), STATUS_SUCCESS);
      ASSERT_EQ(VmbClientChannelInitSetRingBufferPageCount(side.channel, config.incoming_pages,
                                                           config.outgoing_pages),
                STATUS_SUCCESS);
      VMB_CHANNEL_STATE_CHANGE_CALLBACKS callbacks = AllCallbacks();
      ASSERT_EQ(VmbChannelInitSetStateChangeCallbacks(side.channel, &callbacks), STATUS_SUCCESS);
      ASSERT_EQ(VmbChannelInitSetProcessPacketCallbacks(side.channel, OnPacket, OnBatch), STATUS_SUCCESS);
      VmbChannelSetPointer(side.channel, &side);
      ASSERT_EQ(VmbClientChannelInitSetTargetPnp(side.channel, &kType, &kInstance, nullptr), STATUS_SUCCESS);
      VmbChannelSetIncomingProcessingAtPassive(side.channel, config.passive ? TRUE : FALSE);
      ASSERT_EQ(VmbChannelEnable(side.channel), STATUS_SUCCESS);
      VmbChannelStart(side.channel);
    });
  }

  // Runs the simulator event by event until `done()` holds; false if it ran dry.
  bool RunUntil(const std::function<bool()>& done) {
    while (!done()) {
      if (world_.sim().pending_count() == 0) return false;
      world_.sim().Run(sim::RunLimits{.events_max = 1});
    }
    return true;
  }

  // Every packet `side` sent had its completion routine run exactly once.
  void ExpectEachCompletedOnce(const Side& side) {
    EXPECT_EQ(side.done_order.size(), side.sent_payload.size());
    for (const auto& [id, payload] : side.sent_payload) {
      auto it = side.done_count.find(id);
      ASSERT_NE(it, side.done_count.end()) << "packet " << id << " never completed";
      EXPECT_EQ(it->second, 1) << "packet " << id;
    }
    for (const auto& [id, count] : side.done_count) {
      EXPECT_EQ(side.sent_payload.count(id), 1u) << "completion for unsent packet " << id;
    }
  }

  // Successes carry the exact echo and all come before the first failure
  // (in send order too unless the peer completes out of order); the rest
  // failed with `failure`. Returns the number of successes.
  size_t ExpectSuccessesThenFailures(const Side& side, NTSTATUS failure, bool in_send_order = true) {
    size_t successes = 0;
    bool failing = false;
    for (size_t i = 0; i < side.done_order.size(); ++i) {
      const uint32_t id = side.done_order[i];
      const NTSTATUS status = side.done_status.at(id);
      if (status == STATUS_SUCCESS) {
        EXPECT_FALSE(failing) << "success of packet " << id << " after a failure";
        if (in_send_order) {
          EXPECT_EQ(id, successes) << "successes out of send order";
        }
        EXPECT_EQ(side.done_payload.at(id), side.sent_payload.at(id)) << "echo of packet " << id;
        ++successes;
      } else {
        failing = true;
        EXPECT_EQ(status, failure) << "packet " << id << " status 0x" << std::hex << status;
        EXPECT_TRUE(side.done_payload.at(id).empty());
      }
    }
    return successes;
  }

  KmclWorld world_;
  Side host_;
  Side guest_;
};

// ---------------------------------------------------------------------------
// (a) The init sequences of real drivers, with maximum-size packets.

// dxgkrnl build B (spec §8.2, §8.4): 256/256 ring pages, 0x20000-byte
// maximum packets; requests of exactly the maximum both ways, echoed in full.
TEST_F(TrafficTest, MaximumSizePacketsBothWaysOnDxgkrnlRings) {
  constexpr UINT32 kMax = 0x20000;
  host_.record_payloads = true;
  guest_.record_payloads = true;
  MakeServer(host_, {.max_packet = kMax});
  MakeClient(guest_, {.max_packet = kMax, .incoming_pages = 256, .outgoing_pages = 256});
  world_.Run();
  ASSERT_EQ(world_.runtime().StateOf(guest_.channel), "open");

  world_.OnGuest([this] {
    for (int i = 0; i < 4; ++i) EXPECT_EQ(Send(guest_, kMax), STATUS_SUCCESS);
  });
  world_.OnHost([this] {
    for (int i = 0; i < 3; ++i) EXPECT_EQ(Send(host_, kMax), STATUS_SUCCESS);
  });
  world_.Run();

  // Receivers saw the exact bytes (0x20000 is a multiple of 8: no padding).
  ASSERT_EQ(host_.received.size(), 4u);
  for (uint32_t i = 0; i < 4; ++i) EXPECT_EQ(host_.received[i], guest_.sent_payload.at(i)) << i;
  ASSERT_EQ(guest_.received.size(), 3u);
  for (uint32_t i = 0; i < 3; ++i) EXPECT_EQ(guest_.received[i], host_.sent_payload.at(i)) << i;
  // Senders got the full echo in each completion.
  for (Side* side : {&host_, &guest_}) {
    ExpectEachCompletedOnce(*side);
    EXPECT_EQ(ExpectSuccessesThenFailures(*side, STATUS_CANCELLED), side->sent_payload.size());
  }
  EXPECT_EQ(world_.runtime().live_packet_count(), 0u);
  EXPECT_EQ(world_.runtime().live_completion_count(), 0u);
  EXPECT_EQ(world_.runtime().verifier().total_count(), 0u);
  EXPECT_TRUE(world_.runtime().peer_violations().empty());
}

// dxgkrnl's DXGVMBUSCHANNEL (spec §8.5): PASSIVE processing on both ends,
// 8/8 ring pages, a 256-byte maximum, a hand-filled callback set with
// Opened and PostStarted NULL. 300 maximum-size packets each way wrap both
// rings many times.
TEST_F(TrafficTest, SmallDxgkrnlChannelExchangesMaximumSizePackets) {
  constexpr UINT32 kMax = 256;
  constexpr int kCount = 300;
  host_.record_payloads = true;
  guest_.record_payloads = true;
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS callbacks = {};
  callbacks.Version = 1;
  callbacks.Size = 48;
  callbacks.EvtChannelClosed = OnClosed;
  callbacks.EvtChannelSuspend = OnSuspend;
  callbacks.EvtChannelStarted = OnStarted;
  world_.OnHost([&] {
    ASSERT_EQ(VmbChannelAllocate(world_.host_device(), TRUE, &host_.channel), STATUS_SUCCESS);
    VmbChannelSetIncomingProcessingAtPassive(host_.channel, TRUE);
    ASSERT_EQ(VmbServerChannelInitSetTargetInterfaceId(host_.channel, kType, kInstance), STATUS_SUCCESS);
    ASSERT_EQ(VmbServerChannelInitSetVmbusHandle(host_.channel, world_.vmbus_handle()), STATUS_SUCCESS);
    ASSERT_EQ(VmbServerChannelInitSetFlags(host_.channel, VMBUS_SERVER_CHANNEL_INIT_FLAG_ENUMERATE_DEVICE_INTERFACE),
              STATUS_SUCCESS);
    ASSERT_EQ(VmbChannelInitSetMaximumPacketSize(host_.channel, kMax), STATUS_SUCCESS);
    VmbChannelSetPointer(host_.channel, &host_);
    ASSERT_EQ(VmbChannelInitSetProcessPacketCallbacks(host_.channel, OnPacket, nullptr), STATUS_SUCCESS);
    ASSERT_EQ(VmbChannelInitSetStateChangeCallbacks(host_.channel, &callbacks), STATUS_SUCCESS);
    ASSERT_EQ(VmbChannelEnable(host_.channel), STATUS_SUCCESS);
    VmbChannelStart(host_.channel);
  });
  world_.OnGuest([&] {
    ASSERT_EQ(VmbChannelAllocate(world_.guest_device(), FALSE, &guest_.channel), STATUS_SUCCESS);
    VmbChannelSetIncomingProcessingAtPassive(guest_.channel, TRUE);
    ASSERT_EQ(VmbClientChannelInitSetTargetPnp(guest_.channel, &kType, &kInstance, nullptr), STATUS_SUCCESS);
    ASSERT_EQ(VmbChannelInitSetMaximumPacketSize(guest_.channel, kMax), STATUS_SUCCESS);
    ASSERT_EQ(VmbClientChannelInitSetRingBufferPageCount(guest_.channel, 8, 8), STATUS_SUCCESS);
    VmbChannelSetPointer(guest_.channel, &guest_);
    ASSERT_EQ(VmbChannelInitSetProcessPacketCallbacks(guest_.channel, OnPacket, nullptr), STATUS_SUCCESS);
    ASSERT_EQ(VmbChannelInitSetStateChangeCallbacks(guest_.channel, &callbacks), STATUS_SUCCESS);
    ASSERT_EQ(VmbChannelEnable(guest_.channel), STATUS_SUCCESS);
  });
  world_.Run();
  EXPECT_EQ(host_.events, (std::vector<std::string>{"started"}));
  EXPECT_EQ(guest_.events, (std::vector<std::string>{"started"}));

  world_.OnGuest([this] {
    for (int i = 0; i < kCount; ++i) EXPECT_EQ(Send(guest_, kMax), STATUS_SUCCESS);
  });
  world_.OnHost([this] {
    for (int i = 0; i < kCount; ++i) EXPECT_EQ(Send(host_, kMax), STATUS_SUCCESS);
  });
  world_.Run();

  ASSERT_EQ(host_.received.size(), static_cast<size_t>(kCount));
  ASSERT_EQ(guest_.received.size(), static_cast<size_t>(kCount));
  for (uint32_t i = 0; i < kCount; ++i) {
    EXPECT_EQ(host_.received[i], guest_.sent_payload.at(i)) << i;
    EXPECT_EQ(guest_.received[i], host_.sent_payload.at(i)) << i;
  }
  for (Side* side : {&host_, &guest_}) {
    ExpectEachCompletedOnce(*side);
    EXPECT_EQ(ExpectSuccessesThenFailures(*side, STATUS_CANCELLED), static_cast<size_t>(kCount));
  }
  EXPECT_GT(world_.runtime().counters().packets_queued, 0u);  // 300 do not fit 7 ring pages.
  EXPECT_EQ(world_.runtime().live_packet_count(), 0u);
  EXPECT_EQ(world_.runtime().verifier().total_count(), 0u);
  EXPECT_TRUE(world_.runtime().peer_violations().empty());
}

// ---------------------------------------------------------------------------
// (b) Rescind during traffic.

constexpr int kInFlight = 200;
constexpr UINT32 kPacket4k = 4096;

// The guest queues 200 4 KiB requests at once on 4/4-page rings (so most
// wait in the send queue); the host holds every fourth one until the end of
// its batch; the host disables (rescinds) after 50 requests were processed.
TEST_F(TrafficTest, RescindWhileRequestsAreQueuedCompletesEachPacketOnce) {
  host_.mode = Side::Mode::kHoldEveryFourth;
  MakeServer(host_);
  MakeClient(guest_, {.incoming_pages = 4, .outgoing_pages = 4});
  world_.Run();
  ASSERT_EQ(world_.runtime().StateOf(guest_.channel), "open");

  world_.OnGuest([this] {
    for (int i = 0; i < kInFlight; ++i) ASSERT_EQ(Send(guest_, kPacket4k), STATUS_SUCCESS);
  });
  ASSERT_TRUE(RunUntil([this] { return host_.processed >= 50; }));
  EXPECT_GT(world_.runtime().counters().packets_queued, 0u);
  world_.OnHost([this] { VmbChannelDisable(host_.channel); });
  world_.Run();

  EXPECT_EQ(world_.runtime().StateOf(host_.channel), "disabled");
  EXPECT_EQ(world_.runtime().StateOf(guest_.channel), "disabled");
  EXPECT_EQ(guest_.events,
            (std::vector<std::string>{"opened", "started", "post_started", "suspend", "closed"}));
  EXPECT_EQ(host_.events, (std::vector<std::string>{"opened", "started", "post_started", "suspend", "closed"}));
  ExpectEachCompletedOnce(guest_);
  EXPECT_EQ(guest_.sent_payload.size(), static_cast<size_t>(kInFlight));
  // G9: a rescind fails the rest with STATUS_DEVICE_REMOVED. The host
  // completes held packets late, so successes need not be in send order.
  const size_t successes = ExpectSuccessesThenFailures(guest_, STATUS_DEVICE_REMOVED, false);
  EXPECT_GT(successes, 0u);
  EXPECT_LT(successes, static_cast<size_t>(kInFlight));
  EXPECT_LE(successes, static_cast<size_t>(host_.processed));
  // The host completed every packet it was given, in order.
  EXPECT_EQ(host_.completed, host_.processed);
  for (size_t i = 0; i < host_.received_ids.size(); ++i) EXPECT_EQ(host_.received_ids[i], i);
  EXPECT_TRUE(host_.held.empty());
  EXPECT_EQ(world_.runtime().live_completion_count(), 0u);
  EXPECT_EQ(world_.runtime().live_packet_count(), 0u);
  EXPECT_EQ(world_.runtime().verifier().count(Rule::kDoubleCompletion), 0u);
  EXPECT_EQ(world_.runtime().verifier().total_count(), 0u);

  world_.OnGuest([this] { VmbChannelCleanup(guest_.channel); });
  world_.OnHost([this] { VmbChannelCleanup(host_.channel); });
  world_.Run();
  EXPECT_EQ(world_.runtime().channel_count(), 0u);
}

// The guest keeps 16 requests in flight, sending the next one from each
// successful completion routine (at DISPATCH_LEVEL) until 200 were sent; the
// host rescinds after 50 were processed. No completion routine sends after
// EvtChannelSuspend: every completion after it is a failure.
TEST_F(TrafficTest, RescindWhileCompletionRoutinesRefillCompletesEachPacketOnce) {
  MakeServer(host_);
  MakeClient(guest_, {.incoming_pages = 4, .outgoing_pages = 4});
  world_.Run();
  guest_.on_done = [](Side& side, uint32_t, NTSTATUS status) {
    if (status == STATUS_SUCCESS && side.next_id < kInFlight) {
      EXPECT_EQ(Send(side, kPacket4k), STATUS_SUCCESS);
    }
  };
  world_.OnGuest([this] {
    for (int i = 0; i < 16; ++i) ASSERT_EQ(Send(guest_, kPacket4k), STATUS_SUCCESS);
  });
  ASSERT_TRUE(RunUntil([this] { return host_.processed >= 50; }));
  world_.OnHost([this] { VmbChannelDisable(host_.channel); });
  world_.Run();

  EXPECT_EQ(world_.runtime().StateOf(guest_.channel), "disabled");
  ExpectEachCompletedOnce(guest_);
  const size_t successes = ExpectSuccessesThenFailures(guest_, STATUS_DEVICE_REMOVED);
  EXPECT_GE(successes, 34u);  // 50 processed, at most 16 of them not yet seen completed.
  EXPECT_LT(guest_.sent_payload.size(), static_cast<size_t>(kInFlight));
  EXPECT_EQ(guest_.sent_payload.size() - successes, 16u);  // The window was full when the host left.
  EXPECT_EQ(host_.completed, host_.processed);
  EXPECT_EQ(world_.runtime().live_packet_count(), 0u);
  EXPECT_EQ(world_.runtime().live_completion_count(), 0u);
  EXPECT_EQ(world_.runtime().verifier().total_count(), 0u);
}

// ---------------------------------------------------------------------------
// (c) Guest close during traffic, then the same channel enabled again.

TEST_F(TrafficTest, GuestCloseDuringTrafficThenReEnableCarriesTrafficAgain) {
  host_.mode = Side::Mode::kHoldEveryFourth;
  MakeServer(host_);
  MakeClient(guest_, {.incoming_pages = 4, .outgoing_pages = 4});
  world_.Run();
  const uint32_t relid = world_.runtime().RelidOf(guest_.channel);
  ASSERT_NE(relid, 0u);

  world_.OnGuest([this] {
    for (int i = 0; i < kInFlight; ++i) ASSERT_EQ(Send(guest_, kPacket4k), STATUS_SUCCESS);
  });
  ASSERT_TRUE(RunUntil([this] { return host_.processed >= 50; }));
  world_.OnGuest([this] { VmbChannelDisable(guest_.channel); });
  world_.Run();

  const std::vector<std::string> open_close = {"opened", "started", "post_started", "suspend", "closed"};
  EXPECT_EQ(guest_.events, open_close);
  EXPECT_EQ(host_.events, open_close);
  EXPECT_EQ(world_.runtime().StateOf(guest_.channel), "disabled");
  EXPECT_EQ(world_.runtime().StateOf(host_.channel), "peer_closed");
  ExpectEachCompletedOnce(guest_);
  EXPECT_EQ(guest_.sent_payload.size(), static_cast<size_t>(kInFlight));
  // G9 (the header's completion-routine contract): a local Disable cancels.
  const size_t successes = ExpectSuccessesThenFailures(guest_, STATUS_CANCELLED, false);
  EXPECT_GT(successes, 0u);
  EXPECT_LT(successes, static_cast<size_t>(kInFlight));
  EXPECT_EQ(host_.completed, host_.processed);
  EXPECT_TRUE(host_.held.empty());
  EXPECT_EQ(world_.runtime().live_completion_count(), 0u);
  EXPECT_EQ(world_.runtime().live_packet_count(), 0u);

  // G26: the same channel object is enabled again and reopens the offer,
  // which stood all along; the server sees the open sequence again.
  const size_t sent_before = guest_.sent_payload.size();
  host_.mode = Side::Mode::kEcho;
  world_.OnGuest([this] { ASSERT_EQ(VmbChannelEnable(guest_.channel), STATUS_SUCCESS); });
  world_.Run();
  std::vector<std::string> reopened = open_close;
  for (const char* e : {"opened", "started", "post_started"}) reopened.push_back(e);
  EXPECT_EQ(guest_.events, reopened);
  EXPECT_EQ(host_.events, reopened);
  EXPECT_EQ(world_.runtime().StateOf(guest_.channel), "open");
  EXPECT_EQ(world_.runtime().StateOf(host_.channel), "open");
  EXPECT_EQ(world_.runtime().RelidOf(guest_.channel), relid);

  const int processed_before = host_.processed;
  host_.received_ids.clear();
  guest_.record_payloads = true;
  world_.OnGuest([this] {
    for (int i = 0; i < 20; ++i) ASSERT_EQ(Send(guest_, 512), STATUS_SUCCESS);
  });
  world_.OnHost([this] {
    for (int i = 0; i < 5; ++i) ASSERT_EQ(Send(host_, 512), STATUS_SUCCESS);
  });
  world_.Run();
  EXPECT_EQ(host_.processed, processed_before + 20);
  ExpectEachCompletedOnce(guest_);
  for (uint32_t id = static_cast<uint32_t>(sent_before); id < guest_.next_id; ++id) {
    EXPECT_EQ(guest_.done_status.at(id), STATUS_SUCCESS) << id;
    EXPECT_EQ(guest_.done_payload.at(id), guest_.sent_payload.at(id)) << id;
  }
  ASSERT_EQ(guest_.received.size(), 5u);
  for (uint32_t i = 0; i < 5; ++i) EXPECT_EQ(guest_.received[i], host_.sent_payload.at(i));
  ExpectEachCompletedOnce(host_);
  EXPECT_EQ(ExpectSuccessesThenFailures(host_, STATUS_CANCELLED), 5u);
  EXPECT_EQ(world_.runtime().verifier().total_count(), 0u);
}

// ---------------------------------------------------------------------------
// (d) Ring-full backpressure.

// 1/1-data-page rings (three 1 KiB packets), a host with a
// transaction quota of 1 that completes each packet 20 us after it arrived:
// 100 sends all succeed at once, most wait in the send queue, and all
// complete, in send order.
TEST_F(TrafficTest, RingFullSendsQueueAndCompleteInSendOrder) {
  constexpr UINT32 kMax = 1024;
  constexpr int kCount = 100;
  size_t outstanding_max = 0;
  host_.mode = Side::Mode::kCustom;
  host_.on_packet = [this, &outstanding_max](Side& side, VMBPACKETCOMPLETION packet, PVOID buffer, UINT32 length) {
    side.held.push_back(Side::Held{packet, Bytes(buffer, length)});
    outstanding_max = std::max(outstanding_max, side.held.size());
    world_.sim().ScheduleAfter(sim::SimDuration::Microseconds(20), [this, &side] {
      world_.runtime().RunDispatch(0, 0, [&side] { side.CompleteHeld(); });
    });
  };
  MakeServer(host_, {.max_packet = kMax, .quota = 1});
  MakeClient(guest_, {.max_packet = kMax, .incoming_pages = 1, .outgoing_pages = 1});
  world_.Run();
  ASSERT_EQ(world_.runtime().StateOf(guest_.channel), "open");

  uint64_t queued_by_sends = 0;
  world_.OnGuest([this, &queued_by_sends] {
    const uint64_t before = world_.runtime().counters().packets_queued;
    for (int i = 0; i < kCount; ++i) ASSERT_EQ(Send(guest_, kMax), STATUS_SUCCESS);
    queued_by_sends = world_.runtime().counters().packets_queued - before;
  });
  world_.Run();

  EXPECT_GE(queued_by_sends, static_cast<uint64_t>(kCount - 3));  // Only three fit the ring.
  EXPECT_GT(world_.runtime().counters().quota_stalls, 0u);
  EXPECT_EQ(outstanding_max, 1u);
  ExpectEachCompletedOnce(guest_);
  EXPECT_EQ(ExpectSuccessesThenFailures(guest_, STATUS_CANCELLED), static_cast<size_t>(kCount));
  std::vector<uint32_t> in_order(kCount);
  for (uint32_t i = 0; i < kCount; ++i) in_order[i] = i;
  EXPECT_EQ(guest_.done_order, in_order);
  EXPECT_EQ(host_.received_ids, in_order);
  EXPECT_EQ(world_.runtime().live_packet_count(), 0u);
  EXPECT_EQ(world_.runtime().verifier().total_count(), 0u);
}

// ---------------------------------------------------------------------------
// (e) Server save / restore (spec §6.9, §7.7).

constexpr uint32_t kSaved = 20;
constexpr UINT32 kSavedSize = 512;

struct SaveLog {
  int first_calls = 0;   // SaveBufSize == 0.
  int second_calls = 0;  // With a buffer.
  int restores = 0;
  std::vector<uint32_t> restored_ids;
  std::vector<NTSTATUS> restore_statuses;
  Side* restore_side = nullptr;
};
SaveLog* g_save_log = nullptr;

// The VSP's own per-packet state is the packet's id (8 bytes), saved with
// the two-call protocol.
NTSTATUS SavePacket(VMBCHANNEL, VMBPACKET packet, PVOID buffer, UINT32 size, PUINT32 needed) {
  *needed = 8;
  if (size == 0) {
    ++g_save_log->first_calls;
    return STATUS_BUFFER_TOO_SMALL;
  }
  ++g_save_log->second_calls;
  if (size < 8) return STATUS_BUFFER_TOO_SMALL;
  const uint64_t id = static_cast<Side::Tag*>(VmbPacketGetPointer(packet))->id;
  std::memcpy(buffer, &id, 8);
  return STATUS_SUCCESS;
}

NTSTATUS RestorePacket(VMBCHANNEL channel, PVOID lib, UINT32 lib_size, PVOID save, UINT32 save_size) {
  ++g_save_log->restores;
  uint64_t id = ~0ull;
  if (save_size == 8) std::memcpy(&id, save, 8);
  Side& side = *g_save_log->restore_side;
  VMBPACKET packet = VmbPacketAllocate(channel);
  if (packet == nullptr) return STATUS_INSUFFICIENT_RESOURCES;
  side.tags.push_back(Side::Tag{&side, static_cast<uint32_t>(id)});
  VmbPacketSetPointer(packet, &side.tags.back());
  VmbPacketSetCompletionRoutine(packet, OnSendDone);
  const NTSTATUS status = VmbPacketRestore(packet, lib, lib_size);
  g_save_log->restore_statuses.push_back(status);
  g_save_log->restored_ids.push_back(static_cast<uint32_t>(id));
  if (status != STATUS_SUCCESS) VmbPacketFree(packet);
  return status;
}

class SaveRestoreTest : public TrafficTest {
 protected:
  SaveRestoreTest() { g_save_log = &log_; }
  ~SaveRestoreTest() override { g_save_log = nullptr; }

  // One whole save of `channel`: a 4-byte buffer first (too small for the
  // header chunk), then 1200-byte buffers, with one too-small probe after
  // the first part. Returns each call's output.
  std::vector<std::vector<uint8_t>> SaveAll(VMBCHANNEL channel) {
    std::vector<std::vector<uint8_t>> parts;
    EXPECT_EQ(VmbChannelSaveBegin(channel), STATUS_SUCCESS);
    std::vector<uint8_t> buffer(1200);
    ULONG filled = 99;
    ULONG required = 0;
    EXPECT_EQ(VmbChannelSaveContinue(channel, buffer.data(), 4, &filled, &required), STATUS_BUFFER_TOO_SMALL);
    EXPECT_EQ(filled, 0u);
    EXPECT_EQ(required, 20u);  // The header chunk: 8 + three u32.
    bool probed = false;
    for (int call = 0; call < 100; ++call) {
      filled = 0;
      required = 0;
      const NTSTATUS status =
          VmbChannelSaveContinue(channel, buffer.data(), static_cast<ULONG>(buffer.size()), &filled, &required);
      if (status != STATUS_SUCCESS && status != STATUS_BUFFER_OVERFLOW) {
        ADD_FAILURE() << "VmbChannelSaveContinue: 0x" << std::hex << status;
        break;
      }
      EXPECT_GT(filled, 0u);
      parts.emplace_back(buffer.begin(), buffer.begin() + filled);
      if (status == STATUS_SUCCESS) break;
      EXPECT_GT(required, 0u);
      if (!probed) {
        // Too small for the next chunk: nothing written, the same requirement.
        probed = true;
        const ULONG next = required;
        EXPECT_EQ(VmbChannelSaveContinue(channel, buffer.data(), next - 1, &filled, &required),
                  STATUS_BUFFER_TOO_SMALL);
        EXPECT_EQ(filled, 0u);
        EXPECT_EQ(required, next);
      }
    }
    VmbChannelSaveEnd(channel);
    return parts;
  }

  SaveLog log_;
};

// The guest pauses its channel (stops draining); the server sends 20
// requests (seven fit the ring, the rest queue), pauses, and is saved twice
// (identical bytes, identical chunk boundaries). A fresh server channel is
// restored from the parts, the old one is disabled (the guest sees a
// rescind), the new one is enabled and the guest enables again: it receives
// the 20 requests, same payloads, same order, and the restored packets'
// completion routines run with the echoes.
TEST_F(SaveRestoreTest, SavedPacketsArriveFromTheRestoredChannelInOrder) {
  constexpr UINT32 kMax = 1024;
  guest_.record_payloads = true;
  MakeServer(host_, {.max_packet = kMax, .save = SavePacket, .restore = RestorePacket});
  MakeClient(guest_, {.max_packet = kMax, .incoming_pages = 1, .outgoing_pages = 1});
  world_.Run();
  ASSERT_EQ(world_.runtime().StateOf(guest_.channel), "open");
  world_.OnGuest([this] { VmbChannelPause(guest_.channel); });
  world_.Run();

  world_.OnHost([this] {
    for (uint32_t i = 0; i < kSaved; ++i) ASSERT_EQ(Send(host_, kSavedSize), STATUS_SUCCESS);
  });
  world_.Run();
  EXPECT_EQ(guest_.processed, 0);
  EXPECT_TRUE(host_.done_order.empty());
  EXPECT_GT(world_.runtime().counters().packets_queued, 0u);

  std::vector<std::vector<uint8_t>> first;
  std::vector<std::vector<uint8_t>> second;
  world_.OnHost([&] {
    VmbChannelPause(host_.channel);
    first = SaveAll(host_.channel);
    second = SaveAll(host_.channel);
  });
  world_.Run();
  ASSERT_GE(first.size(), 2u);
  EXPECT_EQ(first, second);  // Same bytes, same chunk boundaries.
  EXPECT_EQ(log_.first_calls, 2 * static_cast<int>(kSaved));
  EXPECT_EQ(log_.second_calls, 2 * static_cast<int>(kSaved));
  EXPECT_EQ(host_.events, (std::vector<std::string>{"opened", "started", "post_started", "suspend"}));

  // Restore into a fresh, configured, not yet enabled server channel.
  Side restored;
  restored.seed = host_.seed;
  log_.restore_side = &restored;
  std::vector<NTSTATUS> restore_results;
  world_.OnHost([&] {
    ServerConfig config{.max_packet = kMax, .save = SavePacket, .restore = RestorePacket, .enable = false};
    ConfigureServer(restored, config);
    for (const std::vector<uint8_t>& part : first) {
      restore_results.push_back(VmbChannelRestoreFromBuffer(restored.channel, const_cast<uint8_t*>(part.data()),
                                                            static_cast<ULONG>(part.size())));
    }
  });
  world_.Run();
  ASSERT_EQ(restore_results.size(), first.size());
  for (size_t i = 0; i + 1 < restore_results.size(); ++i) {
    EXPECT_EQ(restore_results[i], STATUS_MORE_PROCESSING_REQUIRED) << i;
  }
  EXPECT_EQ(restore_results.back(), STATUS_SUCCESS);
  EXPECT_EQ(log_.restores, static_cast<int>(kSaved));
  std::vector<uint32_t> in_order(kSaved);
  for (uint32_t i = 0; i < kSaved; ++i) in_order[i] = i;
  EXPECT_EQ(log_.restored_ids, in_order);
  EXPECT_EQ(log_.restore_statuses, std::vector<NTSTATUS>(kSaved, STATUS_SUCCESS));
  EXPECT_EQ(world_.runtime().live_packet_count(), 2u * kSaved);  // The old channel's and the restored ones.

  // The old channel goes away: its transactions are cancelled, once each.
  world_.OnHost([this] {
    VmbChannelDisable(host_.channel);
    VmbChannelCleanup(host_.channel);
  });
  world_.Run();
  ExpectEachCompletedOnce(host_);
  EXPECT_EQ(ExpectSuccessesThenFailures(host_, STATUS_CANCELLED), 0u);
  EXPECT_EQ(world_.runtime().StateOf(guest_.channel), "disabled");
  EXPECT_EQ(guest_.processed, 0);

  // The restored channel is offered; the guest enables again and receives
  // the saved requests.
  world_.OnHost([&] {
    ASSERT_EQ(VmbChannelEnable(restored.channel), STATUS_SUCCESS);
    VmbChannelStart(restored.channel);
  });
  world_.Run();
  world_.OnGuest([this] { ASSERT_EQ(VmbChannelEnable(guest_.channel), STATUS_SUCCESS); });
  world_.Run();
  EXPECT_EQ(world_.runtime().StateOf(restored.channel), "open");
  EXPECT_EQ(restored.events, (std::vector<std::string>{"opened", "started", "post_started"}));
  ASSERT_EQ(guest_.received.size(), static_cast<size_t>(kSaved));
  for (uint32_t i = 0; i < kSaved; ++i) EXPECT_EQ(guest_.received[i], host_.sent_payload.at(i)) << i;
  // Completion routines of the restored packets: the VSP's restored ids, in
  // order, each with its echo.
  EXPECT_EQ(restored.done_order, in_order);
  for (uint32_t i = 0; i < kSaved; ++i) {
    EXPECT_EQ(restored.done_count.at(i), 1) << i;
    EXPECT_EQ(restored.done_status.at(i), STATUS_SUCCESS) << i;
    EXPECT_EQ(restored.done_payload.at(i), host_.sent_payload.at(i)) << i;
  }
  EXPECT_EQ(world_.runtime().live_packet_count(), 0u);
  EXPECT_EQ(world_.runtime().verifier().total_count(), 0u);
}

}  // namespace
}  // namespace vmbsim::kmcl
