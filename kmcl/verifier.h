// verifier.h
//
// The KMCL contract verifier's findings store. When a driver breaks the KMCL
// contract (shared/spec/kmcl-api.md: the per-function rules of §6, the
// summary table §6.10, the strict-mode invariants §7.6, the execution rules
// of §10), the KMCL layer still returns the documented NTSTATUS, and also
// reports a Finding here (STYLE.md, "The KMCL C API boundary"). The verifier
// keeps findings in report order, counts them per rule, emits one
// contract_violation trace record per finding, and tells the caller whether
// the run must stop. It never aborts: a broken contract is driver input.
//
// Which rule comes from where (the Rule comments carry the same references):
//   §7.6.1  Init setters only in Disabled      -> kInitSetterWrongState
//           Cleanup only in Disabled           -> kCleanupNotDisabled
//   §7.6.2  no Start/Pause/Disable from a state-change callback
//                                              -> kLifecycleCallInStateCallback
//   §7.6.4  every indicated packet completed, failed or deferred exactly once
//                                              -> kDoubleCompletion,
//                                                 kPacketNotCompletedAtClose
//   §7.6.5  no send after EvtChannelSuspend    -> kSendAfterSuspend (a warning)
//   §7.6.6  GPADLs deleted by the end of EvtChannelClosed
//                                              -> kGpadlNotDeletedAtClose
//   §7.6.7  SetInterruptLatency only Opened..Closed
//                                              -> kInterruptLatencyOutsideOpen
//   §7.6.8  DeferToPassive only inline in ProcessPacket (§6.10 extends it to
//           PacketFail and GetExternalData)    -> kPacketCallOutsideProcessPacket
//   §7.6.9  waiting SendSynchronousRequest never from EvtChannelStarted,
//           never at DISPATCH, never on a server
//                                              -> kSyncRequestInStarted,
//                                                 kBlockingCallAtDispatch,
//                                                 kSyncRequestWaitOnServer
//   §7.6.10 an Initialize'd packet has a completion routine before its send
//                                              -> kSendWithoutCompletionRoutine
//   §7.3, §7.7 no completion of a packet the close already retired
//                                              -> kCompletionAfterClose
//   §6.8    the server stops using a GPADL's buffer before
//           VmbChannelUnmapGpadl               -> kGpadlUseAfterUnmap
// §7.6.3 (no ProcessPacket between Suspend and Started) and the second half
// of §7.6.4 (Pause/Disable return only after every completion) are
// obligations of vmbsim's own KMCL implementation, not of the driver: a
// breach is a simulator bug, so the channel code asserts them with
// VMBSIM_CHECK and they have no Rule here.
//
// Trace record (kind kContractViolationTraceKind = 0x0200, the first kind of
// the KMCL range 0x0200..0x02FF; the fabric owns 0x0100..0x01FF):
//   time = Finding::time, partition = Finding::partition, vp = Finding::vp,
//   channel = Finding::relid (0 when the channel has none yet, as in the
//   fabric's records), id0 = Finding::channel (the driver-visible handle
//   value), id1 = the Rule's number, size0 = the NTSTATUS returned
//   (zero-extended 32 bits), size1 = the finding's index in report order
//   (findings()[size1] holds its function and detail text unless the store
//   was full).
// Rule numbers and the kind are part of the trace fingerprint: append rules,
// never renumber.
//
// Left out on purpose: deciding *whether* a call breaks a rule (the channel,
// packet and runtime code does that; it knows the state), per-rule fatality
// and the run's exit code (the scenario runner maps a stop to its documented
// exit code).

#ifndef VMBSIM_KMCL_VERIFIER_H_
#define VMBSIM_KMCL_VERIFIER_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kmcl/ntstatus.h"
#include "sim/core/sim_time.h"
#include "sim/core/trace.h"

namespace vmbsim::kmcl {

inline constexpr uint16_t kKmclTraceKindFirst = 0x0200;
inline constexpr uint16_t kKmclTraceKindLast = 0x02FF;
inline constexpr uint16_t kContractViolationTraceKind = 0x0200;  // "contract_violation".
static_assert(kContractViolationTraceKind >= kKmclTraceKindFirst &&
              kContractViolationTraceKind <= kKmclTraceKindLast);

// One rule of the KMCL contract. Numbers are stable (trace id1).
enum class Rule : uint16_t {
  // A stale, foreign, never-issued or NULL handle (API header conventions;
  // HandleTable). The call gets STATUS_INVALID_HANDLE; an Init setter gets
  // STATUS_INVALID_PARAMETER_1 (G3), InitSetPrimaryChannel's second handle
  // STATUS_INVALID_PARAMETER_2.
  kStaleOrForeignHandle = 1,
  // An Init* setter outside Disabled, e.g. after Enable (§7.6.1, G3):
  // STATUS_INVALID_PARAMETER_1.
  kInitSetterWrongState = 2,
  // VmbChannelCleanup on a channel that is not Disabled (§6.1, §7.6.1).
  kCleanupNotDisabled = 3,
  // VmbChannelStart/Pause/Disable from inside a state-change callback of the
  // same channel (§7.6.2; Disable would deadlock).
  kLifecycleCallInStateCallback = 4,
  // A received packet completed, failed or deferred again after it was
  // already completed or failed (§6.6, §7.6.4).
  kDoubleCompletion = 5,
  // Indicated packets still not completed when the channel closes (Disable,
  // peer close, rescind) (§7.6.4).
  kPacketNotCompletedAtClose = 6,
  // VmbChannelPacketDeferToPassive / PacketFail / PacketGetExternalData not
  // inline in ProcessPacket for that packet (§7.6.8, §6.10).
  kPacketCallOutsideProcessPacket = 7,
  // VmbPacketSend* or SendSynchronousRequest on a Disabled (never enabled,
  // disabled, or rescinded) channel (§6.10: sends are legal Enabled..Disabled).
  kSendOnDisabledChannel = 8,
  // A send after EvtChannelSuspend and before the next EvtChannelStarted
  // (§7.6.5). A warning: the doc phrases it as an obligation.
  kSendAfterSuspend = 9,
  // In-band bytes above the channel's MaximumPacketSize (§6.7,
  // STATUS_INVALID_PARAMETER_3) or external data above MaximumExternalData
  // (§6.2, STATUS_INVALID_PARAMETER); or a packet within both whose ring
  // footprint exceeds what the channel's outgoing ring ever takes
  // (fabric::WriterSizeRule: the peer sized the rings for smaller packets,
  // or the external data was never declared), refused with
  // STATUS_INVALID_BUFFER_SIZE (G10, G23). Every such send is refused at the
  // call. Two cases report STATUS_SUCCESS, what their call returned: a send
  // that waited in the send queue while the ring was unknown (a server
  // before the open), whose transaction then fails with
  // STATUS_INVALID_BUFFER_SIZE; and a completion that can never fit, which
  // is dropped (VmbChannelPacketComplete returns nothing).
  kOversizePacket = 10,
  // A VmbPacketInitialize'd packet sent without a completion routine
  // (§7.6.10, §6.7).
  kSendWithoutCompletionRoutine = 11,
  // VmbPacketFree of a packet in flight or of a VmbPacketInitialize'd packet
  // (§6.7).
  kPacketFreeInvalid = 12,
  // A call that blocks (Enable, Disable, Pause, GPADL create/delete/map,
  // waiting SendSynchronousRequest) made at DISPATCH (§10.1, §7.6.9).
  kBlockingCallAtDispatch = 13,
  // Any other call above the IRQL its §6 entry allows (§6.10 IRQL column).
  kIrqlViolation = 14,
  // A waiting SendSynchronousRequest from EvtChannelStarted, which would
  // never return (§6.7, §7.6.9).
  kSyncRequestInStarted = 15,
  // A waiting SendSynchronousRequest (non-zero timeout or
  // WAIT_FOR_COMPLETION) on a server channel (§6.7, §7.6.9).
  kSyncRequestWaitOnServer = 16,
  // GPADLs of the channel still present when EvtChannelClosed returns
  // (§6.8, §7.6.6).
  kGpadlNotDeletedAtClose = 17,
  // VmbChannelSetInterruptLatency outside EvtChannelOpened..EvtChannelClosed
  // (§6.2, §7.6.7): STATUS_INVALID_DEVICE_STATE (G25).
  kInterruptLatencyOutsideOpen = 18,
  // Any other call outside the legal states of §6.10: Start/Pause before
  // Enable, GPADL calls outside Opened..Closed (G24), Map/Unmap on a channel
  // that is not open, save/restore outside their windows (G12).
  kCallInWrongState = 19,
  // A packet completed after its channel's close or rescind retired it: the
  // teardown gave up waiting (force_retire_after) and the driver's
  // completion came later, for a transaction the peer no longer has
  // (§7.3 T-stop, §7.7: a server retires its outstanding transactions in
  // EvtChannelSuspend). STATUS_INVALID_HANDLE; nothing is sent.
  kCompletionAfterClose = 20,
  // The MDL VmbChannelMapGpadl returned, used after VmbChannelUnmapGpadl
  // (§6.8: "the server must have stopped using the buffer"): the server
  // asked MmGetSystemAddressForMdlSafe for a system address of a client
  // buffer it no longer has mapped, typically for I/O that was still in
  // flight when it unmapped. The call returns NULL.
  kGpadlUseAfterUnmap = 21,
};

inline constexpr size_t kRuleCount = 21;

// Every rule, in number order.
inline constexpr std::array<Rule, kRuleCount> kAllRules = {
    Rule::kStaleOrForeignHandle,         Rule::kInitSetterWrongState,
    Rule::kCleanupNotDisabled,           Rule::kLifecycleCallInStateCallback,
    Rule::kDoubleCompletion,             Rule::kPacketNotCompletedAtClose,
    Rule::kPacketCallOutsideProcessPacket, Rule::kSendOnDisabledChannel,
    Rule::kSendAfterSuspend,             Rule::kOversizePacket,
    Rule::kSendWithoutCompletionRoutine, Rule::kPacketFreeInvalid,
    Rule::kBlockingCallAtDispatch,       Rule::kIrqlViolation,
    Rule::kSyncRequestInStarted,         Rule::kSyncRequestWaitOnServer,
    Rule::kGpadlNotDeletedAtClose,       Rule::kInterruptLatencyOutsideOpen,
    Rule::kCallInWrongState,             Rule::kCompletionAfterClose,
    Rule::kGpadlUseAfterUnmap,
};

enum class Severity {
  kWarning,  // Recorded and traced; never stops the run.
  kError,    // Stops the run when the verifier is fatal.
};

// Stable snake_case name for reports and scenario files ("double_completion").
const char* RuleName(Rule rule);
Severity RuleSeverity(Rule rule);
const char* SeverityName(Severity severity);

struct Finding {
  sim::SimTime time;               // When the call was made.
  uint64_t channel = 0;            // The channel's handle value; 0 when none.
  const char* function = "";       // The KMCL call ("VmbPacketSend"); static storage.
  Rule rule = Rule::kCallInWrongState;
  std::string detail;              // What exactly, naming packets, states, sizes.
  NTSTATUS status = STATUS_SUCCESS;  // What the call returned (SUCCESS for VOID calls).
  // Where, for the trace record; 0 when unknown.
  uint16_t partition = 0;
  uint32_t vp = 0;
  uint32_t relid = 0;              // The channel's child relid once offered.
};

// "t=1.5us VmbPacketSend channel=0x8001000000000000 oversize_packet
//  (error) -> STATUS_INVALID_PARAMETER_3 (0xC00000F1): <detail>".
std::string FormatFinding(const Finding& finding);

class Verifier {
 public:
  // At most `findings_max` findings are stored; later ones are still counted
  // and traced (see dropped_count()). REQUIRES: findings_max > 0.
  static constexpr size_t kFindingsMaxDefault = 10000;
  explicit Verifier(size_t findings_max = kFindingsMaxDefault);
  Verifier(const Verifier&) = delete;
  Verifier& operator=(const Verifier&) = delete;

  // Records `finding`, emits its trace record if a tracer is attached, and
  // returns whether the run must stop: true when the verifier is fatal and
  // the rule's severity is kError. The caller still returns the documented
  // NTSTATUS to the driver and then stops the simulator; the verifier never
  // aborts. REQUIRES: finding.function != nullptr.
  bool Report(Finding finding);

  // Stored findings, in report order.
  const std::vector<Finding>& findings() const { return findings_; }
  // Findings of `rule` reported so far, including dropped ones.
  size_t count(Rule rule) const;
  size_t total_count() const { return total_count_; }
  size_t error_count() const { return error_count_; }
  size_t dropped_count() const { return total_count_ - findings_.size(); }

  // Fatal mode: errors stop the run (Report returns true). Off by default.
  void SetFatal(bool fatal) { fatal_ = fatal; }
  bool fatal() const { return fatal_; }
  // Whether any Report so far returned true.
  bool stop_requested() const { return stop_requested_; }

  // Emits one contract_violation record per finding into `tracer` (see the
  // file comment); null detaches. REQUIRES: `*tracer` outlives this verifier
  // or is detached first.
  void SetTraceSink(sim::Tracer* tracer) { tracer_ = tracer; }

 private:
  const size_t findings_max_;
  std::vector<Finding> findings_;
  std::array<size_t, kRuleCount> counts_{};
  size_t total_count_ = 0;
  size_t error_count_ = 0;
  bool fatal_ = false;
  bool stop_requested_ = false;
  sim::Tracer* tracer_ = nullptr;
};

}  // namespace vmbsim::kmcl

#endif  // VMBSIM_KMCL_VERIFIER_H_
