// event_text.h
//
// Trace records in domain terms: the name of every record kind the layers
// emit (fabric, KMCL, verifier, scenario runner) and what its generic fields
// (id0, id1, size0, size1) mean for it, taken from the kind's declaration
// (sim/fabric/trace_kinds.h, kmcl/trace_kinds.h, kmcl/verifier.h,
// tools/scenario/trace_kinds.h). `vmbsim trace` prints records with it, and
// replay and diff name the fields that differ with it ("write_index",
// "trans_id", "status"), never "id0".
//
// A kind missing here still prints, as "kind_0x0abc" with generic field
// names: a trace from a newer vmbsim is readable, only less friendly.

#ifndef VMBSIM_TOOLS_RECORDING_EVENT_TEXT_H_
#define VMBSIM_TOOLS_RECORDING_EVENT_TEXT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "sim/core/trace.h"

namespace vmbsim::recording {

struct KindInfo {
  uint16_t kind = 0;
  const char* name = "";
  // Meanings of id0, id1, size0, size1; nullptr: unused by the kind.
  const char* fields[4] = {nullptr, nullptr, nullptr, nullptr};
};

// Every known kind, in kind order.
const std::vector<KindInfo>& KnownKinds();
// The kind's entry, or nullptr.
const KindInfo* FindKind(uint16_t kind);
// The kind's name ("ring_write"; "kind_0x0abc" for an unknown kind).
std::string KindName(uint16_t kind);
// A kind by name ("ring_write") or number ("0x0130", "304").
std::optional<uint16_t> ParseKind(absl::string_view text);

// One line: "#1042 t=1234.567us p1 vp0 ch3 ring_write write_index=4096
// trans_id=7 ring_bytes=96 type=6". Fields a kind does not use are left out
// when zero.
std::string FormatText(const sim::TraceRecord& record);
// One JSON object (a JSON-lines row), fields named as in FormatText.
std::string FormatJson(const sim::TraceRecord& record);

// The fields in which `a` and `b` differ, in domain terms, each as
// "name: A vs B" ("time_ns: 1200 vs 1300", "kind: ring_write vs ring_read",
// "trans_id: 7 vs 8").
std::vector<std::string> DifferingFields(const sim::TraceRecord& a, const sim::TraceRecord& b);

}  // namespace vmbsim::recording

#endif  // VMBSIM_TOOLS_RECORDING_EVENT_TEXT_H_
