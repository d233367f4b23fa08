// fault_kinds_test.cc
//
// Goal: every implemented kind of the fault catalogue fires as specified,
// its firings are traced one record per firing and counted in the report
// (text and JSON), and the exactly-once ledger adds up under it: every
// send completed, failed with a status, or accounted to the fault that
// lost it, none twice, and no run ends stuck. Method: one small scenario
// (a guest sending Poisson requests to the echo VSP over a monitored
// channel, liveness on), run once per kind with one injection whose
// trigger is sure to meet opportunities; the trace is recorded and the
// report checked against it. Kinds with a lifecycle step run once per step.
// What each kind does is checked on the trace too (a doorbell that never
// leaves, a delivery delay_ns late, a completion written twice, ...), or,
// where the trace cannot show it, against the same run without the fault,
// so a kind that fires but does nothing fails.

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "kmcl/trace_kinds.h"
#include "sim/core/trace.h"
#include "sim/fabric/trace_kinds.h"
#include "tests/scenario_testing.h"
#include "tools/faults/catalogue.h"
#include "tools/scenario/report.h"
#include "tools/scenario/trace_kinds.h"

namespace vmbsim::scenario {
namespace {

// A run under one case, for its effect check: the report, the trace, and
// the fault records of injection 0 (time, channel, size0 = transaction id,
// size1 = detail: delay, jitter, status or rewritten id).
struct Effect {
  const RunReport& report;
  const std::vector<sim::TraceRecord>& records;
  std::vector<sim::TraceRecord> firings;
  int64_t first_fired_ns = -1;
};

struct KindCase {
  std::string name;       // Test name.
  std::string injection;  // The JSON of faults.injections[0].
  // The channel's extra settings (JSON members, with a leading comma).
  std::string channel_extra = "";
  uint64_t firings_min = 1;
  uint64_t firings_max = UINT64_MAX;
  // The fault alone must leave the verifier silent.
  bool no_findings = false;
  // What the fault does, checked on the run's trace (and, where the trace
  // cannot show it, on the report against a run without the fault), so a
  // kind that fired but did nothing fails.
  std::function<void(const Effect&)> effect = nullptr;
};

uint64_t CountKind(const std::vector<sim::TraceRecord>& records, fabric::FabricTraceKind kind, int64_t from_ns = 0) {
  uint64_t n = 0;
  for (const sim::TraceRecord& r : records) n += r.kind == fabric::TraceKind(kind) && r.time.nanoseconds() >= from_ns;
  return n;
}

// A corrupt ring is found by its reader, which fails the endpoint (a
// kRingCorrupt record), never read past. (A read index moved backwards
// misleads the writer instead, who sees less room: no reader error.)
void ReaderFindsTheCorruption(const Effect& e) {
  EXPECT_GE(CountKind(e.records, fabric::FabricTraceKind::kRingCorrupt, e.first_fired_ns), 1u);
}

// guest_reset at `fired_ns`, back 500 us later: none of the old guest
// driver's code runs meanwhile (no send, delivery, callback or completion on
// the guest), the host sees the guest close its channel (PeerClosed), and
// after the reboot a new guest channel opens and sends again.
void GuestRebootsAndReopens(const Effect& e) {
  constexpr int64_t kRebootNs = 500'000;
  const std::vector<sim::TraceRecord>& records = e.records;
  const int64_t fired_ns = e.first_fired_ns;
  uint64_t first_guest_channel = 0;
  uint64_t old_code = 0;
  uint64_t sends_after = 0;
  bool host_peer_closed = false;
  bool new_guest_channel_open = false;
  for (const sim::TraceRecord& r : records) {
    const int64_t t = r.time.nanoseconds();
    const bool kmcl = r.kind == kmcl::kKmclSendTraceKind || r.kind == kmcl::kKmclDeliverTraceKind ||
                      r.kind == kmcl::kKmclCallbackTraceKind || r.kind == kmcl::kKmclFinishTraceKind ||
                      r.kind == kmcl::kKmclStateTraceKind;
    if (!kmcl) continue;
    if (r.partition == 1 && first_guest_channel == 0) first_guest_channel = r.id0;
    if (r.partition == 1 && t > fired_ns && t < fired_ns + kRebootNs) ++old_code;
    if (r.partition == 1 && t >= fired_ns + kRebootNs && r.kind == kmcl::kKmclSendTraceKind) ++sends_after;
    if (r.partition == 0 && r.kind == kmcl::kKmclStateTraceKind && t >= fired_ns && r.id1 == 3) host_peer_closed = true;
    if (r.partition == 1 && r.kind == kmcl::kKmclStateTraceKind && t >= fired_ns + kRebootNs && r.id1 == 2 &&
        r.id0 != first_guest_channel) {
      new_guest_channel_open = true;
    }
  }
  EXPECT_EQ(old_code, 0u) << "guest KMCL records while the guest was down";
  EXPECT_TRUE(host_peer_closed);
  EXPECT_TRUE(new_guest_channel_open);
  EXPECT_GT(sends_after, 0u);
}

std::string Scenario(const KindCase& c) {
  return absl::StrReplaceAll(R"json({
  "name": "fault_kind",
  "seed": 7,
  "fabric": {"root_vps": 1, "guests": [{"vps": 2}]},
  "channels": [{"name": "c0", "interface_type": "5ca1ab1e-0000-4000-8000-000000000001",
                "interface_instance": "00000000-0000-4000-8000-000000000001",
                "host_driver": {"name": "echo_vsp"}, "guest_driver": {"name": "rr_vsc"},
                "interrupt_latency_100ns": 200 CHANNEL_EXTRA}],
  "workloads": [{"channel": "c0", "arrival": {"kind": "poisson", "interval_ns": 20000},
                 "size": {"kind": "fixed", "bytes": 128}, "requests": 300}],
  "expectations": {"no_lost_packets": true, "no_verifier_findings": false},
  "faults": {"stuck_ns": 20000000, "injections": [INJECTION]}
})json",
                             {{"CHANNEL_EXTRA", c.channel_extra}, {"INJECTION", c.injection}});
}

// The effect checks. The channel is monitored, so a guest-to-host doorbell
// leaves its sender as a monitor-page set (kMonitorSet in the guest) and a
// host-to-guest one as the guest's event flag (kEventFlagSet in the guest);
// an endpoint rings one at a commit that signals its peer.
constexpr uint16_t kHostPartition = 0;
constexpr uint16_t kGuestPartition = 1;
constexpr uint64_t kCompletionPacket = 11;  // VM_PKT_COMP, kRingWrite's size1.
// Control message types (kControlMessage's id0).
constexpr uint64_t kRescindChannelOffer = 2;
constexpr uint64_t kOpenChannelResult = 6;
constexpr uint64_t kGpadlHeader = 8;
constexpr uint64_t kGpadlCreated = 10;
// How late past its due time a deferred doorbell may leave: the sending
// VP's clock may be ahead of the simulation's by the item it is running.
constexpr int64_t kSlackNs = 10'000;

bool Is(const sim::TraceRecord& r, fabric::FabricTraceKind kind) { return r.kind == fabric::TraceKind(kind); }

uint64_t Count(const std::vector<sim::TraceRecord>& records, const std::function<bool(const sim::TraceRecord&)>& pred) {
  uint64_t n = 0;
  for (const sim::TraceRecord& r : records) n += pred(r);
  return n;
}

// A doorbell leaving its sender, towards the host or the guest.
bool SignalLeaves(const sim::TraceRecord& r, bool to_host) {
  return r.partition == kGuestPartition &&
         Is(r, to_host ? fabric::FabricTraceKind::kMonitorSet : fabric::FabricTraceKind::kEventFlagSet);
}
bool SignalLeaves(const sim::TraceRecord& r) { return SignalLeaves(r, true) || SignalLeaves(r, false); }

uint64_t SignalsSent(const std::vector<sim::TraceRecord>& records, bool to_host) {
  return Count(records, [to_host](const sim::TraceRecord& r) { return SignalLeaves(r, to_host); });
}
uint64_t SignalsSent(const std::vector<sim::TraceRecord>& records) {
  return SignalsSent(records, true) + SignalsSent(records, false);
}

// Doorbells the endpoints rang: commits that signal the peer.
uint64_t SignalsRung(const std::vector<sim::TraceRecord>& records, bool to_host) {
  return Count(records, [to_host](const sim::TraceRecord& r) {
    return r.partition == (to_host ? kGuestPartition : kHostPartition) && r.id1 == 1 &&
           (Is(r, fabric::FabricTraceKind::kRingCommitWrite) || Is(r, fabric::FabricTraceKind::kRingCommitRead));
  });
}
uint64_t SignalsRung(const std::vector<sim::TraceRecord>& records) {
  return SignalsRung(records, true) + SignalsRung(records, false);
}

// Packets written that no reader took: a doorbell or interrupt was lost.
bool PacketsLeftUnread(const std::vector<sim::TraceRecord>& records) {
  return CountKind(records, fabric::FabricTraceKind::kRingRead) < CountKind(records, fabric::FabricTraceKind::kRingWrite);
}

// Whether a record `pred` accepts lies in [from_ns, to_ns].
bool AnyIn(const std::vector<sim::TraceRecord>& records, int64_t from_ns, int64_t to_ns,
           const std::function<bool(const sim::TraceRecord&)>& pred) {
  for (const sim::TraceRecord& r : records) {
    if (r.time.nanoseconds() >= from_ns && r.time.nanoseconds() <= to_ns && pred(r)) return true;
  }
  return false;
}

// A KMCL record of transaction `trans_id` on side `partition`.
bool Transaction(const sim::TraceRecord& r, uint16_t kind, uint16_t partition, uint64_t trans_id) {
  return r.kind == kind && r.partition == partition && r.id1 == trans_id;
}
bool CompletionWrite(const sim::TraceRecord& r, uint64_t trans_id) {
  return Is(r, fabric::FabricTraceKind::kRingWrite) && r.partition == kHostPartition && r.id1 == trans_id &&
         r.size1 == kCompletionPacket;
}
uint64_t CompletionWrites(const std::vector<sim::TraceRecord>& records, uint64_t trans_id) {
  return Count(records, [trans_id](const sim::TraceRecord& r) { return CompletionWrite(r, trans_id); });
}
uint64_t GuestFinishes(const std::vector<sim::TraceRecord>& records, uint64_t trans_id) {
  return Count(records, [trans_id](const sim::TraceRecord& r) {
    return Transaction(r, kmcl::kKmclFinishTraceKind, kGuestPartition, trans_id);
  });
}
uint64_t GuestReads(const std::vector<sim::TraceRecord>& records, uint64_t trans_id) {
  return Count(records, [trans_id](const sim::TraceRecord& r) {
    return Transaction(r, fabric::TraceKind(fabric::FabricTraceKind::kRingRead), kGuestPartition, trans_id);
  });
}
bool ControlMessage(const sim::TraceRecord& r, uint16_t partition, uint64_t msgtype) {
  return Is(r, fabric::FabricTraceKind::kControlMessage) && r.partition == partition && r.id0 == msgtype;
}

// The same scenario with no injection, for the effects the trace cannot
// show by itself (run once).
struct Unfaulted {
  RunReport report;
  sim::RecordingTraceSink trace;
};
const Unfaulted& UnfaultedRun() {
  static const Unfaulted* const run = [] {
    auto* out = new Unfaulted;
    out->report = testing::RunInline(Scenario({"unfaulted", ""}), {&out->trace});
    return out;
  }();
  return *run;
}

uint64_t Doorbells(const RunReport& report) {
  uint64_t n = 0;
  for (const ChannelReport& c : report.channels) n += c.totals.guest.doorbells + c.totals.host.doorbells;
  return n;
}

// signal_drop: a doorbell rung never leaves, and what it announced is never read.
void DoorbellsLost(const Effect& e) {
  EXPECT_EQ(SignalsSent(e.records) + e.firings.size(), SignalsRung(e.records));
  EXPECT_TRUE(PacketsLeftUnread(e.records));
}

// signal_delay: every doorbell leaves, each delayed one delay_ns after its firing.
void DoorbellsLeaveLate(const Effect& e) {
  EXPECT_EQ(SignalsSent(e.records), SignalsRung(e.records));
  for (const sim::TraceRecord& f : e.firings) {
    const int64_t due = f.time.nanoseconds() + static_cast<int64_t>(f.size1);
    EXPECT_TRUE(AnyIn(e.records, due, due + kSlackNs, [](const sim::TraceRecord& r) { return SignalLeaves(r); }))
        << "no doorbell left " << f.size1 << " ns after the firing at " << f.time.nanoseconds();
  }
}

// signal_duplicate: one doorbell more leaves than was rung, per firing.
void DoorbellsLeaveTwice(const Effect& e) {
  EXPECT_EQ(SignalsSent(e.records), SignalsRung(e.records) + e.firings.size());
}

// spurious_signal: both endpoints start a drain at the firing with no
// interrupt behind it, one drain more each than without the fault.
void DrainsWithoutSender(const Effect& e) {
  auto mask_on = [](uint16_t p) {
    return [p](const sim::TraceRecord& r) {
      return Is(r, fabric::FabricTraceKind::kRingMask) && r.partition == p && r.id0 == 1;
    };
  };
  for (const uint16_t p : {kHostPartition, kGuestPartition}) {
    for (const sim::TraceRecord& f : e.firings) {
      const int64_t t = f.time.nanoseconds();
      EXPECT_TRUE(AnyIn(e.records, t, t, mask_on(p))) << p;
      EXPECT_FALSE(AnyIn(e.records, t, t, [p](const sim::TraceRecord& r) {
        return Is(r, fabric::FabricTraceKind::kInterrupt) && r.partition == p;
      })) << p;
    }
    EXPECT_EQ(Count(e.records, mask_on(p)), Count(UnfaultedRun().trace.records(), mask_on(p)) + e.firings.size())
        << p;
  }
}

// The interrupt a firing at `fired_ns` acted on: the one the ISR starting
// then takes (traced at the VP's clock, after the ISR's cost).
const sim::TraceRecord* InterruptAt(const std::vector<sim::TraceRecord>& records, int64_t fired_ns) {
  for (const sim::TraceRecord& r : records) {
    if (Is(r, fabric::FabricTraceKind::kInterrupt) && r.time.nanoseconds() >= fired_ns &&
        r.time.nanoseconds() <= fired_ns + kSlackNs) {
      return &r;
    }
  }
  return nullptr;
}

// interrupt_drop: every doorbell left its sender and its interrupt was
// taken, yet what it announced is never read.
void InterruptLost(const Effect& e) {
  EXPECT_EQ(SignalsSent(e.records), SignalsRung(e.records));
  EXPECT_TRUE(PacketsLeftUnread(e.records));
  for (const sim::TraceRecord& f : e.firings) EXPECT_NE(InterruptAt(e.records, f.time.nanoseconds()), nullptr);
}

// interrupt_delay: the endpoint whose interrupt was taken at the firing
// starts no drain until delay_ns later, unless another interrupt came
// meanwhile; and some drain starts right when a delay ends.
void InterruptReachesLate(const Effect& e) {
  bool drained_when_due = false;
  for (const sim::TraceRecord& f : e.firings) {
    const int64_t t = f.time.nanoseconds();
    const int64_t due = t + static_cast<int64_t>(f.size1);
    const sim::TraceRecord* taken = InterruptAt(e.records, t);
    ASSERT_NE(taken, nullptr) << "no interrupt taken at the firing at " << t;
    const uint16_t p = taken->partition;
    auto interrupt = [p](const sim::TraceRecord& r) {
      return Is(r, fabric::FabricTraceKind::kInterrupt) && r.partition == p;
    };
    auto mask_on = [p](const sim::TraceRecord& r) {
      return Is(r, fabric::FabricTraceKind::kRingMask) && r.partition == p && r.id0 == 1;
    };
    if (!AnyIn(e.records, taken->time.nanoseconds() + 1, due - 1, interrupt)) {
      EXPECT_FALSE(AnyIn(e.records, t, due - 1, mask_on)) << "a drain started inside the delay from " << t;
    }
    drained_when_due |= AnyIn(e.records, due, due + kSlackNs, mask_on);
  }
  EXPECT_TRUE(drained_when_due);
}

// interrupt_duplicate: invisible in the trace (the second doorbell finds
// the drain under way): the endpoints count one doorbell more per firing.
void InterruptTwice(const Effect& e) {
  EXPECT_EQ(Doorbells(e.report), Doorbells(UnfaultedRun().report) + e.firings.size());
}

// monitor_latency_jitter: each jittered doorbell sets the monitor page its
// jitter after the firing; none is lost.
void MonitorSetLate(const Effect& e) {
  EXPECT_EQ(SignalsSent(e.records), SignalsRung(e.records));
  uint64_t jittered = 0;
  for (const sim::TraceRecord& f : e.firings) {
    if (f.size1 == 0) continue;
    ++jittered;
    const int64_t due = f.time.nanoseconds() + static_cast<int64_t>(f.size1);
    EXPECT_TRUE(AnyIn(e.records, due, due + kSlackNs, [](const sim::TraceRecord& r) { return SignalLeaves(r, true); }))
        << "no monitor set " << f.size1 << " ns after the firing at " << f.time.nanoseconds();
  }
  EXPECT_GT(jittered, 0u);
}

// The monitor page's windows: from the set that raised a pending bit to the
// fire that closed it.
struct Window {
  int64_t open_ns = 0;
  int64_t close_ns = 0;
};
std::vector<Window> MonitorWindows(const std::vector<sim::TraceRecord>& records) {
  std::vector<Window> out;
  std::map<uint64_t, int64_t> open;  // Monitor id -> the set that opened its window.
  for (const sim::TraceRecord& r : records) {
    if (Is(r, fabric::FabricTraceKind::kMonitorSet) && r.id1 == 1) open[r.id0] = r.time.nanoseconds();
    if (Is(r, fabric::FabricTraceKind::kMonitorFire) && open.contains(r.id0)) {
      out.push_back({open[r.id0], r.time.nanoseconds()});
      open.erase(r.id0);
    }
  }
  return out;
}

// monitor_latency_change: windows closed before the firing last the
// channel's latency (200 x 100 ns); those opened after it the new one.
void MonitorWindowsChange(const Effect& e) {
  const int64_t t = e.first_fired_ns;
  const int64_t after_ns = static_cast<int64_t>(e.firings[0].size1) * 100;
  uint64_t before = 0, after = 0;
  for (const Window& w : MonitorWindows(e.records)) {
    if (w.close_ns < t) {
      ++before;
      EXPECT_EQ(w.close_ns - w.open_ns, 20'000) << "window opened at " << w.open_ns;
    } else if (w.open_ns > t) {
      ++after;
      EXPECT_EQ(w.close_ns - w.open_ns, after_ns) << "window opened at " << w.open_ns;
    }
  }
  EXPECT_GT(before, 0u);
  EXPECT_GT(after, 0u);
}

// message_delay: the guest's SIMP takes no message from a firing until
// delay_ns later (later messages wait behind it), and then does.
void MessageDeliveredLate(const Effect& e) {
  for (const sim::TraceRecord& f : e.firings) {
    const int64_t t = f.time.nanoseconds();
    int64_t next = -1;
    for (const sim::TraceRecord& r : e.records) {
      if (Is(r, fabric::FabricTraceKind::kMessageDeliver) && r.partition == kGuestPartition && r.time.nanoseconds() >= t &&
          (next < 0 || r.time.nanoseconds() < next)) {
        next = r.time.nanoseconds();
      }
    }
    EXPECT_GE(next, t + static_cast<int64_t>(f.size1)) << "after the firing at " << t;
  }
}

// early_signal_drop: host-to-guest doorbells rung within the window of the
// channel's first write are lost, and what they announced is never read.
void EarlyDoorbellsLost(const Effect& e) {
  EXPECT_EQ(SignalsSent(e.records, false) + e.firings.size(), SignalsRung(e.records, false));
  EXPECT_EQ(SignalsSent(e.records, true), SignalsRung(e.records, true));
  EXPECT_TRUE(PacketsLeftUnread(e.records));
  int64_t first_write = -1;
  for (const sim::TraceRecord& r : e.records) {
    if (Is(r, fabric::FabricTraceKind::kRingWrite)) {
      first_write = r.time.nanoseconds();
      break;
    }
  }
  ASSERT_GE(first_write, 0);
  for (const sim::TraceRecord& f : e.firings) EXPECT_LE(f.time.nanoseconds(), first_write + 1'000'000);
}

// completion_drop: the host never writes the completion, and the guest's
// request never finishes (the ledger accounts it to the fault).
void CompletionNeverWritten(const Effect& e) {
  for (const sim::TraceRecord& f : e.firings) {
    EXPECT_EQ(CompletionWrites(e.records, f.size0), 0u) << f.size0;
    EXPECT_EQ(GuestFinishes(e.records, f.size0), 0u) << f.size0;
  }
  EXPECT_EQ(e.report.ledger.accounted_to_faults, e.firings.size());
}

// completion_duplicate: the host writes the completion twice and the guest
// reads both; KMCL finishes the transaction once and reports the second as
// a peer violation (a completion for an unknown transaction, dropped).
void CompletionTwice(const Effect& e) {
  for (const sim::TraceRecord& f : e.firings) {
    EXPECT_EQ(CompletionWrites(e.records, f.size0), 2u) << f.size0;
    EXPECT_EQ(GuestReads(e.records, f.size0), 2u) << f.size0;
    EXPECT_EQ(GuestFinishes(e.records, f.size0), 1u) << f.size0;
  }
  EXPECT_EQ(e.report.peer_violations, e.firings.size());
}

// completion_late: each completion is written delay_ns after its firing.
void CompletionWrittenLate(const Effect& e) {
  for (const sim::TraceRecord& f : e.firings) {
    const int64_t due = f.time.nanoseconds() + static_cast<int64_t>(f.size1);
    EXPECT_EQ(CompletionWrites(e.records, f.size0), 1u) << f.size0;
    for (const sim::TraceRecord& r : e.records) {
      if (CompletionWrite(r, f.size0)) {
        EXPECT_GE(r.time.nanoseconds(), due) << f.size0;
      }
    }
    EXPECT_EQ(GuestFinishes(e.records, f.size0), 1u) << f.size0;
  }
}

// completion_reorder: each held completion is written after the host's
// next packet (or, with none, its delay_ns of 1 ms later): out of order.
void CompletionOutOfOrder(const Effect& e) {
  for (const sim::TraceRecord& f : e.firings) {
    bool fired = false, overtaken = false;
    for (const sim::TraceRecord& r : e.records) {
      if (!fired) {
        fired = r.kind == f.kind && r.time == f.time && r.id1 == f.id1 && r.size0 == f.size0;
        continue;
      }
      if (CompletionWrite(r, f.size0)) {
        EXPECT_TRUE(overtaken || r.time.nanoseconds() >= f.time.nanoseconds() + 1'000'000) << f.size0;
        break;
      }
      overtaken |= Is(r, fabric::FabricTraceKind::kRingWrite) && r.partition == kHostPartition;
    }
    EXPECT_EQ(CompletionWrites(e.records, f.size0), 1u) << f.size0;
    EXPECT_EQ(GuestFinishes(e.records, f.size0), 1u) << f.size0;
  }
}

// completion_wrong_trans_id: the guest reads a completion of the rewritten
// id, which KMCL reports as a peer violation; the real transaction never
// finishes.
void CompletionOfNothing(const Effect& e) {
  for (const sim::TraceRecord& f : e.firings) {
    EXPECT_NE(f.size1, f.size0);
    EXPECT_EQ(GuestReads(e.records, f.size1), 1u) << f.size1;
    EXPECT_EQ(GuestFinishes(e.records, f.size1), 0u) << f.size1;
    EXPECT_EQ(GuestFinishes(e.records, f.size0), 0u) << f.size0;
  }
  EXPECT_EQ(e.report.peer_violations, e.firings.size());
}

bool GuestChannelOpened(const std::vector<sim::TraceRecord>& records) {
  return Count(records, [](const sim::TraceRecord& r) {
           return r.kind == kmcl::kKmclStateTraceKind && r.partition == kGuestPartition && r.id1 == 2;  // kOpen.
         }) > 0;
}

// open_failure: the host answers OPENCHANNEL_RESULT with the status the
// firing records; the guest's channel never opens and nothing is sent.
void OpenFails(const Effect& e) {
  EXPECT_EQ(e.firings[0].size1, 0xC0000001u);
  EXPECT_TRUE(AnyIn(e.records, e.first_fired_ns, INT64_MAX, [](const sim::TraceRecord& r) {
    return ControlMessage(r, kGuestPartition, kOpenChannelResult);
  }));
  EXPECT_FALSE(GuestChannelOpened(e.records));
  EXPECT_EQ(CountKind(e.records, fabric::FabricTraceKind::kRingWrite), 0u);
}

// gpadl_failure: the host refuses the GPADL_HEADER and answers
// GPADL_CREATED; the guest's channel never opens and nothing is sent.
void GpadlFails(const Effect& e) {
  EXPECT_TRUE(AnyIn(e.records, e.first_fired_ns, INT64_MAX, [](const sim::TraceRecord& r) {
    return ControlMessage(r, kHostPartition, kGpadlHeader) && r.id1 == 0;
  }));
  EXPECT_TRUE(AnyIn(e.records, e.first_fired_ns, INT64_MAX, [](const sim::TraceRecord& r) {
    return ControlMessage(r, kGuestPartition, kGpadlCreated);
  }));
  EXPECT_FALSE(GuestChannelOpened(e.records));
  EXPECT_EQ(CountKind(e.records, fabric::FabricTraceKind::kRingWrite), 0u);
}

// packet_allocate_failure: each failed allocation is an arrival the guest
// driver could not send.
void ArrivalsNotSent(const Effect& e) {
  const uint64_t arrivals = Count(e.records, [](const sim::TraceRecord& r) { return r.kind == kWorkloadArrivalTraceKind; });
  const uint64_t sends = Count(e.records, [](const sim::TraceRecord& r) { return r.kind == kmcl::kKmclSendTraceKind; });
  EXPECT_EQ(sends + e.firings.size(), arrivals);
  EXPECT_EQ(e.report.ledger.sends, sends);
}

// host_crash: the host's channel is disabled at the firing (the guest sees
// the rescind) and a new one offered restart_ns (500 us) later, not before.
void HostRestarts(const Effect& e) {
  const int64_t t = e.first_fired_ns;
  uint64_t first = 0;
  bool disabled = false;
  int64_t reoffered_ns = -1;
  for (const sim::TraceRecord& r : e.records) {
    if (r.kind != kmcl::kKmclStateTraceKind || r.partition != kHostPartition) continue;
    if (first == 0) first = r.id0;
    if (r.time.nanoseconds() < t) continue;
    disabled |= r.id0 == first && r.id1 == 0;  // ConnState::kDisabled.
    if (r.id0 != first && r.id1 == 1 && reoffered_ns < 0) reoffered_ns = r.time.nanoseconds();  // kEnabled.
  }
  EXPECT_TRUE(disabled);
  EXPECT_TRUE(AnyIn(e.records, t, INT64_MAX, [](const sim::TraceRecord& r) {
    return ControlMessage(r, kGuestPartition, kRescindChannelOffer);
  }));
  EXPECT_GE(reoffered_ns, t + 500'000);
  EXPECT_LE(reoffered_ns, t + 500'000 + kSlackNs);
}

// signal_throttle: once throttling starts, no window_ns (100 us) sees more
// than signals_max (1) guest-to-host doorbells leave (less the slack the
// sending VP's clock may add), and none is lost.
void DoorbellsThrottled(const Effect& e) {
  EXPECT_EQ(SignalsSent(e.records), SignalsRung(e.records));
  std::vector<int64_t> times;
  for (const sim::TraceRecord& r : e.records) {
    if (SignalLeaves(r, true) && r.time.nanoseconds() >= e.first_fired_ns) times.push_back(r.time.nanoseconds());
  }
  std::sort(times.begin(), times.end());
  EXPECT_GT(times.size(), 1u);
  for (size_t i = 0; i + 1 < times.size(); ++i) {
    EXPECT_GE(times[i + 1] - times[i], 100'000 - kSlackNs) << "doorbells left at " << times[i] << " and " << times[i + 1];
  }
}

std::vector<KindCase> Cases() {
  const std::string p10 = R"("trigger": {"probability": {"numerator": 1, "denominator": 10}})";
  const std::string at2ms = R"("trigger": {"at_ns": 2000000})";
  const std::string after50 = R"("trigger": {"after": {"event": "kmcl_send", "count": 50}})";
  return {
      {"signal_drop", R"({"kind": "signal_drop", )" + p10 + "}", "", 1, UINT64_MAX, false, DoorbellsLost},
      {"signal_delay", R"({"kind": "signal_delay", )" + p10 + "}", "", 1, UINT64_MAX, false, DoorbellsLeaveLate},
      {"signal_duplicate", R"({"kind": "signal_duplicate", )" + p10 + "}", "", 1, UINT64_MAX, false,
       DoorbellsLeaveTwice},
      {"spurious_signal", R"({"kind": "spurious_signal", )" + at2ms + "}", "", 1, 1, false, DrainsWithoutSender},
      {"interrupt_drop", R"({"kind": "interrupt_drop", )" + p10 + "}", "", 1, UINT64_MAX, false, InterruptLost},
      {"interrupt_delay", R"({"kind": "interrupt_delay", )" + p10 + "}", "", 1, UINT64_MAX, false,
       InterruptReachesLate},
      {"interrupt_duplicate", R"({"kind": "interrupt_duplicate", )" + p10 + "}", "", 1, UINT64_MAX, false,
       InterruptTwice},
      {"monitor_latency_jitter", R"({"kind": "monitor_latency_jitter", )" + p10 + "}", "", 1, UINT64_MAX, false,
       MonitorSetLate},
      {"monitor_latency_change", R"({"kind": "monitor_latency_change", "params": {"latency_100ns": 50}, )" + at2ms +
                                     "}",
       "", 1, 1, false, MonitorWindowsChange},
      {"vp_stall", R"({"kind": "vp_stall", "target": {"partition": 0}, "params": {"duration_ns": 400000}, )" +
                       at2ms + "}",
       "", 1, 1, false,
       [](const Effect& e) {
         const int64_t fired_ns = e.first_fired_ns;
         // The host's VP 0 runs nothing while it is descheduled: no item
         // starts in the 400 us after the stall.
         for (const sim::TraceRecord& r : e.records) {
           if (r.kind != fabric::TraceKind(fabric::FabricTraceKind::kVpWorkStart) || r.partition != 0 || r.vp != 0) {
             continue;
           }
           EXPECT_FALSE(r.time.nanoseconds() > fired_ns && r.time.nanoseconds() < fired_ns + 400000)
               << "an item started at " << r.time.nanoseconds() << " ns, inside the stall from " << fired_ns;
         }
         EXPECT_GT(CountKind(e.records, fabric::FabricTraceKind::kVpWorkStart, fired_ns + 400000), 0u);
       }},
      {"message_delay", R"({"kind": "message_delay", "target": {"partition": 1},
                           "trigger": {"probability": {"numerator": 1, "denominator": 2}}})",
       "", 1, UINT64_MAX, false, MessageDeliveredLate},
      {"message_queue_full", R"({"kind": "message_queue_full", "target": {"partition": 1},
                                "trigger": {"probability": {"numerator": 1, "denominator": 3}}})",
       "", 1, UINT64_MAX, false,
       [](const Effect& e) {
         // The full queue refuses the message (HV_STATUS_INSUFFICIENT_BUFFERS).
         EXPECT_GE(CountKind(e.records, fabric::FabricTraceKind::kMessageRejected, e.first_fired_ns), 1u);
       }},
      {"early_signal_drop", R"({"kind": "early_signal_drop", "params": {"window_ns": 1000000}})", "", 1, UINT64_MAX,
       false, EarlyDoorbellsLost},
      {"ring_bad_write_index", R"({"kind": "ring_bad_write_index", )" + after50 + "}", "", 1, 1, false,
       ReaderFindsTheCorruption},
      {"ring_bad_descriptor_length", R"({"kind": "ring_bad_descriptor_length", )" + after50 + "}", "", 1, 1, false,
       ReaderFindsTheCorruption},
      {"ring_bad_data_offset", R"({"kind": "ring_bad_data_offset", )" + after50 + "}", "", 1, 1, false,
       ReaderFindsTheCorruption},
      {"ring_bad_packet_type", R"({"kind": "ring_bad_packet_type", )" + after50 + "}", "", 1, 1, false,
       ReaderFindsTheCorruption},
      {"ring_oversize_packet", R"({"kind": "ring_oversize_packet", )" + after50 + "}", "", 1, 1, false,
       ReaderFindsTheCorruption},
      {"ring_zero_length_packet", R"({"kind": "ring_zero_length_packet", )" + after50 + "}", "", 1, 1, false,
       ReaderFindsTheCorruption},
      {"ring_read_index_backwards", R"({"kind": "ring_read_index_backwards", )" + after50 + "}", "", 1, 1},
      {"completion_drop", R"({"kind": "completion_drop", )" + p10 + "}", "", 1, UINT64_MAX, false,
       CompletionNeverWritten},
      {"completion_duplicate", R"({"kind": "completion_duplicate", )" + p10 + "}", "", 1, UINT64_MAX, false,
       CompletionTwice},
      {"completion_late", R"({"kind": "completion_late", )" + p10 + "}", "", 1, UINT64_MAX, false,
       CompletionWrittenLate},
      {"completion_reorder", R"({"kind": "completion_reorder", )" + p10 + "}", "", 1, UINT64_MAX, false,
       CompletionOutOfOrder},
      {"completion_wrong_trans_id", R"({"kind": "completion_wrong_trans_id", )" + p10 + "}", "", 1, UINT64_MAX,
       false, CompletionOfNothing},
      {"rescind_now", R"({"kind": "rescind", )" + at2ms + "}", "", 1, 1},
      {"rescind_opening", R"({"kind": "rescind", "params": {"step": "opening"}})", "", 1, 1},
      {"rescind_mid_send", R"({"kind": "rescind", "params": {"step": "mid_send"}, )" + after50 + "}", "", 1, 1},
      {"rescind_gpadl_create", R"({"kind": "rescind", "params": {"step": "gpadl_create"}})", "", 1, 1},
      {"rescind_gpadl_teardown", R"({"kind": "rescind", "params": {"step": "gpadl_teardown"}})",
       R"(, "guest_stop_ns": 3000000)", 1, 1},
      {"open_failure", R"({"kind": "open_failure"})", "", 1, 1, false, OpenFails},
      {"gpadl_failure", R"({"kind": "gpadl_failure"})", "", 1, 1, false, GpadlFails},
      {"packet_allocate_failure", R"({"kind": "packet_allocate_failure", )" + p10 + "}", "", 1, UINT64_MAX, false,
       ArrivalsNotSent},
      {"host_crash", R"({"kind": "host_crash", "params": {"restart_ns": 500000}, )" + at2ms + "}", "", 1, 1, false,
       HostRestarts},
      {"guest_reset",
       R"({"kind": "guest_reset", "target": {"partition": 1}, "params": {"reboot_ns": 500000}, )" + at2ms + "}", "", 1,
       1, true, GuestRebootsAndReopens},
      {"save_restore", R"({"kind": "save_restore", "params": {"save_ns": 300000}, )" + at2ms + "}", "", 1, 1, true},
      // A rescind during the save of a save_restore (the second injection).
      {"rescind_save",
       R"({"kind": "rescind", "params": {"step": "save"}}, {"kind": "save_restore", )" + at2ms + "}", "", 1, 1,
       true},
      {"signal_throttle", R"({"kind": "signal_throttle", "params": {"signals_max": 1, "window_ns": 100000},
                             "trigger": {"while": "channel_attached"}})",
       "", 1, UINT64_MAX, false, DoorbellsThrottled},
  };
}

class FaultKindTest : public ::testing::TestWithParam<KindCase> {};

TEST_P(FaultKindTest, FiresIsCountedAndTheLedgerAddsUp) {
  const KindCase& c = GetParam();
  sim::RecordingTraceSink trace;
  const RunReport report = testing::RunInline(Scenario(c), {&trace});
  ASSERT_GE(report.faults.size(), 1u);
  const uint64_t firings = report.faults[0].firings;
  EXPECT_GE(firings, c.firings_min);
  EXPECT_LE(firings, c.firings_max);
  // Each injection (a case's later ones set the stage for the first) fired,
  // one trace record per firing, and the report counts them.
  uint64_t total = 0;
  for (size_t i = 0; i < report.faults.size(); ++i) {
    const uint64_t fired = report.faults[i].firings;
    if (i > 0) {
      EXPECT_GE(fired, 1u) << i;
    }
    uint64_t traced = 0;
    for (const sim::TraceRecord& r : trace.records()) {
      if (r.kind == faults::kFaultFiredTraceKind && r.id1 == i) ++traced;
    }
    EXPECT_EQ(traced, fired) << i;
    EXPECT_NE(ReportJson(report).find(absl::StrCat("\"firings\": ", fired)), std::string::npos) << i;
    EXPECT_NE(ReportSummary(report).find(absl::StrCat("fired ", fired)), std::string::npos) << i;
    total += fired;
  }
  EXPECT_EQ(report.fault_firings, total);
  if (c.no_findings) {
    EXPECT_EQ(report.findings_total, 0u) << ReportSummary(report);
  }
  // The ledger adds up, and nothing was left stuck that no fault explains.
  const faults::LedgerSummary& l = report.ledger;
  EXPECT_TRUE(report.ledger_checked);
  EXPECT_EQ(l.sends, l.completed + l.failed + l.accounted_to_faults + l.unaccounted);
  EXPECT_TRUE(l.balanced()) << ReportSummary(report);
  EXPECT_GT(l.sends, 0u);
  EXPECT_FALSE(report.stuck) << ReportSummary(report);
  EXPECT_EQ(report.causality_violations_total, 0u);
  EXPECT_TRUE(report.expectations_met) << ReportSummary(report);
  if (c.effect != nullptr) {
    Effect e{.report = report, .records = trace.records()};
    for (const sim::TraceRecord& r : trace.records()) {
      if (r.kind == faults::kFaultFiredTraceKind && r.id1 == 0) e.firings.push_back(r);
    }
    ASSERT_FALSE(e.firings.empty());
    e.first_fired_ns = e.firings[0].time.nanoseconds();
    c.effect(e);
  }
}

// The effect checks count doorbells two ways, which agree with no fault:
// every doorbell an endpoint rings leaves its sender once.
TEST(FaultKindEffectTest, WithoutFaultsEveryDoorbellRungLeaves) {
  const std::vector<sim::TraceRecord>& records = UnfaultedRun().trace.records();
  EXPECT_GT(SignalsRung(records, true), 0u);
  EXPECT_GT(SignalsRung(records, false), 0u);
  EXPECT_EQ(SignalsSent(records, true), SignalsRung(records, true));
  EXPECT_EQ(SignalsSent(records, false), SignalsRung(records, false));
  EXPECT_FALSE(PacketsLeftUnread(records));
  EXPECT_EQ(UnfaultedRun().report.peer_violations, 0u);
}

INSTANTIATE_TEST_SUITE_P(Catalogue, FaultKindTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<KindCase>& info) { return info.param.name; });

// The host handles of KMCL channels that were enabled (offered) at or after
// `from_ns`, in trace order, and the first host handle of the run.
struct HostChannels {
  uint64_t first = 0;
  std::vector<uint64_t> enabled_later;
  bool first_paused_open = false;  // The first paused while still open (a save).
};
HostChannels HostChannelsOf(const sim::RecordingTraceSink& trace, int64_t from_ns) {
  HostChannels out;
  for (const sim::TraceRecord& r : trace.records()) {
    if (r.kind != kmcl::kKmclStateTraceKind || r.partition != 0) continue;
    if (out.first == 0) out.first = r.id0;
    if (r.time.nanoseconds() < from_ns) continue;
    if (r.id0 != out.first && r.id1 == 1) out.enabled_later.push_back(r.id0);  // ConnState::kEnabled.
    if (r.id0 == out.first && r.id1 == 2 && r.size0 == 0) out.first_paused_open = true;  // kOpen, not running.
  }
  return out;
}

// save_restore: at 2 ms the host channel is paused while open (the save),
// and once the save ends (300 us later) a new host channel, the restored
// one, is enabled; a rescind during the save leaves no new channel.
TEST(SaveRestoreFaultTest, TheSavedChannelIsPausedAndARestoredOneOffered) {
  KindCase c{"save_restore", R"({"kind": "save_restore", "params": {"save_ns": 300000}, "trigger": {"at_ns": 2000000}})"};
  sim::RecordingTraceSink trace;
  const RunReport report = testing::RunInline(Scenario(c), {&trace});
  ASSERT_EQ(report.faults.size(), 1u);
  EXPECT_EQ(report.faults[0].firings, 1u);
  const HostChannels host = HostChannelsOf(trace, 2'000'000);
  EXPECT_TRUE(host.first_paused_open);
  ASSERT_EQ(host.enabled_later.size(), 1u);
  EXPECT_NE(host.enabled_later[0], host.first);
  EXPECT_TRUE(report.ledger.balanced()) << ReportSummary(report);
  EXPECT_EQ(report.findings_total, 0u);

  KindCase rescinded{"rescind_save", R"({"kind": "rescind", "params": {"step": "save"}},
      {"kind": "save_restore", "params": {"save_ns": 300000}, "trigger": {"at_ns": 2000000}})"};
  sim::RecordingTraceSink trace2;
  const RunReport report2 = testing::RunInline(Scenario(rescinded), {&trace2});
  ASSERT_EQ(report2.faults.size(), 2u);
  EXPECT_EQ(report2.faults[0].firings, 1u);
  EXPECT_EQ(report2.faults[1].firings, 1u);
  const HostChannels host2 = HostChannelsOf(trace2, 2'000'000);
  EXPECT_TRUE(host2.first_paused_open);
  EXPECT_TRUE(host2.enabled_later.empty());
  EXPECT_TRUE(report2.ledger.balanced()) << ReportSummary(report2);
  EXPECT_EQ(report2.findings_total, 0u);
}

// Every implemented kind of the catalogue has a case above.
TEST(FaultKindCoverageTest, EveryImplementedKindHasACase) {
  for (const faults::FaultKindInfo& info : faults::Catalogue()) {
    if (!info.implemented) continue;
    bool found = false;
    for (const KindCase& c : Cases()) found |= c.injection.find(absl::StrCat("\"", info.name, "\"")) != std::string::npos;
    EXPECT_TRUE(found) << info.name;
  }
}

}  // namespace
}  // namespace vmbsim::scenario
