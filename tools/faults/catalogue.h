// catalogue.h
//
// The fault catalogue: every kind of fault a scenario's "faults" section can
// inject, as one data table (catalogue.cc). Each entry gives the kind's
// name, what it does, where it acts (the fault-hook site it answers, or an
// action the injector schedules), its parameters with their ranges and
// defaults, the targets it accepts and the triggers it accepts. The loader
// validates scenarios against this table, `vmbsim faults` prints it as
// JSON, the README's table is made from that output, and the injector
// (injector.h) carries each kind out. Entries marked not implemented are
// listed so that the gap is visible; the loader refuses them.
//
// Targets: a channel (by name, its sub-channels included), a partition (a
// guest by number; 0 is the root), a class of channels (by interface type
// GUID), or all. Triggers: at a simulated time, after the Nth trace event
// of a kind, with a probability per opportunity (an integer ratio drawn
// from the fault's own PRNG stream), or while a predicate on the target
// channel's state holds. "Opportunity" kinds fire when the fabric reaches
// one of their sites; "action" kinds are scheduled by the injector at the
// trigger (they accept only at-time and after-event triggers).

#ifndef VMBSIM_TOOLS_FAULTS_CATALOGUE_H_
#define VMBSIM_TOOLS_FAULTS_CATALOGUE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/types/span.h"

namespace vmbsim::faults {

// The catalogue's kinds, in table order. Numbers appear in trace records
// (kFaultFiredTraceKind id0): append, never renumber.
enum class FaultKind : uint16_t {
  kSignalDrop = 0,
  kSignalDelay,
  kSignalDuplicate,
  kSpuriousSignal,
  kInterruptDrop,
  kInterruptDelay,
  kInterruptDuplicate,
  kMonitorLatencyJitter,
  kMonitorLatencyChange,
  kVpStall,
  kMessageDelay,
  kMessageQueueFull,
  kEarlySignalDrop,
  kRingBadWriteIndex,
  kRingBadDescriptorLength,
  kRingBadDataOffset,
  kRingBadPacketType,
  kRingOversizePacket,
  kRingZeroLengthPacket,
  kRingReadIndexBackwards,
  kCompletionDrop,
  kCompletionDuplicate,
  kCompletionLate,
  kCompletionReorder,
  kCompletionWrongTransId,
  kRescind,
  kOpenFailure,
  kGpadlFailure,
  kPacketAllocateFailure,
  kHostCrash,
  kSignalThrottle,
  kGuestReset,
  kSaveRestore,
};

// Where a kind acts: a fault-hook site (sim/fabric/fault_hook.h), or an
// action the injector schedules at its trigger.
enum class Mechanism : uint8_t {
  kSignal,        // kSignalToHost / kSignalToGuest, by `direction`.
  kInterrupt,     // kInterruptAtHost / kInterruptAtGuest, by `side`.
  kRingRead,      // Before a reader's batch: the peer corrupts the ring it reads.
  kRingWrite,     // At a writer's packet (completions only for completion_*).
  kMessagePost,
  kMessageDeliver,
  kOpenChannel,
  kGpadlCreate,
  kPacketAllocate,
  kAction,        // Scheduled at the trigger (at_ns / after).
  kLifecycle,     // rescind: an action, or at the lifecycle site its `step` names.
};

// Bits of FaultKindInfo::targets and ::triggers.
inline constexpr uint8_t kTargetChannel = 1, kTargetPartition = 2, kTargetClass = 4, kTargetAll = 8;
inline constexpr uint8_t kTriggerAt = 1, kTriggerAfter = 2, kTriggerProbability = 4, kTriggerWhile = 8;

struct FaultParamInfo {
  const char* name;
  const char* meaning;
  int64_t min = 0;  // Integer parameters; ignored when `choices` is set.
  int64_t max = 0;
  int64_t default_value = 0;
  std::vector<std::string> choices;  // A string parameter: one of these; default choices[0].
  // Swarm variants draw a choice from the first `swarm_choices` (0: all),
  // for the same reason as FaultKindInfo::swarm.
  size_t swarm_choices = 0;
};

struct FaultKindInfo {
  FaultKind kind;
  const char* name;
  const char* semantics;
  Mechanism mechanism;
  std::vector<FaultParamInfo> params;
  uint8_t targets = kTargetChannel | kTargetPartition | kTargetClass | kTargetAll;
  uint8_t triggers = kTriggerAt | kTriggerAfter | kTriggerProbability | kTriggerWhile;
  // Whether the kind may leave work that never finishes (a lost doorbell, a
  // corrupt ring, a dropped completion): the ledger then accounts a
  // channel's unfinished sends to it, and liveness does not call them stuck.
  bool lossy = false;
  bool implemented = true;
  const char* not_modelled = "";  // Why not, for kinds not implemented.
  // Whether swarm variants draw it (swarm.cc). A kind implemented after the
  // README's swarm figures were measured stays out until they are measured
  // again, so that every published seed keeps its variant; a swarm reaches
  // it through the base scenario (`--set faults=...`).
  bool swarm = true;
};

// The table, in FaultKind order.
absl::Span<const FaultKindInfo> Catalogue();
const FaultKindInfo& InfoOf(FaultKind kind);
// The kind named `name`, or null.
const FaultKindInfo* FindKind(const std::string& name);
// Every kind's name, in table order.
std::vector<std::string> KindNames();
// The union of every kind's parameter names, sorted (the schema's
// "params" object).
std::vector<std::string> AllParamNames();
// The parameter `name` of `info`, or null.
const FaultParamInfo* FindParam(const FaultKindInfo& info, const std::string& name);

// Trigger vocabulary: "after" event names (trace kinds) and "while" predicates.
struct EventName {
  const char* name;
  uint16_t trace_kind;
};
absl::Span<const EventName> AfterEvents();
std::vector<std::string> AfterEventNames();
std::vector<std::string> WhilePredicates();

// The catalogue as JSON text (`vmbsim faults`): {"kinds": [...], "targets",
// "triggers", "after_events", "while_predicates"}.
std::string CatalogueJson();

// The trace record kind of a firing (numbers 0x0400 up belong to faults):
// partition = guest, channel = relid, id0 = FaultKind, id1 = injection
// index, size0 = transaction id (ring-write kinds), size1 = detail (a delay
// in ns, a corrupted value).
inline constexpr uint16_t kFaultFiredTraceKind = 0x0400;
// A liveness verdict: the run stopped making progress. size0 = ns without progress.
inline constexpr uint16_t kFaultStuckTraceKind = 0x0401;

}  // namespace vmbsim::faults

#endif  // VMBSIM_TOOLS_FAULTS_CATALOGUE_H_
