// Goal: the monitor page model coalesces every set inside a window into one
// host signal delivered exactly one latency after the first set, keeps the
// byte layout of hv_monitor_page, applies latency changes from the next
// window, and supports the periodic-poll mode with delays in (0, L] and the
// rate-limited mode (an isolated set at once, a busy id once per L, its
// state in the page's armed and next_checktime words).
#include "sim/fabric/monitor_page.h"

#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace vmbsim::fabric {
namespace {

using sim::SimDuration;
using sim::SimTime;

struct Fixture {
  sim::Simulator sim{{.seed = 1}};
  std::array<uint8_t, 4096> page{};
  MonitorPage monitor{&sim, page.data(), 1, MonitorMode::kTimerPerId, sim::Prng::FromSeed(1)};
  std::vector<std::pair<int64_t, uint8_t>> fires;
  Fixture() {
    monitor.SetFireHandler([this](uint8_t id, uint32_t, uint16_t) { fires.emplace_back(sim.Now().nanoseconds(), id); });
  }
  void SetAt(int64_t t, uint8_t id) {
    struct Ev {
      MonitorPage* m;
      uint8_t id;
      void operator()() const { EXPECT_TRUE(m->SetPending(id).ok()); }
    };
    sim.ScheduleAt(SimTime::FromNanoseconds(t), Ev{&monitor, id});
  }
};

TEST(MonitorPageTest, SetsInsideOneWindowCoalesceIntoOneSignal) {
  Fixture f;
  ASSERT_TRUE(f.monitor.Configure(37, /*latency_100ns=*/1000, /*connection_id=*/0x2001, /*flag=*/0).ok());
  // First set at 5 us opens a 100 us window; nine more sets inside it.
  for (int i = 0; i < 10; ++i) f.SetAt(5000 + i * 9000, 37);
  f.sim.Run({});
  ASSERT_EQ(f.fires.size(), 1u);
  EXPECT_EQ(f.fires[0].first, 5000 + 100000);  // Exactly one latency after the first set.
  EXPECT_EQ(f.monitor.sets(), 10u);
  EXPECT_EQ(f.monitor.coalesced(), 9u);
  EXPECT_FALSE(f.monitor.pending(37));
  // A set after the window opens a new one.
  f.SetAt(200000, 37);
  f.sim.Run({});
  ASSERT_EQ(f.fires.size(), 2u);
  EXPECT_EQ(f.fires[1].first, 300000);
}

TEST(MonitorPageTest, ByteLayoutMatchesHvMonitorPage) {
  Fixture f;
  ASSERT_TRUE(f.monitor.Configure(37, 250, 0x12345678, 9).ok());  // Group 1, bit 5.
  uint16_t latency;
  std::memcpy(&latency, f.page.data() + 0x240 + 2 * 37, 2);
  EXPECT_EQ(latency, 250);
  uint32_t connection;
  std::memcpy(&connection, f.page.data() + 0x440 + 8 * 37, 4);
  EXPECT_EQ(connection, 0x00345678u);  // hv_connection_id keeps the low 24 bits.
  uint16_t flag;
  std::memcpy(&flag, f.page.data() + 0x440 + 8 * 37 + 4, 2);
  EXPECT_EQ(flag, 9);
  uint32_t trigger_state;
  std::memcpy(&trigger_state, f.page.data(), 4);
  EXPECT_EQ(trigger_state, 1u << 1);  // Group 1 enabled.
  f.SetAt(0, 37);
  f.sim.Run({.end_time = SimTime::FromNanoseconds(1)});
  uint32_t pending_group1;
  std::memcpy(&pending_group1, f.page.data() + 0x008 + 8 * 1, 4);
  EXPECT_EQ(pending_group1, 1u << 5);
}

TEST(MonitorPageTest, LatencyChangeAppliesFromTheNextWindow) {
  Fixture f;
  ASSERT_TRUE(f.monitor.Configure(3, 1000, 1, 0).ok());
  f.SetAt(0, 3);
  f.sim.ScheduleAt(SimTime::FromNanoseconds(10), [&f] { ASSERT_TRUE(f.monitor.SetLatency(3, 10).ok()); });
  f.SetAt(50, 3);  // Coalesces into the open 100 us window.
  f.sim.Run({});
  ASSERT_EQ(f.fires.size(), 1u);
  EXPECT_EQ(f.fires[0].first, 100000);
  f.SetAt(200000, 3);
  f.sim.Run({});
  ASSERT_EQ(f.fires.size(), 2u);
  EXPECT_EQ(f.fires[1].first, 201000);  // New latency: 1 us.
}

TEST(MonitorPageTest, ZeroLatencySignalsAtOnce) {
  Fixture f;
  ASSERT_TRUE(f.monitor.Configure(0, 0, 1, 0).ok());
  f.SetAt(777, 0);
  f.sim.Run({});
  ASSERT_EQ(f.fires.size(), 1u);
  EXPECT_EQ(f.fires[0].first, 777);
}

TEST(MonitorPageTest, BadAndUnwatchedIds) {
  Fixture f;
  EXPECT_EQ(f.monitor.Configure(128, 1, 1, 0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(f.monitor.SetPending(200).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(f.monitor.SetPending(5).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(f.monitor.unwatched_sets(), 1u);
  f.sim.Run({});
  EXPECT_TRUE(f.fires.empty());
}

TEST(MonitorPageTest, ReleaseCancelsAnOpenWindow) {
  Fixture f;
  ASSERT_TRUE(f.monitor.Configure(9, 1000, 1, 0).ok());
  f.SetAt(0, 9);
  f.sim.ScheduleAt(SimTime::FromNanoseconds(10), [&f] { ASSERT_TRUE(f.monitor.Release(9).ok()); });
  f.sim.Run({});
  EXPECT_TRUE(f.fires.empty());
  EXPECT_FALSE(f.monitor.pending(9));
}

TEST(MonitorPageTest, PeriodicPollDelaysAreWithinOneLatency) {
  sim::Simulator sim({.seed = 1});
  std::array<uint8_t, 4096> page{};
  MonitorPage monitor(&sim, page.data(), 1, MonitorMode::kPeriodicPoll, sim::Prng::FromSeed(5));
  std::vector<int64_t> delays;
  int64_t last_set = 0;
  monitor.SetFireHandler([&](uint8_t, uint32_t, uint16_t) { delays.push_back(sim.Now().nanoseconds() - last_set); });
  ASSERT_TRUE(monitor.Configure(1, 1000, 1, 0).ok());  // 100 us polls.
  for (int i = 0; i < 50; ++i) {
    const int64_t t = 1000 + i * 250000 + i * 7919;
    sim.ScheduleAt(SimTime::FromNanoseconds(t), [&monitor, &last_set, t] {
      last_set = t;
      ASSERT_TRUE(monitor.SetPending(1).ok());
    });
  }
  sim.Run({});
  ASSERT_EQ(delays.size(), 50u);
  int64_t min_delay = delays[0];
  int64_t max_delay = delays[0];
  for (int64_t d : delays) {
    EXPECT_GT(d, 0);
    EXPECT_LE(d, 100000);
    min_delay = std::min(min_delay, d);
    max_delay = std::max(max_delay, d);
  }
  EXPECT_LT(min_delay, 30000);  // Spread over the window, not pinned to L.
  EXPECT_GT(max_delay, 70000);
}

TEST(MonitorPageTest, RateLimitedSignalsAnIsolatedSetAtOnceAndABusyIdOncePerLatency) {
  sim::Simulator sim({.seed = 1});
  std::array<uint8_t, 4096> page{};
  MonitorPage monitor(&sim, page.data(), 1, MonitorMode::kRateLimited, sim::Prng::FromSeed(5));
  std::vector<int64_t> fires;
  monitor.SetFireHandler([&](uint8_t, uint32_t, uint16_t) { fires.push_back(sim.Now().nanoseconds()); });
  ASSERT_TRUE(monitor.Configure(33, 1000, 1, 0).ok());  // L = 100 us; group 1, bit 1.
  auto set_at = [&](int64_t t) {
    sim.ScheduleAt(SimTime::FromNanoseconds(t), [&monitor] { ASSERT_TRUE(monitor.SetPending(33).ok()); });
  };
  // Isolated: at once. A set 10 us after that signal waits for the check at
  // 5 + 100 us; sets inside that wait coalesce. A set long after is at once.
  set_at(5000);
  set_at(15000);
  set_at(40000);
  set_at(500000);
  uint32_t armed_mid = 0;
  uint32_t next_check_mid = 0;
  sim.ScheduleAt(SimTime::FromNanoseconds(50000), [&] {
    std::memcpy(&armed_mid, page.data() + 0x008 + 8 * 1 + 4, 4);
    std::memcpy(&next_check_mid, page.data() + 0x040 + 4 * 33, 4);
  });
  sim.Run({});
  EXPECT_EQ(fires, (std::vector<int64_t>{5000, 105000, 500000}));
  EXPECT_EQ(monitor.coalesced(), 1u);
  EXPECT_EQ(armed_mid, 1u << 1);          // Armed while the check at 105 us waits.
  EXPECT_EQ(next_check_mid, 105000u / 100);  // In 100 ns units.
  uint32_t armed_end = 1;
  std::memcpy(&armed_end, page.data() + 0x008 + 8 * 1 + 4, 4);
  EXPECT_EQ(armed_end, 0u);
  EXPECT_EQ(std::string(MonitorModeName(monitor.mode())), "rate_limited");
}

TEST(MonitorPageTest, OnlyTheRateLimitedModeWritesTheArmedAndNextCheckWords) {
  Fixture f;  // kTimerPerId.
  ASSERT_TRUE(f.monitor.Configure(33, 1000, 1, 0).ok());
  f.SetAt(5000, 33);
  f.sim.Run({});
  for (uint32_t offset = 0x040; offset < 0x240; ++offset) ASSERT_EQ(f.page[offset], 0) << offset;
  for (uint32_t group = 0; group < 4; ++group) {
    uint32_t armed = 1;
    std::memcpy(&armed, f.page.data() + 0x008 + 8 * group + 4, 4);
    EXPECT_EQ(armed, 0u);
  }
}

}  // namespace
}  // namespace vmbsim::fabric
