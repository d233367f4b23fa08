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

#include <cstdint>
#include <functional>
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

namespace vmbsim::scenario {
namespace {

struct KindCase {
  std::string name;       // Test name.
  std::string injection;  // The JSON of faults.injections[0].
  // The channel's extra settings (JSON members, with a leading comma).
  std::string channel_extra = "";
  uint64_t firings_min = 1;
  uint64_t firings_max = UINT64_MAX;
  // The fault alone must leave the verifier silent.
  bool no_findings = false;
  // What the fault does, checked on the run's trace (with the time of its
  // first firing), where the kind has an effect the trace shows by itself.
  std::function<void(const std::vector<sim::TraceRecord>&, int64_t first_fired_ns)> effect = nullptr;
};

uint64_t CountKind(const std::vector<sim::TraceRecord>& records, fabric::FabricTraceKind kind, int64_t from_ns = 0) {
  uint64_t n = 0;
  for (const sim::TraceRecord& r : records) n += r.kind == fabric::TraceKind(kind) && r.time.nanoseconds() >= from_ns;
  return n;
}

// A corrupt ring is found by its reader, which fails the endpoint (a
// kRingCorrupt record), never read past. (A read index moved backwards
// misleads the writer instead, who sees less room: no reader error.)
void ReaderFindsTheCorruption(const std::vector<sim::TraceRecord>& records, int64_t fired_ns) {
  EXPECT_GE(CountKind(records, fabric::FabricTraceKind::kRingCorrupt, fired_ns), 1u);
}

// guest_reset at `fired_ns`, back 500 us later: none of the old guest
// driver's code runs meanwhile (no send, delivery, callback or completion on
// the guest), the host sees the guest close its channel (PeerClosed), and
// after the reboot a new guest channel opens and sends again.
void GuestRebootsAndReopens(const std::vector<sim::TraceRecord>& records, int64_t fired_ns) {
  constexpr int64_t kRebootNs = 500'000;
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

std::vector<KindCase> Cases() {
  const std::string p10 = R"("trigger": {"probability": {"numerator": 1, "denominator": 10}})";
  const std::string at2ms = R"("trigger": {"at_ns": 2000000})";
  const std::string after50 = R"("trigger": {"after": {"event": "kmcl_send", "count": 50}})";
  return {
      {"signal_drop", R"({"kind": "signal_drop", )" + p10 + "}"},
      {"signal_delay", R"({"kind": "signal_delay", )" + p10 + "}"},
      {"signal_duplicate", R"({"kind": "signal_duplicate", )" + p10 + "}"},
      {"spurious_signal", R"({"kind": "spurious_signal", )" + at2ms + "}", "", 1, 1},
      {"interrupt_drop", R"({"kind": "interrupt_drop", )" + p10 + "}"},
      {"interrupt_delay", R"({"kind": "interrupt_delay", )" + p10 + "}"},
      {"interrupt_duplicate", R"({"kind": "interrupt_duplicate", )" + p10 + "}"},
      {"monitor_latency_jitter", R"({"kind": "monitor_latency_jitter", )" + p10 + "}"},
      {"monitor_latency_change", R"({"kind": "monitor_latency_change", "params": {"latency_100ns": 50}, )" + at2ms +
                                     "}",
       "", 1, 1},
      {"vp_stall", R"({"kind": "vp_stall", "target": {"partition": 0}, "params": {"duration_ns": 400000}, )" +
                       at2ms + "}",
       "", 1, 1, false,
       [](const std::vector<sim::TraceRecord>& records, int64_t fired_ns) {
         // The host's VP 0 runs nothing while it is descheduled: no item
         // starts in the 400 us after the stall.
         for (const sim::TraceRecord& r : records) {
           if (r.kind != fabric::TraceKind(fabric::FabricTraceKind::kVpWorkStart) || r.partition != 0 || r.vp != 0) {
             continue;
           }
           EXPECT_FALSE(r.time.nanoseconds() > fired_ns && r.time.nanoseconds() < fired_ns + 400000)
               << "an item started at " << r.time.nanoseconds() << " ns, inside the stall from " << fired_ns;
         }
         EXPECT_GT(CountKind(records, fabric::FabricTraceKind::kVpWorkStart, fired_ns + 400000), 0u);
       }},
      {"message_delay", R"({"kind": "message_delay", "target": {"partition": 1},
                           "trigger": {"probability": {"numerator": 1, "denominator": 2}}})"},
      {"message_queue_full", R"({"kind": "message_queue_full", "target": {"partition": 1},
                                "trigger": {"probability": {"numerator": 1, "denominator": 3}}})",
       "", 1, UINT64_MAX, false,
       [](const std::vector<sim::TraceRecord>& records, int64_t fired_ns) {
         // The full queue refuses the message (HV_STATUS_INSUFFICIENT_BUFFERS).
         EXPECT_GE(CountKind(records, fabric::FabricTraceKind::kMessageRejected, fired_ns), 1u);
       }},
      {"early_signal_drop", R"({"kind": "early_signal_drop", "params": {"window_ns": 1000000}})"},
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
      {"completion_drop", R"({"kind": "completion_drop", )" + p10 + "}"},
      {"completion_duplicate", R"({"kind": "completion_duplicate", )" + p10 + "}"},
      {"completion_late", R"({"kind": "completion_late", )" + p10 + "}"},
      {"completion_reorder", R"({"kind": "completion_reorder", )" + p10 + "}"},
      {"completion_wrong_trans_id", R"({"kind": "completion_wrong_trans_id", )" + p10 + "}"},
      {"rescind_now", R"({"kind": "rescind", )" + at2ms + "}", "", 1, 1},
      {"rescind_opening", R"({"kind": "rescind", "params": {"step": "opening"}})", "", 1, 1},
      {"rescind_mid_send", R"({"kind": "rescind", "params": {"step": "mid_send"}, )" + after50 + "}", "", 1, 1},
      {"rescind_gpadl_create", R"({"kind": "rescind", "params": {"step": "gpadl_create"}})", "", 1, 1},
      {"rescind_gpadl_teardown", R"({"kind": "rescind", "params": {"step": "gpadl_teardown"}})",
       R"(, "guest_stop_ns": 3000000)", 1, 1},
      {"open_failure", R"({"kind": "open_failure"})", "", 1, 1},
      {"gpadl_failure", R"({"kind": "gpadl_failure"})", "", 1, 1},
      {"packet_allocate_failure", R"({"kind": "packet_allocate_failure", )" + p10 + "}"},
      {"host_crash", R"({"kind": "host_crash", "params": {"restart_ns": 500000}, )" + at2ms + "}", "", 1, 1},
      {"guest_reset",
       R"({"kind": "guest_reset", "target": {"partition": 1}, "params": {"reboot_ns": 500000}, )" + at2ms + "}", "", 1,
       1, true, GuestRebootsAndReopens},
      {"save_restore", R"({"kind": "save_restore", "params": {"save_ns": 300000}, )" + at2ms + "}", "", 1, 1, true},
      // A rescind during the save of a save_restore (the second injection).
      {"rescind_save",
       R"({"kind": "rescind", "params": {"step": "save"}}, {"kind": "save_restore", )" + at2ms + "}", "", 1, 1,
       true},
      {"signal_throttle", R"({"kind": "signal_throttle", "params": {"signals_max": 1, "window_ns": 100000},
                             "trigger": {"while": "channel_attached"}})"},
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
    int64_t first_fired_ns = -1;
    for (const sim::TraceRecord& r : trace.records()) {
      if (r.kind == faults::kFaultFiredTraceKind && r.id1 == 0) {
        first_fired_ns = r.time.nanoseconds();
        break;
      }
    }
    ASSERT_GE(first_fired_ns, 0);
    c.effect(trace.records(), first_fired_ns);
  }
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
