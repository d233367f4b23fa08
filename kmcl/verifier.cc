// verifier.cc

#include "kmcl/verifier.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kmcl/ntstatus.h"
#include "sim/check.h"
#include "sim/core/trace.h"

namespace vmbsim::kmcl {
namespace {

// Index into per-rule arrays. Rule numbers start at 1 and are dense.
size_t RuleIndex(Rule rule) {
  const size_t number = static_cast<size_t>(rule);
  VMBSIM_CHECK_GE(number, 1u);
  VMBSIM_CHECK_LE(number, kRuleCount);
  return number - 1;
}

}  // namespace

const char* RuleName(Rule rule) {
  switch (rule) {
    case Rule::kStaleOrForeignHandle:
      return "stale_or_foreign_handle";
    case Rule::kInitSetterWrongState:
      return "init_setter_wrong_state";
    case Rule::kCleanupNotDisabled:
      return "cleanup_not_disabled";
    case Rule::kLifecycleCallInStateCallback:
      return "lifecycle_call_in_state_callback";
    case Rule::kDoubleCompletion:
      return "double_completion";
    case Rule::kPacketNotCompletedAtClose:
      return "packet_not_completed_at_close";
    case Rule::kPacketCallOutsideProcessPacket:
      return "packet_call_outside_process_packet";
    case Rule::kSendOnDisabledChannel:
      return "send_on_disabled_channel";
    case Rule::kSendAfterSuspend:
      return "send_after_suspend";
    case Rule::kOversizePacket:
      return "oversize_packet";
    case Rule::kSendWithoutCompletionRoutine:
      return "send_without_completion_routine";
    case Rule::kPacketFreeInvalid:
      return "packet_free_invalid";
    case Rule::kBlockingCallAtDispatch:
      return "blocking_call_at_dispatch";
    case Rule::kIrqlViolation:
      return "irql_violation";
    case Rule::kSyncRequestInStarted:
      return "sync_request_in_started";
    case Rule::kSyncRequestWaitOnServer:
      return "sync_request_wait_on_server";
    case Rule::kGpadlNotDeletedAtClose:
      return "gpadl_not_deleted_at_close";
    case Rule::kInterruptLatencyOutsideOpen:
      return "interrupt_latency_outside_open";
    case Rule::kCallInWrongState:
      return "call_in_wrong_state";
    case Rule::kCompletionAfterClose:
      return "completion_after_close";
    case Rule::kGpadlUseAfterUnmap:
      return "gpadl_use_after_unmap";
  }
  return "unknown_rule";
}

Severity RuleSeverity(Rule rule) {
  // §7.6.5 says "warn": the documentation states it as the driver's duty, and
  // KMCL still queues such a send. Everything else is an error.
  return rule == Rule::kSendAfterSuspend ? Severity::kWarning : Severity::kError;
}

const char* SeverityName(Severity severity) {
  switch (severity) {
    case Severity::kWarning:
      return "warning";
    case Severity::kError:
      return "error";
  }
  return "unknown";
}

std::string FormatFinding(const Finding& finding) {
  return absl::StrCat("t=", finding.time.ToString(), " ", finding.function, " channel=",
                      absl::StrFormat("0x%016X", finding.channel), " ", RuleName(finding.rule),
                      " (", SeverityName(RuleSeverity(finding.rule)), ") -> ",
                      NtStatusToString(finding.status), ": ", finding.detail);
}

Verifier::Verifier(size_t findings_max) : findings_max_(findings_max) {
  VMBSIM_CHECK_GT(findings_max, 0u);
}

size_t Verifier::count(Rule rule) const { return counts_[RuleIndex(rule)]; }

bool Verifier::Report(Finding finding) {
  VMBSIM_CHECK(finding.function != nullptr);
  const size_t rule_index = RuleIndex(finding.rule);
  const size_t finding_index = total_count_;
  const Severity severity = RuleSeverity(finding.rule);

  ++counts_[rule_index];
  ++total_count_;
  if (severity == Severity::kError) ++error_count_;

  if (tracer_ != nullptr) {
    sim::TraceRecord record;
    record.time = finding.time;
    record.kind = kContractViolationTraceKind;
    record.partition = finding.partition;
    record.vp = finding.vp;
    record.channel = finding.relid;
    record.id0 = finding.channel;
    record.id1 = static_cast<uint64_t>(finding.rule);
    record.size0 = static_cast<uint32_t>(finding.status);
    record.size1 = finding_index;
    tracer_->Emit(record);
  }

  if (findings_.size() < findings_max_) findings_.push_back(std::move(finding));
  VMBSIM_CHECK_LE(findings_.size(), total_count_);  // Stored ones are a prefix.

  const bool stop = fatal_ && severity == Severity::kError;
  if (stop) stop_requested_ = true;
  return stop;
}

}  // namespace vmbsim::kmcl
