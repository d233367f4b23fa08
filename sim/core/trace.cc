#include "sim/core/trace.h"

#include <algorithm>

#include "sim/check.h"

namespace vmbsim::sim {

uint64_t FoldRecord(uint64_t h, const TraceRecord& r) {
  const uint64_t words[8] = {
      static_cast<uint64_t>(r.time.nanoseconds()),
      r.sequence,
      uint64_t{r.kind} | (uint64_t{r.partition} << 16) | (uint64_t{r.vp} << 32),
      uint64_t{r.channel},
      r.id0,
      r.id1,
      r.size0,
      r.size1,
  };
  for (int i = 0; i < 8; i += 2) {
    const uint64_t rotated = (h << 32) | (h >> 32);
    const unsigned __int128 product = static_cast<unsigned __int128>(h ^ words[i] ^ kFoldKeys[i]) *
                                      (words[i + 1] ^ kFoldKeys[i + 1] ^ rotated);
    h = static_cast<uint64_t>(product) ^ static_cast<uint64_t>(product >> 64);
  }
  return prng_internal::Mix64(h);
}

void Tracer::EnableFingerprint() {
  fingerprint_enabled_ = true;
  UpdateActive();
}

void Tracer::AddSink(TraceSink* sink) {
  VMBSIM_CHECK(sink != nullptr);
  sinks_.push_back(sink);
  UpdateActive();
}

void Tracer::RemoveSink(TraceSink* sink) {
  sinks_.erase(std::remove(sinks_.begin(), sinks_.end(), sink), sinks_.end());
  UpdateActive();
}

void Tracer::EmitActive(TraceRecord record) {
  record.sequence = record_count_++;
  if (fingerprint_enabled_) fingerprint_ = FoldRecord(fingerprint_, record);
  for (TraceSink* sink : sinks_) sink->OnRecord(record);
}

}  // namespace vmbsim::sim
