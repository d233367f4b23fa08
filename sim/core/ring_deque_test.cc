#include "sim/core/ring_deque.h"

#include <algorithm>
#include <deque>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "sim/core/prng.h"

namespace vmbsim::sim {
namespace {

TEST(RingDequeTest, KeepsFirstInFirstOutAcrossTheWrapAndGrowth) {
  RingDeque<int> q;
  EXPECT_TRUE(q.empty());
  int next_in = 0;
  int next_out = 0;
  // Fill and drain unevenly so the head wraps at every capacity it grows to.
  for (int round = 0; round < 200; ++round) {
    for (int i = 0; i < round % 13 + 1; ++i) q.push_back(next_in++);
    for (int i = 0; i < round % 7 + 1 && !q.empty(); ++i) {
      EXPECT_EQ(q.front(), next_out++);
      q.pop_front();
    }
    ASSERT_EQ(q.size(), static_cast<size_t>(next_in - next_out));
    if (!q.empty()) {
      EXPECT_EQ(q.back(), next_in - 1);
    }
    for (size_t i = 0; i < q.size(); ++i) ASSERT_EQ(q[i], next_out + static_cast<int>(i));
  }
}

TEST(RingDequeTest, MatchesStdDequeUnderARandomMixOfOperations) {
  RingDeque<std::string> ring;
  std::deque<std::string> reference;
  Prng prng = Prng::FromSeed(7);
  for (int step = 0; step < 20000; ++step) {
    const uint64_t op = prng.Next64() % 10;
    if (op < 5) {
      const std::string value = std::to_string(step) + std::string(step % 40, 'x');  // Some outgrow SSO.
      ring.push_back(value);
      reference.push_back(value);
    } else if (op < 9) {
      if (reference.empty()) continue;
      ASSERT_EQ(ring.front(), reference.front());
      ring.pop_front();
      reference.pop_front();
    } else {
      const uint64_t modulus = prng.Next64() % 5 + 2;
      const auto drop = [modulus](const std::string& s) { return s.size() % modulus == 0; };
      const size_t before = reference.size();
      std::erase_if(reference, drop);
      EXPECT_EQ(ring.EraseIf(drop), before - reference.size());
    }
    ASSERT_EQ(ring.size(), reference.size());
    ASSERT_TRUE(std::equal(ring.begin(), ring.end(), reference.begin(), reference.end()));
  }
}

TEST(RingDequeTest, DestroysWhatItHoldsAndMovesWithoutCopies) {
  auto tracked = std::make_shared<int>(0);
  {
    RingDeque<std::shared_ptr<int>> q;
    for (int i = 0; i < 100; ++i) q.push_back(tracked);
    for (int i = 0; i < 40; ++i) q.pop_front();
    EXPECT_EQ(tracked.use_count(), 61);
    RingDeque<std::shared_ptr<int>> moved(std::move(q));
    EXPECT_TRUE(q.empty());  // NOLINT: moved-from is empty by contract.
    EXPECT_EQ(moved.size(), 60u);
    EXPECT_EQ(tracked.use_count(), 61);
    RingDeque<std::shared_ptr<int>> other;
    other.push_back(tracked);
    other.swap(moved);
    EXPECT_EQ(other.size(), 60u);
    EXPECT_EQ(moved.size(), 1u);
    moved = std::move(other);
    EXPECT_EQ(tracked.use_count(), 61);
    moved.clear();
    EXPECT_EQ(tracked.use_count(), 1);
    moved.push_back(tracked);
  }
  EXPECT_EQ(tracked.use_count(), 1);
}

TEST(RingDequeTest, IteratorsAreRandomAccessForBinarySearch) {
  RingDeque<int> q;
  for (int i = 0; i < 6; ++i) q.push_back(i);
  for (int i = 0; i < 5; ++i) q.pop_front();
  for (int i = 6; i < 30; i += 2) q.push_back(i);  // Wrapped: 5, 6, 8, ..., 28.
  const auto it = std::lower_bound(q.begin(), q.end(), 17);
  ASSERT_NE(it, q.end());
  EXPECT_EQ(*it, 18);
  EXPECT_EQ(it - q.begin(), 7);
  const RingDeque<int>& view = q;
  EXPECT_EQ(*(view.end() - 1), 28);
  // erase keeps the order and returns the next element's position.
  auto next = q.erase(q.begin() + 7);
  EXPECT_EQ(*next, 20);
  EXPECT_EQ(q.size(), 12u);
  next = q.erase(q.end() - 1);
  EXPECT_EQ(next, q.end());
  EXPECT_EQ(q.back(), 26);
  EXPECT_EQ(q[6], 16);
}

TEST(RingDequeTest, AnEmptiedRingStartsAgainAtItsFirstSlot) {
  RingDeque<int> q;
  for (int i = 0; i < 100; ++i) q.push_back(i);  // Grown to 128 slots.
  const int* first = &q.front();
  for (int i = 0; i < 100; ++i) q.pop_front();
  q.push_back(7);
  EXPECT_EQ(&q.front(), first);  // Not slot 100.
  q.push_back(8);
  q.pop_front();
  EXPECT_EQ(&q.front(), first + 1);  // Not emptied: the ring moves on.
  EXPECT_EQ(q.front(), 8);
  q.pop_front();
  q.push_back(9);
  EXPECT_EQ(&q.front(), first);
  EXPECT_EQ(q.size(), 1u);
}

TEST(RingDequeTest, EraseEraseIfAndClearThatEmptyItStartAgainAtTheFirstSlot) {
  RingDeque<int> q;
  for (int i = 0; i < 100; ++i) q.push_back(i);
  const int* first = &q.front();
  for (int i = 0; i < 50; ++i) q.pop_front();  // The front is slot 50 now.
  EXPECT_EQ(q.EraseIf([](int v) { return v % 2 == 0; }), 25u);
  EXPECT_EQ(&q.front(), first + 50);  // Not emptied: the front stays.
  EXPECT_EQ(q.front(), 51);
  EXPECT_EQ(q.EraseIf([](int) { return true; }), 25u);
  q.push_back(1);
  EXPECT_EQ(&q.front(), first);
  q.push_back(2);
  q.pop_front();
  q.erase(q.begin());  // Empties it, from slot 1.
  q.push_back(3);
  EXPECT_EQ(&q.front(), first);
  q.push_back(4);
  q.pop_front();
  q.clear();  // From slot 1.
  q.push_back(5);
  EXPECT_EQ(&q.front(), first);
  EXPECT_EQ(q.size(), 1u);
}

}  // namespace
}  // namespace vmbsim::sim
