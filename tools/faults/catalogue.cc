#include "tools/faults/catalogue.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kmcl/trace_kinds.h"
#include "sim/check.h"
#include "sim/fabric/trace_kinds.h"

namespace vmbsim::faults {
namespace {

using fabric::FabricTraceKind;
using fabric::TraceKind;

constexpr int64_t kDelayNsMax = 1'000'000'000'000;  // 1000 s.
constexpr uint8_t kOnlyAction = kTriggerAt | kTriggerAfter;

FaultParamInfo Direction() {
  return {.name = "direction",
          .meaning = "which doorbells: guest-to-host, host-to-guest or both",
          .choices = {"both", "to_host", "to_guest"}};
}
FaultParamInfo Side() {
  return {.name = "side",
          .meaning = "the endpoint whose interrupt (or ring) it is: host, guest or both",
          .choices = {"both", "host", "guest"}};
}
FaultParamInfo Reader() {
  return {.name = "reader",
          .meaning = "the reading endpoint whose incoming ring the corrupt peer writes: host, guest or both",
          .choices = {"both", "host", "guest"}};
}
FaultParamInfo DelayNs(int64_t default_ns) {
  return {.name = "delay_ns", .meaning = "how long, in ns", .min = 1, .max = kDelayNsMax, .default_value = default_ns};
}

const std::vector<FaultKindInfo>& Table() {
  static const auto* const table = new std::vector<FaultKindInfo>{
      {.kind = FaultKind::kSignalDrop,
       .name = "signal_drop",
       .semantics = "A data-path doorbell (HvSignalEvent or monitor-page set, or the host's signal to the "
                    "guest) is lost before it leaves its sender.",
       .mechanism = Mechanism::kSignal,
       .params = {Direction()},
       .lossy = true},
      {.kind = FaultKind::kSignalDelay,
       .name = "signal_delay",
       .semantics = "A doorbell leaves its sender `delay_ns` late (if the channel is still attached then).",
       .mechanism = Mechanism::kSignal,
       .params = {Direction(), DelayNs(100'000)}},
      {.kind = FaultKind::kSignalDuplicate,
       .name = "signal_duplicate",
       .semantics = "A doorbell is sent twice.",
       .mechanism = Mechanism::kSignal,
       .params = {Direction()}},
      {.kind = FaultKind::kSpuriousSignal,
       .name = "spurious_signal",
       .semantics = "At the trigger, the chosen endpoint of every targeted channel gets a doorbell nobody "
                    "rang (its ring may be empty).",
       .mechanism = Mechanism::kAction,
       .params = {Side()},
       .triggers = kOnlyAction},
      {.kind = FaultKind::kInterruptDrop,
       .name = "interrupt_drop",
       .semantics = "A channel's event flag is taken from the SynIC but its interrupt never reaches the "
                    "endpoint (a lost interrupt).",
       .mechanism = Mechanism::kInterrupt,
       .params = {Side()},
       .lossy = true},
      {.kind = FaultKind::kInterruptDelay,
       .name = "interrupt_delay",
       .semantics = "A channel's interrupt reaches its endpoint `delay_ns` late.",
       .mechanism = Mechanism::kInterrupt,
       .params = {Side(), DelayNs(50'000)}},
      {.kind = FaultKind::kInterruptDuplicate,
       .name = "interrupt_duplicate",
       .semantics = "A channel's interrupt is delivered to its endpoint twice (a spurious second one).",
       .mechanism = Mechanism::kInterrupt,
       .params = {Side()}},
      {.kind = FaultKind::kMonitorLatencyJitter,
       .name = "monitor_latency_jitter",
       .semantics = "A guest-to-host doorbell of a monitored channel is set on the monitor page a uniform "
                    "0..`jitter_ns` late (drawn per firing), on top of the page's own latency.",
       .mechanism = Mechanism::kSignal,
       .params = {{.name = "jitter_ns", .meaning = "largest extra delay, in ns", .min = 1, .max = kDelayNsMax,
                   .default_value = 50'000}}},
      {.kind = FaultKind::kMonitorLatencyChange,
       .name = "monitor_latency_change",
       .semantics = "At the trigger, the monitor latency of every targeted monitored channel becomes "
                    "`latency_100ns` (the host reprogramming the page mid-run; applies from the next window).",
       .mechanism = Mechanism::kAction,
       .params = {{.name = "latency_100ns", .meaning = "the new latency, in 100 ns units", .min = 0, .max = 65535,
                   .default_value = 5000}},
       .triggers = kOnlyAction},
      {.kind = FaultKind::kVpStall,
       .name = "vp_stall",
       .semantics = "At the trigger, VP `vp` of the targeted partition (of each targeted channel's guest, "
                    "for channel targets) stops running for `duration_ns`: its running item ends late and "
                    "nothing starts meanwhile.",
       .mechanism = Mechanism::kAction,
       .params = {{.name = "vp", .meaning = "VP index (taken modulo the partition's VP count)", .min = 0,
                   .max = 63, .default_value = 0},
                  {.name = "duration_ns", .meaning = "how long the VP stops, in ns", .min = 1, .max = kDelayNsMax,
                   .default_value = 1'000'000}},
       .triggers = kOnlyAction},
      {.kind = FaultKind::kMessageDelay,
       .name = "message_delay",
       .semantics = "A host control message for the targeted guest's SIMP slot is delivered `delay_ns` late; "
                    "later messages wait behind it (SynIC order is kept).",
       .mechanism = Mechanism::kMessageDeliver,
       .params = {DelayNs(200'000)},
       .targets = kTargetPartition | kTargetAll,
       .triggers = kTriggerAt | kTriggerAfter | kTriggerProbability},
      {.kind = FaultKind::kMessageQueueFull,
       .name = "message_queue_full",
       .semantics = "A guest's HvPostMessage to the host is refused with HV_STATUS_INSUFFICIENT_BUFFERS "
                    "(the port's message queue exhausted); the guest retries as it would.",
       .mechanism = Mechanism::kMessagePost,
       .targets = kTargetPartition | kTargetAll,
       .triggers = kTriggerAt | kTriggerAfter | kTriggerProbability},
      {.kind = FaultKind::kEarlySignalDrop,
       .name = "early_signal_drop",
       .semantics = "Host-to-guest doorbells within `window_ns` of the channel's first data-path activity "
                    "are lost (the Linux race: the host signals before the guest is ready to take it).",
       .mechanism = Mechanism::kSignal,
       .params = {{.name = "window_ns", .meaning = "how long after the first activity, in ns", .min = 1,
                   .max = kDelayNsMax, .default_value = 1'000'000}},
       .lossy = true},
      {.kind = FaultKind::kRingBadWriteIndex,
       .name = "ring_bad_write_index",
       .semantics = "The peer stores an out-of-range write index (the data size plus 8) in the control page "
                    "of the ring about to be read.",
       .mechanism = Mechanism::kRingRead,
       .params = {Reader()},
       .lossy = true},
      {.kind = FaultKind::kRingBadDescriptorLength,
       .name = "ring_bad_descriptor_length",
       .semantics = "The next unread packet's descriptor gets a total length (len8) smaller than its data "
                    "offset (offset8).",
       .mechanism = Mechanism::kRingRead,
       .params = {Reader()},
       .lossy = true},
      {.kind = FaultKind::kRingBadDataOffset,
       .name = "ring_bad_data_offset",
       .semantics = "The next unread packet's data offset (offset8) points inside its descriptor (1).",
       .mechanism = Mechanism::kRingRead,
       .params = {Reader()},
       .lossy = true},
      {.kind = FaultKind::kRingBadPacketType,
       .name = "ring_bad_packet_type",
       .semantics = "The next unread packet's type becomes 0x77, which no VMBus packet has.",
       .mechanism = Mechanism::kRingRead,
       .params = {Reader()},
       .lossy = true},
      {.kind = FaultKind::kRingOversizePacket,
       .name = "ring_oversize_packet",
       .semantics = "The next unread packet's length (len8) claims more bytes than the ring holds.",
       .mechanism = Mechanism::kRingRead,
       .params = {Reader()},
       .lossy = true},
      {.kind = FaultKind::kRingZeroLengthPacket,
       .name = "ring_zero_length_packet",
       .semantics = "The next unread packet's descriptor says zero length (len8 = 0, offset8 = 0).",
       .mechanism = Mechanism::kRingRead,
       .params = {Reader()},
       .lossy = true},
      {.kind = FaultKind::kRingReadIndexBackwards,
       .name = "ring_read_index_backwards",
       .semantics = "Before a write, the reading peer moves the read index of the ring `bytes` backwards "
                    "(modulo the data size): the writer sees less room, or data it must not overwrite.",
       .mechanism = Mechanism::kRingWrite,
       .params = {Side(),
                  {.name = "bytes", .meaning = "how far back, in bytes (a multiple of 8 is used)", .min = 8,
                   .max = 1 << 24, .default_value = 64}},
       .lossy = true},
      {.kind = FaultKind::kCompletionDrop,
       .name = "completion_drop",
       .semantics = "A completion packet is never written (a misbehaving peer loses it); its transaction "
                    "never finishes.",
       .mechanism = Mechanism::kRingWrite,
       .params = {Side()},
       .lossy = true},
      {.kind = FaultKind::kCompletionDuplicate,
       .name = "completion_duplicate",
       .semantics = "A completion packet is written twice (the second only if it fits at once).",
       .mechanism = Mechanism::kRingWrite,
       .params = {Side()}},
      {.kind = FaultKind::kCompletionLate,
       .name = "completion_late",
       .semantics = "A completion packet is written `delay_ns` late (once it fits).",
       .mechanism = Mechanism::kRingWrite,
       .params = {Side(), DelayNs(500'000)}},
      {.kind = FaultKind::kCompletionReorder,
       .name = "completion_reorder",
       .semantics = "A completion packet is held back and written after the endpoint's next packet (or "
                    "after `delay_ns` at the latest): completions arrive out of order.",
       .mechanism = Mechanism::kRingWrite,
       .params = {Side(), DelayNs(1'000'000)}},
      {.kind = FaultKind::kCompletionWrongTransId,
       .name = "completion_wrong_trans_id",
       .semantics = "A completion packet carries its transaction id plus `offset`: the receiver sees a "
                    "completion of nothing, and the real transaction never finishes.",
       .mechanism = Mechanism::kRingWrite,
       .params = {Side(),
                  {.name = "offset", .meaning = "added to the transaction id", .min = 1,
                   .max = int64_t{1} << 40, .default_value = int64_t{1} << 32}},
       .lossy = true},
      {.kind = FaultKind::kRescind,
       .name = "rescind",
       .semantics = "The host driver of the targeted channel disables it (VmbChannelDisable: a rescind) at "
                    "the lifecycle step `step`: now (at an at/after trigger), while opening (at the "
                    "OPENCHANNEL), mid-send (at a packet write), during GPADL creation (at a GPADL_HEADER) "
                    "or teardown (at a GPADL_TEARDOWN), or during a save (when a save_restore injection's "
                    "save of the channel begins: the driver is torn down before the save ends, and nothing "
                    "is restored).",
       .mechanism = Mechanism::kLifecycle,
       .params = {{.name = "step",
                   .meaning = "the lifecycle step",
                   .choices = {"now", "opening", "mid_send", "gpadl_create", "gpadl_teardown", "save"},
                   .swarm_choices = 5}},
       .targets = kTargetChannel | kTargetClass | kTargetAll,
       .lossy = true},
      {.kind = FaultKind::kOpenFailure,
       .name = "open_failure",
       .semantics = "An accepted OPENCHANNEL fails: the host answers OPENCHANNEL_RESULT with `status`.",
       .mechanism = Mechanism::kOpenChannel,
       .params = {{.name = "status", .meaning = "the failure status (0xC0000001 STATUS_UNSUCCESSFUL)",
                   .min = 1, .max = 0xFFFFFFFF, .default_value = 0xC0000001}},
       .lossy = true},
      {.kind = FaultKind::kGpadlFailure,
       .name = "gpadl_failure",
       .semantics = "The host refuses a GPADL: GPADL_CREATED with a failure status.",
       .mechanism = Mechanism::kGpadlCreate,
       .lossy = true},
      {.kind = FaultKind::kPacketAllocateFailure,
       .name = "packet_allocate_failure",
       .semantics = "VmbPacketAllocate fails with STATUS_INSUFFICIENT_RESOURCES.",
       .mechanism = Mechanism::kPacketAllocate,
       .lossy = true},
      {.kind = FaultKind::kHostCrash,
       .name = "host_crash",
       .semantics = "At the trigger the host endpoint of the targeted channel goes away (its driver is torn "
                    "down, which rescinds the channel) and a new instance of the driver starts "
                    "`restart_ns` later, offering the channel again. Not modelled: an abrupt loss without "
                    "teardown; guest drivers that do not reopen a re-offered channel stay closed.",
       .mechanism = Mechanism::kAction,
       .params = {{.name = "restart_ns", .meaning = "downtime before the restart, in ns", .min = 1,
                   .max = kDelayNsMax, .default_value = 1'000'000}},
       .targets = kTargetChannel | kTargetClass | kTargetAll,
       .triggers = kOnlyAction,
       .lossy = true},
      {.kind = FaultKind::kSignalThrottle,
       .name = "signal_throttle",
       .semantics = "The host throttles a guest that signals a channel too often: beyond `signals_max` "
                    "guest-to-host doorbells per `window_ns`, each waits for the next window with room (no "
                    "window lets more than `signals_max` through).",
       .mechanism = Mechanism::kSignal,
       .params = {{.name = "signals_max", .meaning = "doorbells let through per window", .min = 1,
                   .max = 1'000'000, .default_value = 4},
                  {.name = "window_ns", .meaning = "the window, in ns", .min = 1, .max = kDelayNsMax,
                   .default_value = 100'000}},
       .triggers = kTriggerAt | kTriggerAfter | kTriggerWhile},
      {.kind = FaultKind::kGuestReset,
       .name = "guest_reset",
       .semantics = "At the trigger the targeted guest partition (each targeted channel's guest) resets: none "
                    "of its driver code runs again (callbacks, completion routines, DPCs and PASSIVE threads of "
                    "the old drivers stop where they are, a thread blocked in a KMCL call included), its sends "
                    "in flight are never completed, and its VMBus client unloads as a crashing Linux guest does "
                    "(UNLOAD: the host closes every open channel, which its drivers see as the guest closing "
                    "it, and tears the GPADLs down). `reboot_ns` later (and not before the unload is answered) "
                    "the guest is back: its client connects again, the host offers every channel anew, and new "
                    "instances of the guest drivers start and open them; workloads go on with them (requests "
                    "arriving meanwhile are refused). A guest whose client is not connected at the trigger "
                    "is left alone. The abandoned drivers are torn down after the run, only to free memory.",
       .mechanism = Mechanism::kAction,
       .params = {{.name = "reboot_ns", .meaning = "from the reset to the rebooted guest's reconnect, in ns",
                   .min = 1, .max = kDelayNsMax, .default_value = 1'000'000}},
       .triggers = kOnlyAction,
       .lossy = true,
       .swarm = false},
      {.kind = FaultKind::kSaveRestore,
       .name = "save_restore",
       .semantics = "At the trigger the host driver of the targeted channel saves it mid-traffic: it pauses "
                    "the channel and calls VmbChannelSaveBegin (KMCL asks it for its state of each packet "
                    "in flight), and `save_ns` later VmbChannelSaveContinue and VmbChannelSaveEnd; the "
                    "driver is torn down and a new instance restores the save (VmbChannelRestoreFromBuffer, "
                    "VmbPacketRestore per packet) before it offers the channel again, and the restored "
                    "packets are sent once it opens. KMCL restores into a fresh channel only, so the guest "
                    "sees the saved channel rescinded: its sends in flight fail, and guest drivers that do "
                    "not reopen a re-offered channel stay closed. Host drivers that cannot save (sub-channels, "
                    "drivers without save support) are left alone.",
       .mechanism = Mechanism::kAction,
       .params = {{.name = "save_ns", .meaning = "how long the save takes, from SaveBegin to SaveEnd, in ns",
                   .min = 1, .max = kDelayNsMax, .default_value = 100'000}},
       .targets = kTargetChannel | kTargetClass | kTargetAll,
       .triggers = kOnlyAction,
       .lossy = true,
       .swarm = false},
  };
  return *table;
}

}  // namespace

absl::Span<const FaultKindInfo> Catalogue() {
  static const bool checked = [] {
    for (size_t i = 0; i < Table().size(); ++i) VMBSIM_CHECK_EQ(static_cast<size_t>(Table()[i].kind), i);
    return true;
  }();
  (void)checked;
  return absl::MakeConstSpan(Table());
}

const FaultKindInfo& InfoOf(FaultKind kind) { return Catalogue().at(static_cast<size_t>(kind)); }

const FaultKindInfo* FindKind(const std::string& name) {
  for (const FaultKindInfo& info : Catalogue()) {
    if (name == info.name) return &info;
  }
  return nullptr;
}

std::vector<std::string> KindNames() {
  std::vector<std::string> names;
  for (const FaultKindInfo& info : Catalogue()) names.push_back(info.name);
  return names;
}

std::vector<std::string> AllParamNames() {
  std::set<std::string> names;
  for (const FaultKindInfo& info : Catalogue()) {
    for (const FaultParamInfo& p : info.params) names.insert(p.name);
  }
  return {names.begin(), names.end()};
}

const FaultParamInfo* FindParam(const FaultKindInfo& info, const std::string& name) {
  for (const FaultParamInfo& p : info.params) {
    if (name == p.name) return &p;
  }
  return nullptr;
}

absl::Span<const EventName> AfterEvents() {
  static const EventName kEvents[] = {
      {"ring_write", TraceKind(FabricTraceKind::kRingWrite)},
      {"ring_read", TraceKind(FabricTraceKind::kRingRead)},
      {"ring_full", TraceKind(FabricTraceKind::kRingFull)},
      {"signal_event", TraceKind(FabricTraceKind::kSignalEvent)},
      {"interrupt", TraceKind(FabricTraceKind::kInterrupt)},
      {"monitor_fire", TraceKind(FabricTraceKind::kMonitorFire)},
      {"message_post", TraceKind(FabricTraceKind::kMessagePost)},
      {"channel_state", TraceKind(FabricTraceKind::kChannelState)},
      {"gpadl_state", TraceKind(FabricTraceKind::kGpadlState)},
      {"kmcl_send", kmcl::kKmclSendTraceKind},
      {"kmcl_deliver", kmcl::kKmclDeliverTraceKind},
      {"kmcl_finish", kmcl::kKmclFinishTraceKind},
  };
  return absl::MakeConstSpan(kEvents);
}

std::vector<std::string> AfterEventNames() {
  std::vector<std::string> names;
  for (const EventName& e : AfterEvents()) names.push_back(e.name);
  return names;
}

std::vector<std::string> WhilePredicates() {
  return {"writer_blocked", "reader_draining", "reader_masked", "ring_nonempty", "channel_attached"};
}

namespace {

std::string Quote(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      absl::StrAppend(&out, "\\u00", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string QuoteAll(const std::vector<std::string>& values) {
  std::vector<std::string> quoted;
  for (const std::string& v : values) quoted.push_back(Quote(v));
  return absl::StrCat("[", absl::StrJoin(quoted, ", "), "]");
}

const char* MechanismName(Mechanism m) {
  switch (m) {
    case Mechanism::kSignal: return "signal";
    case Mechanism::kInterrupt: return "interrupt";
    case Mechanism::kRingRead: return "ring_read";
    case Mechanism::kRingWrite: return "ring_write";
    case Mechanism::kMessagePost: return "message_post";
    case Mechanism::kMessageDeliver: return "message_deliver";
    case Mechanism::kOpenChannel: return "open_channel";
    case Mechanism::kGpadlCreate: return "gpadl_create";
    case Mechanism::kPacketAllocate: return "packet_allocate";
    case Mechanism::kAction: return "action";
    case Mechanism::kLifecycle: return "lifecycle";
  }
  return "?";
}

std::vector<std::string> Bits(uint8_t bits, const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (size_t i = 0; i < names.size(); ++i) {
    if ((bits >> i) & 1) out.push_back(names[i]);
  }
  return out;
}

}  // namespace

std::string CatalogueJson() {
  std::string out = "{\n  \"kinds\": [\n";
  bool first = true;
  for (const FaultKindInfo& info : Catalogue()) {
    if (!first) out += ",\n";
    first = false;
    absl::StrAppend(&out, "    {\"name\": ", Quote(info.name), ", \"id\": ", static_cast<int>(info.kind),
                    ", \"implemented\": ", info.implemented ? "true" : "false", ",\n     \"semantics\": ",
                    Quote(info.semantics), ",\n     \"acts_at\": ", Quote(MechanismName(info.mechanism)),
                    ", \"lossy\": ", info.lossy ? "true" : "false", ",\n     \"targets\": ",
                    QuoteAll(Bits(info.targets, {"channel", "partition", "class", "all"})), ", \"triggers\": ",
                    QuoteAll(Bits(info.triggers, {"at_ns", "after", "probability", "while"})),
                    ",\n     \"params\": [");
    bool first_param = true;
    for (const FaultParamInfo& p : info.params) {
      if (!first_param) out += ", ";
      first_param = false;
      absl::StrAppend(&out, "{\"name\": ", Quote(p.name), ", \"meaning\": ", Quote(p.meaning));
      if (p.choices.empty()) {
        absl::StrAppend(&out, ", \"min\": ", p.min, ", \"max\": ", p.max, ", \"default\": ", p.default_value, "}");
      } else {
        absl::StrAppend(&out, ", \"choices\": ", QuoteAll(p.choices), ", \"default\": ", Quote(p.choices[0]), "}");
      }
    }
    out += "]";
    if (!info.implemented) absl::StrAppend(&out, ",\n     \"not_modelled\": ", Quote(info.not_modelled));
    out += "}";
  }
  absl::StrAppend(&out, "\n  ],\n  \"targets\": {\"channel\": \"a channel name (its sub-channels included)\", ",
                  "\"partition\": \"a partition number (0 = root)\", \"class\": \"an interface type GUID\", ",
                  "\"all\": true},\n  \"triggers\": {\"at_ns\": \"at or after a simulated time\", ",
                  "\"after\": {\"event\": \"an event name\", \"count\": \"N\"}, ",
                  "\"probability\": {\"numerator\": \"a\", \"denominator\": \"b\"}, ",
                  "\"while\": \"a predicate name\"},\n  \"after_events\": ", QuoteAll(AfterEventNames()),
                  ",\n  \"while_predicates\": ", QuoteAll(WhilePredicates()), "\n}\n");
  return out;
}

}  // namespace vmbsim::faults
