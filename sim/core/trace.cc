#include "sim/core/trace.h"

#include <algorithm>

#include "absl/base/attributes.h"
#include "sim/check.h"

namespace vmbsim::sim {


uint64_t FoldRecord(uint64_t h, const TraceRecord& r) { return trace_internal::Fold(h, r, r.sequence); }

void Tracer::EnableFingerprint() {
  fingerprint_enabled_ = true;
  UpdateActive();
}

void Tracer::AddSink(TraceSink* sink) {
  VMBSIM_CHECK(sink != nullptr);
  Attached attached{sink, {}};
  const std::vector<uint16_t> kinds = sink->Kinds();
  if (!kinds.empty()) {
    attached.kinds.assign(65536 / 64, 0);
    for (uint16_t kind : kinds) attached.kinds[kind >> 6] |= uint64_t{1} << (kind & 63);
  }
  sinks_.push_back(std::move(attached));
  UpdateActive();
}

void Tracer::RemoveSink(TraceSink* sink) {
  sinks_.erase(std::remove_if(sinks_.begin(), sinks_.end(), [sink](const Attached& a) { return a.sink == sink; }),
               sinks_.end());
  UpdateActive();
}

// The out-of-line Emit: the same steps as EmitInline, in one place.
void Tracer::EmitActive(const TraceRecord& record) { EmitInline(record); }

// Apart from EmitActive, so that the fold alone (a run with no sink, the
// common case) needs no stack frame for the sinks' loop.
void Tracer::EmitToSinks(const TraceRecord& record, uint64_t sequence) {
  TraceRecord numbered = record;
  numbered.sequence = sequence;
  for (const Attached& a : sinks_) {
    if (a.Wants(numbered.kind)) a.sink->OnRecord(numbered);
  }
}

}  // namespace vmbsim::sim
