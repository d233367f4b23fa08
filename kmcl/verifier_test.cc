// Goal: the verifier stores findings in report order, counts them per rule,
// names every rule, stops the run only when fatal (and never for warnings),
// and emits one contract_violation trace record per finding with the fields
// verifier.h documents. Method: report findings into a real Verifier wired
// to a real Tracer with a recording sink.
#include "kmcl/verifier.h"

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

#include "gtest/gtest.h"
#include "kmcl/ntstatus.h"
#include "sim/core/sim_time.h"
#include "sim/core/trace.h"

namespace vmbsim::kmcl {
namespace {

Finding MakeFinding(int64_t t_ns, Rule rule, NTSTATUS status = STATUS_SUCCESS) {
  Finding finding;
  finding.time = sim::SimTime::FromNanoseconds(t_ns);
  finding.channel = 0x8001000000000002ull;
  finding.function = "VmbPacketSend";
  finding.rule = rule;
  finding.detail = "detail";
  finding.status = status;
  return finding;
}

TEST(VerifierTest, StoresFindingsInReportOrder) {
  Verifier verifier;
  EXPECT_FALSE(verifier.Report(MakeFinding(30, Rule::kOversizePacket,
                                           STATUS_INVALID_PARAMETER_3)));
  EXPECT_FALSE(verifier.Report(MakeFinding(10, Rule::kDoubleCompletion)));
  ASSERT_EQ(verifier.findings().size(), 2u);
  // Report order, not time order: the caller's order is the deterministic one.
  EXPECT_EQ(verifier.findings()[0].rule, Rule::kOversizePacket);
  EXPECT_EQ(verifier.findings()[0].time, sim::SimTime::FromNanoseconds(30));
  EXPECT_EQ(verifier.findings()[0].status, STATUS_INVALID_PARAMETER_3);
  EXPECT_STREQ(verifier.findings()[0].function, "VmbPacketSend");
  EXPECT_EQ(verifier.findings()[0].detail, "detail");
  EXPECT_EQ(verifier.findings()[1].rule, Rule::kDoubleCompletion);
  EXPECT_EQ(verifier.total_count(), 2u);
  EXPECT_EQ(verifier.dropped_count(), 0u);
}

TEST(VerifierTest, CountsPerRule) {
  Verifier verifier;
  verifier.Report(MakeFinding(1, Rule::kDoubleCompletion));
  verifier.Report(MakeFinding(2, Rule::kStaleOrForeignHandle, STATUS_INVALID_HANDLE));
  verifier.Report(MakeFinding(3, Rule::kDoubleCompletion));
  verifier.Report(MakeFinding(4, Rule::kSendAfterSuspend));
  EXPECT_EQ(verifier.count(Rule::kDoubleCompletion), 2u);
  EXPECT_EQ(verifier.count(Rule::kStaleOrForeignHandle), 1u);
  EXPECT_EQ(verifier.count(Rule::kSendAfterSuspend), 1u);
  EXPECT_EQ(verifier.count(Rule::kOversizePacket), 0u);
  EXPECT_EQ(verifier.total_count(), 4u);
  EXPECT_EQ(verifier.error_count(), 3u);  // send_after_suspend is a warning.
  size_t sum = 0;
  for (Rule rule : kAllRules) sum += verifier.count(rule);
  EXPECT_EQ(sum, verifier.total_count());
}

TEST(VerifierTest, EveryRuleHasAUniqueSnakeCaseName) {
  // Pinned: names appear in reports and scenario files.
  EXPECT_STREQ(RuleName(Rule::kStaleOrForeignHandle), "stale_or_foreign_handle");
  EXPECT_STREQ(RuleName(Rule::kInitSetterWrongState), "init_setter_wrong_state");
  EXPECT_STREQ(RuleName(Rule::kCleanupNotDisabled), "cleanup_not_disabled");
  EXPECT_STREQ(RuleName(Rule::kLifecycleCallInStateCallback),
               "lifecycle_call_in_state_callback");
  EXPECT_STREQ(RuleName(Rule::kDoubleCompletion), "double_completion");
  EXPECT_STREQ(RuleName(Rule::kPacketNotCompletedAtClose), "packet_not_completed_at_close");
  EXPECT_STREQ(RuleName(Rule::kPacketCallOutsideProcessPacket),
               "packet_call_outside_process_packet");
  EXPECT_STREQ(RuleName(Rule::kSendOnDisabledChannel), "send_on_disabled_channel");
  EXPECT_STREQ(RuleName(Rule::kSendAfterSuspend), "send_after_suspend");
  EXPECT_STREQ(RuleName(Rule::kOversizePacket), "oversize_packet");
  EXPECT_STREQ(RuleName(Rule::kSendWithoutCompletionRoutine), "send_without_completion_routine");
  EXPECT_STREQ(RuleName(Rule::kPacketFreeInvalid), "packet_free_invalid");
  EXPECT_STREQ(RuleName(Rule::kBlockingCallAtDispatch), "blocking_call_at_dispatch");
  EXPECT_STREQ(RuleName(Rule::kIrqlViolation), "irql_violation");
  EXPECT_STREQ(RuleName(Rule::kSyncRequestInStarted), "sync_request_in_started");
  EXPECT_STREQ(RuleName(Rule::kSyncRequestWaitOnServer), "sync_request_wait_on_server");
  EXPECT_STREQ(RuleName(Rule::kGpadlNotDeletedAtClose), "gpadl_not_deleted_at_close");
  EXPECT_STREQ(RuleName(Rule::kInterruptLatencyOutsideOpen), "interrupt_latency_outside_open");
  EXPECT_STREQ(RuleName(Rule::kCallInWrongState), "call_in_wrong_state");
  EXPECT_STREQ(RuleName(Rule::kCompletionAfterClose), "completion_after_close");
  EXPECT_STREQ(RuleName(Rule::kGpadlUseAfterUnmap), "gpadl_use_after_unmap");

  std::set<std::string> names;
  for (size_t i = 0; i < kAllRules.size(); ++i) {
    const Rule rule = kAllRules[i];
    EXPECT_EQ(static_cast<size_t>(rule), i + 1);  // Dense numbers, in order.
    const std::string name = RuleName(rule);
    EXPECT_NE(name, "unknown_rule");
    EXPECT_EQ(name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_"), std::string::npos) << name;
    names.insert(name);
  }
  EXPECT_EQ(names.size(), kRuleCount);
}

TEST(VerifierTest, OnlySendAfterSuspendIsAWarning) {
  for (Rule rule : kAllRules) {
    EXPECT_EQ(RuleSeverity(rule),
              rule == Rule::kSendAfterSuspend ? Severity::kWarning : Severity::kError)
        << RuleName(rule);
  }
  EXPECT_STREQ(SeverityName(Severity::kWarning), "warning");
  EXPECT_STREQ(SeverityName(Severity::kError), "error");
}

TEST(VerifierTest, FatalFlagStopsTheRunOnErrorsOnly) {
  Verifier verifier;
  EXPECT_FALSE(verifier.fatal());
  EXPECT_FALSE(verifier.Report(MakeFinding(1, Rule::kDoubleCompletion)));
  EXPECT_FALSE(verifier.stop_requested());

  verifier.SetFatal(true);
  EXPECT_TRUE(verifier.fatal());
  EXPECT_FALSE(verifier.Report(MakeFinding(2, Rule::kSendAfterSuspend)));  // Warning.
  EXPECT_FALSE(verifier.stop_requested());
  EXPECT_TRUE(verifier.Report(MakeFinding(3, Rule::kDoubleCompletion)));
  EXPECT_TRUE(verifier.stop_requested());
  // The fatal finding is still recorded: the report explains the stop.
  EXPECT_EQ(verifier.findings().size(), 3u);
  EXPECT_EQ(verifier.count(Rule::kDoubleCompletion), 2u);

  verifier.SetFatal(false);
  EXPECT_FALSE(verifier.Report(MakeFinding(4, Rule::kDoubleCompletion)));
  EXPECT_TRUE(verifier.stop_requested());  // Latched.
}

TEST(VerifierTest, EmitsContractViolationRecords) {
  sim::Tracer tracer;
  sim::RecordingTraceSink sink;
  tracer.AddSink(&sink);
  Verifier verifier;
  verifier.Report(MakeFinding(5, Rule::kDoubleCompletion));  // No tracer yet: not traced.
  verifier.SetTraceSink(&tracer);

  Finding finding = MakeFinding(1500, Rule::kOversizePacket, STATUS_INVALID_PARAMETER_3);
  finding.partition = 2;
  finding.vp = 3;
  finding.relid = 14;
  verifier.Report(finding);
  verifier.Report(MakeFinding(1600, Rule::kStaleOrForeignHandle, STATUS_INVALID_HANDLE));

  ASSERT_EQ(sink.records().size(), 2u);
  const sim::TraceRecord& record = sink.records()[0];
  EXPECT_EQ(record.kind, 0x0200);
  EXPECT_EQ(record.kind, kContractViolationTraceKind);
  EXPECT_EQ(record.time, sim::SimTime::FromNanoseconds(1500));
  EXPECT_EQ(record.partition, 2);
  EXPECT_EQ(record.vp, 3u);
  EXPECT_EQ(record.channel, 14u);
  EXPECT_EQ(record.id0, 0x8001000000000002ull);                   // Channel handle.
  EXPECT_EQ(record.id1, 10u);                                      // Rule number.
  EXPECT_EQ(record.size0, 0xC00000F1u);                            // NTSTATUS.
  EXPECT_EQ(record.size1, 1u);                                     // Finding index.
  EXPECT_EQ(verifier.findings()[record.size1].rule, Rule::kOversizePacket);
  EXPECT_EQ(sink.records()[1].id1, static_cast<uint64_t>(Rule::kStaleOrForeignHandle));
  EXPECT_EQ(sink.records()[1].size0, 0xC0000008u);
  EXPECT_EQ(sink.records()[1].size1, 2u);

  verifier.SetTraceSink(nullptr);
  verifier.Report(MakeFinding(1700, Rule::kDoubleCompletion));
  EXPECT_EQ(sink.records().size(), 2u);
  tracer.RemoveSink(&sink);
}

TEST(VerifierTest, StoreIsBoundedButCountsAndTracesEverything) {
  sim::Tracer tracer;
  sim::RecordingTraceSink sink;
  tracer.AddSink(&sink);
  Verifier verifier(/*findings_max=*/2);
  verifier.SetTraceSink(&tracer);
  for (int i = 0; i < 5; ++i) verifier.Report(MakeFinding(i, Rule::kIrqlViolation));
  EXPECT_EQ(verifier.findings().size(), 2u);
  EXPECT_EQ(verifier.count(Rule::kIrqlViolation), 5u);
  EXPECT_EQ(verifier.dropped_count(), 3u);
  ASSERT_EQ(sink.records().size(), 5u);
  EXPECT_EQ(sink.records()[4].size1, 4u);
  tracer.RemoveSink(&sink);
}

TEST(VerifierTest, FormatFindingIsReadable) {
  Finding finding = MakeFinding(1500, Rule::kOversizePacket, STATUS_INVALID_PARAMETER_3);
  finding.detail = "BufferLength 5000 > MaximumPacketSize 4096";
  EXPECT_EQ(FormatFinding(finding),
            "t=1.5us VmbPacketSend channel=0x8001000000000002 oversize_packet (error) -> "
            "STATUS_INVALID_PARAMETER_3 (0xC00000F1): BufferLength 5000 > MaximumPacketSize "
            "4096");
}

TEST(VerifierDeathTest, RuleOutsideTheEnumIsABug) {
  Verifier verifier;
  EXPECT_DEATH(verifier.Report(MakeFinding(1, static_cast<Rule>(0))), "number >= 1u");
}

}  // namespace
}  // namespace vmbsim::kmcl
