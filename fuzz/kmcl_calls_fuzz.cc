// kmcl_calls_fuzz.cc
//
// Goal: any sequence of KMCL calls a driver can make through the C header,
// in any order and with any arguments (stale handles included), on a live
// fabric, ends in NTSTATUS results and verifier findings, never an abort, a
// sanitizer report or a hang. Method: a small interpreter turns the input
// into calls. Each operation names an endpoint (host = server, guest =
// client; up to kChannelsMax channels each), runs as PASSIVE driver code on
// that endpoint's partition (sometimes on the other one: a foreign handle),
// and then simulated time runs for a span the input chooses. Callbacks
// record what they saw; ProcessPacket keeps or completes its packet as the
// input says, and later operations may complete, fail or defer the packets
// kept. Handles are only ever ones the API returned, possibly freed since.
//
// Input: [world config u8] then repeated [op u8][where u8][operands: 8 bytes].
// The operands are copied when the operation is queued, since it runs as
// driver code later, from the run loop.

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <vector>

#include "fuzz/fuzz_input.h"
#include "kmcl/testing/kmcl_world.h"
#include "sim/core/simulator.h"
#include "vmbuskernelmodeclientlibapi.h"

namespace vmbsim::fuzz {
namespace {

constexpr int kOpsMax = 48;
constexpr size_t kChannelsMax = 3;  // Per side.
constexpr size_t kPacketsMax = 8;
constexpr size_t kHeldMax = 16;
constexpr UINT32 kPayloadBytesMax = 9000;  // Past the default maximum packet size.

constexpr GUID kTypes[] = {
    {0xf0220001, 0x1, 0x2, {1, 2, 3, 4, 5, 6, 7, 8}},
    {0xf0220002, 0x1, 0x2, {1, 2, 3, 4, 5, 6, 7, 8}},
};
constexpr GUID kInstances[] = {
    {0xf022000a, 0x3, 0x4, {8, 7, 6, 5, 4, 3, 2, 1}},
    {0xf022000b, 0x3, 0x4, {8, 7, 6, 5, 4, 3, 2, 1}},
};

// What the callbacks act on: one interpreter runs at a time.
struct Interpreter {
  std::array<std::vector<VMBCHANNEL>, 2> channels;  // [0] host, [1] guest.
  std::array<std::vector<VMBPACKET>, 2> packets;
  std::vector<VMBPACKETCOMPLETION> held;  // Received, not yet completed by us.
  uint8_t packet_policy = 0;              // Bits: complete in ProcessPacket, free in completion.
  uint64_t callbacks = 0;
};
Interpreter* g_interpreter = nullptr;

NTSTATUS OnOpened(VMBCHANNEL) {
  if (g_interpreter == nullptr) return STATUS_SUCCESS;
  ++g_interpreter->callbacks;
  return (g_interpreter->packet_policy & 0x80) != 0 ? STATUS_UNSUCCESSFUL : STATUS_SUCCESS;
}
VOID OnStateChange(VMBCHANNEL) {
  if (g_interpreter != nullptr) ++g_interpreter->callbacks;
}

VOID OnPacket(VMBCHANNEL, VMBPACKETCOMPLETION packet, PVOID buffer, UINT32 length, UINT32) {
  if (g_interpreter == nullptr) {
    VmbChannelPacketFail(packet);
    return;
  }
  Interpreter& state = *g_interpreter;
  ++state.callbacks;
  switch (state.packet_policy & 3) {
    case 0:
      VmbChannelPacketComplete(packet, buffer, length);
      break;
    case 1:
      VmbChannelPacketComplete(packet, nullptr, 0);
      break;
    default:
      if (state.held.size() < kHeldMax) {
        state.held.push_back(packet);
      } else {
        VmbChannelPacketFail(packet);
      }
      break;
  }
}

VOID OnBatch(VMBCHANNEL, UINT32) {
  if (g_interpreter != nullptr) ++g_interpreter->callbacks;
}

VOID OnSendDone(VMBPACKET packet, NTSTATUS, PVOID, UINT32) {
  if (g_interpreter == nullptr) return;
  ++g_interpreter->callbacks;
  if ((g_interpreter->packet_policy & 4) != 0) VmbPacketFree(packet);
}

template <typename T>
T Pick(const std::vector<T>& items, FuzzInput& in) {
  const uint8_t choice = in.U8();
  if (items.empty() || choice == 0xFF) return nullptr;  // NULL is a handle a driver may pass.
  return items[choice % items.size()];
}

// One operation on `side`'s objects, as driver code on that side.
void Execute(uint8_t op, int side, FuzzInput& in, kmcl::testing::KmclWorld& world) {
  Interpreter& state = *g_interpreter;
  const bool server = side == 0;
  switch (op % 20) {
    case 0: {  // Allocate and configure fully: the common path to an open channel.
      if (state.channels[side].size() >= kChannelsMax) break;
      VMBCHANNEL channel = nullptr;
      PDEVICE_OBJECT device = server ? world.host_device() : world.guest_device();
      if (VmbChannelAllocate(device, server, &channel) != STATUS_SUCCESS) break;
      state.channels[side].push_back(channel);
      const size_t which = in.Below(2);
      if (server) {
        (void)VmbServerChannelInitSetVmbusHandle(channel, world.vmbus_handle());
        (void)VmbServerChannelInitSetTargetInterfaceId(channel, kTypes[which], kInstances[which]);
      } else {
        (void)VmbClientChannelInitSetRingBufferPageCount(channel, 1 + in.Below(16), 1 + in.Below(16));
        (void)VmbClientChannelInitSetTargetPnp(channel, &kTypes[which], &kInstances[which], nullptr);
      }
      VMB_CHANNEL_STATE_CHANGE_CALLBACKS callbacks;
      VMB_CHANNEL_STATE_CHANGE_CALLBACKS_INIT(&callbacks);
      callbacks.EvtChannelOpened = OnOpened;
      callbacks.EvtChannelClosed = OnStateChange;
      callbacks.EvtChannelSuspend = OnStateChange;
      callbacks.EvtChannelStarted = OnStateChange;
      callbacks.EvtChannelPostStarted = OnStateChange;
      (void)VmbChannelInitSetStateChangeCallbacks(channel, &callbacks);
      (void)VmbChannelInitSetProcessPacketCallbacks(channel, OnPacket, OnBatch);
      if (in.Bool()) (void)VmbChannelEnable(channel);
      break;
    }
    case 1:  // A bare allocation, configured (or not) by later operations.
      if (state.channels[side].size() < kChannelsMax) {
        VMBCHANNEL channel = nullptr;
        if (VmbChannelAllocate(server ? world.host_device() : world.guest_device(), in.Bool(), &channel) ==
            STATUS_SUCCESS) {
          state.channels[side].push_back(channel);
        }
      }
      break;
    case 2:
      (void)VmbChannelInitSetMaximumPacketSize(Pick(state.channels[side], in), in.U32() % 0x20000);
      break;
    case 3:
      (void)VmbClientChannelInitSetRingBufferPageCount(Pick(state.channels[side], in), in.U16(), in.U16());
      break;
    case 4:
      (void)VmbChannelEnable(Pick(state.channels[side], in));
      break;
    case 5:
      VmbChannelStart(Pick(state.channels[side], in));
      break;
    case 6:
      VmbChannelDisable(Pick(state.channels[side], in));
      break;
    case 7:
      VmbChannelCleanup(Pick(state.channels[side], in));  // The handle stays: later calls use it stale.
      break;
    case 8:
      if (state.packets[side].size() < kPacketsMax) {
        if (VMBPACKET packet = VmbPacketAllocate(Pick(state.channels[side], in))) {
          VmbPacketSetCompletionRoutine(packet, OnSendDone);
          state.packets[side].push_back(packet);
        }
      }
      break;
    case 9: {
      VMBPACKET packet = Pick(state.packets[side], in);
      const UINT32 length = in.U16() % (kPayloadBytesMax + 1);
      const UINT32 flags = in.U8() & 0x0F;  // The three defined flags and one undefined.
      std::vector<uint8_t> payload(length, 0x5A);
      (void)VmbPacketSend(packet, length == 0 ? nullptr : payload.data(), length, nullptr, flags);
      break;
    }
    case 10:
      VmbPacketFree(Pick(state.packets[side], in));
      break;
    case 11:
    case 12: {  // Complete, fail or defer a kept packet (perhaps again).
      if (state.held.empty()) break;
      const size_t index = in.Below(static_cast<uint32_t>(state.held.size()));
      VMBPACKETCOMPLETION packet = state.held[index];
      const uint8_t how = in.U8();
      if (how % 3 == 0) {
        std::vector<uint8_t> reply(in.U16() % 5000, 0xA5);
        VmbChannelPacketComplete(packet, reply.empty() ? nullptr : reply.data(), static_cast<UINT32>(reply.size()));
      } else if (how % 3 == 1) {
        VmbChannelPacketFail(packet);
      } else {
        VmbChannelPacketDeferToPassive(packet);
      }
      if ((how & 0x80) == 0) state.held.erase(state.held.begin() + static_cast<std::ptrdiff_t>(index));
      break;
    }
    case 13:
      VmbChannelSetTransactionQuota(Pick(state.channels[side], in), in.U16());
      break;
    case 14:
      VmbChannelSetIncomingProcessingAtPassive(Pick(state.channels[side], in), in.Bool());
      break;
    case 15: {
      UINT16 original = 0;
      (void)VmbChannelSetInterruptLatency(Pick(state.channels[side], in), in.U16(), &original);
      break;
    }
    case 16:
      VmbChannelPause(Pick(state.channels[side], in));
      break;
    case 17: {
      VMBCHANNEL channel = Pick(state.channels[side], in);
      std::vector<uint8_t> request(in.U16() % 2048, 0x3C);
      UINT32 reply_size = (in.U16() % 1024) & ~7u;
      std::vector<uint8_t> reply(reply_size);
      LARGE_INTEGER timeout;
      timeout.QuadPart = -static_cast<LONGLONG>(1 + in.U16()) * 100;  // Relative, 100 ns units.
      (void)VmbChannelSendSynchronousRequest(channel, request.empty() ? nullptr : request.data(),
                                             static_cast<UINT32>(request.size()), nullptr,
                                             VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION,
                                             reply.empty() ? nullptr : reply.data(), &reply_size,
                                             in.Bool() ? &timeout : nullptr);
      break;
    }
    case 18:
      (void)VmbChannelSizeofPacket(Pick(state.channels[side], in));
      (void)VmbChannelGetPointer(Pick(state.channels[side], in));
      break;
    default:
      state.packet_policy = in.U8();
      break;
  }
}

constexpr size_t kOperandBytes = 8;

void Interpret(FuzzInput& in) {
  // The state outlives the world: tearing the world down may still call back.
  Interpreter state;
  g_interpreter = &state;
  kmcl::testing::WorldOptions options;
  options.zero_costs = in.Bool();
  kmcl::testing::KmclWorld world(options);
  for (int step = 0; step < kOpsMax && !in.empty(); ++step) {
    const uint8_t op = in.U8();
    const uint8_t where = in.U8();
    const int side = where & 1;
    const bool foreign = (where & 0x0E) == 0x0E;  // One time in eight: the other partition's code.
    const bool on_host = (side == 0) != foreign;
    std::array<uint8_t, kOperandBytes> operands = {};
    const absl::Span<const uint8_t> taken = in.Bytes(kOperandBytes);
    std::copy(taken.begin(), taken.end(), operands.begin());
    std::function<void()> body = [op, side, operands, &world] {
      FuzzInput operand_input(operands.data(), operands.size());
      Execute(op, side, operand_input, world);
    };
    if (on_host) {
      world.OnHost(std::move(body));
    } else {
      world.OnGuest(std::move(body));
    }
    // 0 .. 2.5 ms of simulated time between calls; a blocked call resumes in it or later.
    world.Run(sim::SimDuration::Nanoseconds(int64_t{where >> 4} * 160'000));
  }
  world.Run(sim::SimDuration::Milliseconds(50));
  // Unload, as a driver does: complete the packets it still holds (a
  // Disable waits for them, and so does a peer's synchronous request
  // waiting on that channel), then disable and clean up every channel on
  // its own side. Each blocked call must then return (a request waiting on a
  // closed channel is failed), so that no fiber is abandoned mid-call: the
  // simulator frees an abandoned fiber's stack without unwinding it, and
  // LeakSanitizer would report what its frames owned. A completion goes by
  // handle, so host code completes the packets of both sides; one already
  // completed (cases 11 and 12 may keep it) is a double completion, reported.
  std::vector<VMBPACKETCOMPLETION> held;
  held.swap(state.held);
  for (VMBPACKETCOMPLETION packet : held) {
    world.OnHost([packet] { VmbChannelPacketComplete(packet, nullptr, 0); });
    world.Run(sim::SimDuration::Milliseconds(1));
  }
  for (int side = 0; side < 2; ++side) {
    for (VMBCHANNEL channel : state.channels[side]) {
      std::function<void()> unload = [channel] {
        VmbChannelDisable(channel);
        VmbChannelCleanup(channel);
      };
      if (side == 0) {
        world.OnHost(std::move(unload));
      } else {
        world.OnGuest(std::move(unload));
      }
      world.Run(sim::SimDuration::Milliseconds(100));
    }
  }
  world.Run(sim::SimDuration::Seconds(1));
}

}  // namespace
}  // namespace vmbsim::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vmbsim::fuzz::FuzzInput in(data, size);
  vmbsim::fuzz::Interpret(in);
  vmbsim::fuzz::g_interpreter = nullptr;
  return 0;
}
