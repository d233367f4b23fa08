// fuzz_input.h
//
// Takes typed values off the front of a fuzz input. When the bytes run out,
// every value reads as zero and every span as empty, so a target never
// reads past its input and a shorter input is a prefix of a longer one's
// behaviour (libFuzzer's mutations then stay meaningful). Little-endian
// integers, as on the wire.

#ifndef VMBSIM_FUZZ_FUZZ_INPUT_H_
#define VMBSIM_FUZZ_FUZZ_INPUT_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "absl/types/span.h"

namespace vmbsim::fuzz {

class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : bytes_(data, size) {}

  bool empty() const { return bytes_.empty(); }
  size_t remaining() const { return bytes_.size(); }

  uint8_t U8() { return static_cast<uint8_t>(Le(1)); }
  uint16_t U16() { return static_cast<uint16_t>(Le(2)); }
  uint32_t U32() { return static_cast<uint32_t>(Le(4)); }
  uint64_t U64() { return Le(8); }
  bool Bool() { return (U8() & 1) != 0; }

  // A value in [0, count), from as few bytes as count needs.
  // REQUIRES: count > 0.
  uint32_t Below(uint32_t count) {
    const uint32_t raw = count <= 0x100 ? U8() : count <= 0x10000 ? U16() : U32();
    return raw % count;
  }

  // The next `size_bytes` bytes, or all that are left if fewer.
  absl::Span<const uint8_t> Bytes(size_t size_bytes) {
    const size_t taken = std::min(size_bytes, bytes_.size());
    absl::Span<const uint8_t> out = bytes_.subspan(0, taken);
    bytes_.remove_prefix(taken);
    return out;
  }
  absl::Span<const uint8_t> Rest() { return Bytes(bytes_.size()); }

 private:
  uint64_t Le(size_t width) {
    uint64_t value = 0;
    for (size_t i = 0; i < width && !bytes_.empty(); ++i) {
      value |= uint64_t{bytes_[0]} << (8 * i);
      bytes_.remove_prefix(1);
    }
    return value;
  }

  absl::Span<const uint8_t> bytes_;
};

}  // namespace vmbsim::fuzz

#endif  // VMBSIM_FUZZ_FUZZ_INPUT_H_
