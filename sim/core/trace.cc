#include "sim/core/trace.h"

#include <algorithm>

#include "absl/base/attributes.h"
#include "sim/check.h"

namespace vmbsim::sim {

namespace {

inline uint64_t FoldMum(uint64_t x, uint64_t y) {
  const unsigned __int128 product = static_cast<unsigned __int128>(x) * y;
  return static_cast<uint64_t>(product) ^ static_cast<uint64_t>(product >> 64);
}

inline uint64_t Rotl32(uint64_t x) { return (x << 32) | (x >> 32); }

// FoldRecord with the record's sequence given apart, so that Emit folds a
// record without copying it; inlined into both.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline uint64_t Fold(uint64_t h, const TraceRecord& r, uint64_t sequence) {
  const uint64_t words[8] = {
      static_cast<uint64_t>(r.time.nanoseconds()),
      sequence,
      uint64_t{r.kind} | (uint64_t{r.partition} << 16) | (uint64_t{r.vp} << 32),
      uint64_t{r.channel},
      r.id0,
      r.id1,
      r.size0,
      r.size1,
  };
  // The documented a, b, c and d, each folded into its half as soon as it is
  // made (xor is associative), so that few values are live at once.
  const uint64_t* k = kFoldKeys;
  uint64_t x = h ^ FoldMum(words[0] ^ k[0], words[1] ^ k[1]);
  uint64_t y = Rotl32(h) ^ k[0] ^ FoldMum(words[2] ^ k[2], words[3] ^ k[3]);
  x ^= Rotl32(FoldMum(words[4] ^ k[4], words[5] ^ k[5]));
  y ^= Rotl32(FoldMum(words[6] ^ k[6], words[7] ^ k[7]));
  return FoldMum(x, y);
}

}  // namespace

uint64_t FoldRecord(uint64_t h, const TraceRecord& r) { return Fold(h, r, r.sequence); }

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

void Tracer::EmitActive(const TraceRecord& record) {
  const uint64_t sequence = record_count_++;
  if (fingerprint_enabled_) fingerprint_ = Fold(fingerprint_, record, sequence);
  if (!sinks_.empty()) EmitToSinks(record, sequence);
}

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
