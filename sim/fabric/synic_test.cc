// Goal: the SynIC model keeps the VMBus contracts of spec 3.1-3.3: event
// flags coalesce until the guest clears them, the SINT-2 message slot
// delivers one message at a time in order under the EOM handshake, message
// ports refuse the post that would exceed their buffers, and every latency
// is the CostModel's, to the nanosecond. Method: a real Simulator with a
// guest partition (2 VPs) and a host partition (1 VP); the guest ISR follows
// the spec's order (flags, then slot) and records what it saw and when.
// Invariants are checked after every event; timing tests run with the
// default and the zero cost model.
#include "sim/fabric/synic.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "sim/core/sim_time.h"
#include "sim/core/simulator.h"
#include "sim/core/trace.h"
#include "sim/fabric/channel_messages.h"
#include "sim/fabric/cost_model.h"
#include "sim/fabric/trace_kinds.h"
#include "sim/fabric/virtual_processor.h"

namespace vmbsim::fabric {
namespace {

using sim::SimDuration;
using sim::SimTime;

constexpr uint16_t kHostPartition = 0;
constexpr uint16_t kGuestPartition = 1;
constexpr uint32_t kChannelConnectionId = 0x2001;  // OpenVMM form: channel 1, SINT 2, VTL 0.

SimTime At(int64_t ns) { return SimTime::FromNanoseconds(ns); }

// What one run of the guest ISR saw.
struct IsrRecord {
  int64_t start_ns = 0;  // When the ISR work item started (before isr_dispatch).
  int64_t local_ns = 0;  // The VP's clock when the handler ran.
  uint32_t vp_index = 0;
  std::vector<uint32_t> flags;
  std::optional<std::vector<uint8_t>> message;
  bool msg_pending = false;
  size_t queued_after_read = 0;
};

struct World {
  explicit World(const CostModel& cost_model) : costs(cost_model) {
    sim.tracer().AddSink(&trace);
    sim.SetAfterEventHook([this] {
      guest.CheckInvariants();
      host.CheckInvariants();
    });
  }

  // Installs a guest ISR in the spec's order: take the event flags, then
  // read the message slot; with `eom`, charge `eom_after` and end the message.
  void InstallGuestIsr(bool eom, SimDuration eom_after = SimDuration::Zero()) {
    guest.SetInterruptHandler([this, eom, eom_after](uint32_t vp_index) {
      VirtualProcessor& vp = *guest_vps[vp_index];
      IsrRecord record;
      record.start_ns = sim.Now().nanoseconds();
      record.local_ns = vp.LocalNow().nanoseconds();
      record.vp_index = vp_index;
      const Synic::EventFlagList flags = guest.TakeEventFlags(vp_index).value();
      record.flags.assign(flags.begin(), flags.end());
      const HvMessageHeader header = guest.ReadMessageHeader(vp_index).value();
      record.message = guest.ReadMessageSlot(vp_index).value();
      record.msg_pending = (header.message_flags & kHvMessageFlagPending) != 0;
      record.queued_after_read = guest.QueuedMessageCount(vp_index).value();
      isrs.push_back(record);
      if (eom && record.message.has_value()) {
        vp.Charge(eom_after);
        EXPECT_TRUE(guest.EndOfMessage(vp_index).ok());
      }
    });
  }

  std::vector<sim::TraceRecord> RecordsOfKind(FabricTraceKind kind) const {
    std::vector<sim::TraceRecord> out;
    for (const sim::TraceRecord& record : trace.records()) {
      if (record.kind == TraceKind(kind)) out.push_back(record);
    }
    return out;
  }

  const CostModel costs;
  sim::Simulator sim{{.seed = 7}};
  sim::RecordingTraceSink trace;
  VirtualProcessor guest_vp0{&sim, kGuestPartition, 0};
  VirtualProcessor guest_vp1{&sim, kGuestPartition, 1};
  VirtualProcessor host_vp0{&sim, kHostPartition, 0};
  std::vector<VirtualProcessor*> guest_vps{&guest_vp0, &guest_vp1};
  Synic guest{&sim, &costs, kGuestPartition, guest_vps};
  Synic host{&sim, &costs, kHostPartition, std::vector<VirtualProcessor*>{&host_vp0}};
  std::vector<IsrRecord> isrs;
};

// A VP work item that calls `fn(world)`; work items hold 24 bytes, so the
// callable lives in the test.
template <typename Fn>
void RunOnVp(World& w, VirtualProcessor& vp, Irql level, SimDuration cost, Fn* fn) {
  vp.Queue(level, cost, [&w, fn] { (*fn)(w); });
}

// ---------------------------------------------------------------------------
// Event flags.

TEST(SynicTest, SignalsBeforeTheHandlerClearsCoalesceIntoOneInterrupt) {
  World w(CostModel::Default());
  w.InstallGuestIsr(/*eom=*/true);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(w.guest.SignalEvent(1, 9).ok());
  w.sim.Run({});
  ASSERT_EQ(w.isrs.size(), 1u);
  EXPECT_EQ(w.isrs[0].vp_index, 1u);
  EXPECT_EQ(w.isrs[0].flags, std::vector<uint32_t>{9});
  EXPECT_EQ(w.guest.counters().signals, 5u);
  EXPECT_EQ(w.guest.counters().signals_coalesced, 4u);
  EXPECT_EQ(w.guest.counters().interrupts, 1u);

  // The handler cleared the bit, so the next signal interrupts again.
  ASSERT_TRUE(w.guest.SignalEvent(1, 9).ok());
  w.sim.Run({});
  ASSERT_EQ(w.isrs.size(), 2u);
  EXPECT_EQ(w.isrs[1].flags, std::vector<uint32_t>{9});
  EXPECT_EQ(w.guest.counters().interrupts, 2u);
  EXPECT_EQ(w.guest.counters().signals_coalesced, 4u);
}

// Goal: coalescing lasts until the guest clears the bit, not until the
// interrupt: a handler that leaves the bit set sees no second interrupt.
TEST(SynicTest, BitLeftSetByTheHandlerKeepsCoalescingUntilCleared) {
  World w(CostModel::Default());
  int interrupts = 0;
  w.guest.SetInterruptHandler([&](uint32_t) { ++interrupts; });  // Clears nothing.
  ASSERT_TRUE(w.guest.SignalEvent(0, 42).ok());
  w.sim.Run({});
  ASSERT_TRUE(w.guest.SignalEvent(0, 42).ok());
  w.sim.Run({});
  EXPECT_EQ(interrupts, 1);
  EXPECT_EQ(w.guest.counters().signals_coalesced, 1u);
  EXPECT_EQ(w.guest.TestAndClearFlag(0, 42).value(), true);
  EXPECT_EQ(w.guest.TestAndClearFlag(0, 42).value(), false);
  ASSERT_TRUE(w.guest.SignalEvent(0, 42).ok());
  w.sim.Run({});
  EXPECT_EQ(interrupts, 2);
}

TEST(SynicTest, DistinctFlagsBeforeTheHandlerShareOneInterrupt) {
  World w(CostModel::Default());
  w.InstallGuestIsr(/*eom=*/true);
  ASSERT_TRUE(w.guest.SignalEvent(0, 2047).ok());
  ASSERT_TRUE(w.guest.SignalEvent(0, 1).ok());
  ASSERT_TRUE(w.guest.SignalEvent(0, 64).ok());
  w.sim.Run({});
  ASSERT_EQ(w.isrs.size(), 1u);
  EXPECT_EQ(w.isrs[0].flags, (std::vector<uint32_t>{1, 64, 2047}));  // Ascending.
  EXPECT_EQ(w.guest.counters().sint_raises, 3u);
  EXPECT_EQ(w.guest.counters().sint_raises_merged, 2u);
}

TEST(SynicTest, MaskedSintDropsSignalsAndHoldsMessages) {
  World w(CostModel::Default());
  w.InstallGuestIsr(/*eom=*/true);
  ASSERT_TRUE(w.guest.SetSintMasked(0, true).ok());
  EXPECT_TRUE(w.guest.SintMasked(0).value());
  ASSERT_TRUE(w.guest.SignalEvent(0, 3).ok());
  ASSERT_TRUE(w.guest.DeliverMessage(0, std::vector<uint8_t>{0xAB}).ok());
  w.sim.Run({});
  EXPECT_TRUE(w.isrs.empty());
  EXPECT_EQ(w.guest.counters().signals, 1u);
  EXPECT_EQ(w.guest.counters().signals_dropped_masked, 1u);
  EXPECT_EQ(w.guest.counters().interrupts, 0u);
  EXPECT_FALSE(w.guest.TestAndClearFlag(0, 3).value());  // Dropped, not latched.
  EXPECT_EQ(w.guest.ReadMessageHeader(0).value().message_type, kHvMessageTypeNone);
  EXPECT_EQ(w.guest.QueuedMessageCount(0).value(), 1u);
  ASSERT_EQ(w.RecordsOfKind(FabricTraceKind::kSignalDropped).size(), 1u);

  // Unmasking at 50 us writes the held message after simp_delivery; the VP
  // is halted, so the interrupt also pays the wake-up.
  w.sim.ScheduleAt(At(50000), [&w] { ASSERT_TRUE(w.guest.SetSintMasked(0, false).ok()); });
  w.sim.Run({});
  ASSERT_EQ(w.isrs.size(), 1u);
  EXPECT_EQ(w.isrs[0].local_ns, 50000 + 3000 + 20000 + 2000);
  EXPECT_EQ(w.isrs[0].message, std::vector<uint8_t>{0xAB});
  EXPECT_TRUE(w.isrs[0].flags.empty());
  ASSERT_TRUE(w.guest.SignalEvent(0, 3).ok());
  w.sim.Run({});
  ASSERT_EQ(w.isrs.size(), 2u);
  EXPECT_EQ(w.isrs[1].flags, std::vector<uint32_t>{3});
}

// ---------------------------------------------------------------------------
// Timing, with both cost models. Expected times are literals: each is the
// sum the header documents, worked out in the comment beside it.

struct TimingCase {
  std::string name;
  CostModel costs;
  int64_t idle_handler_ns;        // Signal at 0 to a halted VP.
  int64_t running_handler_ns;     // Signal at 1 us to a VP busy until 2 us.
  int64_t hypercall_handler_ns;   // HvSignalEvent from a host VP at 0.
  int64_t message_write_ns[3];    // Three messages sent at 0; ISR charges 5 us, then EOM.
  int64_t message_handler_ns[3];
};

class SynicTimingTest : public ::testing::TestWithParam<TimingCase> {};

TEST_P(SynicTimingTest, SignalToAHaltedVpPaysTheWakeUp) {
  World w(GetParam().costs);
  w.InstallGuestIsr(/*eom=*/true);
  ASSERT_TRUE(w.guest.SignalEvent(1, 5).ok());
  w.sim.Run({});
  ASSERT_EQ(w.isrs.size(), 1u);
  EXPECT_EQ(w.isrs[0].local_ns, GetParam().idle_handler_ns);
  EXPECT_EQ(w.isrs[0].start_ns + GetParam().costs.isr_dispatch.nanoseconds(), w.isrs[0].local_ns);
  // The trace carries the same times.
  const std::vector<sim::TraceRecord> raises = w.RecordsOfKind(FabricTraceKind::kSintRaise);
  ASSERT_EQ(raises.size(), 1u);
  EXPECT_EQ(raises[0].time, At(0));
  EXPECT_EQ(raises[0].size0, static_cast<uint64_t>(w.isrs[0].start_ns));
  const std::vector<sim::TraceRecord> interrupts = w.RecordsOfKind(FabricTraceKind::kInterrupt);
  ASSERT_EQ(interrupts.size(), 1u);
  EXPECT_EQ(interrupts[0].time, At(GetParam().idle_handler_ns));
  EXPECT_EQ(interrupts[0].partition, kGuestPartition);
  EXPECT_EQ(interrupts[0].vp, 1u);
  EXPECT_EQ(interrupts[0].id0, kVmbusSint);
  // Counted on the VP that ran it.
  EXPECT_EQ(w.guest.interrupts_on(0), 0u);
  EXPECT_EQ(w.guest.interrupts_on(1), 1u);
  EXPECT_EQ(w.guest.counters().interrupts, 1u);
}

TEST_P(SynicTimingTest, SignalToARunningVpPaysNoWakeUp) {
  World w(GetParam().costs);
  w.InstallGuestIsr(/*eom=*/true);
  // VP 1 is busy from 0 to 2 us, so it is not halted when the signal comes
  // at 1 us.
  w.guest_vp1.Queue(Irql::kPassive, SimDuration::Nanoseconds(2000), [] {});
  w.sim.ScheduleAt(At(1000), [&w] { ASSERT_TRUE(w.guest.SignalEvent(1, 5).ok()); });
  w.sim.Run({});
  ASSERT_EQ(w.isrs.size(), 1u);
  EXPECT_EQ(w.isrs[0].local_ns, GetParam().running_handler_ns);
}

// Without preemption the interrupt waits for the PASSIVE item to end.
TEST(SynicTimingNoPreemptionTest, AnInterruptWaitsForTheRunningItem) {
  World w(CostModel::Zero());
  w.guest_vp1.set_preemption(Preemption::kNone);
  w.InstallGuestIsr(/*eom=*/true);
  w.guest_vp1.Queue(Irql::kPassive, SimDuration::Nanoseconds(2000), [] {});
  w.sim.ScheduleAt(At(1000), [&w] { ASSERT_TRUE(w.guest.SignalEvent(1, 5).ok()); });
  w.sim.Run({});
  ASSERT_EQ(w.isrs.size(), 1u);
  EXPECT_EQ(w.isrs[0].local_ns, 2000);
}

TEST_P(SynicTimingTest, SignalEventHypercallChargesTheSenderAndSetsAtItsClock) {
  World w(GetParam().costs);
  w.InstallGuestIsr(/*eom=*/true);
  ASSERT_TRUE(w.guest.BindEventConnection(kChannelConnectionId, 1, 5).ok());
  int64_t sender_clock_after_ns = -1;
  auto send = [&sender_clock_after_ns](World& world) {
    EXPECT_EQ(SignalEventHypercall(world.guest, world.host_vp0, kChannelConnectionId),
              HvStatus::kSuccess);
    sender_clock_after_ns = world.host_vp0.LocalNow().nanoseconds();
  };
  RunOnVp(w, w.host_vp0, Irql::kDispatch, SimDuration::Zero(), &send);
  w.sim.Run({});
  EXPECT_EQ(sender_clock_after_ns, GetParam().costs.hypercall_signal_event.nanoseconds());
  ASSERT_EQ(w.isrs.size(), 1u);
  EXPECT_EQ(w.isrs[0].flags, std::vector<uint32_t>{5});
  EXPECT_EQ(w.isrs[0].local_ns, GetParam().hypercall_handler_ns);
  EXPECT_EQ(w.guest.counters().signal_hypercalls, 1u);
  const std::vector<sim::TraceRecord> sets = w.RecordsOfKind(FabricTraceKind::kEventFlagSet);
  ASSERT_EQ(sets.size(), 1u);
  EXPECT_EQ(sets[0].time, At(sender_clock_after_ns));
  const std::vector<sim::TraceRecord> calls = w.RecordsOfKind(FabricTraceKind::kSignalEvent);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].partition, kHostPartition);
  EXPECT_EQ(calls[0].id0, kChannelConnectionId);
  EXPECT_EQ(calls[0].id1, 5u);
}

TEST_P(SynicTimingTest, MessagesToOneVpArriveInOrderEachAfterThePreviousEom) {
  World w(GetParam().costs);
  w.InstallGuestIsr(/*eom=*/true, /*eom_after=*/SimDuration::Nanoseconds(5000));
  ASSERT_TRUE(w.guest.DeliverMessage(0, std::vector<uint8_t>{1}).ok());
  ASSERT_TRUE(w.guest.DeliverMessage(0, std::vector<uint8_t>{2, 2}).ok());
  ASSERT_TRUE(w.guest.DeliverMessage(0, std::vector<uint8_t>{3, 3, 3}).ok());
  EXPECT_EQ(w.guest.QueuedMessageCount(0).value(), 3u);
  w.sim.Run({});

  ASSERT_EQ(w.isrs.size(), 3u);
  const std::vector<std::vector<uint8_t>> expected = {{1}, {2, 2}, {3, 3, 3}};
  const std::vector<sim::TraceRecord> writes = w.RecordsOfKind(FabricTraceKind::kMessageDeliver);
  const std::vector<sim::TraceRecord> eoms = w.RecordsOfKind(FabricTraceKind::kMessageEom);
  ASSERT_EQ(writes.size(), 3u);
  ASSERT_EQ(eoms.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(w.isrs[i].message, expected[i]);
    EXPECT_TRUE(w.isrs[i].flags.empty());
    EXPECT_EQ(writes[i].time, At(GetParam().message_write_ns[i]));
    EXPECT_EQ(writes[i].size0, expected[i].size());
    EXPECT_EQ(w.isrs[i].local_ns, GetParam().message_handler_ns[i]);
    // msg_pending is set exactly while more messages wait behind this one.
    EXPECT_EQ(w.isrs[i].msg_pending, i < 2);
    EXPECT_EQ(w.isrs[i].queued_after_read, 2 - i);
    EXPECT_EQ(eoms[i].id0, i < 2 ? 1u : 0u);
    // Never written before the previous message's EOM.
    if (i > 0) {
      EXPECT_GE(writes[i].time, eoms[i - 1].time);
    }
  }
  EXPECT_EQ(w.guest.counters().messages_sent, 3u);
  EXPECT_EQ(w.guest.counters().messages_delivered, 3u);
  EXPECT_EQ(w.guest.counters().message_redeliveries, 2u);
  EXPECT_EQ(w.guest.counters().message_queue_depth_max, 3u);
  EXPECT_EQ(w.guest.counters().eoms, 3u);
  EXPECT_EQ(w.guest.counters().interrupts, 3u);
}

INSTANTIATE_TEST_SUITE_P(
    CostModels, SynicTimingTest,
    ::testing::Values(
        TimingCase{
            .name = "Default",
            .costs = CostModel::Default(),
            .idle_handler_ns = 25000,       // 3 delivery + 20 wake-up + 2 isr_dispatch (us).
            .running_handler_ns = 6000,     // 1 + 3 delivery + 2 isr_dispatch.
            .hypercall_handler_ns = 26500,  // 1.5 hypercall + 3 + 20 + 2.
            // Write: 3 simp_delivery; handler +20 wake-up +2 isr; EOM 5 later;
            // next write 2 eom_redelivery after the EOM, and so on.
            .message_write_ns = {3000, 32000, 61000},
            .message_handler_ns = {25000, 54000, 83000},
        },
        TimingCase{
            .name = "Zero",
            .costs = CostModel::Zero(),
            .idle_handler_ns = 0,
            .running_handler_ns = 1000,  // Delivered at 1 us; the interrupt preempts the PASSIVE item.
            .hypercall_handler_ns = 0,
            .message_write_ns = {0, 5000, 10000},  // Only the handler's own 5 us remain.
            .message_handler_ns = {0, 5000, 10000},
        }),
    [](const ::testing::TestParamInfo<TimingCase>& info) { return info.param.name; });

// ---------------------------------------------------------------------------
// Message slot details.

// Goal: without an EOM the next message never comes; the EOM, even long
// after, releases it after eom_redelivery.
TEST(SynicTest, NextMessageWaitsForTheEom) {
  World w(CostModel::Default());
  w.InstallGuestIsr(/*eom=*/false);
  ASSERT_TRUE(w.guest.DeliverMessage(0, std::vector<uint8_t>{'a'}).ok());
  ASSERT_TRUE(w.guest.DeliverMessage(0, std::vector<uint8_t>{'b'}).ok());
  EXPECT_EQ(w.sim.Run({}), sim::RunResult::kQueueEmpty);
  ASSERT_EQ(w.isrs.size(), 1u);
  const HvMessageHeader header = w.guest.ReadMessageHeader(0).value();
  EXPECT_EQ(header.message_type, kVmbusHvMessageType);
  EXPECT_EQ(header.payload_size, 1u);
  EXPECT_EQ(header.message_flags & kHvMessageFlagPending, kHvMessageFlagPending);
  EXPECT_EQ(w.guest.QueuedMessageCount(0).value(), 1u);

  w.sim.ScheduleAt(At(100000), [&w] { ASSERT_TRUE(w.guest.EndOfMessage(0).ok()); });
  w.sim.Run({});
  ASSERT_EQ(w.isrs.size(), 2u);
  EXPECT_EQ(w.isrs[1].message, std::vector<uint8_t>{'b'});
  EXPECT_EQ(w.isrs[1].local_ns, 100000 + 2000 + 20000 + 2000);  // EOM + redelivery + wake + isr.
  EXPECT_FALSE(w.isrs[1].msg_pending);
  // A second EOM for the same message is the guest's bug, reported.
  ASSERT_TRUE(w.guest.EndOfMessage(0).ok());
  EXPECT_EQ(w.guest.EndOfMessage(0).code(), absl::StatusCode::kFailedPrecondition);
}

// Goal: a message written while a flag's interrupt is on its way joins that
// interrupt, and the ISR (flags first, then slot) sees both.
TEST(SynicTest, MessageRaisedWhileAnInterruptIsPendingJoinsIt) {
  World w(CostModel::Default());
  w.InstallGuestIsr(/*eom=*/true);
  ASSERT_TRUE(w.guest.SignalEvent(0, 4).ok());
  ASSERT_TRUE(w.guest.DeliverMessage(0, std::vector<uint8_t>{7, 7}).ok());
  w.sim.Run({});
  ASSERT_EQ(w.isrs.size(), 1u);
  EXPECT_EQ(w.isrs[0].flags, std::vector<uint32_t>{4});
  EXPECT_EQ(w.isrs[0].message, (std::vector<uint8_t>{7, 7}));
  EXPECT_EQ(w.isrs[0].local_ns, 25000);
  EXPECT_EQ(w.guest.counters().sint_raises, 2u);
  EXPECT_EQ(w.guest.counters().sint_raises_merged, 1u);
  EXPECT_EQ(w.guest.counters().interrupts, 1u);

  std::vector<std::pair<uint16_t, int64_t>> seen;
  for (const sim::TraceRecord& record : w.trace.records()) {
    // The SynIC's own records; VP scheduling records are not under test here.
    if (record.kind == TraceKind(FabricTraceKind::kVpWorkStart) ||
        record.kind == TraceKind(FabricTraceKind::kVpWorkEnd)) {
      continue;
    }
    seen.emplace_back(record.kind, record.time.nanoseconds());
  }
  const std::vector<std::pair<uint16_t, int64_t>> expected = {
      {TraceKind(FabricTraceKind::kEventFlagSet), 0},
      {TraceKind(FabricTraceKind::kSintRaise), 0},
      {TraceKind(FabricTraceKind::kMessageSend), 0},
      {TraceKind(FabricTraceKind::kMessageDeliver), 3000},
      {TraceKind(FabricTraceKind::kSintRaise), 3000},  // Merged.
      {TraceKind(FabricTraceKind::kInterrupt), 25000},
      {TraceKind(FabricTraceKind::kEventFlagsCleared), 25000},
      {TraceKind(FabricTraceKind::kMessageEom), 25000},
  };
  EXPECT_EQ(seen, expected);
}

// Goal: messages sent at a later clock (a host worker's LocalNow) are
// ordered by that clock, not by the order of the calls.
TEST(SynicTest, DeliverMessageAtOrdersByTheSendersClock) {
  World w(CostModel::Default());
  w.InstallGuestIsr(/*eom=*/true);
  ASSERT_TRUE(w.guest.DeliverMessageAt(At(10000), 1, std::vector<uint8_t>{'L'}).ok());
  ASSERT_TRUE(w.guest.DeliverMessageAt(At(5000), 1, std::vector<uint8_t>{'E'}).ok());
  w.sim.Run({});
  ASSERT_EQ(w.isrs.size(), 2u);
  EXPECT_EQ(w.isrs[0].message, std::vector<uint8_t>{'E'});
  EXPECT_EQ(w.isrs[0].local_ns, 5000 + 3000 + 20000 + 2000);
  EXPECT_TRUE(w.isrs[0].msg_pending);  // 'L' was sent at 10 us, while 'E' occupied the slot.
  EXPECT_EQ(w.isrs[1].message, std::vector<uint8_t>{'L'});
  EXPECT_EQ(w.isrs[1].local_ns, 30000 + 2000 + 20000 + 2000);
}

// ---------------------------------------------------------------------------
// Message ports (guest -> host HvPostMessage).

// Goal: a port of 16 buffers refuses the 17th post made before its worker
// runs, counts it, and accepts posts again once the worker has drained it.
// A buffer is held until the handler for its message has finished.
TEST(SynicTest, PortRefusesThePostBeyondItsBuffersUntilTheWorkerDrains) {
  World w(CostModel::Default());
  std::vector<uint8_t> handled;
  std::vector<size_t> in_use_seen;
  std::vector<int64_t> handled_at_ns;
  ASSERT_TRUE(w.host
                  .CreatePort(kVmbusMessageConnectionId, 0,
                              [&](std::vector<uint8_t> message) {
                                ASSERT_EQ(message.size(), 1u);
                                handled.push_back(message[0]);
                                in_use_seen.push_back(
                                    w.host.PortBuffersInUse(kVmbusMessageConnectionId).value());
                                handled_at_ns.push_back(w.host_vp0.LocalNow().nanoseconds());
                                w.host_vp0.Charge(w.costs.host_ctrl_msg_processing);
                              })
                  .ok());
  for (uint8_t i = 0; i < 16; ++i) {
    EXPECT_EQ(PostMessage(w.host, w.guest_vp0, kVmbusMessageConnectionId, std::vector<uint8_t>{i}),
              HvStatus::kSuccess);
  }
  EXPECT_EQ(PostMessage(w.host, w.guest_vp0, kVmbusMessageConnectionId, std::vector<uint8_t>{16}),
            HvStatus::kInsufficientBuffers);
  EXPECT_EQ(w.host.counters().posts, 17u);
  EXPECT_EQ(w.host.counters().posts_rejected_insufficient_buffers, 1u);
  EXPECT_EQ(w.host.PortBuffersInUse(kVmbusMessageConnectionId).value(), 16u);
  const std::vector<sim::TraceRecord> rejected = w.RecordsOfKind(FabricTraceKind::kMessageRejected);
  ASSERT_EQ(rejected.size(), 1u);
  EXPECT_EQ(rejected[0].id1, static_cast<uint64_t>(HvStatus::kInsufficientBuffers));

  w.sim.Run({});
  ASSERT_EQ(handled.size(), 16u);
  for (uint8_t i = 0; i < 16; ++i) {
    EXPECT_EQ(handled[i], i);                    // In post order.
    EXPECT_EQ(in_use_seen[i], 16u - i);          // Its own buffer still held.
    EXPECT_EQ(handled_at_ns[i], 30000 * i);      // One worker, 30 us per message.
  }
  EXPECT_EQ(w.host.PortBuffersInUse(kVmbusMessageConnectionId).value(), 0u);
  EXPECT_EQ(w.host.counters().port_messages_handled, 16u);

  EXPECT_EQ(PostMessage(w.host, w.guest_vp0, kVmbusMessageConnectionId, std::vector<uint8_t>{16}),
            HvStatus::kSuccess);
  w.sim.Run({});
  ASSERT_EQ(handled.size(), 17u);
  EXPECT_EQ(handled[16], 16u);
}

// Goal: a post from running guest work costs hypercall_post_message on the
// sender and reaches the host worker at the sender's clock after that cost.
TEST(SynicTest, PostFromRunningWorkChargesAndArrivesAtTheSendersClock) {
  World w(CostModel::Default());
  int64_t handler_start_ns = -1;
  ASSERT_TRUE(w.host
                  .CreatePort(kVmbusMessageConnectionId4, 0,
                              [&](std::vector<uint8_t>) {
                                handler_start_ns = w.sim.Now().nanoseconds();
                              },
                              /*capacity=*/1)
                  .ok());
  int64_t sender_clock_after_ns = -1;
  auto send = [&sender_clock_after_ns](World& world) {
    EXPECT_EQ(PostMessage(world.host, world.guest_vp0, kVmbusMessageConnectionId4,
                          std::vector<uint8_t>(240, 0x5A)),
              HvStatus::kSuccess);
    // Capacity 1: the message is not yet visible but holds the buffer.
    EXPECT_EQ(PostMessage(world.host, world.guest_vp0, kVmbusMessageConnectionId4,
                          std::vector<uint8_t>{1}),
              HvStatus::kInsufficientBuffers);
    sender_clock_after_ns = world.guest_vp0.LocalNow().nanoseconds();
  };
  RunOnVp(w, w.guest_vp0, Irql::kPassive, SimDuration::Nanoseconds(100), &send);
  w.sim.Run({});
  EXPECT_EQ(sender_clock_after_ns, 100 + 3000 + 3000);   // Rejected calls cost the hypercall too.
  EXPECT_EQ(handler_start_ns, 100 + 3000);               // Visible after the first call.
  const std::vector<sim::TraceRecord> posts = w.RecordsOfKind(FabricTraceKind::kMessagePost);
  ASSERT_EQ(posts.size(), 2u);
  EXPECT_EQ(posts[0].time, At(3100));
  EXPECT_EQ(posts[0].partition, kGuestPartition);
  EXPECT_EQ(posts[0].size0, 240u);
}

TEST(SynicTest, UnknownConnectionIdIsRefused) {
  World w(CostModel::Default());
  const std::vector<uint8_t> message = {1, 2, 3};
  EXPECT_EQ(PostMessage(w.host, w.guest_vp0, 99, message), HvStatus::kInvalidConnectionId);
  EXPECT_EQ(SignalEventHypercall(w.host, w.guest_vp0, 99), HvStatus::kInvalidConnectionId);
  EXPECT_EQ(w.host.SignalConnection(99), HvStatus::kInvalidConnectionId);
  EXPECT_EQ(w.host.counters().posts_rejected_invalid_connection, 1u);
  EXPECT_EQ(w.host.counters().signal_hypercalls_rejected, 2u);
  // A message port is not an event connection, and the other way round.
  ASSERT_TRUE(w.host.CreatePort(1, 0, [](std::vector<uint8_t>) {}).ok());
  ASSERT_TRUE(w.host.BindEventConnection(kChannelConnectionId, 0, 1).ok());
  EXPECT_EQ(SignalEventHypercall(w.host, w.guest_vp0, 1), HvStatus::kInvalidConnectionId);
  EXPECT_EQ(PostMessage(w.host, w.guest_vp0, kChannelConnectionId, message),
            HvStatus::kInvalidConnectionId);
  // Unbinding makes the id unknown again.
  ASSERT_TRUE(w.host.UnbindEventConnection(kChannelConnectionId).ok());
  EXPECT_EQ(SignalEventHypercall(w.host, w.guest_vp0, kChannelConnectionId),
            HvStatus::kInvalidConnectionId);
  EXPECT_EQ(w.host.UnbindEventConnection(kChannelConnectionId).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(w.sim.pending_count(), 0u);
}

TEST(SynicTest, OversizedPostIsAnInvalidParameter) {
  World w(CostModel::Default());
  ASSERT_TRUE(w.host.CreatePort(1, 0, [](std::vector<uint8_t>) {}).ok());
  EXPECT_EQ(PostMessage(w.host, w.guest_vp0, 1, std::vector<uint8_t>(241)),
            kHvStatusInvalidParameter);
  EXPECT_EQ(w.host.counters().posts_rejected_invalid_parameter, 1u);
  EXPECT_EQ(w.host.PortBuffersInUse(1).value(), 0u);
}

// ---------------------------------------------------------------------------
// Bad input: InvalidArgument (or the documented code), never a crash, and no
// effect.

TEST(SynicTest, BadVpFlagOrConnectionIsInvalidArgument) {
  World w(CostModel::Default());
  const auto invalid = absl::StatusCode::kInvalidArgument;
  const std::vector<uint8_t> payload = {1};
  EXPECT_EQ(w.guest.SignalEvent(2, 0).code(), invalid);  // 2 VPs.
  EXPECT_EQ(w.guest.SignalEvent(0, 2048).code(), invalid);
  EXPECT_EQ(w.guest.SignalEvent(0xFFFFFFFF, 0xFFFFFFFF).code(), invalid);
  EXPECT_EQ(w.guest.SignalEventAt(At(5), 7, 0).code(), invalid);
  EXPECT_EQ(w.guest.TestAndClearFlag(0, 2048).status().code(), invalid);
  EXPECT_EQ(w.guest.TestAndClearFlag(2, 0).status().code(), invalid);
  EXPECT_EQ(w.guest.TakeEventFlags(2).status().code(), invalid);
  EXPECT_EQ(w.guest.SetSintMasked(2, true).code(), invalid);
  EXPECT_EQ(w.guest.SintMasked(2).status().code(), invalid);
  EXPECT_EQ(w.guest.DeliverMessage(2, payload).code(), invalid);
  EXPECT_EQ(w.guest.DeliverMessage(0, std::vector<uint8_t>(241)).code(), invalid);
  EXPECT_EQ(w.guest.ReadMessageHeader(2).status().code(), invalid);
  EXPECT_EQ(w.guest.ReadMessageSlot(2).status().code(), invalid);
  EXPECT_EQ(w.guest.EndOfMessage(2).code(), invalid);
  EXPECT_EQ(w.guest.QueuedMessageCount(2).status().code(), invalid);
  EXPECT_EQ(w.guest.BindEventConnection(5, 2, 0).code(), invalid);
  EXPECT_EQ(w.guest.BindEventConnection(5, 0, 2048).code(), invalid);
  EXPECT_EQ(w.guest.BindEventConnection(0x01000000, 0, 1).code(), invalid);  // 25 bits.
  auto handler = [](std::vector<uint8_t>) {};
  EXPECT_EQ(w.guest.CreatePort(6, 2, handler).code(), invalid);
  EXPECT_EQ(w.guest.CreatePort(6, 0, handler, /*capacity=*/0).code(), invalid);
  EXPECT_EQ(w.guest.CreatePort(6, 0, nullptr).code(), invalid);
  EXPECT_EQ(w.guest.PortBuffersInUse(6).status().code(), absl::StatusCode::kNotFound);
  // The message names the object, the value and the time.
  const absl::Status status = w.guest.SignalEvent(0, 4096);
  EXPECT_NE(status.message().find("partition 1"), absl::string_view::npos) << status;
  EXPECT_NE(status.message().find("4096"), absl::string_view::npos) << status;
  EXPECT_NE(status.message().find("t=0"), absl::string_view::npos) << status;

  // Ids are unique across ports and event connections.
  ASSERT_TRUE(w.guest.CreatePort(6, 0, handler).ok());
  EXPECT_EQ(w.guest.CreatePort(6, 1, handler).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(w.guest.BindEventConnection(6, 0, 1).code(), absl::StatusCode::kAlreadyExists);
  // An EOM with a free slot is refused.
  EXPECT_EQ(w.guest.EndOfMessage(0).code(), absl::StatusCode::kFailedPrecondition);

  // Nothing happened.
  EXPECT_EQ(w.sim.pending_count(), 0u);
  EXPECT_EQ(w.guest.counters().signals, 0u);
  EXPECT_EQ(w.guest.counters().messages_sent, 0u);
  EXPECT_TRUE(w.trace.records().empty());
  EXPECT_EQ(w.guest.ReadMessageSlot(0).value(), std::nullopt);
}

// ---------------------------------------------------------------------------
// Determinism.

// Goal: a mixed run (signals, hypercalls, messages, posts) gives the same
// trace fingerprint twice.
TEST(SynicTest, SameRunSameFingerprint) {
  auto run_once = [] {
    World w(CostModel::Default());
    w.sim.tracer().EnableFingerprint();
    w.InstallGuestIsr(/*eom=*/true, SimDuration::Nanoseconds(700));
    EXPECT_TRUE(w.guest.BindEventConnection(kChannelConnectionId, 1, 11).ok());
    EXPECT_TRUE(w.host.CreatePort(1, 0, [](std::vector<uint8_t>) {}, 4).ok());
    for (int i = 0; i < 20; ++i) {
      EXPECT_TRUE(w.guest.SignalEventAt(At(i * 1700), i % 2, i % 3).ok());
      EXPECT_TRUE(
          w.guest.DeliverMessageAt(At(i * 2300), i % 2, std::vector<uint8_t>(i + 1, i)).ok());
      PostMessage(w.host, w.guest_vp0, 1, std::vector<uint8_t>(8, i));
    }
    auto send = [](World& world) {
      SignalEventHypercall(world.guest, world.host_vp0, kChannelConnectionId);
    };
    RunOnVp(w, w.host_vp0, Irql::kDispatch, SimDuration::Nanoseconds(10), &send);
    w.sim.Run({});
    EXPECT_EQ(w.guest.counters().messages_delivered, 20u);
    return w.sim.tracer().fingerprint();
  };
  const uint64_t first = run_once();
  EXPECT_EQ(first, run_once());
  EXPECT_NE(first, sim::kFingerprintSeed);
}

}  // namespace
}  // namespace vmbsim::fabric
