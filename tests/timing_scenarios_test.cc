// Goal: the timing model's library scenarios show what they claim, against
// the old behaviour on the same traffic. preemption_tail: the DISPATCH
// channel's p99 round trip is shorter when its interrupt and DPC preempt
// the other channel's long PASSIVE batch than when they wait for it
// (fabric.preemption "none"), and the host VP's time splits by level.
// sender_pays: every guest VP that sends pays its own copies and signals,
// the senders' copies serialise on the ring lock with exactly the waits the
// arrival pattern implies, and the guest VPs' busy time is exactly the sum
// of what was charged.
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "tests/scenario_testing.h"
#include "tools/scenario/loader.h"
#include "tools/scenario/runner.h"

namespace vmbsim::scenario {
namespace {

using testing::RunLibrary;

const ChannelReport* Channel(const RunReport& report, const std::string& name) {
  for (const ChannelReport& c : report.channels) {
    if (c.name == name) return &c;
  }
  ADD_FAILURE() << "no channel " << name;
  return nullptr;
}

int64_t P99RoundTrip(const ChannelReport& c) {
  return c.metrics.guest_to_host.send_to_completion_ns.ValueAtQuantile(0.99);
}

TEST(PreemptionTailTest, TheDispatchChannelsTailImprovesWithPreemption) {
  const RunReport packet = RunLibrary("preemption_tail");
  const RunReport none = RunLibrary("preemption_tail", {"fabric.preemption=none"});
  EXPECT_TRUE(packet.expectations_met);
  ASSERT_EQ(packet.vps.size(), 3u);  // Host VP 0, guest VPs 0 and 1.
  ASSERT_EQ(none.vps.size(), 3u);
  const ChannelReport* latency_packet = Channel(packet, "latency");
  const ChannelReport* latency_none = Channel(none, "latency");
  const ChannelReport* bulk_packet = Channel(packet, "bulk");
  ASSERT_NE(latency_packet, nullptr);
  ASSERT_NE(latency_none, nullptr);
  ASSERT_NE(bulk_packet, nullptr);
  EXPECT_EQ(latency_packet->metrics.guest_to_host.transactions_finished, 400u);
  EXPECT_EQ(bulk_packet->metrics.guest_to_host.transactions_finished, 640u);
  // Without preemption the latency channel waits behind 640 us batches; with
  // it, it does not: at least halved.
  EXPECT_LT(2 * P99RoundTrip(*latency_packet), P99RoundTrip(*latency_none))
      << P99RoundTrip(*latency_packet) << " ns against " << P99RoundTrip(*latency_none) << " ns";
  // The host VP: preemptions happen only with preemption on, and its time by
  // level adds up to its busy time in both runs.
  const VpReport& host_packet = packet.vps[0];
  const VpReport& host_none = none.vps[0];
  EXPECT_GT(host_packet.preemptions, 0u);
  EXPECT_EQ(host_none.preemptions, 0u);
  for (const VpReport& vp : {host_packet, host_none}) {
    EXPECT_EQ(vp.isr_ns + vp.dpc_ns + vp.passive_ns, vp.busy_ns);
    EXPECT_GT(vp.isr_ns, 0);
    EXPECT_GT(vp.dpc_ns, 0);
    // 640 packets of 20 us of service, all at PASSIVE.
    EXPECT_GE(vp.passive_ns, 640 * 20000);
  }
}

TEST(SenderPaysTest, EachSendingVpPaysAndTheBusyTimeAddsUp) {
  const RunReport report = RunLibrary("sender_pays");
  EXPECT_TRUE(report.expectations_met);
  const ChannelReport* c = Channel(report, "shared");
  ASSERT_NE(c, nullptr);
  const fabric::DataPathCounters& guest = c->totals.guest;
  EXPECT_EQ(guest.packets_sent, 400u);
  EXPECT_EQ(guest.packets_received, 400u);  // The completions.
  // 100 bursts of one send per VP at the same instant: the 2nd, 3rd and 4th
  // copy wait 500, 1000 and 1500 ns for the lock.
  EXPECT_EQ(guest.lock_waits, 300u);
  EXPECT_EQ(guest.lock_wait_ns, 100u * (500 + 1000 + 1500));
  // Every guest VP sent (so paid), and the guest VPs' busy time is exactly
  // the copies out and in (500 ns each), the signal hypercalls (1500 ns) and
  // the lock waits: nothing charged to nobody, nothing twice.
  int64_t guest_busy = 0;
  for (const VpReport& vp : report.vps) {
    if (vp.partition != 1) continue;
    EXPECT_GE(vp.busy_ns, 100 * 500) << "guest VP " << vp.vp;
    EXPECT_EQ(vp.isr_ns + vp.dpc_ns + vp.passive_ns, vp.busy_ns);
    guest_busy += vp.busy_ns;
  }
  EXPECT_EQ(guest_busy, static_cast<int64_t>((guest.packets_sent + guest.packets_received) * 500 +
                                             guest.signals_sent * 1500 + guest.lock_wait_ns));
  // VP by VP: the first of each burst (VP 0) finds the ring empty and
  // signals; the others find it not yet drained and stay quiet, and wait 1,
  // 2 and 3 copies for the lock. VP 0 also reads the 400 completions.
  EXPECT_EQ(guest.signals_sent, 100u);
  const int64_t expected_ns[] = {100 * (500 + 1500) + 400 * 500, 100 * (500 + 500), 100 * (500 + 1000),
                                 100 * (500 + 1500)};
  for (const VpReport& vp : report.vps) {
    if (vp.partition == 1) {
      EXPECT_EQ(vp.busy_ns, expected_ns[vp.vp]) << "guest VP " << vp.vp;
    }
  }
}

// The old placement on the same traffic: every send from the channel's VP.
// One VP pays everything and never waits for the lock.
TEST(SenderPaysTest, OneSendingVpPaysEverythingAndNeverWaits) {
  const RunReport report = RunLibrary("sender_pays", {"workloads.0.send_vps=[0]"});
  EXPECT_TRUE(report.expectations_met);
  const ChannelReport* c = Channel(report, "shared");
  ASSERT_NE(c, nullptr);
  const fabric::DataPathCounters& guest = c->totals.guest;
  EXPECT_EQ(guest.lock_waits, 0u);
  int64_t guest_busy = 0;
  for (const VpReport& vp : report.vps) {
    if (vp.partition != 1) continue;
    if (vp.vp != 0) {
      EXPECT_EQ(vp.busy_ns, 0) << "guest VP " << vp.vp;
    }
    guest_busy += vp.busy_ns;
  }
  EXPECT_EQ(guest_busy, static_cast<int64_t>((guest.packets_sent + guest.packets_received) * 500 +
                                             guest.signals_sent * 1500));
}

}  // namespace
}  // namespace vmbsim::scenario
