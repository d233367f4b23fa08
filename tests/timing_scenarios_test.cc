// Goal: the timing model's library scenarios show what they claim, against
// the old behaviour on the same traffic. preemption_tail: the DISPATCH
// channel's p99 round trip is shorter when its interrupt and DPC preempt
// the other channel's long PASSIVE batch than when they wait for it
// (fabric.preemption "none"), and the host VP's time splits by level.
// sender_pays: every guest VP that sends pays its own copies and signals,
// the senders' copies serialise on the ring lock with exactly the waits the
// arrival pattern implies, and the guest VPs' busy time is exactly the sum
// of what was charged. Writer policies (ring_full_backpressure with 64-byte
// requests and a NAPI-style host reader that commits every 4 packets): the
// Windows writer, woken as soon as its packet fits, blocks and is woken more
// often than OpenVMM's quarter-ring writer; a writer that publishes nothing
// is restarted by completions alone. On a one-way stream (pending_send_buggy
// without its bug), where only space signals restart the writer, the blocks
// and signals of each policy are exactly what its rule predicts, and a
// writer that publishes nothing stays blocked. reader_disciplines: the four host
// readers on the same traffic, against all four as today's DPC drain.
// linux_early_signal: a Linux-like guest drops the host's doorbell that
// arrives before its channel runs; the channel without a re-check sticks
// (and liveness says so), the one with the unstick timer recovers; with the
// KMCL policy ("hold") both complete everything.
// shared_signal: eight channels on one shared connection and monitor id
// ring every channel at each host interrupt (exact counts), and against the
// same traffic with dedicated signals take fewer host interrupts per packet
// and ring more doorbells per packet.
// MODIFYCHANNEL (channels[].retarget): the guest moves hello's channel from
// VP 1 to VP 0 mid-run; the drain moves with the interrupt, and KMCL's
// completion routines follow it (before the move every guest completion runs
// on VP 1, after it on VP 0); a move before the channel opens is refused and
// named.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kmcl/trace_kinds.h"
#include "sim/core/trace.h"
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

// ---------------------------------------------------------------------------
// Writer policies (blocked writers' pending_send_sz).

std::vector<std::string> SmallRequestsBehindAnEagerReader(const std::string& guest_policy) {
  return {"channels.0.guest_writer_policy=" + guest_policy,
          R"(workloads.0.arrival={"kind":"closed_loop","outstanding":200})", "workloads.0.size.bytes=64",
          R"(channels.0.host_reader={"kind":"napi","budget_packets":4})"};
}

TEST(WriterPolicyTest, WindowsWakesTheBlockedWriterSoonerThanTheQuarterRing) {
  const RunReport windows = RunLibrary("ring_full_backpressure", SmallRequestsBehindAnEagerReader("windows"));
  const RunReport openvmm = RunLibrary("ring_full_backpressure", SmallRequestsBehindAnEagerReader("openvmm"));
  const RunReport fixed = RunLibrary("ring_full_backpressure", SmallRequestsBehindAnEagerReader("fixed:4000"));
  for (const RunReport* r : {&windows, &openvmm, &fixed}) {
    EXPECT_TRUE(r->expectations_met);
    const ChannelReport* c = Channel(*r, "narrow");
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->metrics.guest_to_host.transactions_finished, 2000u);
  }
  // The guest writer waits for T = 88 bytes (Windows), 2048 (a quarter of
  // the 8 KiB ring) or 4000: the smaller the wait, the more often it blocks
  // and the more space signals the host's reader sends.
  const auto ring_full = [](const RunReport& r) { return Channel(r, "narrow")->totals.guest.ring_full; };
  const auto host_signals = [](const RunReport& r) { return Channel(r, "narrow")->totals.host.signals_sent; };
  EXPECT_GT(ring_full(windows), ring_full(openvmm));
  EXPECT_GT(ring_full(openvmm), ring_full(fixed));
  EXPECT_GT(host_signals(windows), host_signals(openvmm));
  EXPECT_GT(host_signals(openvmm), host_signals(fixed));
  // KMCL's default is the Windows policy: the same run.
  std::vector<std::string> by_default = SmallRequestsBehindAnEagerReader("windows");
  by_default.erase(by_default.begin());
  EXPECT_EQ(RunLibrary("ring_full_backpressure", by_default).fingerprint, windows.fingerprint);
}

TEST(WriterPolicyTest, AWriterThatPublishesNothingIsRestartedByCompletions) {
  const RunReport none = RunLibrary("ring_full_backpressure", SmallRequestsBehindAnEagerReader("none"));
  const RunReport windows = RunLibrary("ring_full_backpressure", SmallRequestsBehindAnEagerReader("windows"));
  EXPECT_TRUE(none.expectations_met);
  const ChannelReport* c = Channel(none, "narrow");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->metrics.guest_to_host.transactions_finished, 2000u);
  EXPECT_GT(c->totals.guest.ring_full, 0u);
  EXPECT_EQ(c->totals.guest.ring_full, c->totals.guest.writer_wakeups);  // Each block ended.
  // No space signals: the host signals the guest only for its completions.
  EXPECT_LT(c->totals.host.signals_sent, Channel(windows, "narrow")->totals.host.signals_sent);
  EXPECT_EQ(c->totals.host.signals_sent, c->totals.guest.doorbells);
}

// One-way streams: nothing but the host's space signal restarts a blocked
// writer, so the counts follow from the rule alone. The guest streams N
// packets of 1 KiB (footprint T = 16 + 1024 + 8 = 1048 bytes) at once into a
// ring of D data bytes; the host reads one packet per NAPI poll, spends
// 100 us on it and commits, far longer than a space signal takes to restart
// the writer. The writer fills C = floor((D - 1) / T) packets (a packet fits
// while the free space exceeds T), leaving s = D - C T, and blocks having
// published P. Each commit frees T; the host signals once the free space
// reaches P, after m = max(1, ceil((P - s) / T)) commits, and the writer,
// woken, writes m packets and blocks again: ceil((N - C) / m) blocks, each
// ended by one space signal. windows publishes P = T (m = 1), openvmm
// max(T, (D - 8) / 4 rounded up to 8), fixed:4120 max(T, 4120). none
// publishes nothing and the host sends nothing, so after the first C packets
// the writer never runs again: N - C packets stay in the send queue.

constexpr uint64_t kStreamPackets = 64;
constexpr uint64_t kStreamFootprintBytes = 1048;

std::vector<std::string> OneWayStream(uint32_t ring_pages, const std::string& policy) {
  return {"channels.0.pending_send_bug=\"none\"",
          R"(channels.0.guest_driver.params={"packet_bytes":1024,"packets_per_channel":64})",
          R"(channels.0.host_driver.params={"service_us":100})",
          R"(channels.0.host_reader={"kind":"napi","budget_packets":1})",
          absl::StrCat("channels.0.outgoing_ring_pages=", ring_pages),
          absl::StrCat("channels.0.guest_writer_policy=\"", policy, "\"")};
}

// Blocks (= space signals) the rule predicts for `published` bytes of
// pending_send_sz on a ring of `ring_pages` data pages.
uint64_t PredictedBlocks(uint32_t ring_pages, uint64_t published) {
  const uint64_t d = uint64_t{ring_pages} * 4096;
  const uint64_t c = (d - 1) / kStreamFootprintBytes;
  if (c >= kStreamPackets) return 0;
  const uint64_t s = d - c * kStreamFootprintBytes;
  const uint64_t m =
      published <= s ? 1 : std::max<uint64_t>(1, (published - s + kStreamFootprintBytes - 1) / kStreamFootprintBytes);
  return (kStreamPackets - c + m - 1) / m;
}

uint64_t RoundUp8(uint64_t bytes) { return (bytes + 7) / 8 * 8; }

TEST(WriterPolicyStreamTest, BlocksAndSpaceSignalsAreWhatEachPolicysRulePredicts) {
  for (const uint32_t pages : {2u, 4u, 8u, 16u}) {
    const uint64_t d = uint64_t{pages} * 4096;
    const struct {
      std::string policy;
      uint64_t published;
    } policies[] = {{"windows", kStreamFootprintBytes},
                    {"openvmm", std::max(kStreamFootprintBytes, RoundUp8((d - 8) / 4))},
                    {"fixed:4120", std::max<uint64_t>(kStreamFootprintBytes, 4120)}};
    for (const auto& [policy, published] : policies) {
      SCOPED_TRACE(absl::StrCat(pages, " pages, ", policy));
      const RunReport r = RunLibrary("pending_send_buggy", OneWayStream(pages, policy));
      ASSERT_TRUE(r.expectations_met);
      const ChannelReport* c = Channel(r, "stream");
      ASSERT_NE(c, nullptr);
      EXPECT_EQ(c->metrics.guest_to_host.packets_processed, kStreamPackets);
      const uint64_t blocks = PredictedBlocks(pages, published);
      EXPECT_EQ(c->totals.guest.ring_full, blocks);
      EXPECT_EQ(c->totals.guest.writer_wakeups, blocks);
      // The host sends no packets: every signal it rang was a space signal.
      EXPECT_EQ(c->totals.host.packets_sent, 0u);
      EXPECT_EQ(c->totals.host.signals_sent, blocks);
    }
  }
  // Where the rules differ the counts do: 57, 29 and 15 blocks at 2 pages.
  EXPECT_EQ(PredictedBlocks(2, kStreamFootprintBytes), 57u);
  EXPECT_EQ(PredictedBlocks(2, 2048), 29u);
  EXPECT_EQ(PredictedBlocks(2, 4120), 15u);
}

TEST(WriterPolicyStreamTest, AWriterThatPublishesNothingStaysBlockedOnAStream) {
  for (const uint32_t pages : {2u, 8u, 16u}) {
    SCOPED_TRACE(absl::StrCat(pages, " pages"));
    const RunReport r = RunLibrary("pending_send_buggy", OneWayStream(pages, "none"));
    const ChannelReport* c = Channel(r, "stream");
    ASSERT_NE(c, nullptr);
    const uint64_t fit = (uint64_t{pages} * 4096 - 1) / kStreamFootprintBytes;
    EXPECT_EQ(c->metrics.guest_to_host.packets_processed, fit);
    EXPECT_EQ(c->totals.guest.ring_full, 1u);
    EXPECT_EQ(c->totals.guest.writer_wakeups, 0u);
    EXPECT_EQ(c->totals.host.signals_sent, 0u);
    EXPECT_EQ(r.lost_packets, kStreamPackets - fit);
    EXPECT_FALSE(r.expectations_met);  // no_lost_packets.
  }
}

// ---------------------------------------------------------------------------
// Reader disciplines.

const VpReport* Vp(const RunReport& report, uint16_t partition, uint32_t vp) {
  for (const VpReport& v : report.vps) {
    if (v.partition == partition && v.vp == vp) return &v;
  }
  ADD_FAILURE() << "no VP " << partition << "/" << vp;
  return nullptr;
}

TEST(ReaderDisciplinesTest, EachHostReaderPausesWhereItsDisciplineSays) {
  const RunReport report = RunLibrary("reader_disciplines");
  EXPECT_TRUE(report.expectations_met);
  const std::vector<std::string> names = {"dpc", "napi", "batched", "polled"};
  // Today's reader on every channel: one DPC drains each burst of 200.
  std::vector<std::string> all_dpc_drain;
  for (size_t i = 0; i < names.size(); ++i) {
    all_dpc_drain.push_back("channels." + std::to_string(i) + R"(.host_reader={"kind":"dpc_drain"})");
  }
  const RunReport before = RunLibrary("reader_disciplines", all_dpc_drain);
  EXPECT_TRUE(before.expectations_met);
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    const ChannelReport* old = Channel(before, name);
    const ChannelReport* now = Channel(report, name);
    ASSERT_NE(old, nullptr);
    ASSERT_NE(now, nullptr);
    EXPECT_EQ(now->metrics.guest_to_host.transactions_finished, 4000u);
    // Most of a burst in one batch (the guest's sends of a burst take longer
    // than the first DPC to start).
    EXPECT_GT(old->totals.host_batches.max(), 100);
  }
  const auto batches = [&report](const std::string& name) { return Channel(report, name)->totals.host_batches; };
  // The DPC budget (100 us) ends batches by time: neither 1 nor 200.
  EXPECT_LT(batches("dpc").max(), 200);
  EXPECT_GT(batches("dpc").max(), 1);
  EXPECT_GT(batches("dpc").count(), 20u);  // More than one batch (ProcessingComplete) per burst.
  // NAPI: at most 64 a poll, and a full poll is followed by another.
  EXPECT_EQ(batches("napi").max(), 64);
  EXPECT_EQ(batches("napi").count(), 20u * 4);  // 64 + 64 + 64 + 8 per burst.
  // Batched: masked in the ISR, then drained as today's DPC drain.
  EXPECT_GT(batches("batched").max(), 100);
  // Polled: no doorbell and no interrupt on its host VP (3); the others
  // take one per burst.
  EXPECT_EQ(Channel(report, "polled")->totals.host.doorbells, 0u);
  EXPECT_EQ(Channel(before, "polled")->totals.host.doorbells, 20u);
  EXPECT_EQ(Vp(report, 0, 3)->isr_ns, 0);
  EXPECT_GT(Vp(before, 0, 3)->isr_ns, 0);
  EXPECT_GT(Vp(report, 0, 1)->isr_ns, 0);
  for (uint32_t vp = 0; vp < 4; ++vp) {
    const VpReport* host = Vp(report, 0, vp);
    EXPECT_EQ(host->isr_ns + host->dpc_ns + host->passive_ns, host->busy_ns);
  }
}

TEST(LinuxEarlySignalTest, TheDroppedDoorbellSticksWithoutTheTimerAndRecoversWithIt) {
  const RunReport drop = RunLibrary("linux_early_signal");
  EXPECT_TRUE(drop.expectations_met);
  const ChannelReport* stuck = Channel(drop, "stuck");
  const ChannelReport* unstuck = Channel(drop, "unstuck");
  ASSERT_NE(stuck, nullptr);
  ASSERT_NE(unstuck, nullptr);
  // The early doorbell was dropped on both channels, and nothing replayed it.
  EXPECT_GE(stuck->totals.guest.doorbells_dropped, 1u);
  EXPECT_GE(unstuck->totals.guest.doorbells_dropped, 1u);
  EXPECT_EQ(stuck->totals.guest.packets_received, 0u);  // Never a packet.
  EXPECT_EQ(stuck->requests_issued, 2);
  EXPECT_EQ(stuck->requests_ended, 0);
  // The re-check found the ring's packets: every request ended.
  EXPECT_EQ(unstuck->requests_issued, 20);
  EXPECT_EQ(unstuck->requests_ended, 20);
  EXPECT_EQ(unstuck->metrics.guest_to_host.transactions_finished, 20u);
  EXPECT_FALSE(drop.stuck);  // No liveness check asked for: the run ends at quiescence, not the time limit.
  EXPECT_EQ(drop.stop_reason, sim::RunResult::kQueueEmpty);

  // The old behaviour (and KMCL's): the early doorbell is held and replayed
  // when the channel starts; both channels complete everything.
  const RunReport hold = RunLibrary("linux_early_signal", {"fabric.guests.0.early_signal=hold"});
  for (const char* name : {"stuck", "unstuck"}) {
    const ChannelReport* c = Channel(hold, name);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->requests_ended, 20) << name;
    EXPECT_EQ(c->totals.guest.doorbells_dropped, 0u) << name;
  }
  EXPECT_EQ(hold.lost_packets, 0u);
}

TEST(LinuxEarlySignalTest, LivenessReportsTheStuckChannel) {
  const RunReport report = RunLibrary("linux_early_signal", {R"(faults={"stuck_ns": 5000000})"});
  EXPECT_TRUE(report.stuck);
  EXPECT_TRUE(report.stuck_queue_empty);  // Nothing left to run: found at once, not at the time limit.
  EXPECT_LT(report.simulated_ns, 10'000'000);
  EXPECT_EQ(report.stuck_open_sends, 10u);  // Its 2 requests and the host's 8 packets.
  bool found = false;
  for (const EndpointState& e : report.stuck_state) {
    if (e.channel == "stuck" && e.side == "guest") {
      found = true;
      EXPECT_NE(e.in_write_index, e.in_read_index);  // Unread packets ...
      EXPECT_EQ(e.in_interrupt_mask, 0u);            // ... no mask, no drain: no doorbell will come.
      EXPECT_FALSE(e.draining);
    }
    if (e.channel == "unstuck") {
      EXPECT_EQ(e.in_write_index, e.in_read_index) << e.side;
    }
  }
  EXPECT_TRUE(found);

  // Without its timer the other channel sticks too.
  const RunReport no_timer =
      RunLibrary("linux_early_signal", {"channels.1.unstick_timer_ns=0", R"(faults={"stuck_ns": 5000000})"});
  EXPECT_TRUE(no_timer.stuck);
  EXPECT_EQ(no_timer.stuck_open_sends, 20u);
  const ChannelReport* unstuck = Channel(no_timer, "unstuck");
  ASSERT_NE(unstuck, nullptr);
  EXPECT_EQ(unstuck->requests_ended, 0);
}

struct SignalFigures {
  uint64_t packets = 0;
  uint64_t host_doorbells = 0;
  uint64_t host_interrupts = 0;
};

SignalFigures Figures(const RunReport& report) {
  SignalFigures f;
  for (const ChannelReport& c : report.channels) {
    f.packets += c.totals.host.packets_received;
    f.host_doorbells += c.totals.host.doorbells;
  }
  for (const VpReport& vp : report.vps) {
    if (vp.partition == 0) f.host_interrupts += vp.interrupts;
  }
  return f;
}

TEST(SharedSignalTest, EveryHostInterruptRingsAllEightChannels) {
  const RunReport shared = RunLibrary("shared_signal");
  EXPECT_TRUE(shared.expectations_met);
  ASSERT_EQ(shared.channels.size(), 8u);
  for (const ChannelReport& c : shared.channels) {
    EXPECT_EQ(c.interrupt, "shared");
    EXPECT_EQ(c.metrics.guest_to_host.transactions_finished, 500u) << c.name;
  }
  const SignalFigures f = Figures(shared);
  EXPECT_EQ(f.packets, 4000u);
  // The guest's signals reach the host only through the shared connection
  // (all eight open before the first request), and each interrupt on it
  // rings every channel: exactly eight doorbells each, and no others.
  ASSERT_GT(shared.shared_signals.interrupts, 0u);
  EXPECT_EQ(shared.shared_signals.doorbells, 8 * shared.shared_signals.interrupts);
  EXPECT_EQ(f.host_doorbells, shared.shared_signals.doorbells);
  // One monitor id for all: the sets of the eight coalesce in its windows,
  // and each window's signal is one host interrupt at most.
  ASSERT_EQ(shared.monitors.size(), 1u);
  EXPECT_GT(shared.monitors[0].coalesced, shared.monitors[0].fires);
  EXPECT_LE(shared.shared_signals.interrupts, shared.monitors[0].fires);
  EXPECT_EQ(shared.monitors[0].sets, shared.monitors[0].fires + shared.monitors[0].coalesced);
}

TEST(SharedSignalTest, AgainstDedicatedSignalsFewerInterruptsButMoreDoorbellsPerPacket) {
  std::vector<std::string> dedicated_overrides;
  for (int i = 0; i < 8; ++i) dedicated_overrides.push_back("channels." + std::to_string(i) + ".interrupt=dedicated");
  const RunReport shared = RunLibrary("shared_signal");
  const RunReport dedicated = RunLibrary("shared_signal", dedicated_overrides);
  EXPECT_TRUE(dedicated.expectations_met);
  EXPECT_EQ(dedicated.shared_signals.interrupts, 0u);
  const SignalFigures s = Figures(shared);
  const SignalFigures d = Figures(dedicated);
  ASSERT_EQ(s.packets, d.packets);  // The same traffic.
  // Dedicated: one doorbell per monitor window of each channel, so no
  // channel is rung for nothing; each id coalesces only its own sets.
  EXPECT_EQ(d.host_doorbells, dedicated.monitors[0].fires);
  EXPECT_LT(dedicated.monitors[0].coalesced, dedicated.monitors[0].fires / 100 + 2);
  // Measured: 0.18 against 0.40 host interrupts per packet, 1.46 against
  // 0.56 doorbells per packet.
  EXPECT_LT(3 * s.host_interrupts, 2 * d.host_interrupts);
  EXPECT_GT(s.host_doorbells, 2 * d.host_doorbells);
}

// The guest VP of every guest-side transaction end (kmcl_finish), in order.
class GuestFinishes : public sim::TraceSink {
 public:
  void OnRecord(const sim::TraceRecord& r) override {
    if (r.partition != 0) ends.push_back({r.time.nanoseconds(), r.vp});
  }
  std::vector<uint16_t> Kinds() const override { return {kmcl::kKmclFinishTraceKind}; }
  std::vector<std::pair<int64_t, uint32_t>> ends;
};

std::string HelloWithRetarget(const std::string& retarget) {
  return R"json({
    "name": "hello_retarget", "seed": 1, "fabric": {"root_vps": 2, "guests": [{"vps": 2}]},
    "channels": [
      {"name": "echo", "interface_type": "5ca1ab1e-0000-4000-8000-000000000001",
       "interface_instance": "00000000-0000-4000-8000-000000000001", "host_driver": {"name": "echo_vsp"},
       "guest_driver": {"name": "rr_vsc"}, "interrupt_latency_100ns": 500, "retarget": )json" +
         retarget + R"json(}],
    "workloads": [{"channel": "echo", "arrival": {"kind": "closed_loop", "outstanding": 4},
                   "size": {"kind": "fixed", "bytes": 64}, "requests": 1000}]})json";
}

TEST(ModifyChannelTest, TheGuestsCompletionsFollowTheInterruptToItsNewVp) {
  constexpr int64_t kMoveNs = 5'000'000;
  GuestFinishes finishes;
  const RunReport moved = testing::RunInline(HelloWithRetarget("[[5000000, 0]]"), {&finishes});
  const ChannelReport* echo = Channel(moved, "echo");
  ASSERT_NE(echo, nullptr);
  EXPECT_EQ(echo->retargets, 1u);
  EXPECT_TRUE(echo->retargets_refused.empty());
  EXPECT_EQ(moved.kmcl.channels_moved, 1u);
  EXPECT_TRUE(moved.expectations_met);
  ASSERT_EQ(finishes.ends.size(), 1000u);
  // relid 1 on a 2-VP guest starts on VP 1. The move takes effect when the
  // host takes the message (a message latency after 5 ms), so the first
  // completion on VP 0 comes after 5 ms, and none on VP 1 after it.
  size_t first_on_0 = finishes.ends.size();
  for (size_t i = 0; i < finishes.ends.size(); ++i) {
    if (finishes.ends[i].second == 0) {
      first_on_0 = i;
      break;
    }
  }
  ASSERT_LT(first_on_0, finishes.ends.size());
  EXPECT_GT(first_on_0, 100u);
  EXPECT_GT(finishes.ends[first_on_0].first, kMoveNs);
  for (size_t i = 0; i < finishes.ends.size(); ++i) {
    EXPECT_EQ(finishes.ends[i].second, i < first_on_0 ? 1u : 0u) << "completion " << i;
  }
  // Both guest VPs did the channel's DPC work, each for its part of the run.
  for (const VpReport& vp : moved.vps) {
    if (vp.partition == 1) {
      EXPECT_GT(vp.dpc_ns, 0) << "guest VP " << vp.vp;
    }
  }

  // Without the move, everything stays on VP 1.
  GuestFinishes stayed;
  const RunReport still = testing::RunInline(HelloWithRetarget("[]"), {&stayed});
  EXPECT_EQ(still.kmcl.channels_moved, 0u);
  for (const auto& [time, vp] : stayed.ends) EXPECT_EQ(vp, 1u);
  for (const VpReport& vp : still.vps) {
    if (vp.partition == 1 && vp.vp == 0) {
      EXPECT_EQ(vp.dpc_ns, 0);
    }
  }
}

TEST(ModifyChannelTest, AMoveBeforeTheChannelOpensIsRefusedAndNamed) {
  const RunReport early = testing::RunInline(HelloWithRetarget("[[0, 0]]"));
  const ChannelReport* echo = Channel(early, "echo");
  ASSERT_NE(echo, nullptr);
  EXPECT_EQ(echo->retargets, 0u);
  ASSERT_EQ(echo->retargets_refused.size(), 1u);
  EXPECT_NE(echo->retargets_refused[0].find("to VP 0 at 0 ns"), std::string::npos) << echo->retargets_refused[0];
  EXPECT_EQ(early.kmcl.channels_moved, 0u);
  EXPECT_TRUE(early.expectations_met);  // The run goes on where it was.
}

}  // namespace
}  // namespace vmbsim::scenario
