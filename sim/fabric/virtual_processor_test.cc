// Goal: a VP runs work by level (INTERRUPT, DISPATCH, PASSIVE), occupying itself for
// each item's cost and charges, timing effects on its local clock; stalls
// delay work; higher levels preempt lower ones (or not, when so chosen);
// busy time per level and queue depth are measured.
#include "sim/fabric/virtual_processor.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sim/core/trace.h"
#include "sim/fabric/trace_kinds.h"

namespace vmbsim::fabric {
namespace {

using sim::SimDuration;
using sim::SimTime;

SimDuration Ns(int64_t ns) { return SimDuration::Nanoseconds(ns); }

struct Log {
  std::vector<std::pair<int64_t, std::string>> entries;
  void Add(SimTime t, std::string what) { entries.emplace_back(t.nanoseconds(), std::move(what)); }
};

TEST(VirtualProcessorTest, RunsSeriallyDispatchFirst) {
  sim::Simulator sim({.seed = 1});
  VirtualProcessor vp(&sim, 0, 0);
  Log log;
  struct Ctx {
    sim::Simulator* sim;
    VirtualProcessor* vp;
    Log* log;
  } ctx{&sim, &vp, &log};
  vp.Queue(Irql::kPassive, Ns(100), [c = &ctx] { c->log->Add(c->sim->Now(), "passive1"); });
  vp.Queue(Irql::kPassive, Ns(100), [c = &ctx] { c->log->Add(c->sim->Now(), "passive2"); });
  vp.Queue(Irql::kDispatch, Ns(50), [c = &ctx] {
    c->log->Add(c->sim->Now(), "dpc");
    EXPECT_EQ(c->vp->current_irql(), Irql::kDispatch);
  });
  EXPECT_EQ(vp.queue_depth(), 3u);
  sim.Run({});
  ASSERT_EQ(log.entries.size(), 3u);
  EXPECT_EQ(log.entries[0], std::make_pair(int64_t{0}, std::string("dpc")));
  EXPECT_EQ(log.entries[1], std::make_pair(int64_t{50}, std::string("passive1")));
  EXPECT_EQ(log.entries[2], std::make_pair(int64_t{150}, std::string("passive2")));
  EXPECT_EQ(vp.busy_time(), Ns(250));
  EXPECT_EQ(vp.items_run(), 3u);
  EXPECT_EQ(vp.queue_depth_max(), 3u);
  // The last item started at 150 and occupies the VP until 250.
  EXPECT_FALSE(vp.idle());
  bool idle_at_250 = false;
  sim.ScheduleAt(SimTime::FromNanoseconds(250), [&] { idle_at_250 = vp.idle(); });
  sim.Run({});
  EXPECT_TRUE(idle_at_250);
}

TEST(VirtualProcessorTest, ChargesMoveTheLocalClockAndDelayTheNextItem) {
  sim::Simulator sim({.seed = 1});
  VirtualProcessor vp(&sim, 0, 0);
  std::vector<int64_t> seen;
  struct Ctx {
    VirtualProcessor* vp;
    std::vector<int64_t>* seen;
  } ctx{&vp, &seen};
  vp.Queue(Irql::kDispatch, Ns(10), [c = &ctx] {
    c->seen->push_back(c->vp->LocalNow().nanoseconds());  // 10: base cost charged first.
    c->vp->Charge(Ns(90));
    c->seen->push_back(c->vp->LocalNow().nanoseconds());  // 100.
    // Work queued from inside running work waits for this item to end.
    c->vp->Queue(Irql::kDispatch, Ns(0), [c] { c->seen->push_back(c->vp->LocalNow().nanoseconds()); });
  });
  sim.Run({});
  EXPECT_EQ(seen, (std::vector<int64_t>{10, 100, 100}));
  EXPECT_EQ(vp.busy_time(), Ns(100));
}

TEST(VirtualProcessorTest, StallDelaysStartAndEnd) {
  sim::Simulator sim({.seed = 1});
  VirtualProcessor vp(&sim, 0, 0);
  std::vector<int64_t> starts;
  struct Ctx {
    sim::Simulator* sim;
    std::vector<int64_t>* starts;
  } ctx{&sim, &starts};
  // Idle VP stalled for 500 ns: work queued at 0 starts at 500.
  vp.Stall(Ns(500));
  vp.Queue(Irql::kPassive, Ns(100), [c = &ctx] { c->starts->push_back(c->sim->Now().nanoseconds()); });
  // A second item, queued now, would start at 600; a stall at 550 (while the
  // first item runs) of 200 ns pushes the first item's end to 800.
  vp.Queue(Irql::kPassive, Ns(100), [c = &ctx] { c->starts->push_back(c->sim->Now().nanoseconds()); });
  sim.ScheduleAt(SimTime::FromNanoseconds(550), [&vp] { vp.Stall(Ns(200)); });
  // An overlapping stall at 600 until 700 adds nothing.
  sim.ScheduleAt(SimTime::FromNanoseconds(600), [&vp] { vp.Stall(Ns(100)); });
  sim.Run({});
  EXPECT_EQ(starts, (std::vector<int64_t>{500, 800}));
  EXPECT_EQ(vp.stalled_time(), Ns(700));
  EXPECT_EQ(vp.busy_time(), Ns(200));
}

// Goal: each item is traced as a start and an end record, the end stamped at
// the item's local clock after its cost and charges and carrying that busy
// time, so a timeline can draw the item as one slice.
TEST(VirtualProcessorTest, TracesEachItemsStartAndEnd) {
  sim::Simulator sim({.seed = 1});
  sim::RecordingTraceSink trace;
  sim.tracer().AddSink(&trace);
  VirtualProcessor vp(&sim, 3, 1);
  vp.Queue(Irql::kPassive, Ns(100), [] {});
  vp.Queue(Irql::kDispatch, Ns(50), [v = &vp] { v->Charge(Ns(30)); });
  sim.Run({});
  struct Seen {
    uint16_t kind;
    int64_t time_ns;
    uint64_t irql;
    uint64_t size0;
    bool operator==(const Seen&) const = default;
  };
  std::vector<Seen> seen;
  for (const sim::TraceRecord& r : trace.records()) {
    EXPECT_EQ(r.partition, 3u);
    EXPECT_EQ(r.vp, 1u);
    seen.push_back({r.kind, r.time.nanoseconds(), r.id0, r.size0});
  }
  const uint16_t start = TraceKind(FabricTraceKind::kVpWorkStart);
  const uint16_t end = TraceKind(FabricTraceKind::kVpWorkEnd);
  const std::vector<Seen> expected = {
      {start, 0, 2, 1},   // size0: queue depth after dequeue.
      {end, 80, 2, 80},   // Cost 50 plus the 30 charged.
      {start, 80, 0, 0},
      {end, 180, 0, 100},
  };
  EXPECT_EQ(seen, expected);
  sim.tracer().RemoveSink(&trace);
}

}  // namespace
}  // namespace vmbsim::fabric

namespace vmbsim::fabric {
namespace {

// Goal: an effect deferred with AtLocalNow becomes visible at the local time
// the VP reached it, in the order the VP produced it, even when the kernel
// permutes same-time events; an effect's charge occupies the VP afterwards.
TEST(VirtualProcessorEffectsTest, EffectsRunAtTheLocalTimeTheVpReachesThemInOrder) {
  for (uint64_t tie_break_seed = 0; tie_break_seed < 32; ++tie_break_seed) {
    sim::Simulator sim({.seed = 1, .tie_break_seed = tie_break_seed});
    VirtualProcessor vp(&sim, 0, 0);
    std::vector<std::pair<int64_t, int>> seen;
    vp.Queue(Irql::kDispatch, Ns(0), [&] {
      vp.AtLocalNow([&] { seen.emplace_back(sim.Now().nanoseconds(), 0); });  // At once: nothing charged.
      vp.Charge(Ns(100));
      vp.AtLocalNow([&] { seen.emplace_back(sim.Now().nanoseconds(), 1); });
      vp.AtLocalNow([&] { seen.emplace_back(sim.Now().nanoseconds(), 2); });  // Same instant, after 1.
      vp.Charge(Ns(50));
      vp.AtLocalNow([&] { seen.emplace_back(sim.Now().nanoseconds(), 3); });
    });
    // The next item starts at 150, after every effect due by then.
    vp.Queue(Irql::kDispatch, Ns(0), [&] { seen.emplace_back(sim.Now().nanoseconds(), 4); });
    sim.Run({});
    const std::vector<std::pair<int64_t, int>> expected = {{0, 0}, {100, 1}, {100, 2}, {150, 3}, {150, 4}};
    EXPECT_EQ(seen, expected) << "tie-break seed " << tie_break_seed;
  }
}

TEST(VirtualProcessorEffectsTest, AChargeInsideAnEffectPushesBackTheVpsLaterWork) {
  sim::Simulator sim({.seed = 1});
  VirtualProcessor vp(&sim, 0, 0);
  std::vector<std::pair<int64_t, int>> seen;
  vp.Queue(Irql::kDispatch, Ns(0), [&] {
    vp.Charge(Ns(100));
    vp.AtLocalNow([&] {
      EXPECT_TRUE(vp.running());
      EXPECT_EQ(VirtualProcessor::Current(), &vp);
      vp.Charge(Ns(30));  // A hypercall made at the publish.
      EXPECT_EQ(vp.LocalNow().nanoseconds(), 130);
      seen.emplace_back(sim.Now().nanoseconds(), 1);
    });
    vp.Charge(Ns(20));
    vp.AtLocalNow([&] { seen.emplace_back(sim.Now().nanoseconds(), 2); });  // 120 + 30.
  });
  vp.Queue(Irql::kDispatch, Ns(0), [&] { seen.emplace_back(sim.Now().nanoseconds(), 3); });
  sim.Run({});
  const std::vector<std::pair<int64_t, int>> expected = {{100, 1}, {150, 2}, {150, 3}};
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(vp.busy_time(), Ns(150));
  EXPECT_EQ(VirtualProcessor::Current(), nullptr);
}

// A stall while the VP is still inside an item delays that item's end and
// the effects it has not reached yet.
TEST(VirtualProcessorEffectsTest, AStallDelaysTheEffectsTheVpHasNotReached) {
  sim::Simulator sim({.seed = 1});
  VirtualProcessor vp(&sim, 0, 0);
  std::vector<int64_t> seen;
  vp.Queue(Irql::kDispatch, Ns(0), [&] {
    vp.Charge(Ns(100));
    vp.AtLocalNow([&] { seen.push_back(sim.Now().nanoseconds()); });
  });
  sim.ScheduleAt(SimTime::FromNanoseconds(40), [&] { vp.Stall(Ns(30)); });
  sim.Run({});
  EXPECT_EQ(seen, (std::vector<int64_t>{130}));
}

// Goal: the lifetime rule's mechanism. Work queued with an owner, and its
// deferred effects, never run once the owner cancels them.
TEST(VirtualProcessorEffectsTest, CancelOwnedDropsQueuedItemsAndDeferredEffects) {
  sim::Simulator sim({.seed = 1});
  VirtualProcessor vp(&sim, 0, 0);
  struct State {
    VirtualProcessor* vp;
    int owner_a = 0;
    int owner_b = 0;
    std::vector<int> ran;
  } state{&vp};
  int& owner_a = state.owner_a;
  int& owner_b = state.owner_b;
  std::vector<int>& ran = state.ran;
  vp.Queue(Irql::kDispatch, Ns(10), [s = &state] {
    s->vp->Charge(Ns(100));
    s->vp->AtLocalNow([s] { s->ran.push_back(1); }, &s->owner_a);
    s->vp->AtLocalNow([s] { s->ran.push_back(2); }, &s->owner_b);
  });
  vp.Queue(Irql::kDispatch, Ns(0), [&] { ran.push_back(3); }, &owner_a);
  vp.Queue(Irql::kPassive, Ns(0), [&] { ran.push_back(4); }, &owner_b);
  sim.ScheduleAt(SimTime::FromNanoseconds(50), [&] { EXPECT_EQ(vp.CancelOwned(&owner_a), 2u); });
  sim.Run({});
  EXPECT_EQ(ran, (std::vector<int>{2, 4}));
  // Cancelling everything leaves no start event behind.
  vp.Queue(Irql::kDispatch, Ns(0), [&] { ran.push_back(5); }, &owner_a);
  EXPECT_EQ(vp.CancelOwned(&owner_a), 1u);
  sim.Run({});
  EXPECT_TRUE(vp.idle());
  EXPECT_EQ(ran, (std::vector<int>{2, 4}));
}

}  // namespace
}  // namespace vmbsim::fabric

namespace vmbsim::fabric {
namespace {

// Goal: levels preempt (Preemption::kPacket). A DPC queued while a PASSIVE
// item is in progress starts at once; an interrupt preempts that DPC in
// turn; each preempted item ends later by the time taken from it, and its
// effects not yet reached move back by as much, after the preempting
// item's own effects.
TEST(VirtualProcessorPreemptionTest, HigherLevelsStartAtOnceAndStretchThePreemptedWork) {
  for (uint64_t tie_break_seed = 0; tie_break_seed < 16; ++tie_break_seed) {
    sim::Simulator sim({.seed = 1, .tie_break_seed = tie_break_seed});
    VirtualProcessor vp(&sim, 0, 0);
    std::vector<std::pair<int64_t, std::string>> seen;
    auto note = [&](std::string what) { seen.emplace_back(sim.Now().nanoseconds(), std::move(what)); };
    // PASSIVE 0..1000 with effects at 400 and 1000 (two packets' publishes).
    vp.Queue(Irql::kPassive, Ns(0), [&] {
      note("passive start");
      vp.Charge(Ns(400));
      vp.AtLocalNow([&] { note("passive packet 1"); });
      vp.Charge(Ns(600));
      vp.AtLocalNow([&] { note("passive packet 2"); });
    });
    vp.Queue(Irql::kPassive, Ns(0), [&] { note("passive 2"); });
    // A DPC of 300 queued at 100: it runs 100..400, the PASSIVE item's
    // effects move to 700 and 1300.
    sim.ScheduleAt(SimTime::FromNanoseconds(100), [&] {
      vp.Queue(Irql::kDispatch, Ns(0), [&] {
        note("dpc start");
        vp.Charge(Ns(100));
        vp.AtLocalNow([&] { note("dpc effect"); });
        vp.Charge(Ns(200));
      });
    });
    // An interrupt of 50 at 150 preempts the DPC: DPC effect at 250, DPC
    // end at 450, PASSIVE effects at 750 and 1350.
    sim.ScheduleAt(SimTime::FromNanoseconds(150), [&] {
      vp.Queue(Irql::kInterrupt, Ns(50), [&] {
        note("isr");
        EXPECT_EQ(vp.current_irql(), Irql::kInterrupt);
      });
    });
    sim.Run({});
    const std::vector<std::pair<int64_t, std::string>> expected = {
        {0, "passive start"}, {100, "dpc start"},        {150, "isr"},
        {250, "dpc effect"},  {750, "passive packet 1"}, {1350, "passive packet 2"},
        {1350, "passive 2"},
    };
    EXPECT_EQ(seen, expected) << "tie-break seed " << tie_break_seed;
    EXPECT_EQ(vp.preemptions(), 2u);
    EXPECT_EQ(vp.level_time(Irql::kPassive), Ns(1000));
    EXPECT_EQ(vp.level_time(Irql::kDispatch), Ns(300));
    EXPECT_EQ(vp.level_time(Irql::kInterrupt), Ns(50));
    EXPECT_EQ(vp.busy_time(), Ns(1350));
  }
}

// Goal: the old behaviour stays selectable. With Preemption::kNone the same
// traffic runs serially: the DPC waits for the PASSIVE item, the interrupt
// waits in the DPC queue behind the DPC, and nothing is stretched.
TEST(VirtualProcessorPreemptionTest, NoneRunsEachItemToItsEnd) {
  sim::Simulator sim({.seed = 1});
  VirtualProcessor vp(&sim, 0, 0);
  vp.set_preemption(Preemption::kNone);
  std::vector<std::pair<int64_t, std::string>> seen;
  auto note = [&](std::string what) { seen.emplace_back(sim.Now().nanoseconds(), std::move(what)); };
  vp.Queue(Irql::kPassive, Ns(0), [&] {
    vp.Charge(Ns(400));
    vp.AtLocalNow([&] { note("passive packet 1"); });
    vp.Charge(Ns(600));
  });
  sim.ScheduleAt(SimTime::FromNanoseconds(100), [&] {
    vp.Queue(Irql::kDispatch, Ns(300), [&] { note("dpc"); });
  });
  sim.ScheduleAt(SimTime::FromNanoseconds(150), [&] {
    vp.Queue(Irql::kInterrupt, Ns(50), [&] { note("isr"); });
  });
  sim.Run({});
  const std::vector<std::pair<int64_t, std::string>> expected = {
      {400, "passive packet 1"}, {1000, "dpc"}, {1300, "isr"}};
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(vp.preemptions(), 0u);
  EXPECT_EQ(vp.busy_time(), Ns(1350));
  EXPECT_EQ(vp.level_time(Irql::kInterrupt), Ns(50));
}

// Goal: an item queued from inside running work is ready at the local time
// of the call, not at the item's start: a DPC queued 300 ns into a PASSIVE
// item preempts it there, never before the call.
TEST(VirtualProcessorPreemptionTest, WorkQueuedFromInsideAnItemPreemptsAtTheCall) {
  sim::Simulator sim({.seed = 1});
  VirtualProcessor vp(&sim, 0, 0);
  std::vector<std::pair<int64_t, std::string>> seen;
  auto note = [&](std::string what) { seen.emplace_back(sim.Now().nanoseconds(), std::move(what)); };
  vp.Queue(Irql::kPassive, Ns(0), [&] {
    vp.Charge(Ns(300));
    vp.Queue(Irql::kDispatch, Ns(100), [&] { note("dpc"); });
    vp.Charge(Ns(200));
    vp.AtLocalNow([&] { note("passive effect"); });
  });
  // Same level: waits for the end of the (stretched) PASSIVE item.
  vp.Queue(Irql::kPassive, Ns(0), [&] { note("passive 2"); });
  sim.Run({});
  const std::vector<std::pair<int64_t, std::string>> expected = {
      {300, "dpc"}, {600, "passive effect"}, {600, "passive 2"}};
  EXPECT_EQ(seen, expected);
}

// Goal: a higher level waiting in the queue goes first even without
// preemption of a running item: an interrupt queued behind DPCs runs before
// them (kPacket) and after them (kNone).
TEST(VirtualProcessorPreemptionTest, InterruptsJumpQueuedDpcs) {
  for (const Preemption mode : {Preemption::kPacket, Preemption::kNone}) {
    sim::Simulator sim({.seed = 1});
    VirtualProcessor vp(&sim, 0, 0);
    vp.set_preemption(mode);
    std::vector<std::string> order;
    vp.Queue(Irql::kDispatch, Ns(10), [&] { order.push_back("dpc1"); });
    vp.Queue(Irql::kDispatch, Ns(10), [&] { order.push_back("dpc2"); });
    vp.Queue(Irql::kInterrupt, Ns(10), [&] { order.push_back("isr"); });
    sim.Run({});
    const std::vector<std::string> expected =
        mode == Preemption::kPacket ? std::vector<std::string>{"isr", "dpc1", "dpc2"}
                                    : std::vector<std::string>{"dpc1", "dpc2", "isr"};
    EXPECT_EQ(order, expected);
  }
}

TEST(VirtualProcessorTest, SpeedScalesItemCostsAndChargesButNotSpins) {
  sim::Simulator sim({.seed = 1});
  VirtualProcessor slow(&sim, 0, 0);
  slow.set_speed_ppm(500'000);  // Half speed: everything charged takes twice as long.
  VirtualProcessor fast(&sim, 0, 1);
  fast.set_speed_ppm(1'500'000);
  struct Ctx {
    VirtualProcessor* vp;
    int64_t local_after_charge = 0;
    int64_t local_after_spin = 0;
  } s{&slow}, f{&fast};
  for (Ctx* c : {&s, &f}) {
    c->vp->Queue(Irql::kDispatch, Ns(100), [c] {
      c->vp->Charge(Ns(300));
      c->local_after_charge = c->vp->LocalNow().nanoseconds();
      c->vp->Spin(Ns(40));
      c->local_after_spin = c->vp->LocalNow().nanoseconds();
    });
  }
  sim.Run({});
  EXPECT_EQ(s.local_after_charge, 800);  // 100 / 0.5 + 300 / 0.5.
  EXPECT_EQ(s.local_after_spin, 840);    // The spin is time, not work.
  EXPECT_EQ(slow.busy_time(), Ns(840));
  EXPECT_EQ(f.local_after_charge, 267);  // 67 + 200: each cost rounded to the nearest ns.
  EXPECT_EQ(f.local_after_spin, 307);
  EXPECT_EQ(fast.busy_time(), Ns(307));
}

}  // namespace
}  // namespace vmbsim::fabric
