#include "tools/recording/event_text.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "kmcl/verifier.h"

namespace vmbsim::recording {
namespace {

std::vector<KindInfo> BuildKinds() {
  return {
      // sim/fabric/trace_kinds.h
      {0x0100, "vp_work_start", {"irql", nullptr, "queue_depth", "cost_ns"}},
      {0x0101, "vp_stall", {nullptr, nullptr, "stall_ns", nullptr}},
      {0x0102, "vp_work_end", {"irql", nullptr, "busy_ns", nullptr}},
      {0x0110, "signal_event", {"connection_id", "flag", nullptr, nullptr}},
      {0x0111, "event_flag_set", {"flag", "newly_set", nullptr, nullptr}},
      {0x0112, "interrupt", {"sint", nullptr, nullptr, nullptr}},
      {0x0113, "sint_raise", {"sint", "merged", "delay_ns", nullptr}},
      {0x0114, "signal_dropped", {"flag", nullptr, nullptr, nullptr}},
      {0x0115, "sint_mask", {"sint", "masked", nullptr, nullptr}},
      {0x0116, "event_flags_cleared", {"lowest_flag", nullptr, "flags_cleared", nullptr}},
      {0x0117, "signal_event_rejected", {"connection_id", "hv_status", nullptr, nullptr}},
      {0x0118, "monitor_set", {"monitor_id", "newly_set", nullptr, nullptr}},
      {0x0119, "monitor_coalesced", {"monitor_id", nullptr, nullptr, nullptr}},
      {0x011A, "monitor_fire", {"monitor_id", nullptr, "sets_in_window", nullptr}},
      {0x0120, "message_post", {"connection_id", "msgtype", "bytes", nullptr}},
      {0x0121, "message_rejected", {"connection_id", "hv_status", nullptr, nullptr}},
      {0x0122, "message_deliver", {nullptr, "msgtype", "bytes", nullptr}},
      {0x0123, "message_eom", {"message_pending", nullptr, nullptr, nullptr}},
      {0x0124, "message_send", {"waits", "msgtype", "bytes", "queue_depth"}},
      {0x0125, "port_dispatch", {"connection_id", nullptr, "bytes", "buffers_in_use"}},
      {0x0130, "ring_write", {"write_index", "trans_id", "ring_bytes", "packet_type"}},
      {0x0131, "ring_commit_write", {"write_index", "reader_signalled", nullptr, nullptr}},
      {0x0132, "ring_signal_suppressed", {nullptr, nullptr, nullptr, nullptr}},
      {0x0133, "ring_read", {"read_index", "trans_id", "ring_bytes", nullptr}},
      {0x0134, "ring_commit_read", {"read_index", "writer_signalled", nullptr, nullptr}},
      {0x0135, "ring_full", {nullptr, nullptr, "bytes_needed", "free_bytes"}},
      {0x0136, "ring_corrupt", {nullptr, nullptr, nullptr, nullptr}},
      {0x0137, "ring_mask", {"interrupt_mask", nullptr, nullptr, nullptr}},
      {0x0140, "control_message", {"msgtype", "accepted", nullptr, nullptr}},
      {0x0141, "channel_state", {"state", nullptr, nullptr, nullptr}},
      {0x0142, "gpadl_state", {"gpadl_id", "state", nullptr, nullptr}},
      {0x0143, "connection_state", {"state", "protocol_version", nullptr, nullptr}},
      // kmcl/verifier.h, kmcl/trace_kinds.h
      {0x0200, "contract_violation", {"handle", "rule", "status", "finding_index"}},
      {0x0201, "kmcl_state", {"handle", "conn_state", "running", nullptr}},
      {0x0202, "kmcl_deliver", {"handle", "trans_id", "bytes", "guest|passive"}},
      {0x0203, "kmcl_finish", {"handle", "trans_id", "status", "guest"}},
      {0x0204, "kmcl_callback", {"handle", "callback", nullptr, nullptr}},
      {0x0205, "kmcl_send", {"handle", "trans_id", "bytes", "guest|queued"}},
      {0x0206, "kmcl_batch", {"handle", nullptr, "packets", "guest"}},
      // tools/scenario/trace_kinds.h
      {0x0300, "workload_arrival", {"workload", nullptr, "bytes", nullptr}},
      // tools/faults/catalogue.h
      {0x0400, "fault_fired", {"fault_kind", "injection", "trans_id", "detail"}},
      {0x0401, "stuck", {nullptr, nullptr, "idle_ns", nullptr}},
  };
}

const char* const kGenericFields[4] = {"id0", "id1", "size0", "size1"};

uint64_t Field(const sim::TraceRecord& r, int i) {
  switch (i) {
    case 0: return r.id0;
    case 1: return r.id1;
    case 2: return r.size0;
    default: return r.size1;
  }
}

// A field's value as text: NTSTATUS values and rules readable, the rest as
// numbers.
std::string Value(uint16_t kind, const char* name, uint64_t value) {
  const absl::string_view field(name);
  if (field == "status" || field == "hv_status") return absl::StrFormat("0x%08X", value);
  if (field == "handle") return absl::StrFormat("0x%x", value);
  if (kind == kmcl::kContractViolationTraceKind && field == "rule") {
    // A trace is input: only a number that is a rule gets a rule's name.
    for (const kmcl::Rule rule : kmcl::kAllRules) {
      if (static_cast<uint64_t>(rule) == value) return kmcl::RuleName(rule);
    }
  }
  return absl::StrCat(value);
}

// A field named "a|b" packs two: a in the low 16 bits, b above them.
bool Packed(const char* name) { return absl::string_view(name).find('|') != absl::string_view::npos; }

std::string Time(int64_t ns) { return absl::StrFormat("%d.%03dus", ns / 1000, ns % 1000); }

}  // namespace

const std::vector<KindInfo>& KnownKinds() {
  static const auto* const kinds = new std::vector<KindInfo>(BuildKinds());
  return *kinds;
}

const KindInfo* FindKind(uint16_t kind) {
  const std::vector<KindInfo>& kinds = KnownKinds();
  const auto it = std::lower_bound(kinds.begin(), kinds.end(), kind,
                                   [](const KindInfo& info, uint16_t k) { return info.kind < k; });
  return it != kinds.end() && it->kind == kind ? &*it : nullptr;
}

std::string KindName(uint16_t kind) {
  const KindInfo* info = FindKind(kind);
  return info != nullptr ? info->name : absl::StrFormat("kind_0x%04x", kind);
}

std::optional<uint16_t> ParseKind(absl::string_view text) {
  for (const KindInfo& info : KnownKinds()) {
    if (text == info.name) return info.kind;
  }
  uint32_t number = 0;
  const bool hex = absl::StartsWithIgnoreCase(text, "0x") || absl::StartsWith(text, "kind_0x");
  if (hex) {
    text.remove_prefix(text.find('x') + 1);
    if (!text.empty() && absl::SimpleHexAtoi(text, &number) && number <= 0xFFFF) return number;
    return std::nullopt;
  }
  if (absl::SimpleAtoi(text, &number) && number <= 0xFFFF) return number;
  return std::nullopt;
}

namespace {

struct NamedValue {
  std::string name;
  std::string value;
  bool number = true;  // A plain decimal number (JSON writes it unquoted).
};

// The kind-specific fields of `r` by name, in field order: a field the kind
// does not use only when it is non-zero (under its generic name), a packed
// field ("a|b") as its two parts.
std::vector<NamedValue> NamedFields(const sim::TraceRecord& r) {
  const KindInfo* info = FindKind(r.kind);
  std::vector<NamedValue> out;
  for (int i = 0; i < 4; ++i) {
    const char* name = info != nullptr ? info->fields[i] : kGenericFields[i];
    if (name == nullptr) {
      if (Field(r, i) == 0) continue;
      name = kGenericFields[i];
    }
    if (Packed(name)) {
      const std::pair<std::string, std::string> names = absl::StrSplit(name, '|');
      out.push_back({names.first, absl::StrCat(Field(r, i) & 0xFFFF)});
      out.push_back({names.second, absl::StrCat(Field(r, i) >> 16)});
      continue;
    }
    std::string value = Value(r.kind, name, Field(r, i));
    const bool number = !value.empty() && value.find_first_not_of("0123456789") == std::string::npos;
    out.push_back({name, std::move(value), number});
  }
  return out;
}

}  // namespace

std::string FormatText(const sim::TraceRecord& r) {
  std::string out = absl::StrCat("#", r.sequence, " t=", Time(r.time.nanoseconds()), " p", r.partition, " vp", r.vp,
                                 " ch", r.channel, " ", KindName(r.kind));
  for (const NamedValue& f : NamedFields(r)) absl::StrAppend(&out, " ", f.name, "=", f.value);
  return out;
}

std::string FormatJson(const sim::TraceRecord& r) {
  std::string out = absl::StrCat("{\"index\":", r.sequence, ",\"time_ns\":", r.time.nanoseconds(), ",\"kind\":\"",
                                 KindName(r.kind), "\",\"partition\":", r.partition, ",\"vp\":", r.vp,
                                 ",\"channel\":", r.channel);
  for (const NamedValue& f : NamedFields(r)) {
    absl::StrAppend(&out, ",\"", f.name, "\":", f.number ? f.value : absl::StrCat("\"", f.value, "\""));
  }
  out += "}";
  return out;
}

std::vector<std::string> DifferingFields(const sim::TraceRecord& a, const sim::TraceRecord& b) {
  std::vector<std::string> out;
  const auto add = [&out](absl::string_view name, const std::string& x, const std::string& y) {
    if (x != y) out.push_back(absl::StrCat(name, ": ", x, " vs ", y));
  };
  add("time_ns", absl::StrCat(a.time.nanoseconds()), absl::StrCat(b.time.nanoseconds()));
  add("kind", KindName(a.kind), KindName(b.kind));
  add("partition", absl::StrCat(a.partition), absl::StrCat(b.partition));
  add("vp", absl::StrCat(a.vp), absl::StrCat(b.vp));
  add("channel", absl::StrCat(a.channel), absl::StrCat(b.channel));
  // The fields by the first record's kind; by both when the kinds differ.
  const KindInfo* info_a = FindKind(a.kind);
  const KindInfo* info_b = FindKind(b.kind);
  for (int i = 0; i < 4; ++i) {
    if (Field(a, i) == Field(b, i)) continue;
    const char* name_a = info_a != nullptr && info_a->fields[i] != nullptr ? info_a->fields[i] : kGenericFields[i];
    const char* name_b = info_b != nullptr && info_b->fields[i] != nullptr ? info_b->fields[i] : kGenericFields[i];
    const std::string name = absl::string_view(name_a) == name_b ? name_a : absl::StrCat(name_a, "/", name_b);
    out.push_back(absl::StrCat(name, ": ", Value(a.kind, name_a, Field(a, i)), " vs ",
                               Value(b.kind, name_b, Field(b, i))));
  }
  return out;
}

}  // namespace vmbsim::recording
