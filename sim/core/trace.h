// trace.h
//
// The trace: one typed record per model event (time, sequence, kind,
// partition, VP, channel, two ids, two sizes), fanned out to attached sinks,
// and a rolling 64-bit fingerprint of the whole run.
//
// The fingerprint is the product's determinism witness: same scenario + seed
// must give the same fingerprint across processes, optimisation levels,
// sanitizers and compilers. It therefore hashes a canonical encoding of each
// record, never an in-memory or protobuf image. The encoding is eight
// little-endian 64-bit words:
//
//   w0 = time_ns            w4 = id0
//   w1 = sequence           w5 = id1
//   w2 = kind | partition << 16 | vp << 32
//   w3 = channel            w6 = size0      w7 = size1
//
// and the fold of one record, starting from h = kFingerprintSeed, is
//   a = Mum(w0 ^ K0, w1 ^ K1)    b = Mum(w2 ^ K2, w3 ^ K3)
//   c = Mum(w4 ^ K4, w5 ^ K5)    d = Mum(w6 ^ K6, w7 ^ K7)
//   h = Mum(h ^ a ^ rotl64(c, 32), rotl64(h, 32) ^ b ^ rotl64(d, 32) ^ K0)
// where Mum(x, y) multiplies x and y into 128 bits and returns the low and
// high halves xor'ed, and K0..K7 are the constants kFoldKeys below. The four
// word products do not depend on h, so only one multiply per record is on
// the fingerprint's serial path (the fold runs for every record of a run).
// Changing this encoding changes every pinned golden fingerprint.
//
// Kinds are 16-bit numbers owned by the layer that emits them (each layer
// declares its own enum and names); the kernel only carries them. The
// sequence is assigned here: the index of the record in the run.
//
// Cost: with no sink attached and the fingerprint off, Emit() is one
// predictable branch on an inline flag.

#ifndef VMBSIM_SIM_CORE_TRACE_H_
#define VMBSIM_SIM_CORE_TRACE_H_

#include <cstdint>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "sim/core/prng.h"
#include "sim/core/sim_time.h"

namespace vmbsim::sim {

struct TraceRecord {
  SimTime time;
  uint64_t sequence = 0;  // Assigned by Tracer::Emit.
  uint16_t kind = 0;
  uint16_t partition = 0;
  uint32_t vp = 0;
  uint32_t channel = 0;
  uint64_t id0 = 0;
  uint64_t id1 = 0;
  uint64_t size0 = 0;
  uint64_t size1 = 0;

  bool operator==(const TraceRecord&) const = default;  // Every field, `sequence` too.
};

// Whether two records describe the same event: every field but `sequence`,
// which only numbers the records of one run (replay, diff).
inline bool SameEvent(const TraceRecord& a, const TraceRecord& b) {
  return a.time == b.time && a.kind == b.kind && a.partition == b.partition && a.vp == b.vp &&
         a.channel == b.channel && a.id0 == b.id0 && a.id1 == b.id1 && a.size0 == b.size0 && a.size1 == b.size1;
}

// Receives records. Sinks are called in the order they were attached.
class TraceSink {
 public:
  virtual ~TraceSink() = default;
  virtual void OnRecord(const TraceRecord& record) = 0;
  // The record kinds this sink wants, asked once when it is attached; empty
  // (the default) means every kind. The tracer skips the others without a
  // call, which matters on per-packet paths.
  virtual std::vector<uint16_t> Kinds() const { return {}; }
};

inline constexpr uint64_t kFingerprintSeed = 0x766d6273696d0001ull;  // "vmbsim", 1.


// The fold's keys (above): odd, high-entropy 64-bit constants.
inline constexpr uint64_t kFoldKeys[8] = {
    0xa0761d6478bd642full, 0xe7037ed1a0b428dbull, 0x8ebc6af09c88c6e3ull, 0x589965cc75374cc3ull,
    0x1d8e4e27c47d124full, 0x9e3779b97f4a7c15ull, 0xd6e8feb86659fd93ull, 0xc2b2ae3d27d4eb4full,
};

// Folds one record into a fingerprint, as documented above.
uint64_t FoldRecord(uint64_t fingerprint, const TraceRecord& record);

namespace trace_internal {

inline uint64_t FoldMum(uint64_t x, uint64_t y) {
  const unsigned __int128 product = static_cast<unsigned __int128>(x) * y;
  return static_cast<uint64_t>(product) ^ static_cast<uint64_t>(product >> 64);
}

inline uint64_t Rotl32(uint64_t x) { return (x << 32) | (x >> 32); }

// FoldRecord with the record's sequence given apart, so that the tracer
// folds a record without copying it.
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

}  // namespace trace_internal

class Tracer {
 public:
  Tracer() = default;
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  // Starts folding records into the fingerprint.
  void EnableFingerprint();
  // Attaches `sink`. REQUIRES: `*sink` outlives this tracer or is detached.
  void AddSink(TraceSink* sink);
  void RemoveSink(TraceSink* sink);

  bool active() const { return active_; }

  // Records `record` (its `sequence` is overwritten). Cheap when inactive.
  void Emit(const TraceRecord& record) {
    if (!active_) return;
    EmitActive(record);
  }

  // As Emit, with the fold inlined into the caller: for the few sites that
  // emit most of a run's records (a VP's work start and end), where a call
  // per record cost more than the fold's own instructions.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void EmitInline(const TraceRecord& record) {
    if (ABSL_PREDICT_TRUE(fold_only_)) {  // The usual run: one test, then the fold.
      fingerprint_ = trace_internal::Fold(fingerprint_, record, record_count_++);
      return;
    }
    if (!active_) return;
    const uint64_t sequence = record_count_++;
    if (fingerprint_enabled_) fingerprint_ = trace_internal::Fold(fingerprint_, record, sequence);
    if (!sinks_.empty()) EmitToSinks(record, sequence);
  }

  uint64_t fingerprint() const { return fingerprint_; }
  uint64_t record_count() const { return record_count_; }

 private:
  void EmitActive(const TraceRecord& record);
  ABSL_ATTRIBUTE_NOINLINE void EmitToSinks(const TraceRecord& record, uint64_t sequence);
  void UpdateActive() {
    active_ = fingerprint_enabled_ || !sinks_.empty();
    fold_only_ = fingerprint_enabled_ && sinks_.empty();
  }

  bool active_ = false;
  bool fold_only_ = false;  // The fingerprint on and no sink attached.
  bool fingerprint_enabled_ = false;
  uint64_t fingerprint_ = kFingerprintSeed;
  uint64_t record_count_ = 0;
  struct Attached {
    TraceSink* sink;
    std::vector<uint64_t> kinds;  // Bit per kind; empty: every kind.
    bool Wants(uint16_t kind) const { return kinds.empty() || ((kinds[kind >> 6] >> (kind & 63)) & 1) != 0; }
  };
  std::vector<Attached> sinks_;
};

// A sink that keeps every record in memory (tests, timelines).
class RecordingTraceSink : public TraceSink {
 public:
  void OnRecord(const TraceRecord& record) override { records_.push_back(record); }
  const std::vector<TraceRecord>& records() const { return records_; }
  void Clear() { records_.clear(); }

 private:
  std::vector<TraceRecord> records_;
};

}  // namespace vmbsim::sim

#endif  // VMBSIM_SIM_CORE_TRACE_H_
