// Goal: the event queue pops in (time, insertion) order, permutes same-time
// events as a pure function of the seed in tie-break mode, cancels in O(1)
// without leaking or running callables, and keeps its order across key
// renumbering and dead-entry compaction. Method: direct tests, plus a long
// random schedule/cancel/pop sequence checked against a std::map reference.
#include "sim/core/event_queue.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "sim/core/prng.h"

namespace vmbsim::sim {
namespace {

SimTime T(int64_t ns) { return SimTime::FromNanoseconds(ns); }

// Pops and runs everything; returns the times seen.
std::vector<int64_t> Drain(EventQueue& queue) {
  std::vector<int64_t> times;
  SimTime when;
  while (queue.PopNext(SimTime::Max(), &when) == EventQueue::PopResult::kPopped) {
    times.push_back(when.nanoseconds());
    queue.RunPopped();
  }
  return times;
}

TEST(EventQueueTest, PopsInTimeOrderAndFifoAmongEqualTimes) {
  EventQueue queue;
  std::vector<int> order;
  queue.Push(T(30), [&order] { order.push_back(30); });
  queue.Push(T(10), [&order] { order.push_back(10); });
  for (int i = 0; i < 5; ++i) queue.Push(T(20), [&order, i] { order.push_back(200 + i); });
  queue.Push(T(0), [&order] { order.push_back(0); });
  EXPECT_EQ(queue.pending_count(), 8u);
  Drain(queue);
  EXPECT_EQ(order, (std::vector<int>{0, 10, 200, 201, 202, 203, 204, 30}));
  EXPECT_TRUE(queue.empty());
}

TEST(EventQueueTest, EventsScheduledAtTheCurrentInstantRunAfterIt) {
  EventQueue queue;
  std::vector<int> order;
  queue.Push(T(5), [&] {
    order.push_back(1);
    queue.Push(T(5), [&order] { order.push_back(3); });
  });
  queue.Push(T(5), [&order] { order.push_back(2); });
  Drain(queue);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

// An event that becomes the front batch's new minimum after some of the
// batch was popped (it takes the popped prefix's last cell): order holds,
// with ties after the same-time entries already there.
TEST(EventQueueTest, ANewMinimumAfterPopsRunsFirst) {
  EventQueue queue;
  std::vector<int> order;
  queue.Push(T(10), [&] {
    order.push_back(10);
    queue.Push(T(15), [&order] { order.push_back(15); });
    queue.Push(T(12), [&] {
      order.push_back(12);
      queue.Push(T(12), [&order] { order.push_back(121); });  // A tie: after nothing, first.
      queue.Push(T(13), [&order] { order.push_back(13); });
    });
    queue.Push(T(11), [&order] { order.push_back(11); });
  });
  for (int t : {20, 30, 40}) queue.Push(T(t), [&order, t] { order.push_back(t); });
  Drain(queue);
  EXPECT_EQ(order, (std::vector<int>{10, 11, 12, 121, 13, 15, 20, 30, 40}));
}

TEST(EventQueueTest, PopStopsAtTheLimitWithoutLosingTheEvent) {
  EventQueue queue;
  int ran = 0;
  queue.Push(T(100), [&ran] { ++ran; });
  SimTime when;
  EXPECT_EQ(queue.PopNext(T(99), &when), EventQueue::PopResult::kBeyondLimit);
  EXPECT_EQ(queue.pending_count(), 1u);
  EXPECT_EQ(queue.PopNext(T(100), &when), EventQueue::PopResult::kPopped);
  queue.RunPopped();
  EXPECT_EQ(ran, 1);
  EXPECT_EQ(queue.PopNext(T(1000), &when), EventQueue::PopResult::kEmpty);
}

TEST(EventQueueTest, CancelBeforeAndAfterFiring) {
  EventQueue queue;
  int ran = 0;
  const EventId a = queue.Push(T(1), [&ran] { ran += 1; });
  const EventId b = queue.Push(T(2), [&ran] { ran += 10; });
  EXPECT_TRUE(queue.IsPending(a));
  EXPECT_TRUE(queue.Cancel(b));
  EXPECT_FALSE(queue.Cancel(b));  // Already cancelled.
  EXPECT_FALSE(queue.IsPending(b));
  EXPECT_EQ(queue.pending_count(), 1u);
  Drain(queue);
  EXPECT_EQ(ran, 1);
  EXPECT_FALSE(queue.Cancel(a));  // Already ran.
  EXPECT_FALSE(queue.Cancel(EventId{}));
  EXPECT_FALSE(queue.Cancel(EventId{12345, 1}));  // Never existed.
  // A recycled slot does not answer to the old id.
  const EventId c = queue.Push(T(3), [] {});
  EXPECT_TRUE(c.slot == a.slot || c.slot == b.slot);
  EXPECT_FALSE(queue.Cancel(a));
  EXPECT_FALSE(queue.Cancel(b));
  EXPECT_TRUE(queue.Cancel(c));
}

TEST(EventQueueTest, AnEventCannotCancelItselfButCanCancelOthers) {
  struct State {
    EventQueue queue;
    EventId self;
    EventId other;
    bool other_ran = false;
    bool cancel_self_result = true;
    bool cancel_other_result = false;
  } s;
  s.self = s.queue.Push(T(1), [&s] {
    s.cancel_self_result = s.queue.Cancel(s.self);
    s.cancel_other_result = s.queue.Cancel(s.other);
  });
  s.other = s.queue.Push(T(2), [&s] { s.other_ran = true; });
  Drain(s.queue);
  EXPECT_FALSE(s.cancel_self_result);
  EXPECT_TRUE(s.cancel_other_result);
  EXPECT_FALSE(s.other_ran);
}

// Counts live copies of captured state.
struct Tracked {
  explicit Tracked(int* live) : live(live) { ++*live; }
  Tracked(const Tracked& o) : live(o.live) { ++*live; }
  Tracked(Tracked&& o) noexcept : live(o.live) { ++*live; }
  ~Tracked() { --*live; }
  int* live;
};

TEST(EventQueueTest, CallablesAreDestroyedOnRunCancelAndQueueDestruction) {
  int live = 0;
  {
    EventQueue queue;
    Tracked tracked(&live);
    const EventId a = queue.Push(T(1), [tracked] {});
    queue.Push(T(2), [tracked] {});
    queue.Push(T(3), [tracked] {});
    EXPECT_EQ(live, 4);
    queue.Cancel(a);
    EXPECT_EQ(live, 3);
    SimTime when;
    ASSERT_EQ(queue.PopNext(SimTime::Max(), &when), EventQueue::PopResult::kPopped);
    queue.RunPopped();
    EXPECT_EQ(live, 2);
  }
  EXPECT_EQ(live, 0);
}

// Callables of 17 to 24 bytes live in a cell beside their slot: they run,
// cancel and are destroyed like small ones, and their cells are reused.
// A trivially copyable callable runs from a copy, its slot recycled first:
// a push from inside it takes that slot, and the callable's captures must
// still read as they were after the push overwrote the slot.
TEST(EventQueueTest, ACallableReadsItsCapturesAfterItsPushReusedItsSlot) {
  EventQueue queue;
  std::vector<int64_t> seen;
  struct Chain {
    EventQueue* queue;
    std::vector<int64_t>* seen;
    int64_t step;  // 24 bytes: lives in a cell; Small below lives in the slot.
    void operator()() const {
      if (step < 3) queue->Push(T(100 + 10 * (step + 1)), Chain{queue, seen, step + 1});
      seen->push_back(step);
    }
  };
  struct Small {
    EventQueue* queue;
    std::vector<int64_t>* seen;
    void operator()() const {
      queue->Push(T(100), Chain{queue, seen, 0});
      queue->Push(T(100), [seen = seen] { seen->push_back(-2); });
      seen->push_back(-1);
    }
  };
  static_assert(std::is_trivially_copyable_v<Chain> && sizeof(Chain) == 24);
  static_assert(std::is_trivially_copyable_v<Small> && sizeof(Small) == 16);
  queue.Push(T(1), Small{&queue, &seen});
  const EventId cancelled = queue.Push(T(2), Chain{&queue, &seen, 100});
  EXPECT_TRUE(queue.Cancel(cancelled));
  EXPECT_EQ(Drain(queue), (std::vector<int64_t>{1, 100, 100, 110, 120, 130}));
  EXPECT_EQ(seen, (std::vector<int64_t>{-1, 0, -2, 1, 2, 3}));
}

TEST(EventQueueTest, LargeCallablesRunCancelAndAreDestroyed) {
  int live = 0;
  int64_t sum = 0;
  {
    EventQueue queue;
    Tracked tracked(&live);
    const int64_t b = 7;
    auto make = [&](int64_t factor) {
      return [tracked, &sum, factor] { sum += factor * 5; };
    };
    static_assert(sizeof(make(1)) > 16 && sizeof(make(1)) <= EventQueue::kInlineBytes);
    const EventId cancelled = queue.Push(T(1), make(100));
    queue.Push(T(2), make(1));
    queue.Push(T(2), [&sum, b, c = int64_t{3}] { sum = sum * c + b; });  // 24 bytes, no tracker.
    queue.Push(T(3), make(2));
    EXPECT_EQ(live, 4);
    EXPECT_TRUE(queue.Cancel(cancelled));
    EXPECT_EQ(live, 3);
    EXPECT_EQ(Drain(queue), (std::vector<int64_t>{2, 2, 3}));
    EXPECT_EQ(sum, (1 * 5) * 3 + 7 + 2 * 5);
    EXPECT_EQ(live, 1);
    // Steady state: cells are recycled, nothing more is allocated.
    SimTime when = T(3);
    auto steps = [&](int count) {
      for (int step = 0; step < count; ++step) {
        queue.Push(when + SimDuration::Nanoseconds(1 + step % 7), make(1));
        queue.Push(when + SimDuration::Nanoseconds(3), make(1));
        ASSERT_EQ(queue.PopNext(SimTime::Max(), &when), EventQueue::PopResult::kPopped);
        queue.RunPopped();
        ASSERT_EQ(queue.PopNext(SimTime::Max(), &when), EventQueue::PopResult::kPopped);
        queue.RunPopped();
      }
    };
    steps(100);
    const size_t bytes = queue.allocated_bytes();
    steps(5000);
    EXPECT_EQ(queue.allocated_bytes(), bytes);
    EXPECT_EQ(live, 1);
    queue.Push(T(1000000), make(1));  // Pending at destruction.
    EXPECT_EQ(live, 2);
  }
  EXPECT_EQ(live, 0);
}

// FIFO mode keeps no keys (order is by position), so only tie-break keys
// run out; renumbering them is LongZeroDelayChainsStayOrdered's subject.
TEST(EventQueueTieBreakTest, RenumberingKeysPreservesOrder) {
  // Each event at instant 7 schedules one more at 7 while three events at 9
  // wait: the chain consumes the key room above the running event quickly
  // and renumbers the pending keys many times; time order must hold and
  // the events at 9 must all run, after the chain.
  EventQueue queue;
  queue.EnableTieBreak(Prng::FromSeed(11));
  std::vector<int64_t> times;
  struct Chain {
    EventQueue* queue;
    std::vector<int64_t>* times;
    void operator()() const {
      times->push_back(7);
      if (times->size() < 2000) queue->Push(SimTime::FromNanoseconds(7), Chain{queue, times});
    }
  };
  for (int i = 0; i < 3; ++i) queue.Push(T(9), [&times] { times.push_back(9); });
  queue.Push(T(7), Chain{&queue, &times});
  Drain(queue);
  ASSERT_EQ(times.size(), 2003u);
  EXPECT_TRUE(std::is_sorted(times.begin(), times.end()));
  EXPECT_EQ(std::count(times.begin(), times.end(), 9), 3);
}

TEST(EventQueueTest, ManyCancellationsCompactTheHeap) {
  EventQueue queue;
  std::vector<EventId> ids;
  for (int i = 0; i < 20000; ++i) ids.push_back(queue.Push(T(1000 + i), [] {}));
  for (int i = 0; i < 20000; ++i) {
    if (i % 10 != 0) {
      EXPECT_TRUE(queue.Cancel(ids[i]));
    }
  }
  EXPECT_EQ(queue.pending_count(), 2000u);
  const std::vector<int64_t> times = Drain(queue);
  ASSERT_EQ(times.size(), 2000u);
  for (size_t i = 0; i < times.size(); ++i) EXPECT_EQ(times[i], 1000 + 10 * static_cast<int64_t>(i));
}

TEST(EventQueueTest, SteadyStateReusesStorage) {
  EventQueue queue;
  for (int i = 0; i < 1000; ++i) queue.Push(T(i), [] {});
  SimTime when;
  for (int step = 0; step < 20000; ++step) {
    ASSERT_EQ(queue.PopNext(SimTime::Max(), &when), EventQueue::PopResult::kPopped);
    queue.RunPopped();
    queue.Push(when + SimDuration::Nanoseconds(1000), [] {});
  }
  const size_t bytes = queue.allocated_bytes();
  for (int step = 0; step < 100000; ++step) {
    ASSERT_EQ(queue.PopNext(SimTime::Max(), &when), EventQueue::PopResult::kPopped);
    queue.RunPopped();
    queue.Push(when + SimDuration::Nanoseconds(1000), [] {});
  }
  EXPECT_EQ(queue.allocated_bytes(), bytes);
}

// Zero costs put whole runs at one instant: every event schedules its
// successor for now while a thousand others of that instant are pending.
// Order stays FIFO and memory stays bounded (the front never runs dry).
TEST(EventQueueTest, ZeroDelaySteadyStateIsFifoAndBounded) {
  EventQueue queue;
  std::vector<int> ran;
  int next_label = 0;
  for (; next_label < 1000; ++next_label) queue.Push(T(5), [&ran, l = next_label] { ran.push_back(l); });
  SimTime when;
  size_t bytes = 0;
  for (int step = 0; step < 200000; ++step) {
    ASSERT_EQ(queue.PopNext(SimTime::Max(), &when), EventQueue::PopResult::kPopped);
    ASSERT_EQ(when, T(5));
    queue.RunPopped();
    ASSERT_EQ(ran.back(), step);
    queue.Push(T(5), [&ran, l = next_label++] { ran.push_back(l); });
    if (step == 20000) bytes = queue.allocated_bytes();
  }
  EXPECT_EQ(queue.allocated_bytes(), bytes);
}

// Events scheduled for the executing instant run after the events of that
// instant scheduled earlier, in schedule order, through both pop paths; a
// cancelled one next in line, a peek, and the rebuild that drops thousands
// of cancelled entries keep that order.
TEST(EventQueueTest, EventsForTheExecutingInstantRunAfterItsEarlierOnes) {
  for (const bool run_next : {false, true}) {
    SCOPED_TRACE(run_next ? "RunNext" : "PopNext");
    EventQueue queue;
    std::vector<std::string> ran;
    std::vector<EventId> cancel_later;
    const auto pop = [&](SimTime limit) {
      if (run_next) {
        int64_t now_ns = 0;
        return queue.RunNext(limit, &now_ns);
      }
      SimTime when;
      const EventQueue::PopResult result = queue.PopNext(limit, &when);
      if (result == EventQueue::PopResult::kPopped) queue.RunPopped();
      return result;
    };
    queue.Push(T(10), [&] {
      ran.push_back("a");
      queue.Push(T(10), [&] { ran.push_back("d"); });
      cancel_later.push_back(queue.Push(T(10), [&] { ran.push_back("e"); }));
      queue.Push(T(10), [&] {
        ran.push_back("f");
        queue.Push(T(10), [&] { ran.push_back("g"); });
      });
      queue.Push(T(11), [&] { ran.push_back("i"); });
    });
    queue.Push(T(10), [&] { ran.push_back("b"); });
    queue.Push(T(20), [&] { ran.push_back("j"); });
    queue.Push(T(10), [&] { ran.push_back("c"); });
    ASSERT_EQ(pop(SimTime::Max()), EventQueue::PopResult::kPopped);  // a
    EXPECT_EQ(queue.PeekTime(), T(10));
    ASSERT_EQ(pop(SimTime::Max()), EventQueue::PopResult::kPopped);  // b
    ASSERT_EQ(pop(SimTime::Max()), EventQueue::PopResult::kPopped);  // c
    ASSERT_EQ(pop(SimTime::Max()), EventQueue::PopResult::kPopped);  // d
    ASSERT_TRUE(queue.Cancel(cancel_later[0]));                      // e, next of its instant
    EXPECT_EQ(queue.PeekTime(), T(10));
    while (pop(SimTime::Max()) == EventQueue::PopResult::kPopped) {
    }
    EXPECT_EQ(ran, (std::vector<std::string>{"a", "b", "c", "d", "f", "g", "i", "j"}));

    // 5000 events of the executing instant, 4500 of them cancelled: the
    // rebuild (more dead entries than live ones) keeps the order.
    ran.clear();
    std::vector<EventId> ids;
    queue.Push(T(30), [&] {
      for (int i = 0; i < 5000; ++i) {
        ids.push_back(queue.Push(T(30), [&ran, i] { ran.push_back(absl::StrCat(i)); }));
      }
      queue.Push(T(31), [&] { ran.push_back("later"); });
      for (int i = 0; i < 5000; ++i) {
        if (i % 10 != 3) {
          ASSERT_TRUE(queue.Cancel(ids[static_cast<size_t>(i)]));
        }
      }
    });
    while (pop(SimTime::Max()) == EventQueue::PopResult::kPopped) {
    }
    ASSERT_EQ(ran.size(), 501u);
    for (size_t i = 0; i < 500; ++i) EXPECT_EQ(ran[i], absl::StrCat(10 * i + 3));
    EXPECT_EQ(ran.back(), "later");
  }
}

// Random schedule / cancel / pop against a reference ordered by (time, seq).
// `delay` draws the distance from now of each new event.
template <typename DrawDelay>
void MatchReferenceQueue(uint64_t seed, int steps, DrawDelay delay) {
  Prng prng = Prng::FromSeed(seed);
  EventQueue queue;
  std::map<std::pair<int64_t, uint64_t>, int> reference;  // (time, seq) -> label.
  std::map<int, std::pair<EventId, std::pair<int64_t, uint64_t>>> handles;
  std::vector<int> ran;
  uint64_t seq = 0;
  int next_label = 0;
  int64_t now = 0;
  for (int step = 0; step < steps; ++step) {
    const uint64_t op = prng.Below(10);
    if (op < 5) {
      const int64_t when = now + delay(prng);
      const int label = next_label++;
      const EventId id = queue.Push(T(when), [&ran, label] { ran.push_back(label); });
      reference[{when, seq}] = label;
      handles[label] = {id, {when, seq}};
      ++seq;
    } else if (op < 7 && !handles.empty()) {
      auto it = handles.lower_bound(static_cast<int>(prng.Below(static_cast<uint64_t>(next_label))));
      if (it == handles.end()) it = handles.begin();
      EXPECT_TRUE(queue.Cancel(it->second.first));
      reference.erase(it->second.second);
      handles.erase(it);
    } else if (!reference.empty()) {
      SimTime when;
      ASSERT_EQ(queue.PopNext(SimTime::Max(), &when), EventQueue::PopResult::kPopped);
      const auto expected = reference.begin();
      ASSERT_EQ(when.nanoseconds(), expected->first.first);
      queue.RunPopped();
      ASSERT_EQ(ran.back(), expected->second);
      now = when.nanoseconds();
      handles.erase(expected->second);
      reference.erase(expected);
    }
    ASSERT_EQ(queue.pending_count(), reference.size());
  }
}

TEST(EventQueueTest, RandomOperationsMatchAReferenceQueue) {
  MatchReferenceQueue(7, 200000, [](Prng& prng) { return static_cast<int64_t>(prng.Below(50)); });
}

// Delays spread over every radix level, with many ties at the current
// instant: exercises the counting sort, the comparison sort, redistribution
// and in-order insertion into the front.
TEST(EventQueueTest, WideDelaysMatchAReferenceQueue) {
  MatchReferenceQueue(8, 200000, [](Prng& prng) -> int64_t {
    switch (prng.Below(6)) {
      case 0: return 0;
      case 1: return static_cast<int64_t>(prng.Below(64));
      case 2: return static_cast<int64_t>(prng.Below(5000));
      case 3: return static_cast<int64_t>(prng.Below(1u << 20));
      case 4: return static_cast<int64_t>(prng.Below(uint64_t{1} << 44));
      default: return 64 * static_cast<int64_t>(prng.Below(8));
    }
  });
}

// Dense: a few hundred distinct times over thousands of pending events, so
// that buckets exceed the sort bounds and are redistributed.
TEST(EventQueueTest, DenseTiesMatchAReferenceQueue) {
  MatchReferenceQueue(9, 300000, [](Prng& prng) { return static_cast<int64_t>(prng.Below(300)); });
}

// The hold model at scale, in both modes, against a reference that knows
// every event's full sort key: (time, sequence) in FIFO mode; in tie-break
// mode (time, key, slot), the key replayed from the same PRNG stream by the
// rule the queue documents (below 2^31 for a later time; above the running
// event's key for the current instant). Thousands of events share each
// nanosecond, so buckets overflow every sort bound and are redistributed.
void HoldAgainstReference(bool tie_break, size_t pending, int steps) {
  constexpr uint64_t kSpan = uint64_t{1} << 31;
  EventQueue queue;
  Prng keys = Prng::FromSeed(11);
  if (tie_break) queue.EnableTieBreak(keys);
  Prng prng = Prng::FromSeed(12);
  struct Key {
    int64_t time;
    uint64_t key;
    uint32_t slot;
    auto operator<=>(const Key&) const = default;
  };
  std::map<Key, int> reference;
  uint64_t seq = 0;
  int64_t now = 0;
  Key running{0, 0, 0};
  int ran = -1;
  int next_label = 0;
  const auto push = [&](int64_t when) {
    uint64_t key = seq++;
    if (tie_break) {
      key = when > running.time ? keys.Below(kSpan)
                                : running.key + 1 + keys.Below(std::min<uint64_t>(0xFFFFFFFFu - running.key, kSpan));
    }
    const int label = next_label++;
    const EventId id = queue.Push(T(when), [&ran, label] { ran = label; });
    reference[Key{when, key, id.slot}] = label;
  };
  for (size_t i = 0; i < pending; ++i) push(static_cast<int64_t>(prng.Below(2000)));
  for (int step = 0; step < steps; ++step) {
    SimTime when;
    ASSERT_EQ(queue.PopNext(SimTime::Max(), &when), EventQueue::PopResult::kPopped);
    const auto expected = reference.begin();
    ASSERT_EQ(when.nanoseconds(), expected->first.time);
    queue.RunPopped();
    ASSERT_EQ(ran, expected->second) << "step " << step;
    now = when.nanoseconds();
    running = expected->first;
    reference.erase(expected);
    push(now + (prng.Below(8) == 0 ? 0 : static_cast<int64_t>(prng.Below(2000))));
  }
}

TEST(EventQueueTest, HoldModelAtScaleMatchesAReference) { HoldAgainstReference(false, 20000, 200000); }
TEST(EventQueueTieBreakTest, HoldModelAtScaleMatchesAReference) { HoldAgainstReference(true, 20000, 200000); }
TEST(EventQueueTieBreakTest, SparseHoldModelMatchesAReference) {
  HoldAgainstReference(true, 50, 100000);
  HoldAgainstReference(true, 2000, 100000);
}
TEST(EventQueueTest, SparseHoldModelMatchesAReference) {
  HoldAgainstReference(false, 50, 100000);
  HoldAgainstReference(false, 2000, 100000);
}

// Tie-break mode: the order of a set of same-time events.
std::vector<int> TieBreakOrder(uint64_t seed, int count) {
  EventQueue queue;
  queue.EnableTieBreak(Prng::FromSeed(seed));
  std::vector<int> order;
  for (int i = 0; i < count; ++i) queue.Push(T(100), [&order, i] { order.push_back(i); });
  Drain(queue);
  return order;
}

TEST(EventQueueTieBreakTest, SameSeedSameOrderOtherSeedsOtherOrders) {
  EXPECT_EQ(TieBreakOrder(1, 8), TieBreakOrder(1, 8));
  std::set<std::vector<int>> orders;
  for (uint64_t seed = 0; seed < 20; ++seed) orders.insert(TieBreakOrder(seed, 8));
  EXPECT_GE(orders.size(), 15u);
}

TEST(EventQueueTieBreakTest, EveryPermutationOfFourIsReachable) {
  std::set<std::vector<int>> orders;
  for (uint64_t seed = 0; seed < 2000 && orders.size() < 24; ++seed) orders.insert(TieBreakOrder(seed, 4));
  EXPECT_EQ(orders.size(), 24u);
}

TEST(EventQueueTieBreakTest, TimeOrderAndCausalityAreKept) {
  for (uint64_t seed = 0; seed < 200; ++seed) {
    EventQueue queue;
    queue.EnableTieBreak(Prng::FromSeed(seed));
    std::vector<int> order;
    queue.Push(T(20), [&order] { order.push_back(20); });
    queue.Push(T(10), [&] {
      order.push_back(10);
      // Scheduled at the executing instant: may interleave with the other
      // same-time event (11) but never precedes the running one.
      queue.Push(T(10), [&order] { order.push_back(12); });
    });
    queue.Push(T(10), [&order] { order.push_back(11); });
    Drain(queue);
    ASSERT_EQ(order.size(), 4u);
    EXPECT_EQ(order.back(), 20);
    const auto pos = [&order](int v) { return std::find(order.begin(), order.end(), v) - order.begin(); };
    EXPECT_LT(pos(10), pos(12));
  }
}

TEST(EventQueueTieBreakTest, ChildMayRunBeforeAPendingSibling) {
  // Zero-delay races need both orders: A's child before B, and after.
  std::set<std::vector<int>> orders;
  for (uint64_t seed = 0; seed < 500; ++seed) {
    EventQueue queue;
    queue.EnableTieBreak(Prng::FromSeed(seed));
    std::vector<int> order;
    queue.Push(T(10), [&] {
      order.push_back(1);
      queue.Push(T(10), [&order] { order.push_back(3); });
    });
    queue.Push(T(10), [&order] { order.push_back(2); });
    Drain(queue);
    orders.insert(order);
  }
  EXPECT_EQ(orders, (std::set<std::vector<int>>{{1, 2, 3}, {1, 3, 2}, {2, 1, 3}}));
}

TEST(EventQueueTieBreakTest, LongZeroDelayChainsStayOrdered) {
  // Each event schedules its successor at the same instant; key space is
  // consumed quickly and renumbered; the chain must stay in order.
  EventQueue queue;
  queue.EnableTieBreak(Prng::FromSeed(3));
  int count = 0;
  struct Chain {
    EventQueue* queue;
    int* count;
    void operator()() const {
      if (++*count < 5000) queue->Push(SimTime::FromNanoseconds(1), Chain{queue, count});
    }
  };
  queue.Push(T(1), Chain{&queue, &count});
  Drain(queue);
  EXPECT_EQ(count, 5000);
}

TEST(EventQueueDeathTest, SchedulingIntoThePastAborts) {
  EventQueue queue;
  queue.Push(T(10), [] {});
  SimTime when;
  ASSERT_EQ(queue.PopNext(SimTime::Max(), &when), EventQueue::PopResult::kPopped);
  queue.RunPopped();
  EXPECT_DEATH(queue.Push(T(9), [] {}), "scheduled before the last popped one");
}

}  // namespace
}  // namespace vmbsim::sim
